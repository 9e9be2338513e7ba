"""The fault suite for dataflow programs (``engine/flow``): scenarios of a program, a
dataset and faults at the ``flow.*`` crash points; a nemesis and a runner built on the word
count's controller, agent and Redis nodes; a checker against the serial interpreter; the
Hypothesis strategies; and the known-buggy executors the suite must catch."""

"""``faults grade``: judge an unmodified word-count submission under black-box faults.

- :mod:`faults.grade.options`: the options of a grading and the templates they render;
- :mod:`faults.grade.workspace`: a fresh working copy, inputs and interpreter per run;
- :mod:`faults.grade.server`: the run's own Redis (optionally in a network namespace);
- :mod:`faults.grade.procs`: the submission's process tree, tracked and removed;
- :mod:`faults.grade.shim`: the ``sitecustomize`` put on the submission's ``PYTHONPATH``;
- :mod:`faults.grade.points`: the nemesis that answers the shim at protocol points;
- :mod:`faults.grade.schedule`: fault schedules and datasets as data (scenario JSON);
- :mod:`faults.grade.draw`: Hypothesis strategies for them, per property;
- :mod:`faults.grade.run`: one run; :mod:`faults.grade.judge`: its verdict;
- :mod:`faults.grade.search`: the properties, shrinking; :mod:`faults.grade.report`;
- :mod:`faults.grade.cli`: the ``faults grade`` command.
"""

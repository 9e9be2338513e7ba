"""Dataflow programs: JSON pipelines of map, changeKey and reduce over integer pairs.

The program model and its validation (:mod:`.program`), the function registry
(:mod:`.functions`), the serial reference interpreter (:mod:`.interpret`), the stage
planner (:mod:`.plan`), the per-partition executor (:mod:`.execute`), and the distributed
run on the word count's Redis machinery (:mod:`.store`, :mod:`.worker`, :mod:`.driver`).
See ``docs/dataflow.md``.
"""

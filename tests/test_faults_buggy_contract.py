"""The known-buggy engines build on the worker's documented extension points only.

A variant that overrode a private step would silently change meaning when the worker is
refactored; this fails first. (That each variant is exact without faults is
``tests/test_buggy_variants.py``.)
"""

from __future__ import annotations

import inspect

import pytest

from engine.worker import EXTENSION_POINTS, Worker
from faults import buggy


def _worker_classes() -> list[type[Worker]]:
    return [
        obj
        for _, obj in inspect.getmembers(buggy, inspect.isclass)
        if issubclass(obj, Worker) and obj is not Worker
    ]


def test_every_extension_point_is_a_worker_method() -> None:
    for name in EXTENSION_POINTS:
        assert callable(getattr(Worker, name, None)), name
        assert not name.startswith("_")


@pytest.mark.parametrize("cls", _worker_classes(), ids=lambda c: c.__name__)
def test_variants_override_only_extension_points(cls: type[Worker]) -> None:
    overridden = {
        name
        for name, value in vars(cls).items()
        if callable(value) and name in vars(Worker) and name != "__init__"
    }
    assert overridden, f"{cls.__name__} changes nothing"
    assert overridden <= set(EXTENSION_POINTS), overridden - set(EXTENSION_POINTS)


def test_every_worker_variant_is_listed() -> None:
    assert len(_worker_classes()) == 7  # the eighth, repeating_bootstrap, is the driver's
    assert len(buggy.VARIANTS) == 8

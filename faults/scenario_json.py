"""The JSON form of a :class:`~faults.scenario.Scenario`, and reading it back strictly.

Writing emits every field (``settings.chunk_bytes`` only when it is not 0), in a fixed
order, so that ``load(dump(s)) == s`` and ``dump(load(text)) == text`` for any saved
file. Reading accepts the hand-written shorthands (omitted defaults, faults as
``"commit#3:redis-kill"`` strings) and refuses unknown keys, because a misspelt
``"clam_timeout_ms"`` silently ignored would make a regression test test something else.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import typing
from typing import Any

from faults.errors import ScenarioError
from faults.files import Dataset, FileSpec, Generated
from faults.scenario import Action, Expect, Fault, Scenario, Settings, Trigger


def encode_file(spec: FileSpec) -> dict[str, Any]:
    """``text`` when the bytes are UTF-8, else ``base64``: readable where possible, exact always."""
    try:
        return {"name": spec.name, "text": spec.data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"name": spec.name, "base64": base64.b64encode(spec.data).decode("ascii")}


def canonical(data: Any) -> str:
    """The one JSON text of a JSON value: what saved scenarios look like."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


FORMAT = 1
"""Version of the JSON form, written as ``"format"``; bump it on incompatible changes."""


def to_data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as JSON-ready data (dicts, lists, strings, numbers)."""
    dataset = scenario.dataset
    return {
        "format": FORMAT,
        "name": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "workers": scenario.workers,
        "timeout_s": scenario.timeout_s,
        "liveness_s": scenario.liveness_s,
        "settings": _settings_data(scenario.settings),
        "dataset": {
            "files": [encode_file(f) for f in dataset.files],
            "generated": None
            if dataset.generated is None
            else dataclasses.asdict(dataset.generated),
        },
        "faults": [_fault_data(f) for f in scenario.faults],
        "expect": {"dead": list(scenario.expect.dead), "allow_dead": scenario.expect.allow_dead},
    }


def _settings_data(settings: Settings) -> dict[str, Any]:
    """Every setting, but those added later (``chunk_bytes``, ``embedded``, ``busy_ms``,
    ``replicas``, ``sync_replicas``) only when set: the
    files saved before they existed are then still canonical, and a file that uses one says
    so visibly."""
    data = dataclasses.asdict(settings)
    for name in ("chunk_bytes", "embedded", "busy_ms", "replicas", "sync_replicas"):
        if not data[name]:
            del data[name]
    return data


def _fault_data(fault: Fault) -> dict[str, Any]:
    return {
        "at": fault.trigger.point,
        "nth": fault.trigger.nth,
        "task": fault.trigger.task,
        "do": fault.action.kind,
        "ms": fault.action.ms,
    }


def dump(scenario: Scenario) -> str:
    return canonical(to_data(scenario))


def load(text: str) -> Scenario:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario is not valid JSON: {exc}") from None
    return from_data(data)


def from_data(data: Any) -> Scenario:
    """Build a scenario from parsed JSON, naming the field at fault on any error."""
    top = _Fields(data, "scenario")
    version = top.get("format", int, FORMAT)
    if version != FORMAT:
        raise ScenarioError(f"scenario format {version} is not {FORMAT}: re-save it with this tool")
    settings = _Fields(top.get("settings", dict, {}), "settings")
    scenario = Scenario(
        name=top.need("name", str),
        description=top.get("description", str, ""),
        seed=top.get("seed", int, None),
        workers=top.get("workers", int, 3),
        timeout_s=float(top.get("timeout_s", (int, float), 60.0)),
        liveness_s=float(top.get("liveness_s", (int, float), 20.0)),
        settings=Settings(**settings.take_all(Settings)),
        dataset=_dataset(top.need("dataset", dict)),
        faults=tuple(_fault(item, i) for i, item in enumerate(top.get("faults", list, []))),
        expect=_expect(top.get("expect", dict, {})),
    )
    settings.done()
    top.done()
    return scenario


def _dataset(data: dict[str, Any]) -> Dataset:
    fields = _Fields(data, "dataset")
    files = tuple(_file(item, i) for i, item in enumerate(fields.get("files", list, [])))
    raw_generated = fields.get("generated", dict, None)
    generated = None
    if raw_generated is not None:
        gen = _Fields(raw_generated, "dataset.generated")
        generated = Generated(**gen.take_all(Generated))
        gen.done()
    fields.done()
    return Dataset(files, generated)


def _file(data: Any, i: int) -> FileSpec:
    fields = _Fields(data, f"dataset.files[{i}]")
    name = fields.need("name", str)
    text, b64 = fields.get("text", str, None), fields.get("base64", str, None)
    fields.done()
    if (text is None) == (b64 is None):
        raise ScenarioError(f"dataset.files[{i}] ({name}): give exactly one of text or base64")
    if text is not None:
        return FileSpec(name, text.encode("utf-8", "surrogateescape"))
    try:
        return FileSpec(name, base64.b64decode(b64 or "", validate=True))
    except binascii.Error as exc:
        raise ScenarioError(f"dataset.files[{i}] ({name}): bad base64: {exc}") from None


def _fault(data: Any, i: int) -> Fault:
    if isinstance(data, str):
        return Fault.parse(data)
    fields = _Fields(data, f"faults[{i}]")
    fault = Fault(
        Trigger(fields.need("at", str), fields.get("nth", int, 1), fields.get("task", int, None)),
        Action(fields.need("do", str), fields.get("ms", int, 0)),
    )
    fields.done()
    return fault


def _expect(data: dict[str, Any]) -> Expect:
    fields = _Fields(data, "expect")
    dead = fields.get("dead", list, [])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in dead):
        raise ScenarioError(f"expect.dead = {dead!r}: list task indexes (integers)")
    expect = Expect(tuple(dead), fields.get("allow_dead", bool, False))
    fields.done()
    return expect


class _Fields:
    """Typed access to one JSON object that remembers which keys were used."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where} must be a JSON object, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        value = self.data.get(key, default)
        if value is None and default is None:
            return None
        bad_bool = isinstance(value, bool) and bool not in _as_tuple(kind)
        if bad_bool or not isinstance(value, kind):
            names = "/".join(k.__name__ for k in _as_tuple(kind))
            raise ScenarioError(f"{self.where}.{key} = {value!r}: expected {names}")
        return value

    def need(self, key: str, kind: type) -> Any:
        if key not in self.data:
            raise ScenarioError(f"{self.where} lacks {key!r}: add it")
        return self.get(key, kind, None)

    def take_all(self, cls: type) -> dict[str, Any]:
        """The keys that are fields of dataclass ``cls``, type-checked against its hints
        (``int``, ``str``, ``bool``, ``X | None``); its own validation does the rest."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in self.data:
                continue
            kinds = typing.get_args(hints[field.name]) or (hints[field.name],)
            optional = type(None) in kinds
            if self.data[field.name] is None and not optional:
                raise ScenarioError(f"{self.where}.{field.name} cannot be null: give a value")
            concrete = tuple(k for k in kinds if k is not type(None))
            values[field.name] = self.get(field.name, concrete, None)
        return values

    def done(self) -> None:
        unknown = sorted(self.data.keys() - self.used)
        if unknown:
            raise ScenarioError(
                f"{self.where} has unknown key(s) {', '.join(unknown)}: check the spelling"
            )


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)

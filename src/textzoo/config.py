"""Typed configuration: build model/training config dataclasses from dicts, files and ``--set``.

Every model's settings are a dataclass (defined next to the model). This module fills one from
plain values with pydantic (a ``TypeAdapter`` over the dataclass, lax mode), after checking each
key against the dataclass's fields, so that a typo or a wrong value fails at once with one line
that names the key, where it came from (a file name, ``--set``) and what would have been valid.

Precedence in :func:`merge_config`: dataclass defaults < ``base`` < config file < ``--set``.

Conversions are pydantic's lax ones (``"5e-5"`` for a float, ``"3"`` for an int, ``true/yes/on/1``
for a bool, a list for a tuple), plus: a bool is never a number; a sequence field also takes a
comma-separated string ("1,3,5") or a single value; a ``--set`` value that YAML reads as another
type (``name=1``, ``name=yes``) keeps its literal text for a str field; nested dataclasses are
given as mappings and merge key by key across layers.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, Iterable, Literal, TypeVar, Union

import pydantic
import yaml

from .errors import ConfigError

__all__ = [
    "config_from_dict",
    "parse_overrides",
    "load_config_file",
    "merge_config",
    "config_to_dict",
]

T = TypeVar("T")
_SEQUENCES = (tuple, list, set, frozenset)


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def _type_name(tp: Any) -> str:
    if tp is type(None) or tp is None:
        return "None"
    if tp is Any:
        return "any value"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return f"{name}[{_type_name(args[0])}, ...]"
        return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _hints(cls: type) -> dict[str, Any]:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"expected a dataclass type, got {cls!r}")
    return typing.get_type_hints(cls)


@functools.lru_cache(maxsize=None)
def _adapter(cls: type) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(cls)


def _unwrap(tp: Any) -> Any:
    """``X`` of ``Optional[X]``; other annotations as they are."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return next(a for a in args if a is not type(None))
    return tp


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _prepare(cls: type, values: Any, source: str, prefix: str = "", raw: Any = None) -> dict[str, Any]:
    """Check the keys of ``values`` against ``cls`` (recursively for nested dataclasses) and apply
    the conversions pydantic lacks (see the module docstring); pydantic does the rest."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{_prefix(source)}{prefix.rstrip('.') or 'config'}: expected a mapping of "
                          f"{cls.__name__} keys, got {type(values).__name__}")
    hints = _hints(cls)
    fields = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1) if isinstance(key, str) else []
            hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
            raise ConfigError(f"{_prefix(source)}unknown key {prefix + str(key)!r} for {cls.__name__}{hint}; "
                              f"valid keys: {', '.join(fields)}")
        tp = _unwrap(hints[key])
        origin = typing.get_origin(tp) or tp
        text = raw.get(key) if isinstance(raw, Mapping) else None
        if _is_dataclass_type(tp) and isinstance(value, Mapping):
            value = _prepare(tp, value, source, f"{prefix}{key}.", text)
        elif tp is str and isinstance(text, str) and not isinstance(value, str) and value is not None:
            value = text  # --set name=007: the text as written
        elif origin in _SEQUENCES and value is not None and not isinstance(value, (*_SEQUENCES, Mapping)):
            value = [p.strip() for p in value.split(",")] if isinstance(value, str) and value.strip() else \
                ([] if isinstance(value, str) else [value])
        elif tp in (int, float) and isinstance(value, bool):
            raise ConfigError(f"{_prefix(source)}{prefix}{key}: expected {_type_name(hints[key])}, "
                              f"got {value!r} (bool)")
        out[key] = value
    return out


def _deep_merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: _deep_merge(old.get(k), v) for k, v in new.items()}}
    return new


def _error(cls: type, err: pydantic.ValidationError, sources: dict[str, str], all_sources: str) -> ConfigError:
    """One line for the first error pydantic found: the field, what it expects, what it got."""
    first = err.errors(include_url=False)[0]
    loc, value, reason = first["loc"], first.get("input"), first["msg"]
    path, tp = ".".join(str(p) for p in loc[:1]), _hints(cls).get(str(loc[0])) if loc else None
    for part in loc[1:]:  # list indices and nested fields; a union member's tag ends the path
        if isinstance(part, int):
            path, tp = path + f"[{part}]", None
        elif tp is not None and _is_dataclass_type(_unwrap(tp)) and part in _hints(_unwrap(tp)):
            path, tp = path + f".{part}", _hints(_unwrap(tp))[part]
        else:
            break
    source = sources.get(str(loc[0]), all_sources) if loc else all_sources
    if first["type"] == "value_error":  # raised by __post_init__
        where = f" ({path})" if path else ""
        return ConfigError(f"{_prefix(all_sources)}invalid {cls.__name__}{where}: {reason.removeprefix('Value error, ')}")
    if first["type"] == "missing":
        return ConfigError(f"{_prefix(source)}missing required key(s) for {cls.__name__}: {path}")
    expected = _type_name(tp) if tp is not None else reason.removeprefix("Input should be ")
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    msg = f"{_prefix(source)}{path}: expected {expected}, got {shown} ({type(value).__name__})"
    options = typing.get_args(_unwrap(tp)) if typing.get_origin(_unwrap(tp)) is Literal else ()
    close = difflib.get_close_matches(value, [str(o) for o in options], n=1) if isinstance(value, str) else []
    return ConfigError(msg + (f"; did you mean {close[0]!r}?" if close else ""))


def _build(cls: type[T], layers: list[tuple[Any, str, Any]]) -> T:
    """Validate the merge of ``layers`` (``(values, source, raw --set text)``) as a ``cls``."""
    _hints(cls)  # a TypeError if cls is not a dataclass
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for values, source, raw in layers:
        prepared = _prepare(cls, values, source, raw=raw)
        merged = _deep_merge(merged, prepared)
        sources.update({k: source for k in prepared})
    all_sources = " < ".join(source for values, source, _ in layers if source and values)
    try:
        return _adapter(cls).validate_python(merged)
    except pydantic.ValidationError as err:
        raise _error(cls, err, sources, all_sources) from None


def config_from_dict(cls: type[T], values: Mapping[str, Any] | None, source: str = "") -> T:
    """Build a ``cls`` instance from ``values`` over the dataclass defaults.

    Unknown keys, values that do not fit their field's annotation, missing required keys and
    ``ValueError`` from ``__post_init__`` all raise :class:`ConfigError`; its message starts with
    ``source`` (a file name, ``"--set"``) when given.
    """
    return _build(cls, [(values or {}, source, None)])


def _split_override(item: Any) -> tuple[list[str], str]:
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"--set: expected key=value, got {item!r}")
    key, _, text = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p.strip() for p in parts):
        raise ConfigError(f"--set: missing key name in {item!r}")
    return [p.strip() for p in parts], text.strip()


def _yaml_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return text


def _set_nested(target: dict, path: list[str], value: Any, item: str) -> None:
    for part in path[:-1]:
        nxt = target.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set: {item!r} sets a key inside {part!r}, which is also set to a value")
        target = nxt
    if isinstance(target.get(path[-1]), dict):
        raise ConfigError(f"--set: {item!r} replaces keys set inside {path[-1]!r}")
    target[path[-1]] = value


def _overrides(items: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(items, str):
        items = [items]
    parsed: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for item in items:
        path, text = _split_override(item)
        _set_nested(parsed, path, _yaml_scalar(text), item)
        _set_nested(raw, path, text, item)
    return parsed, raw


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` (the ``--set`` options) into a dict.

    Each value is read as a YAML scalar or flow collection: ``epochs=3`` -> 3, ``lr=0.001`` ->
    0.001, ``pool=mean`` -> "mean", ``ks=[1,3,5]`` -> [1, 3, 5], ``dropout=null`` -> None,
    ``key=`` -> None. YAML 1.1 reads ``5e-5`` as the string "5e-5"; conversion to a float field
    turns it into 5e-05. A dotted key ``train.lr=...`` gives ``{"train": {"lr": ...}}`` (for a
    nested dataclass field). Later items win. An item without "=" raises :class:`ConfigError`.
    """
    return _overrides(items)[0]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``.yaml``/``.yml`` or ``.json`` config file that holds a mapping (empty YAML -> {}).

    Every error (missing file, unknown suffix, syntax error, not a mapping) is a
    :class:`ConfigError` that names the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"{path}: unsupported config file type {path.suffix!r}; use .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config file: {err}") from err
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{err.lineno}: invalid JSON: {err.msg} (column {err.colno})") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(err, "problem", None) or str(err)
            raise ConfigError(f"{where}: invalid YAML: {problem}") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must contain a mapping of keys to values, got {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"{path}: keys must be strings, got {bad[0]!r}")
    return data


def merge_config(
    cls: type[T],
    base: Mapping[str, Any] | Any = None,
    file: str | Path | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
) -> T:
    """Build ``cls`` from, lowest to highest precedence: its defaults, ``base`` (a dict or an
    instance of ``cls``), the config ``file`` (YAML/JSON path) and ``overrides`` (``--set``
    ``key=value`` strings, or an already parsed dict). Nested dataclass fields merge key by key.
    Errors name the layer they come from ("base", the file name, "--set").
    """
    layers: list[tuple[Any, str, Any]] = []
    if base is not None:
        if dataclasses.is_dataclass(base) and not isinstance(base, type):
            base = config_to_dict(base)
        layers.append((base, "base", None))
    if file is not None:
        layers.append((load_config_file(file), str(file), None))
    if overrides is not None:
        if isinstance(overrides, Mapping):
            layers.append((overrides, "--set", None))
        else:
            parsed, raw = _overrides(overrides)
            layers.append((parsed, "--set", raw))
    return _build(cls, layers)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {(k if isinstance(k, str) else str(_plain(k))): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return value.item()  # numpy / torch scalar
    return value


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The init fields of a config dataclass as JSON-serialisable plain data (tuples and sets
    become lists, paths strings, enums their values, nested dataclasses dicts).
    ``config_from_dict(type(cfg), config_to_dict(cfg)) == cfg``."""
    if not (dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return _plain(cfg)

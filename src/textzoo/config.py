"""Typed configuration: build model/training config dataclasses from dicts, files and ``--set``.

Every model's settings are a dataclass (defined next to the model). This module fills one from
plain values, checking each key against the dataclass's fields and each value against the
field's type annotation, so that a typo or a wrong value fails at once with a message that names
the key, where it came from (a file name, ``--set``) and what would have been valid.

Precedence in :func:`merge_config`: dataclass defaults < ``base`` < config file < ``--set``.

Supported annotations: ``int``, ``float``, ``bool``, ``str``, ``pathlib.Path``, ``Optional[X]`` /
``X | None``, other unions (first member that accepts the value wins, an exact type match first),
``Literal[...]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``list[X]``, ``set[X]``, ``dict[K, V]``,
``enum.Enum`` subclasses, nested dataclasses (given as a mapping, merged key by key across
layers) and ``Any``. Conversions (everything else is an error):

- float fields take ints and numeric strings (YAML 1.1 reads ``5e-5`` as a string);
- int fields take ints and strings of digits, never floats or bools;
- bool fields take bools, 0/1 and the strings true/false, yes/no, on/off, 1/0 (any case);
- sequence fields take lists/tuples, a comma-separated string ("1,3,5"), or a single value;
- str fields take only strings; a ``--set`` value that YAML reads as another type (``name=1``,
  ``name=yes``) falls back to its literal text.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, Iterable, Literal, TypeVar, Union

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

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_INT_RE = re.compile(r"[+-]?\d+")


class _Invalid(Exception):
    """Internal: a value does not fit a type (turned into ConfigError with field and source)."""

    def __init__(self, path: str, expected: str, value: Any, hint: str = ""):
        self.path, self.expected, self.value, self.hint = path, expected, value, hint
        super().__init__(path)


class _UnknownKey(Exception):
    """Internal: a key that is not a field (turned into ConfigError with the source)."""

    def __init__(self, cls: type, key: Any, valid: Iterable[str], prefix: str):
        self.cls, self.key, self.valid, self.prefix = cls, key, sorted(valid), prefix
        super().__init__(key)


@dataclasses.dataclass
class _Partial:
    """A nested dataclass value given as a mapping: converted values, resolved at the end."""

    cls: type
    values: dict[str, Any]
    base: Any = None  # an instance of ``cls`` this partial updates, if any


@dataclasses.dataclass
class _Layer:
    values: Mapping[str, Any]
    source: str
    raw: Mapping[str, Any] | None = None  # literal --set text, for str fields


# --------------------------------------------------------------------------------------------
# Type names and conversion
# --------------------------------------------------------------------------------------------


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def _type_name(tp: Any) -> str:
    if tp is type(None) or tp is None:
        return "None"
    if tp is Any:
        return "any value"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
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


def _init_fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _split_sequence(value: str) -> list[str]:
    text = value.strip()
    return [] if not text else [part.strip() for part in text.split(",")]


def _convert_sequence(value: Any, tp: Any, origin: Any, args: tuple, path: str) -> Any:
    if isinstance(value, str):
        items = _split_sequence(value)
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    elif isinstance(value, Mapping):
        raise _Invalid(path, _type_name(tp), value)
    else:
        items = [value]
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(items) != len(args):
            raise _Invalid(path, _type_name(tp), value, f"needs exactly {len(args)} items")
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(items, args)))
    elem = args[0] if args else Any
    converted = [_convert(v, elem, f"{path}[{i}]") for i, v in enumerate(items)]
    return origin(converted)


def _convert(value: Any, tp: Any, path: str, raw: Any = None) -> Any:
    """Return ``value`` converted to annotation ``tp`` or raise :class:`_Invalid`."""
    if tp is Any or tp is object:
        return value
    if tp is None or tp is type(None):
        if value is None:
            return None
        raise _Invalid(path, "None", value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        for member in members:  # an exact match first, so int | float keeps 3 an int
            if isinstance(member, type) and type(value) is member:
                return value
        for member in members:
            try:
                return _convert(value, member, path, raw)
            except _Invalid:
                continue
        raise _Invalid(path, _type_name(tp), value)

    if origin is Literal:
        for option in args:
            if type(value) is type(option) and value == option:
                return option
        for option in args:  # 1 for a float option, "1" for an int option
            if isinstance(option, float) and type(value) is int and value == option:
                return option
            if isinstance(value, str) and not isinstance(option, str) and value.strip() == str(option):
                return option
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, [str(o) for o in args], n=1)
            hint = f"did you mean {close[0]!r}?" if close else ""
        raise _Invalid(path, _type_name(tp), value, hint)

    if origin in (tuple, list, set, frozenset) or tp in (tuple, list, set, frozenset):
        return _convert_sequence(value, tp, origin or tp, args, path)

    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise _Invalid(path, _type_name(tp), value)
        key_tp, val_tp = args if args else (Any, Any)
        return {_convert(k, key_tp, f"{path}.{k}"): _convert(v, val_tp, f"{path}.{k}") for k, v in value.items()}

    if origin is not None:  # another generic (Callable, Sequence[...]): accept as given
        return value

    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return _Partial(tp, _convert_fields(tp, value, prefix=path + ".", raw=raw))
        raise _Invalid(path, f"{tp.__name__} (a mapping of its fields)", value)

    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Invalid(path, "bool (true/false)", value)

    if tp is int:
        if isinstance(value, bool):
            raise _Invalid(path, "int", value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return int(value.strip())
        hint = "a whole number is needed" if isinstance(value, float) else ""
        raise _Invalid(path, "int", value, hint)

    if tp is float:
        if isinstance(value, bool):
            raise _Invalid(path, "float", value)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _Invalid(path, "float", value)

    if tp is str:
        if isinstance(value, str):
            return value
        hint = "quote it to keep it as text" if isinstance(value, (bool, int, float)) or value is None else ""
        raise _Invalid(path, "str", value, hint)

    if isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, (str, PurePath)):
            return tp(value)
        raise _Invalid(path, "path (a string)", value)

    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        for member in tp:
            if value == member.value or value == member.name:
                return member
        raise _Invalid(path, "one of " + ", ".join(repr(m.value) for m in tp), value)

    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Invalid(path, _type_name(tp), value)
    return value  # an annotation this module does not understand (a TypeVar, a string): as given


def _invalid_to_error(err: _Invalid, source: str) -> ConfigError:
    shown = repr(err.value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    msg = f"{_prefix(source)}{err.path}: expected {err.expected}, got {shown} ({type(err.value).__name__})"
    if err.hint:
        msg += f"; {err.hint}"
    return ConfigError(msg)


def _unknown_key_error(err: _UnknownKey, source: str) -> ConfigError:
    key = err.key
    close = difflib.get_close_matches(key, err.valid, n=1) if isinstance(key, str) else []
    suggestion = f" (did you mean {err.prefix + close[0]!r}?)" if close else ""
    return ConfigError(
        f"{_prefix(source)}unknown key {err.prefix + str(key)!r} for {err.cls.__name__}{suggestion}; "
        f"valid keys: {', '.join(err.valid)}"
    )


def _convert_fields(
    cls: type, values: Mapping[str, Any], prefix: str = "", raw: Mapping | None = None
) -> dict[str, Any]:
    """Check the keys of ``values`` against ``cls`` and convert each value to its field's type.

    Raises :class:`_UnknownKey` or :class:`_Invalid`; the caller adds the source.
    """
    if not isinstance(values, Mapping):
        raise _Invalid(prefix.rstrip(".") or "config", f"a mapping of {cls.__name__} keys", values)
    hints = _hints(cls)
    fields = _init_fields(cls)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise _UnknownKey(cls, key, fields, prefix)
        path = f"{prefix}{key}"
        raw_value = raw.get(key) if isinstance(raw, Mapping) else None
        try:
            out[key] = _convert(value, hints[key], path, raw_value if isinstance(raw_value, Mapping) else None)
        except _Invalid:
            if isinstance(raw_value, str) and raw_value != value:
                try:
                    out[key] = _convert(raw_value, hints[key], path)
                    continue
                except _Invalid:
                    pass
            raise
    return out


# --------------------------------------------------------------------------------------------
# Building instances
# --------------------------------------------------------------------------------------------


def _merge(old: Any, new: Any) -> Any:
    if isinstance(new, _Partial):
        if isinstance(old, _Partial) and old.cls is new.cls:
            values = dict(old.values)
            for k, v in new.values.items():
                values[k] = _merge(values.get(k), v)
            return _Partial(new.cls, values, old.base)
        if isinstance(old, new.cls):
            return _Partial(new.cls, new.values, old)
    return new


def _field_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _resolve(value: Any, source: str, path: str) -> Any:
    """Instantiate partials inside containers (e.g. a ``list[SubConfig]`` field)."""
    if isinstance(value, _Partial):
        return _instantiate(value.cls, value.values, source, value.base, path + ".")
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_resolve(v, source, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: _resolve(v, source, f"{path}.{k}") for k, v in value.items()}
    return value


def _instantiate(cls: type[T], values: Mapping[str, Any], source: str, base: Any = None, prefix: str = "") -> T:
    fields = _init_fields(cls)
    kwargs: dict[str, Any] = {}
    if base is not None:
        kwargs.update({name: getattr(base, name) for name in fields})
    for name, value in values.items():
        if isinstance(value, _Partial):
            nested_base = value.base
            if nested_base is None:
                current = kwargs.get(name, _field_default(fields[name]))
                nested_base = current if isinstance(current, value.cls) else None
            value = _instantiate(value.cls, value.values, source, nested_base, f"{prefix}{name}.")
        kwargs[name] = _resolve(value, source, prefix + name)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(
            f"{_prefix(source)}missing required key(s) for {cls.__name__}: "
            + ", ".join(prefix + m for m in missing)
        )
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{_prefix(source)}{err}") from err
    except ValueError as err:
        where = f" ({prefix.rstrip('.')})" if prefix else ""
        raise ConfigError(f"{_prefix(source)}invalid {cls.__name__}{where}: {err}") from err


def _build(cls: type[T], layers: list[_Layer]) -> T:
    _hints(cls)  # fail early (TypeError) if cls is not a dataclass
    merged: dict[str, Any] = {}
    for layer in layers:
        try:
            converted = _convert_fields(cls, layer.values, raw=layer.raw)
        except _Invalid as err:
            raise _invalid_to_error(err, layer.source) from None
        except _UnknownKey as err:
            raise _unknown_key_error(err, layer.source) from None
        for key, value in converted.items():
            merged[key] = _merge(merged.get(key), value)
    sources = " < ".join(layer.source for layer in layers if layer.source and layer.values)
    return _instantiate(cls, merged, sources)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def config_from_dict(cls: type[T], values: Mapping[str, Any] | None, source: str = "") -> T:
    """Build a ``cls`` instance from ``values`` over the dataclass defaults.

    Unknown keys, values that do not fit their field's annotation, missing required keys and
    ``ValueError`` from ``__post_init__`` all raise :class:`ConfigError`; its message starts with
    ``source`` (a file name, ``"--set"``) when given.
    """
    return _build(cls, [_Layer(values or {}, source)])


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
    layers: list[_Layer] = []
    if base is not None:
        if dataclasses.is_dataclass(base) and not isinstance(base, type):
            base = config_to_dict(base)
        layers.append(_Layer(base, "base"))
    if file is not None:
        layers.append(_Layer(load_config_file(file), str(file)))
    if overrides is not None:
        if isinstance(overrides, Mapping):
            layers.append(_Layer(overrides, "--set"))
        else:
            parsed, raw = _overrides(overrides)
            layers.append(_Layer(parsed, "--set", raw))
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

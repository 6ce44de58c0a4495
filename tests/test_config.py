"""Config dataclasses from dicts, files and --set overrides."""

from __future__ import annotations  # annotations are strings: config must use get_type_hints

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import pytest

from textzoo.config import (
    config_from_dict,
    config_to_dict,
    load_config_file,
    merge_config,
    parse_overrides,
)
from textzoo.errors import ConfigError


@dataclass
class Optim:
    lr: float = 1e-3
    warmup: int = 0


@dataclass
class Cfg:
    hidden: int = 200
    lr: float = 0.02
    dropout: Optional[float] = 0.5
    seed: int | None = None
    pool: Literal["mean", "max", "cls"] = "mean"
    name: str = "model"
    ks: tuple[int, ...] = (1, 3, 5)
    window: tuple[int, int] = (2, 3)
    tags: list[str] = field(default_factory=list)
    use_bias: bool = True
    out: Path = Path("runs")
    optim: Optim = field(default_factory=Optim)

    def __post_init__(self) -> None:
        if self.hidden <= 0:
            raise ValueError(f"hidden must be > 0, got {self.hidden}")


@dataclass
class Needs:
    vocab: int
    dim: int = 8


# --- types ------------------------------------------------------------------------------------


def test_defaults_and_conversions():
    assert config_from_dict(Cfg, {}) == Cfg()
    cfg = config_from_dict(
        Cfg,
        {"hidden": 64, "lr": 1, "ks": [1, 10], "window": [4, 5], "tags": ("a", "b"), "out": "x/y"},
    )
    assert cfg.hidden == 64
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)  # an int for a float field is fine
    assert cfg.ks == (1, 10) and isinstance(cfg.ks, tuple)
    assert cfg.window == (4, 5)
    assert cfg.tags == ["a", "b"]
    assert cfg.out == Path("x/y")


def test_float_from_yaml_1_1_string():
    # YAML 1.1 (PyYAML) reads 5e-5 as a string; a float field still takes it
    assert parse_overrides(["lr=5e-5"]) == {"lr": "5e-5"}
    assert config_from_dict(Cfg, {"lr": "5e-5"}).lr == pytest.approx(5e-5)
    assert merge_config(Cfg, overrides=["lr=5e-5"]).lr == pytest.approx(5e-5)


def test_optional_and_union():
    assert config_from_dict(Cfg, {"dropout": None}).dropout is None
    assert config_from_dict(Cfg, {"dropout": 0}).dropout == 0.0
    assert config_from_dict(Cfg, {"seed": 7}).seed == 7
    assert merge_config(Cfg, overrides=["dropout=null", "seed=~"]).dropout is None
    with pytest.raises(ConfigError, match=r"dropout: expected float or None, got 'high'"):
        config_from_dict(Cfg, {"dropout": "high"})


def test_literal():
    assert config_from_dict(Cfg, {"pool": "max"}).pool == "max"
    with pytest.raises(ConfigError) as err:
        config_from_dict(Cfg, {"pool": "maxx"}, source="bert.yaml")
    msg = str(err.value)
    assert "bert.yaml" in msg and "pool" in msg and "'mean', 'max', 'cls'" in msg and "did you mean 'max'" in msg


@pytest.mark.parametrize(
    "given, expected",
    [
        (True, True), (False, False), ("true", True), ("False", False), ("yes", True), ("no", False),
        ("on", True), ("off", False), ("1", True), ("0", False), (1, True), (0, False),
    ],
)
def test_bool_parsing(given, expected):
    assert config_from_dict(Cfg, {"use_bias": given}).use_bias is expected


@pytest.mark.parametrize("given", ["maybe", 2, 0.5, None])
def test_bool_rejects(given):
    with pytest.raises(ConfigError, match="use_bias: expected bool"):
        config_from_dict(Cfg, {"use_bias": given})


def test_bool_from_override_text():
    assert merge_config(Cfg, overrides=["use_bias=false"]).use_bias is False
    assert merge_config(Cfg, overrides=["use_bias=1"]).use_bias is True


@pytest.mark.parametrize(
    "values, text",
    [
        ({"hidden": "many"}, "hidden: expected int, got 'many' (str)"),
        ({"hidden": 2.5}, "hidden: expected int, got 2.5 (float)"),
        ({"hidden": True}, "hidden: expected int, got True (bool)"),
        ({"lr": "fast"}, "lr: expected float, got 'fast' (str)"),
        ({"name": 3}, "name: expected str, got 3 (int)"),
        ({"ks": [1, "x"]}, "ks[1]: expected a valid integer, unable to parse string as an integer, got 'x'"),
        ({"window": [1, 2, 3]}, "window: expected tuple[int, int]"),
        ({"optim": 3}, "optim: expected Optim"),
    ],
)
def test_wrong_type_names_field_type_and_value(values, text):
    with pytest.raises(ConfigError) as err:
        config_from_dict(Cfg, values, source="cfg.json")
    assert str(err.value).startswith("cfg.json: ")
    assert text in str(err.value)


# --- keys -------------------------------------------------------------------------------------


def test_unknown_key_with_suggestion():
    with pytest.raises(ConfigError) as err:
        config_from_dict(Cfg, {"hiden": 3}, source="textgcn.yaml")
    msg = str(err.value)
    assert "textgcn.yaml" in msg and "'hiden'" in msg and "did you mean 'hidden'" in msg
    assert "valid keys:" in msg and "dropout" in msg and "use_bias" in msg


def test_unknown_key_without_close_match():
    with pytest.raises(ConfigError) as err:
        config_from_dict(Cfg, {"zzzz": 3})
    assert "did you mean" not in str(err.value)


def test_unknown_nested_key():
    with pytest.raises(ConfigError, match=r"--set: unknown key 'optim.lrr' for Optim \(did you mean 'optim.lr'\?\)"):
        merge_config(Cfg, overrides=["optim.lrr=1"])


def test_missing_required_key():
    assert config_from_dict(Needs, {"vocab": 10}) == Needs(10)
    with pytest.raises(ConfigError, match="missing required key.*vocab"):
        config_from_dict(Needs, {})


def test_post_init_value_error_becomes_config_error():
    with pytest.raises(ConfigError, match=r"^run\.yaml: invalid Cfg: hidden must be > 0, got -1$"):
        config_from_dict(Cfg, {"hidden": -1}, source="run.yaml")


# --- overrides --------------------------------------------------------------------------------


def test_parse_overrides_yaml_scalars():
    got = parse_overrides(["epochs=3", "lr=0.001", "pool=max", "ks=[1,3]", "flag=true", "x=null", "y="])
    assert got == {"epochs": 3, "lr": 0.001, "pool": "max", "ks": [1, 3], "flag": True, "x": None, "y": None}
    assert parse_overrides(["a.b=1", "a.c=x", "k = v "]) == {"a": {"b": 1, "c": "x"}, "k": "v"}
    assert parse_overrides(["n=1", "n=2"]) == {"n": 2}  # later wins


@pytest.mark.parametrize("item", ["epochs", "", "=3", "a..b=1"])
def test_parse_overrides_errors_name_the_item(item):
    with pytest.raises(ConfigError) as err:
        parse_overrides([item])
    assert repr(item) in str(err.value)


def test_override_text_for_str_fields():
    # YAML would read these as int / bool / float; a str field keeps the text as written
    cfg = merge_config(Cfg, overrides=["name=007", "tags=yes,no"])
    assert cfg.name == "007" and cfg.tags == ["yes", "no"]
    assert merge_config(Cfg, overrides=["name=1.0"]).name == "1.0"
    assert merge_config(Cfg, overrides=["ks=1,3,10"]).ks == (1, 3, 10)
    assert merge_config(Cfg, overrides=["ks=5"]).ks == (5,)


# --- files and precedence ---------------------------------------------------------------------


def test_load_config_file_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text("hidden: 64\nlr: 5e-5\n")
    (tmp_path / "b.json").write_text(json.dumps({"hidden": 32}))
    (tmp_path / "empty.yml").write_text("")
    assert load_config_file(tmp_path / "a.yaml") == {"hidden": 64, "lr": "5e-5"}
    assert load_config_file(tmp_path / "b.json") == {"hidden": 32}
    assert load_config_file(tmp_path / "empty.yml") == {}


@pytest.mark.parametrize(
    "name, text, pattern",
    [
        ("list.yaml", "- 1\n- 2\n", "must contain a mapping"),
        ("bad.yaml", "a: [1, 2\n", "invalid YAML"),
        ("bad.json", '{"a": 1,}', "invalid JSON"),
        ("cfg.toml", "a = 1", "unsupported config file type"),
        ("keys.yaml", "1: a\n", "keys must be strings"),
    ],
)
def test_load_config_file_errors_name_the_file(tmp_path, name, text, pattern):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as err:
        load_config_file(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found") as err:
        load_config_file(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(err.value)


def test_precedence_defaults_base_file_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("hidden: 64\nlr: 0.1\noptim:\n  warmup: 100\n")
    cfg = merge_config(
        Cfg,
        base={"hidden": 32, "lr": 0.5, "name": "base", "optim": {"lr": 0.01}},
        file=path,
        overrides=["lr=0.2", "optim.lr=5e-5"],
    )
    assert cfg.name == "base"  # base over default
    assert cfg.hidden == 64  # file over base
    assert cfg.lr == 0.2  # --set over file
    assert cfg.pool == "mean"  # default
    # nested dataclass fields merge key by key across layers
    assert cfg.optim == Optim(lr=5e-5, warmup=100)
    # a base given as an instance
    assert merge_config(Cfg, base=Cfg(hidden=7), overrides=["lr=1"]) == Cfg(hidden=7, lr=1.0)
    # an already parsed dict of overrides
    assert merge_config(Cfg, overrides={"hidden": 9}).hidden == 9


def test_errors_name_their_layer(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("hiden: 64\n")
    with pytest.raises(ConfigError, match=rf"^{path}: unknown key 'hiden'"):
        merge_config(Cfg, file=path)
    with pytest.raises(ConfigError, match=r"^--set: hidden: expected int, got 'lots'"):
        merge_config(Cfg, overrides=["hidden=lots"])
    with pytest.raises(ConfigError, match=r"^base: unknown key"):
        merge_config(Cfg, base={"nope": 1})
    with pytest.raises(ConfigError, match=r"base < --set: invalid Cfg: hidden must be > 0"):
        merge_config(Cfg, base={"hidden": 4}, overrides=["hidden=0"])


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_through_json():
    cfg = Cfg(hidden=12, lr=5e-5, dropout=None, pool="cls", ks=(2, 4), tags=["x"], out=Path("o"),
              optim=Optim(lr=0.3, warmup=5))
    data = config_to_dict(cfg)
    assert data["ks"] == [2, 4] and data["out"] == "o" and data["optim"] == {"lr": 0.3, "warmup": 5}
    text = json.dumps(data)  # JSON-serialisable
    assert config_from_dict(Cfg, json.loads(text)) == cfg
    with pytest.raises(TypeError):
        config_to_dict(Cfg)

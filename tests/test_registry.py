"""The named-dataset registry: counts on the real mirror, validation split, lookup, locations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import textzoo
from textzoo.data import DATASETS, get_spec, list_datasets, load_dataset
from textzoo.data.download import file_digests
from textzoo.data.registry import FileSpec, cache_dir_path, data_dir_path, resolve_dataset
from textzoo.errors import ConfigError, DownloadError

EXPECTED = {  # name: (train, test, labels, multilabel)
    "R8": (5485, 2189, 8, False),
    "R52": (6532, 2568, 52, False),
    "mr": (7108, 3554, 2, False),
    "20ng": (11314, 7532, 20, False),
    "SST-2": (67349, 872, 2, False),
    "TREC": (5452, 500, 6, False),
    "reuters21578": (9508, 3291, 394, True),
    "zh-reviews": (13934, 3429, 2, False),
}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No download base URL, an empty cache: a test sees only what it sets up."""
    monkeypatch.delenv("TEXTZOO_DOWNLOAD_URL", raising=False)
    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "empty-cache"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_of_every_mirrored_dataset(data_dir, name):
    train, test, labels, multilabel = EXPECTED[name]
    spec = get_spec(name)
    assert (spec.train, spec.test, spec.labels, spec.multilabel) == (train, test, labels, multilabel)
    corpus = load_dataset(name, data_dir=data_dir)
    n_valid = int(0.1 * train)
    assert len(corpus.valid) == n_valid
    assert len(corpus.train) == train - n_valid
    assert len(corpus.test) == test
    assert len(corpus.labels) == labels
    assert corpus.multilabel is multilabel
    # the validation documents are training documents, and none is lost or duplicated
    sources = corpus.train.sources + corpus.valid.sources
    assert len(set(sources)) == train


def test_validation_split_is_seeded(data_dir):
    a = load_dataset("R8", data_dir=data_dir, seed=0)
    b = load_dataset("r8", data_dir=data_dir, seed=0)
    c = load_dataset("R8", data_dir=data_dir, seed=1)
    assert a.valid.sources == b.valid.sources and a.valid.texts == b.valid.texts
    assert a.valid.sources != c.valid.sources
    assert len(c.valid) == int(0.1 * 5485) == 548
    d = load_dataset("R8", data_dir=data_dir, valid_fraction=0.25)
    assert len(d.valid) == int(0.25 * 5485)
    none = load_dataset("R8", data_dir=data_dir, valid_fraction=0)
    assert none.valid is None and len(none.train) == 5485
    with pytest.raises(ConfigError):
        load_dataset("R8", data_dir=data_dir, valid_fraction=1.5)


def test_top_level_api_and_reader_options(data_dir):
    corpus = textzoo.load_dataset("trec", data_dir=data_dir, fine=True)
    assert len(corpus.labels) == 50
    with pytest.raises(ConfigError) as exc:
        load_dataset("R8", data_dir=data_dir, fine=True)
    assert "fine" in str(exc.value)


def test_lookup_is_case_insensitive_and_unknown_names_are_listed():
    assert get_spec("sst-2").name == "SST-2"
    assert get_spec("SST2").name == "SST-2"
    assert get_spec("20NG").name == "20ng"
    assert get_spec("MR").name == "mr"
    assert get_spec("Reuters21578").name == "reuters21578"
    with pytest.raises(ConfigError) as exc:
        get_spec("agnews")
    for name in ("R8", "R52", "mr", "20ng", "ohsumed", "SST-2", "TREC", "reuters21578"):
        assert name in str(exc.value)
    with pytest.raises(ConfigError):
        load_dataset("agnews")


def test_registry_checksums_match_the_mirror(data_dir):
    """Every sha256 in the registry equals SHA256SUMS; every blob id of a file identical upstream
    equals the git blob id of the mirror's file (so the constants are right)."""
    sums = {}
    for line in (data_dir / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        sums[path.strip().lstrip("*")] = digest
    checked = 0
    for spec in DATASETS.values():
        for f in spec.files:
            if f.sha256 is not None:
                assert sums[f.path] == f.sha256, f.path
                checked += 1
            if f.git_blob is not None and f.upstream_identical and (data_dir / f.path).exists():
                assert file_digests(data_dir / f.path)["git_blob"] == f.git_blob, f.path
                checked += 1
    assert checked >= 20
    r52_text = get_spec("R52").files[1]
    assert not r52_text.upstream_identical
    # a download of the rebuilt R52 corpus from upstream is checked by blob id only
    url, sums_up = r52_text.source(None)
    assert url.startswith("https://raw.githubusercontent.com/yao8839836/text_gcn/962223652e9bb164ac2d83cd09fc7b8845ce860b/data/")
    assert sums_up == {"sha256": None, "git_blob": "b4f6407a052fdc94a17f0e687950f119471050c4"}
    # from a mirror URL by the mirror's sha256
    url, sums_mirror = r52_text.source("http://mirror.example/data/")
    assert url == "http://mirror.example/data/textgcn/corpus/R52.txt"
    assert sums_mirror["sha256"] == r52_text.sha256


def test_spec_sources():
    r8 = get_spec("R8")
    assert [f.path for f in r8.files] == ["textgcn/R8.txt", "textgcn/corpus/R8.txt"]
    assert r8.files[0].url.endswith("/data/R8.txt")
    sst = get_spec("SST-2").files[0]
    assert sst.path == "extra/SST-2/train.tsv" and sst.url.endswith("/glue_data/SST-2/train_full.tsv")
    assert "53e9e221b58e5ed882a56c9d8be838b895351165" in sst.url
    assert "3ffc1b21503e89e5eab6bf12ab9eb46d16a14851" in get_spec("TREC").files[0].url
    ohsumed = get_spec("ohsumed")
    assert all(f.sha256 is None and f.git_blob is None and f.url for f in ohsumed.files)
    assert all(f.url is None for f in get_spec("reuters21578").files)


def test_list_datasets_statuses(data_dir, tmp_path, monkeypatch):
    rows = {r["name"]: r for r in list_datasets(data_dir)}
    assert set(rows) == {"R8", "R52", "mr", "20ng", "ohsumed", "SST-2", "TREC", "reuters21578", "zh-reviews"}
    for name in EXPECTED:
        assert rows[name]["status"] == f"mirror: {data_dir / get_spec(name).folder}"
        assert (rows[name]["train"], rows[name]["test"], rows[name]["labels"]) == EXPECTED[name][:3]
    assert rows["ohsumed"]["status"].startswith("not downloaded (https://github.com/yao8839836/text_gcn")
    # env TEXTZOO_DATA is used when no data_dir is given
    monkeypatch.setenv("TEXTZOO_DATA", str(data_dir))
    assert {r["name"]: r["status"] for r in list_datasets()}["R8"].startswith("mirror: ")
    # no mirror, a cache holding TREC: cached; reuters has no public source
    monkeypatch.delenv("TEXTZOO_DATA")
    cache = tmp_path / "cache"
    for f in get_spec("TREC").files:
        (cache / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / f.path, cache / f.path)
    monkeypatch.setenv("TEXTZOO_CACHE", str(cache))
    rows = {r["name"]: r["status"] for r in list_datasets()}
    assert rows["TREC"] == f"cached: {cache / 'extra' / 'TREC'}"
    assert rows["R8"].startswith("not downloaded (https://")
    assert rows["reuters21578"].startswith("not available")
    # and the cached copy loads without a mirror
    corpus = load_dataset("TREC")
    assert len(corpus.test) == 500 and corpus.test.where(0)[0].startswith(str(cache))


def test_mirror_beats_cache_and_argument_beats_env(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTZOO_DATA", str(tmp_path / "nowhere"))
    assert data_dir_path(None) == tmp_path / "nowhere"
    assert data_dir_path(data_dir) == data_dir
    assert resolve_dataset("TREC", data_dir=data_dir, download_missing=False) == data_dir
    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "c"))
    assert cache_dir_path() == tmp_path / "c"
    monkeypatch.delenv("TEXTZOO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir_path() == tmp_path / "xdg" / "textzoo"


def test_without_mirror_and_without_download_the_error_names_the_remedies(tmp_path, monkeypatch):
    monkeypatch.delenv("TEXTZOO_DATA", raising=False)
    with pytest.raises(DownloadError) as exc:
        load_dataset("R8", download=False)
    message = str(exc.value)
    assert "TEXTZOO_DATA" in message and "--data-dir" in message and "network" in message
    with pytest.raises(DownloadError) as exc:
        load_dataset("R8", data_dir=tmp_path, download=False)
    assert str(tmp_path) in str(exc.value) and "textgcn/R8.txt" in str(exc.value)


def test_reuters_is_mirror_only(tmp_path, monkeypatch):
    monkeypatch.delenv("TEXTZOO_DATA", raising=False)
    with pytest.raises(DownloadError) as exc:
        load_dataset("reuters21578", data_dir=tmp_path)
    message = str(exc.value)
    assert "no public source" in message and "TEXTZOO_DATA" in message and "--data-dir" in message
    assert not any(Path(tmp_path, "empty-cache").rglob("*.txt"))


def test_filespec_is_plain_data():
    f = FileSpec("a/b.txt", "https://x/b.txt", sha256="0" * 64)
    assert f.source(None) == ("https://x/b.txt", {"sha256": "0" * 64, "git_blob": None})

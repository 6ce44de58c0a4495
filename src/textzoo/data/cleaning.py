"""TextGCN's text cleaning (Yao, Mao, Luo, AAAI 2019, Section "Experiment", data preprocessing).

Reproduces the reference code ``yao8839836/text_gcn``:

* ``utils.clean_str`` -- Kim (2014) CNN tokenisation/cleaning: :func:`clean_str` (one string),
  :func:`clean_strs` (a whole corpus at once);
* ``remove_words.py`` -- drop NLTK English stop words and words seen fewer than 5 times in the
  whole corpus: :func:`clean_documents` (MR: no removal, ``remove_stopwords=False, min_count=1``);
* the same cleaning for unseen text at prediction time: :func:`clean_new_document(s)`.

Documents are what TextGCN reads: the corpus file split on ``b"\\n"`` only, each line
``strip()``-ped and decoded as latin-1 (:func:`read_corpus_lines`).

Python 3 quirk kept on purpose: ``clean_str`` pads ``(``, ``)`` and ``?`` with the replacement
templates ``" \\( "``, ``" \\) "``, ``" \\? "``; ``re.sub`` leaves these unknown escapes alone, so
the real function outputs the tokens ``\\(``, ``\\)`` and ``\\?`` *with* the backslash (they are in
the public ``20ng.clean.txt``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Collection, Sequence
from itertools import chain, filterfalse
from os import PathLike

__all__ = [
    "STOP_WORDS",
    "clean_str",
    "clean_str_reference",
    "clean_strs",
    "clean_documents",
    "clean_new_document",
    "clean_new_documents",
    "read_corpus_lines",
]

logger = logging.getLogger(__name__)

#: NLTK's English stop-word list as TextGCN used it (``nltk.corpus.stopwords.words('english')``,
#: the 179-entry version, with contracted forms such as ``don't``).
STOP_WORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
    yourselves he him his himself she she's her hers herself it it's its itself they them their
    theirs themselves what which who whom this that that'll these those am is are was were be been
    being have has had having do does did doing a an the and but if or because as until while of at
    by for with about against between into through during before after above below to from up down
    in out on off over under again further then once here there when where why how all any both
    each few more most other some such no nor not only own same so than too very s t can will just
    don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't
    doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't
    needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
    """.split()
)


def clean_str_reference(string: str) -> str:
    """Kim-CNN ``clean_str`` from TextGCN's ``utils.py``, one ``re.sub`` per rule, as written there.

    The executable definition (slow: 13 regex passes); :func:`clean_str` is an equivalent, faster
    version and the tests check the two agree. Templates are spelt as the strings the original
    literals produce: ``"\\'s"`` (non-raw) is just ``'s``; ``" \\( "`` keeps its backslash and
    ``re`` then copies it to the output.
    """
    string = re.sub(r"[^A-Za-z0-9(),!?\'\`]", " ", string)
    string = re.sub(r"\'s", " 's", string)
    string = re.sub(r"\'ve", " 've", string)
    string = re.sub(r"n\'t", " n't", string)
    string = re.sub(r"\'re", " 're", string)
    string = re.sub(r"\'d", " 'd", string)
    string = re.sub(r"\'ll", " 'll", string)
    string = re.sub(r",", " , ", string)
    string = re.sub(r"!", " ! ", string)
    string = re.sub(r"\(", r" \\( ", string)  # output: " \( "
    string = re.sub(r"\)", r" \\) ", string)  # output: " \) "
    string = re.sub(r"\?", r" \\? ", string)  # output: " \? "
    string = re.sub(r"\s{2,}", " ", string)
    return string.strip().lower()


# -- fast equivalent ------------------------------------------------------------------------------
# Rule 1 maps each disallowed character to a space: a byte-translation table does it in one C pass
# (text is handled as latin-1 bytes; characters above U+00FF are disallowed anyway and are turned
# into spaces first). Rules 2-12 have literal patterns and templates, so ``bytes.replace`` applied
# in the same order is exactly ``re.sub`` (both replace non-overlapping occurrences left to right).
# After rule 1 the only whitespace left is the space, so rule 13 + strip is ``" ".join(s.split())``.
# Rules 2-6 are case-sensitive (``'S`` is not split), so we lowercase last, as the original does.
_ALLOWED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789(),!?'`")
_TABLE_KEEP_NL = bytes(c if c in _ALLOWED or c == 0x0A else 0x20 for c in range(256))
_ABOVE_LATIN1 = re.compile(r"[^\x00-\xff]+")
_LITERAL_RULES: tuple[tuple[bytes, bytes], ...] = (
    (b"'s", b" 's"),
    (b"'ve", b" 've"),
    (b"n't", b" n't"),
    (b"'re", b" 're"),
    (b"'d", b" 'd"),
    (b"'ll", b" 'll"),
    (b",", b" , "),
    (b"!", b" ! "),
    (b"(", b" \\( "),
    (b")", b" \\) "),
    (b"?", b" \\? "),
)


def _clean_lines(texts: Sequence[str]) -> list[str]:
    """Rules 1-12 and lowercasing over the joined corpus; one line per text, spaces not squeezed."""
    joined = "\n".join(t.replace("\n", " ") if "\n" in t else t for t in texts)
    try:
        raw = joined.encode("latin-1")
    except UnicodeEncodeError:
        raw = _ABOVE_LATIN1.sub(" ", joined).encode("latin-1")
    del joined
    raw = raw.translate(_TABLE_KEEP_NL)
    for old, new in _LITERAL_RULES:
        if old in raw:
            raw = raw.replace(old, new)
    lines = raw.lower().decode("ascii").split("\n")
    if len(lines) != len(texts):  # pragma: no cover - cannot happen: "\n" only separates texts
        raise AssertionError("clean_strs: document count changed")
    return lines


def clean_strs(texts: Sequence[str]) -> list[str]:
    """:func:`clean_str` of every text, computed in a few C-level passes over the joined corpus.

    Texts are joined with ``"\\n"`` (a newline inside a text is first turned into a space, which
    is what ``clean_str`` does with it), cleaned as one byte string, and split back.
    """
    if not texts:
        return []
    return [" ".join(line.split()) for line in _clean_lines(texts)]


def clean_str(string: str) -> str:
    """Kim-CNN / TextGCN ``utils.clean_str``: keep ``[A-Za-z0-9(),!?'`]``, split ``'s 've n't 're
    'd 'll``, pad ``, ! ( ) ?`` (brackets and ``?`` come out as ``\\( \\) \\?``), squeeze spaces,
    strip, lowercase. Output is identical to :func:`clean_str_reference`."""
    return clean_strs([string])[0]


def clean_documents(
    texts: Sequence[str], remove_stopwords: bool = True, min_count: int = 5
) -> list[str]:
    """TextGCN ``remove_words.py``: ``clean_str`` every document, count each word over the whole
    corpus (all splits), keep a word iff it is not a stop word (when ``remove_stopwords``) and its
    count is ``>= min_count``; join the kept words with single spaces.

    TextGCN's settings: ``remove_stopwords=True, min_count=5`` for R8, R52, 20NG, Ohsumed;
    ``remove_stopwords=False, min_count=1`` (no removal) for MR.
    """
    if not texts:
        return []
    if not remove_stopwords and min_count <= 1:
        return clean_strs(texts)
    tokens = [line.split() for line in _clean_lines(texts)]  # split once: count, filter, join
    freq = Counter(chain.from_iterable(tokens))
    drop = {w for w, c in freq.items() if c < min_count}
    if remove_stopwords:
        drop.update(STOP_WORDS.intersection(freq))
    logger.debug("clean_documents: %d distinct words, %d dropped", len(freq), len(drop))
    if not drop:
        return [" ".join(t) for t in tokens]
    keep = frozenset(freq.keys() - drop)
    # filter() runs the membership test in C, no Python code per token
    return [" ".join(filter(keep.__contains__, t)) for t in tokens]


def clean_new_documents(
    texts: Sequence[str], vocabulary: Collection[str], remove_stopwords: bool = True
) -> list[str]:
    """Clean unseen texts the way training texts were: ``clean_str``, drop stop words (when
    ``remove_stopwords``), drop words outside ``vocabulary`` (the training graph's words, which
    already exclude rare words). Pass a ``set``/``frozenset``/``dict`` for speed."""
    vocab = vocabulary if isinstance(vocabulary, (set, frozenset, dict)) else set(vocabulary)
    out: list[str] = []
    for line in _clean_lines(texts) if texts else []:
        words = filter(vocab.__contains__, line.split())
        if remove_stopwords:
            words = filterfalse(STOP_WORDS.__contains__, words)
        out.append(" ".join(words))
    return out


def clean_new_document(
    text: str, vocabulary: Collection[str], remove_stopwords: bool = True
) -> str:
    """One unseen text: see :func:`clean_new_documents`."""
    return clean_new_documents([text], vocabulary, remove_stopwords)[0]


def read_corpus_lines(path: str | PathLike, encoding: str = "latin-1") -> list[str]:
    """Documents of a TextGCN ``corpus/NAME.txt`` file as TextGCN reads them: lines split on
    ``b"\\n"`` only (20NG has stray ``\\r`` bytes), each ``strip()``-ped, decoded as latin-1."""
    with open(path, "rb") as f:
        data = f.read()
    if data.endswith(b"\n"):  # a final newline ends the last line; it does not start a new one
        data = data[:-1]
    return [line.strip().decode(encoding) for line in data.split(b"\n")]


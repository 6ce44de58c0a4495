"""TextGCN cleaning (utils.clean_str + remove_words.py) against the public cleaned corpora."""

from __future__ import annotations

import random

import pytest

from textzoo.data.cleaning import (
    STOP_WORDS,
    clean_documents,
    clean_new_document,
    clean_new_documents,
    clean_str,
    clean_str_reference,
    clean_strs,
    read_corpus_lines,
)

# (corpus file stem, remove_stopwords, min_count, paper's vocabulary size, number of documents)
CORPORA = [
    ("R8", True, 5, 7688, 7674),
    ("R52", True, 5, 8892, 9100),
    ("mr", False, 1, 18764, 10662),
    ("20ng", True, 5, 42757, 18846),
]


@pytest.fixture(scope="module")
def cleaned(data_dir):
    cache: dict[str, tuple[list[str], list[str]]] = {}

    def get(name, remove_stopwords, min_count):
        if name not in cache:
            raw = read_corpus_lines(data_dir / "textgcn" / "corpus" / f"{name}.txt")
            cache[name] = (raw, clean_documents(raw, remove_stopwords, min_count))
        return cache[name]

    return get


def test_r8_clean_byte_for_byte(data_dir, cleaned):
    _, docs = cleaned("R8", True, 5)
    expected = (data_dir / "textgcn" / "corpus" / "R8.clean.txt").read_bytes()
    assert "\n".join(docs).encode("latin-1") == expected


@pytest.mark.parametrize("name,remove_stopwords,min_count,vocab_size,n_docs", CORPORA)
def test_vocabulary_sizes_match_paper(data_dir, cleaned, name, remove_stopwords, min_count,
                                      vocab_size, n_docs):
    raw, docs = cleaned(name, remove_stopwords, min_count)
    assert len(raw) == n_docs == len(docs)
    assert len({w for d in docs for w in d.split()}) == vocab_size
    # the public (or regenerated-by-the-same-procedure) cleaned files agree byte for byte too
    expected = (data_dir / "textgcn" / "corpus" / f"{name}.clean.txt").read_bytes()
    assert "\n".join(docs).encode("latin-1") == expected


def test_fast_clean_str_equals_reference_on_corpus(cleaned):
    raw, _ = cleaned("20ng", True, 5)
    sample = raw[:: 37]  # ~500 posts with every kind of punctuation, latin-1 bytes and \r
    assert clean_strs(sample) == [clean_str_reference(d) for d in sample]


@pytest.mark.parametrize(
    "text,expected",
    [
        # contractions are split before the lowercasing, so only lowercase forms are split
        ("It's a dog's life, isn't it?", "it 's a dog 's life , is n't it \\?"),
        ("IT'S DON'T", "it's don't"),
        ("we've they're I'd you'll can't", "we 've they 're i 'd you 'll ca n't"),
        # brackets and ? keep the backslash of the original's " \( " templates in Python 3
        ("f(x) = (a+b)?!", "f \\( x \\) \\( a b \\) \\? !"),
        # everything outside [A-Za-z0-9(),!?'`] becomes a space; runs squeezed; stripped
        ("  Hello,\tworld!\r\n  caf\xe9 na\u00efve \u2019quote\u2019 `tick` 3.14 ",
         "hello , world ! caf na ve quote `tick` 3 14"),
        ("e-mail: john@doe.com; $100 -- 50%", "e mail john doe com 100 50"),
        ("", ""),
        ("   \t ", ""),
        ("!!!", "! ! !"),
        ("''s", "' 's"),
    ],
)
def test_clean_str_hand_made(text, expected):
    assert clean_str_reference(text) == expected
    assert clean_str(text) == expected


def test_clean_str_matches_reference_on_random_strings():
    rng = random.Random(0)
    alphabet = "aAbnNtTsSvVeErRdDlL'`(),!?.-\\ \t\r\n\x0b\x0c\xe9\xa0\x85\u2019\u4e2d0123456789"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    # contractions-heavy strings too
    pieces = ["'s", "'ve", "n't", "'re", "'d", "'ll", "'S", "N'T", "n'", "'", " ", "x", "(", "?"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(2000)]
    assert clean_strs(texts) == [clean_str_reference(t) for t in texts]
    assert [clean_str(t) for t in texts[:200]] == [clean_str_reference(t) for t in texts[:200]]


def test_clean_strs_keeps_document_count_with_newlines_and_empty_docs():
    texts = ["", "a\nb", "\n", "C!", ""]
    assert clean_strs(texts) == ["", "a b", "", "c !", ""]
    assert clean_strs([]) == []


def test_stop_words_are_nltk_179():
    assert len(STOP_WORDS) == 179
    for w in ("i", "the", "don't", "should've", "wouldn't", "ain", "ma", "y", "that'll"):
        assert w in STOP_WORDS
    assert "n't" not in STOP_WORDS and "'s" not in STOP_WORDS  # clean_str's tokens are kept


def test_clean_documents_removal_rules():
    docs = ["The oil price rose, oil fell", "oil price", "price of oil rose again", "rose"]
    # counts: oil 4, price 3, rose 3, fell 1, again 1, "," 1; the/of are stop words
    assert clean_documents(docs, remove_stopwords=True, min_count=3) == [
        "oil price rose oil", "oil price", "price oil rose", "rose"]
    assert clean_documents(docs, remove_stopwords=False, min_count=1) == [
        clean_str(d) for d in docs]
    assert clean_documents(docs, remove_stopwords=True, min_count=1)[2] == "price oil rose"
    assert clean_documents(docs, remove_stopwords=False, min_count=2)[2] == "price oil rose"
    assert clean_documents([], True, 5) == []


def test_clean_new_document():
    vocab = {"oil", "price", "rose", "the"}
    assert clean_new_document("The OIL price (rose) sharply!", vocab) == "oil price rose"
    assert clean_new_document("The OIL price", vocab, remove_stopwords=False) == "the oil price"
    assert clean_new_document("nothing known", vocab) == ""
    assert clean_new_documents(["oil", "x price"], ["oil", "price"]) == ["oil", "price"]


def test_read_corpus_lines_splits_on_newline_only(data_dir):
    docs = read_corpus_lines(data_dir / "textgcn" / "corpus" / "20ng.txt")
    assert len(docs) == 18846  # 180 stray \r bytes do not split documents
    assert all("\n" not in d for d in docs)
    mr = read_corpus_lines(data_dir / "textgcn" / "corpus" / "mr.txt")  # CRLF, final CRLF
    assert len(mr) == 10662 and not any(d.endswith("\r") for d in mr)

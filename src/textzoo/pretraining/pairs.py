"""Sentence pairs for next-sentence prediction (BERT) and sentence-order prediction (ALBERT): sentences,
segments of a token budget, and ``(a, b, label)`` pairs (see :mod:`textzoo.pretraining.transformers_lm`
for the one-sentence documents)."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

from ..errors import DataError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")  # Chinese full stops need no space
_WORD = re.compile(r"\w")


def split_sentences(doc: str) -> list[str]:
    """``doc``'s sentences: split after ``.``, ``!``, ``?`` followed by white space, and after
    ``。``, ``！``, ``？``.

    A piece without any letter or digit (an ellipsis written ``. . .``, a closing quote or bracket
    after the full stop, as in MR's tokenised sentences) is not a sentence: it stays with the
    sentence before it (or after it, at the start), so it cannot form a sentence pair of its own.
    """
    out: list[str] = []
    pending = ""
    for piece in _SENTENCE_END.split(doc):
        if not piece:
            continue
        if not _WORD.search(piece):
            if out:
                out[-1] = f"{out[-1]} {piece}"
            else:
                pending = f"{pending} {piece}".strip()
            continue
        out.append(f"{pending} {piece}".strip() if pending else piece)
        pending = ""
    if pending:
        out.append(pending)
    return out


def split_segments(doc_sentences: list[list[int]], budget: int) -> list[list[list[int]]]:
    """Group a document's tokenised sentences into chunks of at most ``budget`` tokens.

    A sentence longer than ``budget`` (or a text without sentence punctuation) is first cut into
    pieces of ``budget`` tokens, so no text is lost.
    """
    chunks, cur, size = [], [], 0
    pieces = [s[i:i + budget] for s in doc_sentences for i in range(0, len(s), budget)]
    for sent in pieces:
        if cur and size + len(sent) > budget:
            chunks.append(cur)
            cur, size = [], 0
        cur.append(sent)
        size += len(sent)
    if cur:
        chunks.append(cur)
    return chunks


def make_pairs(docs: list[list[list[int]]], objective: Literal["nsp", "sop"], budget: int,
               rng: np.random.Generator, pair_prob: float = 0.5, short_seq_prob: float = 0.0,
               single: Literal["alone", "random", "split"] = "alone"):
    """``(a, b, label)`` token pairs from documents given as lists of tokenised sentences.

    Each chunk of a document (sentences filling at most ``budget`` tokens) with two sentences or
    more is split at a random sentence boundary into A and B.

    * ``nsp`` (BERT, Section 3.1): with probability ``pair_prob`` B is replaced by a segment of the
      same length from another document, label 1 ("not next"); otherwise label 0 ("is next").
    * ``sop`` (ALBERT, Section 4.1): with probability ``pair_prob`` A and B are swapped, label 1;
      otherwise label 0. Both segments always come from the same document.

    A chunk of one sentence (``single``, see the module docstring): ``alone`` gives ``(a, [], -100)``,
    one segment and no pair label; ``random`` pairs it with a segment of a random other document,
    label 1 (BERT's and ALBERT's ``create_pretraining_data.py``); ``split`` cuts it at a random token
    into A and B and treats them as two sentences.

    The labels follow ``transformers``' ``next_sentence_label`` and ``sentence_order_label``.
    """
    pairs = []
    flat_docs = [[t for s in d for t in s] for d in docs]
    non_empty = np.flatnonzero([len(f) > 0 for f in flat_docs])

    def other_segment(d: int, length: int) -> list[int]:
        """``length`` tokens at a random place of a random other document."""
        if len(non_empty) < 2:
            raise DataError("next-sentence prediction needs at least two non-empty documents")
        o = d
        while o == d:  # a random other document (BERT's create_pretraining_data.py)
            o = int(non_empty[rng.integers(len(non_empty))])
        other = flat_docs[o]
        start = int(rng.integers(0, max(1, len(other) - length + 1)))
        return other[start:start + length]

    for d, doc in enumerate(docs):
        limit = budget
        if short_seq_prob and rng.random() < short_seq_prob:
            limit = int(rng.integers(2, budget + 1))
        for chunk in split_segments(doc, limit):
            if len(chunk) >= 2:
                cut = int(rng.integers(1, len(chunk)))
                a = [t for s in chunk[:cut] for t in s]
                b = [t for s in chunk[cut:] for t in s]
            elif single == "alone":
                if chunk[0]:
                    pairs.append((list(chunk[0]), [], -100))
                continue
            elif single == "random":
                a = list(chunk[0])
                if a:  # B fills the chunk's budget (create_pretraining_data.py's target_b_length)
                    b = other_segment(d, max(1, limit - len(a)))
                    pairs.append((a[:budget - len(b)], b, 1))
                continue
            else:
                tokens = chunk[0]
                if len(tokens) < 2:
                    continue
                cut = int(rng.integers(1, len(tokens)))
                a, b = tokens[:cut], tokens[cut:]
            label = 0
            if rng.random() < pair_prob:
                label = 1
                if objective == "sop":
                    a, b = b, a
                else:
                    b = other_segment(d, len(b))
            pairs.append((a, b, label))
    return pairs

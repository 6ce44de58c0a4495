"""Does a backbone's vocabulary cover the text? The share of ``[UNK]`` tokens in the training ids.

An English checkpoint on Chinese text (all-MiniLM-L6-v2 holds 244 CJK characters) turns most of a
sentence into its unknown token without a sign; :func:`check_unknown_tokens` warns once per ``fit``
when more than :data:`UNK_WARN_RATE` of the training tokens are unknown. Byte-level BPE (GPT-2) has
no unknown token and is never warned about.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)

UNK_WARN_RATE = 0.10


def unknown_id(tokenizer) -> int | None:
    """The id of a ``tokenizers.Tokenizer``'s unknown token, or None if it has none."""
    name = getattr(tokenizer.model, "unk_token", None)
    if isinstance(name, str) and name:
        return tokenizer.token_to_id(name)
    unk = json.loads(tokenizer.to_str()).get("model", {}).get("unk_id")  # Unigram (not an attribute)
    return unk if isinstance(unk, int) else None


def unknown_rate(tokenizer, ids: Sequence[Sequence[int]]) -> float | None:
    """The share of ``ids`` (every token of every document) that are the unknown token."""
    unk = unknown_id(tokenizer)
    total = sum(len(row) for row in ids)
    if unk is None or total == 0:
        return None
    return sum(row.count(unk) for row in ids) / total


def check_unknown_tokens(tokenizer, ids: Sequence[Sequence[int]], pretrained: str | None) -> float | None:
    """:func:`unknown_rate` of the training ids; a one-line warning above :data:`UNK_WARN_RATE`."""
    rate = unknown_rate(tokenizer, ids)
    if rate is not None and rate > UNK_WARN_RATE:
        log.warning("%.1f%% of the training tokens are unknown ([UNK]) to pretrained=%s: its vocabulary "
                    "does not cover this text; use a checkpoint for the language (e.g. pretrained="
                    "bert-base-chinese for Chinese) or pretrain one on your text (textzoo pretrain bert "
                    "--corpus FILE)", 100 * rate, pretrained)
    return None if rate is None else round(rate, 4)

"""The masked-LM inputs of pretraining: BERT's token masking (80/10/10) and ALBERT's n-gram masking."""

from __future__ import annotations

import numpy as np
import torch


def mask_tokens(ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator, prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked LM input (Section 3.1): ``(inputs, labels)``.

    Each non-special token is chosen with probability ``prob``; a chosen token becomes [MASK] 80% of
    the time, a random token 10% and stays unchanged 10%. ``labels`` holds the original id at the
    chosen positions and -100 elsewhere (ignored by the loss).
    """
    chosen = (torch.rand(ids.shape, generator=generator) < prob) & ~special
    labels = ids.masked_fill(~chosen, -100)
    u = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (u < 0.8)] = mask_id
    rand = chosen & (u >= 0.8) & (u < 0.9)
    inputs[rand] = torch.randint(vocab_size, ids.shape, generator=generator)[rand]
    return inputs, labels


def ngram_probs(max_n: int = 3) -> np.ndarray:
    """ALBERT's span-length distribution: p(n) proportional to 1/n for n = 1..max_n (Section 4.1)."""
    p = 1.0 / np.arange(1, max_n + 1)
    return p / p.sum()


def ngram_mask(ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
               rng: np.random.Generator, prob: float = 0.15, max_n: int = 3,
               word_start: torch.Tensor | None = None,
               spans_out: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """ALBERT's n-gram masking (Section 4.1, after Joshi et al.'s SpanBERT): ``(inputs, labels)``.

    The masking units are words (with ``word_start``, True where a token begins a word, e.g. a
    SentencePiece piece starting with "▁"; as in ALBERT's ``create_pretraining_data.py``) or single
    tokens (without it). Per sequence, spans of n consecutive units (never across a special token),
    n drawn with p(n) proportional to 1/n for n <= ``max_n``, are masked at a random free place until
    ``round(prob * non-special tokens)`` tokens are covered. Spans never overlap; a drawn n is kept
    and only its place redrawn among the free ones (so the span lengths follow p(n)), except that a
    span longer than the tokens left in the budget (or with no free place) is shortened, as
    ALBERT's code does. Each
    masked token then gets BERT's 80/10/10 treatment. ``spans_out`` collects the span lengths in
    units (for tests).
    """
    p = ngram_probs(max_n)
    inputs, labels = ids.clone(), torch.full_like(ids, -100)
    special_np = special.numpy()
    starts_np = None if word_start is None else word_start.numpy()
    for row in range(ids.shape[0]):
        cand = np.flatnonzero(~special_np[row])
        if not len(cand):
            continue
        budget = max(1, int(round(prob * len(cand))))
        gap = np.ones(len(cand), dtype=bool)             # a special token (or the start) precedes
        gap[1:] = np.diff(cand) != 1
        new_unit = np.ones(len(cand), dtype=bool) if starts_np is None else (gap | starts_np[row, cand])
        unit_first = np.flatnonzero(new_unit)             # index into cand of each unit's first token
        n_units = len(unit_first)
        tok_csum = np.concatenate([unit_first, [len(cand)]])   # unit u covers cand[tok_csum[u]:tok_csum[u+1]]
        segment = np.cumsum(gap[unit_first])              # units of one segment are adjacent
        covered = np.zeros(n_units, dtype=bool)
        n_cov = 0
        while n_cov < budget:
            n = int(rng.choice(max_n, p=p)) + 1
            placed = False
            while n >= 1 and not placed:
                m = n_units - n + 1
                if m > 0:
                    ok = (tok_csum[n:n + m] - tok_csum[:m]) <= budget - n_cov
                    for k in range(n):
                        ok &= ~covered[k:k + m] & (segment[k:k + m] == segment[:m])
                    free = np.flatnonzero(ok)
                    if len(free):
                        u = int(free[rng.integers(len(free))])
                        covered[u:u + n] = True
                        n_cov += int(tok_csum[u + n] - tok_csum[u])
                        placed = True
                        if spans_out is not None:
                            spans_out.append(n)
                        break
                n -= 1  # no free place (or over budget) for n units: shorten, as ALBERT's code does
            if not placed:
                break
        token_covered = np.repeat(covered, np.diff(tok_csum))
        pos = torch.from_numpy(cand[token_covered])
        if not len(pos):
            continue
        labels[row, pos] = ids[row, pos]
        u = rng.random(len(pos))
        to_mask, to_rand = pos[torch.from_numpy(u < 0.8)], pos[torch.from_numpy((u >= 0.8) & (u < 0.9))]
        inputs[row, to_mask] = mask_id
        inputs[row, to_rand] = torch.from_numpy(rng.integers(vocab_size, size=len(to_rand))).long()
    return inputs, labels



def word_starts(tok) -> torch.Tensor:
    """Per vocabulary id: does the token begin a word? (a SentencePiece/Metaspace piece with "▁")"""
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    return torch.tensor([p.startswith("\u2581") for p in pieces], dtype=torch.bool)

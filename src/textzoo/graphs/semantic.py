"""TensorGCN's semantic word-word graph (Liu et al., AAAI 2020, Section "Text graph tensor
construction", "Semantic-based graph", Eq. 3):

    w_sem(i, j) = #sem(i, j) / #(i, j)

1. An LSTM is trained on the task: the labelled training documents, as a classifier reading the
   document's words (TextGCN-cleaned, graph vocabulary) and classifying from the mean of its
   hidden states (:func:`train_lstm`).
2. Every document of the graph is run through it; each token gets its hidden state.
3. Two words of a document are semantically related there when the cosine similarity of their
   states exceeds ``threshold`` (0.05, as in the authors' code) for some pair of their
   occurrences. ``#sem(i, j)`` counts the documents in which ``i`` and ``j`` are related,
   ``#(i, j)`` those in which both occur (:func:`semantic_counts`, vectorised per document).

Documents are cut to ``max_length`` tokens (for the relations and the co-occurrences alike) to
bound the per-document similarity matrix. The relation counts are cached on disk keyed by the
documents, the labels and every setting (see :mod:`textzoo.graphs.cache`), so a second run skips
the LSTM.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from .cache import cache_path, content_key, load_arrays, save_arrays
from .syntactic import cooccurrence_counts, ratio_on_support

__all__ = ["LSTMSettings", "TaskLSTM", "train_lstm", "token_states", "best_pair_cosines", "related_pairs",
           "semantic_counts", "semantic_graph"]

log = logging.getLogger(__name__)


@dataclass
class LSTMSettings:
    """The semantic graph's LSTM (the paper gives no sizes; these are small and quick)."""

    embedding: int = 100
    hidden: int = 100
    epochs: int = 5
    lr: float = 0.001
    batch_size: int = 64
    max_length: int = 300
    threshold: float = 0.05
    seed: int = 0


class TaskLSTM(torch.nn.Module):
    """Embedding -> one-layer LSTM -> mean of the hidden states -> linear classifier."""

    def __init__(self, n_words: int, n_classes: int, s: LSTMSettings):
        super().__init__()
        self.embed = torch.nn.Embedding(n_words + 1, s.embedding, padding_idx=0)  # id 0: padding
        self.lstm = torch.nn.LSTM(s.embedding, s.hidden, batch_first=True)
        self.out = torch.nn.Linear(s.hidden, n_classes)

    def states(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Hidden state of every position (B x L x hidden). The LSTM reads left to right, so the
        padding after a document never reaches its states; no packing is needed (on the CPU,
        the backward pass of a packed sequence costs time quadratic in the length)."""
        return self.lstm(self.embed(ids))[0]

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.states(ids, lengths)
        mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).float()
        return self.out((h * mask[..., None]).sum(1) / lengths.clamp(min=1)[:, None].float())


def _batch(docs: Sequence[np.ndarray], idx: np.ndarray, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([min(len(docs[i]), max_length) for i in idx], dtype=torch.long)
    ids = torch.zeros(len(idx), max(1, int(lengths.max()) if len(idx) else 1), dtype=torch.long)
    for row, i in enumerate(idx):
        n = int(lengths[row])
        ids[row, :n] = torch.from_numpy(np.asarray(docs[i][:n], dtype=np.int64) + 1)
    return ids, lengths


def _length_batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """Shuffled batches of documents of similar length (fewer LSTM steps spent on padding): a
    random permutation cut into pools of 50 batches, each pool sorted by length and cut into
    batches, the batches shuffled."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    pool = 50 * batch_size
    batches = []
    for p in range(0, len(order), pool):
        chunk = order[p:p + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def train_lstm(docs: Sequence[np.ndarray], labels: np.ndarray, n_words: int, n_classes: int,
               s: LSTMSettings, progress: bool = True) -> TaskLSTM:
    """Train :class:`TaskLSTM` on ``docs`` (arrays of vocabulary ids) with class ids ``labels``."""
    generator = torch.Generator().manual_seed(s.seed)
    torch.manual_seed(s.seed)
    model = TaskLSTM(n_words, n_classes, s)
    optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
    target = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    epochs = range(s.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="semantic LSTM", unit="epoch", leave=False)
    lengths = np.array([min(len(d), s.max_length) for d in docs], dtype=np.int64)
    for epoch in epochs:
        total = 0.0
        for idx in _length_batches(lengths, s.batch_size, generator):
            ids, lengths_ = _batch(docs, idx, s.max_length)
            loss = F.cross_entropy(model(ids, lengths_), target[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        log.debug("semantic LSTM epoch %d: loss %.4f", epoch + 1, total / max(len(docs), 1))
    model.eval()
    return model


def token_states(model: TaskLSTM, docs: Sequence[np.ndarray], max_length: int, batch_size: int = 64):
    """Yield ``(doc index, hidden states (L x hidden))`` of every document, cut to ``max_length``
    (in order of length, so that a batch holds documents of similar length)."""
    by_length = np.argsort([min(len(d), max_length) for d in docs], kind="stable")
    with torch.no_grad():
        for b in range(0, len(docs), batch_size):
            idx = by_length[b:b + batch_size]
            ids, lengths = _batch(docs, idx, max_length)
            h = model.states(ids, lengths)
            for row, i in enumerate(idx):
                yield int(i), h[row, :int(lengths[row])]


def best_pair_cosines(words: np.ndarray, states: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """``(distinct words, u x u matrix)``: for each pair of distinct words of one document, the
    largest cosine between the states of any two of their occurrences."""
    uniq, inv = np.unique(words, return_inverse=True)
    u = len(uniq)
    h = F.normalize(states.float(), dim=1)
    sim = h @ h.T                                                # L x L cosine
    inv_t = torch.from_numpy(inv.astype(np.int64))
    # max over the occurrences of each word, on rows then on columns -> u x u
    with warnings.catch_warnings():  # "index_reduce() is in beta"
        warnings.simplefilter("ignore", UserWarning)
        rows = torch.full((u, sim.shape[1]), -2.0).index_reduce_(0, inv_t, sim, "amax", include_self=True)
        best = torch.full((u, u), -2.0).index_reduce_(1, inv_t, rows, "amax", include_self=True)
    return uniq, best


def related_pairs(words: np.ndarray, states: torch.Tensor, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct word pairs ``(lo, hi)`` of one document whose states' cosine exceeds ``threshold``
    for at least one pair of their occurrences (pairs of one word with itself excluded)."""
    uniq, best = best_pair_cosines(words, states)
    i, j = np.nonzero(np.triu((best > threshold).numpy(), k=1))
    return uniq[i].astype(np.int64), uniq[j].astype(np.int64)


def semantic_counts(docs: Sequence[np.ndarray], states, n_words: int, threshold: float,
                    max_length: int, progress: bool = False) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(#sem, #cooc)``: symmetric (V x V) counts of documents relating / holding each word pair.

    ``states`` yields ``(doc index, L x d states)`` as :func:`token_states` does.
    """
    acc = sp.csr_matrix((n_words, n_words), dtype=np.float64)
    lo_parts, hi_parts, pending = [], [], 0
    if progress:
        from tqdm.auto import tqdm

        states = tqdm(states, total=len(docs), desc="semantic relations", unit="doc", leave=False)
    for k, h in states:
        lo, hi = related_pairs(np.asarray(docs[k][:max_length]), h, threshold)
        lo_parts.append(lo)
        hi_parts.append(hi)
        pending += len(lo)
        if pending > 5_000_000:
            acc = acc + _pairs_matrix(lo_parts, hi_parts, n_words)
            lo_parts, hi_parts, pending = [], [], 0
    acc = acc + _pairs_matrix(lo_parts, hi_parts, n_words)
    sem = (acc + acc.T).tocsr()
    rows = np.repeat(np.arange(len(docs)), [min(len(d), max_length) for d in docs])
    cols = np.concatenate([np.asarray(d[:max_length], dtype=np.int64) for d in docs]) if len(docs) else np.zeros(0, np.int64)
    return sem, cooccurrence_counts(rows, cols, len(docs), n_words)


def _pairs_matrix(lo_parts, hi_parts, n_words: int) -> sp.csr_matrix:
    lo = np.concatenate(lo_parts) if lo_parts else np.zeros(0, np.int64)
    hi = np.concatenate(hi_parts) if hi_parts else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(len(lo)), (lo, hi)), shape=(n_words, n_words))
    m.sum_duplicates()
    return m


def semantic_graph(docs: Sequence[np.ndarray], train_index: np.ndarray, train_labels: np.ndarray,
                   n_words: int, n_classes: int, settings: LSTMSettings | None = None,
                   cache: bool = True, cache_dir: str | Path | None = None,
                   progress: bool = True, vocabulary: Sequence[str] = (),
                   timings: dict | None = None) -> sp.csr_matrix:
    """Word-word weights ``#sem(i, j) / #(i, j)`` (Eq. 3), symmetric, zero diagonal, float64 CSR.

    ``docs``: every document of the graph as vocabulary ids; the LSTM trains on
    ``docs[train_index]`` with ``train_labels`` (class ids). ``timings`` (a dict), when given,
    receives ``lstm_s``, ``relations_s`` and ``semantic_cached``.
    """
    s = settings or LSTMSettings()
    timings = {} if timings is None else timings
    timings["semantic_cached"] = False
    extra = [np.asarray(d, dtype=np.int64).tobytes() for d in docs]
    extra += [np.asarray(train_index, np.int64).tobytes(), np.asarray(train_labels, np.int64).tobytes()]
    key = content_key("semantic", {**asdict(s), "n_words": n_words, "n_classes": n_classes,
                                   "torch": torch.__version__}, vocabulary, extra)
    path = cache_path("semantic", key, cache_dir)
    if cache:
        found = load_arrays(path)
        if found is not None:
            log.info("semantic graph: relations read from the cache %s", path)
            timings["semantic_cached"] = True
            return sp.csr_matrix((found["data"], found["indices"], found["indptr"]), shape=(n_words, n_words))
    start = time.perf_counter()
    model = train_lstm([docs[i] for i in train_index], train_labels, n_words, n_classes, s, progress)
    t1 = time.perf_counter()
    sem, cooc = semantic_counts(docs, token_states(model, docs, s.max_length, s.batch_size), n_words,
                                s.threshold, s.max_length, progress)
    out = ratio_on_support(sem, cooc)
    timings["lstm_s"], timings["relations_s"] = t1 - start, time.perf_counter() - t1
    log.info("semantic graph: LSTM %.1f s, relations %.1f s; %d of %d co-occurring word pairs related",
             t1 - start, time.perf_counter() - t1, out.nnz // 2, cooc.nnz // 2)
    if cache:
        save_arrays(path, {"data": out.data, "indices": out.indices, "indptr": out.indptr})
    return out

"""How selective is TensorGCN's semantic relation at a given cosine threshold?

Trains the semantic graph's task LSTM exactly as ``tensorgcn`` does (its defaults, the dataset's
training split for the seed), runs a random sample of the graph's documents through it, and reports,
for each threshold, the share of a document's co-occurring word pairs that
:func:`textzoo.graphs.semantic.related_pairs` calls related (best occurrence-pair cosine above it),
with percentiles of that cosine. A share near 1 means the semantic graph is the document co-occurrence graph
with every weight near 1.

    python benchmarks/semantic_threshold.py --dataset R52 --seed 0 --thresholds 0.05 0.5 0.8 0.9
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

import textzoo
from textzoo.data.cleaning import clean_documents
from textzoo.graphs.semantic import LSTMSettings, best_pair_cosines, token_states, train_lstm
from textzoo.graphs.textgcn import build_textgcn_graph
from textzoo.models.tensorgcn import TensorGCN, TensorGCNConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="R52")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--thresholds", nargs="+", type=float, default=[0.05, 0.5, 0.8, 0.9])
    parser.add_argument("--sample", type=int, default=300, help="documents examined")
    parser.add_argument("--data-dir", default=os.environ.get("TEXTZOO_DATA"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = textzoo.load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed)
    cfg = TensorGCNConfig(**TensorGCN.dataset_settings.get(args.dataset.lower(), {}), seed=args.seed)
    texts = corpus.train.texts + corpus.valid.texts + corpus.test.texts
    cleaned = clean_documents(texts, remove_stopwords=cfg.remove_stopwords, min_count=cfg.min_count)
    graph = build_textgcn_graph(cleaned, window=cfg.window, progress=False)
    index = {w: i for i, w in enumerate(graph.vocabulary)}
    docs = [np.fromiter(map(index.__getitem__, d.split()), dtype=np.int64) for d in cleaned]
    labels = {label: i for i, label in enumerate(corpus.labels)}
    targets = np.array([labels[y] for y in corpus.train.labels])
    settings = LSTMSettings(embedding=cfg.lstm_embedding, hidden=cfg.lstm_hidden, epochs=cfg.lstm_epochs,
                            lr=cfg.lstm_lr, max_length=cfg.lstm_max_length, seed=cfg.seed)
    model = train_lstm(docs[:len(targets)], targets, len(index), len(labels), settings)
    sample = set(np.random.default_rng(args.seed).choice(len(docs), min(args.sample, len(docs)),
                                                         replace=False).tolist())
    related = {t: 0 for t in args.thresholds}
    pairs, best_cosines = 0, []
    for k, states in token_states(model, docs, settings.max_length):
        if k not in sample:
            continue
        words = docs[k][:settings.max_length]
        best = best_pair_cosines(words, states)[1].numpy()
        cosines = best[np.triu_indices(len(best), 1)]  # one per pair of distinct words
        pairs += len(cosines)
        for t in args.thresholds:
            related[t] += int((cosines > t).sum())  # related_pairs' rule
        best_cosines.append(cosines)
    cosines = np.concatenate(best_cosines)
    print(f"\n{args.dataset}, seed {args.seed}: {len(sample)} documents, {pairs:,} co-occurring word pairs\n")
    print("| threshold | pairs related | share |\n|---:|---:|---:|")
    for t in args.thresholds:
        print(f"| {t} | {related[t]:,} | {related[t] / max(pairs, 1):.4f} |")
    q = np.percentile(cosines, [1, 5, 25, 50, 75, 95])
    print("\nbest occurrence-pair cosine, percentiles 1/5/25/50/75/95: " + " / ".join(f"{x:.3f}" for x in q))


if __name__ == "__main__":
    main()

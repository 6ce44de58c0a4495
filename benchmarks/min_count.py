"""TextGCN's ``min_count`` on small corpora: test accuracy and vocabulary size of 300-document slices.

TextGCN drops words seen fewer than 5 times (not for MR). On a 300-document corpus that can leave a
vocabulary of a few hundred words, or fewer; this script measures what ``min_count`` 1, 2, 3 and 5
give on seeded random slices of the training documents (``--docs``, stratified by the project's
validation-split rule, then 10% of them held out for validation), tested on ``--test`` random test
documents of the same corpus (transductive, as the paper). The stop-word setting is the paper's for
each corpus (MR keeps its stop words); ``min_count`` is used as given.

    python benchmarks/min_count.py --datasets R8 mr --docs 300 --test 500 --seeds 0 1 2

Prints one row per (dataset, min_count): the mean and standard deviation over the seeds of the
test accuracy, and the mean vocabulary size.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import textzoo
from textzoo.data.corpus import Corpus
from textzoo.data.splitting import stratified_holdout


def slice_corpus(corpus: Corpus, docs: int, test: int, seed: int) -> Corpus:
    """A seeded ``docs``-document training slice (stratified) and a random ``test``-document test slice."""
    fraction = 1 - docs / len(corpus.train)
    keep, _ = stratified_holdout(corpus.train.labels, False, fraction, seed)
    keep = keep[:docs]
    rng = np.random.default_rng(seed)
    test_idx = np.sort(rng.permutation(len(corpus.test))[:test])
    known = {corpus.train.labels[i] for i in keep}
    test_idx = [i for i in test_idx if corpus.test.labels[i] in known]
    return Corpus(name=corpus.name, train=corpus.train.subset(keep.tolist(), "train"),
                  test=corpus.test.subset(test_idx, "test")).with_validation(0.1, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["R8", "mr"])
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--min-counts", type=int, nargs="+", default=[1, 2, 3, 5])
    args = parser.parse_args()
    print("dataset  min_count  accuracy (mean ± sd)  vocabulary")
    for name in args.datasets:
        full = textzoo.load_dataset(name, valid_fraction=0)
        for min_count in args.min_counts:
            accs, vocab = [], []
            for seed in args.seeds:
                corpus = slice_corpus(full, args.docs, args.test, seed)
                model = textzoo.create("textgcn", dataset=name, min_count=min_count, seed=seed)
                model.fit(corpus)
                accs.append(model.evaluate(corpus.test)["accuracy"])
                vocab.append(len(model.vocabulary))
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            print(f"{name:<8} {min_count:>9}  {statistics.mean(accs):.4f} ± {sd:.4f}       "
                  f"{statistics.mean(vocab):.0f}", flush=True)


if __name__ == "__main__":
    main()

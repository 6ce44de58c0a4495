"""The sparse-dense product of TextGCN and TensorGCN on the CPU: one ``torch.sparse.mm`` over the
whole dense matrix (the reference) against the same product taken in blocks of columns (what
``textzoo.models.textgcn.sparse_mm`` does), on a real corpus's normalised TextGCN adjacency.

Every layer of TextGCN and TensorGCN multiplies the (nodes x nodes) adjacency by a (nodes x 200)
dense matrix, forward and backward; on 20NG that is 27 M non-zeros for TextGCN's graph and 100 M for
TensorGCN's three. Each non-zero reads one row of the dense matrix: 800 bytes at 200 columns, a
49 MB matrix on 20NG that no cache holds, against 128 bytes and 7.9 MB for a block of 32 columns
(the default).

    python benchmarks/spmm.py --datasets 20ng R8 --threads 1 2
    python benchmarks/spmm.py --train textgcn:20ng tensorgcn:R8 --epochs 5 --threads 2

Prints one row per (dataset, threads, block width): the mean seconds of a product over the
repeats, the ratio to the reference in the same process, and the largest absolute difference from
the reference's result (0 when the blocks give the same numbers bit for bit). ``--train
MODEL:DATASET`` instead trains the model for ``--epochs`` epochs twice in the same process, with
one product per layer (``SPMM_BLOCK`` set past the hidden size) and with the default blocks, and
prints the seconds per epoch of each (graph building and the first, warm-up epoch excluded; seed 1)
and whether the two runs' training
histories are identical. ``--input-dropout RATE ...`` times TensorGCN's first layer with the
released code's node dropout on X = I, forward and backward: the whole adjacency times the
dropped-out ``W0`` (the reference) against the product over the kept columns only
(``textzoo.models.tensorgcn_inter.DroppedInput``), with the largest difference of output and gradient.

    python benchmarks/spmm.py --datasets mr R8 --threads 2 --input-dropout 0.2 0.5 0.9
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def graph(dataset: str, data_dir: str | None):
    """TextGCN's normalised adjacency of ``dataset`` (all documents and words), as textzoo builds it."""
    import textzoo
    from textzoo.data.cleaning import clean_documents
    from textzoo.graphs.textgcn import adjacency, build_textgcn_graph, normalize_adjacency

    corpus = textzoo.load_dataset(dataset, data_dir=data_dir, seed=0)
    cfg = textzoo.create("textgcn", dataset=dataset).config  # the paper's settings for this corpus
    texts = corpus.train.texts + corpus.valid.texts + corpus.test.texts
    cleaned = clean_documents(texts, remove_stopwords=cfg.remove_stopwords, min_count=cfg.min_count)
    return normalize_adjacency(adjacency(build_textgcn_graph(cleaned, window=cfg.window)))


def seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def train(spec: str, epochs: int, threads: int, data_dir: str | None) -> None:
    import textzoo
    from textzoo.models import textgcn

    model_name, dataset = spec.split(":")
    corpus = textzoo.load_dataset(dataset, data_dir=data_dir, seed=1)
    torch.set_num_threads(threads)
    default, rows = textgcn.SPMM_BLOCK, {}
    for name, block in (("one `torch.sparse.mm`", 10**9), (f"blocks of {default} columns", default)):
        textgcn.SPMM_BLOCK = block
        model = textzoo.create(model_name, dataset=dataset, seed=1, epochs=epochs, stopping_rule="none")
        model.fit(corpus)
        rows[name] = model.history
    textgcn.SPMM_BLOCK = default
    (ref_name, ref), (new_name, new) = rows.items()
    per_epoch = {k: sum(h["seconds"] for h in v[1:]) / (len(v) - 1) for k, v in rows.items()}  # epoch 1 warms up
    same = [{k: v for k, v in h.items() if k != "seconds"} for h in ref] == \
           [{k: v for k, v in h.items() if k != "seconds"} for h in new]
    print(f"| {model_name} | {dataset} | {threads} | {epochs} | {per_epoch[ref_name]:.2f} | "
          f"{per_epoch[new_name]:.2f} | {per_epoch[ref_name] / per_epoch[new_name]:.2f}x | {same} |", flush=True)


def dropped_first_layer(dataset: str, a_hat, threads: int, rate: float, args) -> None:
    """One row: the first layer's forward and backward with node dropout, both ways, same masks."""
    from textzoo.models.tensorgcn_inter import DroppedInput, _node_dropout
    from textzoo.models.textgcn import _SparseMatmul, _torch_csr

    a = _torch_csr(a_hat)
    dropped = DroppedInput(a)
    w0 = torch.nn.Parameter(torch.randn(a.shape[0], args.columns, generator=torch.Generator().manual_seed(0)))
    grad = torch.randn(a.shape[0], args.columns, generator=torch.Generator().manual_seed(1))
    ways = {"whole": lambda: _SparseMatmul.apply(a, a, _node_dropout(w0, rate)), "kept": lambda: dropped(w0, rate)}
    results = {}
    for name, product in ways.items():
        torch.manual_seed(2)
        out = product()
        out.backward(grad)
        results[name] = (out.detach(), w0.grad)
        w0.grad = None

    def step(product):
        product().backward(grad)
        w0.grad = None

    took = {name: seconds(lambda: step(product), args.repeats) for name, product in ways.items()}
    diff = max(float((x - y).abs().max()) for x, y in zip(results["whole"], results["kept"]))
    print(f"| {dataset} | {a_hat.nnz:,} | {threads} | {rate} | {took['whole']:.3f} | {took['kept']:.3f} | "
          f"{took['whole'] / took['kept']:.2f}x | {diff:.2g} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["20ng", "R8"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--blocks", nargs="+", type=int, default=[64, 32, 16, 8])
    parser.add_argument("--columns", type=int, default=200, help="columns of the dense matrix (hidden size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("TEXTZOO_DATA"))
    parser.add_argument("--train", nargs="+", metavar="MODEL:DATASET",
                        help="time whole training epochs instead (textgcn or tensorgcn, seed 1)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per training run (--train)")
    parser.add_argument("--input-dropout", nargs="+", type=float, metavar="RATE",
                        help="time the first layer with node dropout at these rates instead")
    args = parser.parse_args()

    if args.input_dropout:
        print("| dataset | non-zeros | threads | rate | s, whole adjacency | s, kept columns | speed-up | max difference |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for dataset in args.datasets:
            a_hat = graph(dataset, args.data_dir)
            for threads in args.threads:
                torch.set_num_threads(threads)
                for rate in args.input_dropout:
                    dropped_first_layer(dataset, a_hat, threads, rate, args)
        return
    if args.train:
        print("| model | dataset | threads | epochs | s/epoch, one product | s/epoch, blocks | speed-up | same history |")
        print("|---|---|---:|---:|---:|---:|---:|---|")
        for spec in args.train:
            for threads in args.threads:
                train(spec, args.epochs, threads, args.data_dir)
        return

    from textzoo.models.textgcn import _torch_csr, sparse_mm

    print("| dataset | nodes | non-zeros | threads | product | seconds | vs one product | max abs difference |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for dataset in args.datasets:
        a_hat = graph(dataset, args.data_dir)
        a = _torch_csr(a_hat)
        x = torch.randn(a.shape[0], args.columns, generator=torch.Generator().manual_seed(0))
        for threads in args.threads:
            torch.set_num_threads(threads)
            reference = torch.sparse.mm(a, x)
            base = seconds(lambda: torch.sparse.mm(a, x), args.repeats)
            head = f"| {dataset} | {a.shape[0]:,} | {a_hat.nnz:,} | {threads} |"
            print(f"{head} one `torch.sparse.mm` | {base:.3f} | 1.00x | 0 |", flush=True)
            for block in args.blocks:
                took = seconds(lambda: sparse_mm(a, x, block=block), args.repeats)
                diff = float((sparse_mm(a, x, block=block) - reference).abs().max())
                print(f"{head} blocks of {block} columns | {took:.3f} | {base / took:.2f}x | {diff:.2g} |", flush=True)


if __name__ == "__main__":
    main()

"""Reproduce TextGCN's Table 2 rows (R8, R52, MR, 20NG) and time graph building.

Each (dataset, seed) run happens in a fresh process, so its peak resident memory (graph + training)
is measured on its own. The validation split and the model are both seeded with the run's seed.

    python benchmarks/textgcn.py --seeds 0 1 2                # all four datasets
    python benchmarks/textgcn.py --datasets R8 --seeds 0      # one quick run
    python benchmarks/textgcn.py --datasets 20ng --seeds 3 4 --append   # more seeds, same table

Prints Markdown tables (accuracy against the paper, stage times and memory, inductive prediction on
R8), writes the raw results as JSON to --json and records each dataset's row in
benchmarks/results/textgcn.json (the data of BENCHMARKS.md; ``--no-results`` leaves it alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

PAPER = {"R8": (97.07, 0.10), "R52": (93.56, 0.18), "mr": (76.74, 0.20), "20ng": (86.34, 0.09)}
NAMES = {"mr": "MR", "20ng": "20NG"}


def one_run(dataset: str, seed: int, data_dir: str | None, inductive_check: bool) -> dict:
    import numpy as np

    import textzoo

    start = time.perf_counter()
    corpus = textzoo.load_dataset(dataset, data_dir=data_dir, seed=seed)
    load_s = time.perf_counter() - start
    model = textzoo.create("textgcn", dataset=dataset, seed=seed)
    model.fit(corpus)
    test = model.evaluate(corpus.test)
    row = {
        "dataset": dataset, "seed": seed, "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
        "load_s": round(load_s, 2), "graph_s": model.info["graph_seconds"],
        "train_s": round(model.info["train_seconds"] - model.info["graph_seconds"], 2),
        "epochs": model.info["epochs_run"], "nodes": model.info["graph_nodes"],
        "edges": model.info["graph_edges"], "test_docs": len(corpus.test),
    }
    if inductive_check:
        truth = model.label_indices(corpus.test)
        transductive = model.predict_proba(corpus.test.texts).argmax(1)
        start = time.perf_counter()
        inductive = model.predict_proba_inductive(corpus.test.texts).argmax(1)
        row["inductive_s"] = round(time.perf_counter() - start, 3)
        row["inductive_agreement"] = float((inductive == transductive).mean())
        row["inductive_same_graph_accuracy"] = float((inductive == truth).mean())
        held_out = textzoo.create("textgcn", dataset=dataset, seed=seed)
        held_out.fit(corpus.train, corpus.valid, labels=corpus.labels)
        row["inductive_unseen_graph_accuracy"] = held_out.evaluate(corpus.test)["accuracy"]
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["R8", "R52", "mr", "20ng"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data-dir", default=os.environ.get("TEXTZOO_DATA"))
    parser.add_argument("--json", default="benchmarks/out/textgcn.json")
    parser.add_argument("--append", action="store_true",
                        help="keep the runs already in --json (other seeds) and add these")
    parser.add_argument("--no-results", action="store_true",
                        help="do not record the rows in benchmarks/results/textgcn.json")
    args = parser.parse_args()

    rows = []
    if args.append and Path(args.json).exists():
        done = {(d, s) for d in args.datasets for s in args.seeds}
        rows = [r for r in json.loads(Path(args.json).read_text()) if (r["dataset"], r["seed"]) not in done]
    context = get_context("spawn")
    for dataset in args.datasets:
        for seed in args.seeds:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                row = pool.submit(one_run, dataset, seed, args.data_dir,
                                  dataset == "R8" and seed == 0).result()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2))

    print("\n| dataset | paper (Table 2) | textzoo, mean ± sd | seeds | macro-F1 | graph s | train s | epochs | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        runs = [r for r in rows if r["dataset"] == dataset]
        acc = [100 * r["accuracy"] for r in runs]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        paper = PAPER.get(dataset)
        paper_s = f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "-"
        mean = lambda key: statistics.mean(r[key] for r in runs)  # noqa: E731
        print(f"| {dataset} | {paper_s} | {statistics.mean(acc):.2f} ± {sd:.2f} | {len(runs)} | "
              f"{100 * mean('macro_f1'):.2f} | {mean('graph_s'):.1f} | {mean('train_s'):.1f} | "
              f"{mean('epochs'):.0f} | {max(r['peak_rss_mb'] for r in runs):.0f} |")
        if not args.no_results:
            record(dataset, runs, paper_s)
    checks = [r for r in rows if "inductive_agreement" in r]
    if checks:
        r = checks[0]
        print("\nInductive prediction on R8 (seed %d):" % r["seed"])
        print("| measure | value |\n|---|---|")
        print(f"| transductive test accuracy | {100 * r['accuracy']:.2f} |")
        print(f"| inductive path, same graph: agreement with transductive | {100 * r['inductive_agreement']:.2f} % |")
        print(f"| inductive path, same graph: test accuracy | {100 * r['inductive_same_graph_accuracy']:.2f} |")
        print(f"| graph without test docs, inductive test accuracy | {100 * r['inductive_unseen_graph_accuracy']:.2f} |")
        print(f"| inductive prediction time for {r['test_docs']} docs | {r['inductive_s']:.2f} s |")


def record(dataset: str, runs: list[dict], paper: str) -> None:
    """Put this dataset's row (per-seed accuracy, time, memory, command) into the results file."""
    from results_io import hardware, record_row

    graph = statistics.mean(r["graph_s"] for r in runs)
    total = graph + statistics.mean(r["train_s"] for r in runs)
    seeds = [r["seed"] for r in runs]
    record_row("textgcn", {
        "dataset": NAMES.get(dataset, dataset), "setting": "paper settings", "paper": paper,
        "values": [round(100 * r["accuracy"], 2) for r in runs], "seeds": seeds, "hardware": hardware(),
        "time": f"{total:.3g} s (graph {graph:.1f} s)", "peak_memory": f"{max(r['peak_rss_mb'] for r in runs):,.0f} MB",
        "command": f"python benchmarks/textgcn.py --datasets {dataset} --seeds {' '.join(map(str, seeds))}",
    }, defaults={"title": "TextGCN (Yao et al., AAAI 2019), test accuracy %, paper Table 2", "order": 10})


if __name__ == "__main__":
    main()

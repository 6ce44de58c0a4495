"""Is TensorGCN's inter-graph step the problem, or its graphs? Train it on r copies of the *same*
sequential graph: every copy carries TextGCN's information and nothing else, so any loss against one
copy (which is TextGCN) comes from the multi-graph architecture, not from the syntactic or semantic
graphs.

    python benchmarks/tensorgcn_mixing.py --dataset R52 --seed 0 --json benchmarks/out/tensorgcn_mixing_r52.json

Runs (each a fresh process, two at a time with --jobs 2): one copy; two copies with the paper's
virtual graphs and with the released code's mixing, each with learned inter-graph weights (the
default) and with ``inter_weight=false`` (fixed to the identity). ``--set KEY=VALUE`` overrides
TensorGCN settings for every run (on top of ``lr=0.02``, TextGCN's rate, so that a run takes minutes;
``--set lr=0.002`` for the paper's). Prints a Markdown table: test accuracy, macro-F1, epochs, and the
last epoch's training and validation losses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

RUNS = [  # (copies, inter_graph, inter_weight)
    (1, "virtual", True),
    (2, "virtual", True),
    (2, "virtual", False),
    (2, "code", True),
    (2, "code", False),
]


def one_run(dataset: str, seed: int, copies: int, variant: str, learned: bool, settings: dict,
            data_dir: str | None) -> dict:
    import torch

    import textzoo
    from textzoo.models.tensorgcn import TensorGCN

    torch.set_num_threads(1)

    class Copies(TensorGCN):
        """TensorGCN whose every graph is the sequential graph."""

        def _build_graphs(self, texts, n_train, train_targets):
            cfg = self.config
            self.config = replace(cfg, graphs=("sequential",))
            try:
                graph, adjs, a_hats = super()._build_graphs(texts, n_train, train_targets)
            finally:
                self.config = cfg
            return graph, adjs * copies, a_hats * copies

    corpus = textzoo.load_dataset(dataset, data_dir=data_dir, seed=seed)
    graphs = ["sequential", "syntactic", "semantic"][:copies]  # names only: each is the sequential graph
    defaults = dict(TensorGCN.dataset_settings.get(dataset.lower(), {}))
    model = Copies(**{**defaults, "seed": seed, "graphs": graphs, "inter_graph": variant,
                      "inter_weight": learned, **settings})
    model.fit(corpus)
    test = model.evaluate(corpus.test)
    last = model.history[-1]
    return {"dataset": dataset, "seed": seed, "copies": copies, "inter_graph": variant, "inter_weight": learned,
            "settings": settings, "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
            "epochs": len(model.history), "train_loss": last["loss"], "val_loss": last.get("val_loss"),
            "train_acc": last["acc"], "val_acc": last.get("val_acc")}


def table(rows: list[dict]) -> str:
    lines = ["| graphs | inter-graph step | inter-graph weights | test accuracy | macro-F1 | epochs | "
             "last train loss / acc | last val loss / acc |", "|---|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        step = "- (one graph: TextGCN)" if r["copies"] == 1 else r["inter_graph"]
        weights = "-" if r["copies"] == 1 else ("learned (paper)" if r["inter_weight"] else "identity (`inter_weight=false`)")
        lines.append(f"| {r['copies']} x sequential | {step} | {weights} | {100 * r['accuracy']:.2f} | "
                     f"{100 * r['macro_f1']:.2f} | {r['epochs']} | {r['train_loss']:.3f} / {100 * r['train_acc']:.1f} | "
                     f"{r['val_loss']:.3f} / {100 * r['val_acc']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="R52")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="TensorGCN settings for every run, on top of lr=0.02")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one torch thread each)")
    parser.add_argument("--data-dir", default=os.environ.get("TEXTZOO_DATA"))
    parser.add_argument("--json", default="benchmarks/out/tensorgcn_mixing.json")
    args = parser.parse_args()
    settings = {"lr": 0.02}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(one_run, args.dataset, args.seed, c, v, learned, settings, args.data_dir)
                   for c, v, learned in RUNS]
        rows = [f.result() for f in futures]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n{args.dataset}, seed {args.seed}, settings {settings}\n")
    print(table(rows))


if __name__ == "__main__":
    sys.exit(main())

"""TensorGCN (Liu et al., AAAI 2020) against the paper's Table 2 and our TextGCN on the same splits,
the ablation of the graph tensor, and the time and memory of each stage.

``--variants``: ``virtual`` and ``code`` are the paper's model (``recipe=paper``) with the paper's
and the released code's inter-graph step; ``none`` is the defaults (``recipe=independent``: the
graphs' GCNs side by side). ``--tensorgcn-set`` changes any setting of every TensorGCN run.

Every run (model, dataset, seed, settings) happens in a fresh process, so its stage times and peak
resident memory are its own. The seed draws the 10% validation split and initialises the model
(and TensorGCN's semantic LSTM), for TextGCN and TensorGCN alike, so both see the same splits.
Dependency parses and semantic relations are cached under ``TEXTZOO_CACHE`` (default
``~/.cache/textzoo``) / graphs: the first TensorGCN run of a dataset pays for the parse, the first
of each seed for the LSTM; the stage table reports both the cold and the cached figures.

    python benchmarks/tensorgcn.py --datasets mr --seeds 0 1 2 --ablation mr --json benchmarks/out/tensorgcn_mr.json
    python benchmarks/tensorgcn.py --datasets R8 --seeds 0 1 2 --json benchmarks/out/tensorgcn_r8.json
    python benchmarks/tensorgcn.py --report benchmarks/out/tensorgcn_r8.json --json benchmarks/out/tensorgcn_mr.json

Set OMP_NUM_THREADS=1 on a shared machine (each run also calls torch.set_num_threads(1) unless
--threads says otherwise). Results are appended run by run to --json, so an interrupted benchmark
keeps what it measured; --append skips runs already there. Runs that outlast a session (20NG at
the paper's learning rate) can write training checkpoints with --checkpoints DIR: run the same
command again and an interrupted run continues from its newest checkpoint (``fit(resume=True)``,
the same model as an uninterrupted run); its row records ``resumed_from_epoch`` and its ``train_s``
counts the last process only.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import resource
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

PAPER = {"r8": 98.04, "r52": 95.05, "mr": 77.91, "20ng": 87.74}  # Table 2, TensorGCN
GRAPHS = ("sequential", "syntactic", "semantic")


def one_run(model_name: str, dataset: str, seed: int, overrides: dict, data_dir: str | None,
            threads: int, checkpoints: str | None = None) -> dict:
    import torch

    import textzoo

    torch.set_num_threads(threads)
    start = time.perf_counter()
    corpus = textzoo.load_dataset(dataset, data_dir=data_dir, seed=seed)
    load_s = time.perf_counter() - start
    model = textzoo.create(model_name, dataset=dataset, seed=seed, **overrides)
    folder = None
    if checkpoints:  # one folder per run: model, dataset, seed and a digest of the settings
        digest = hashlib.sha1(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:10]
        folder = Path(checkpoints) / f"{model_name}-{dataset.lower()}-s{seed}-{digest}"
    model.fit(corpus, checkpoint_dir=folder, resume=folder is not None)
    test = model.evaluate(corpus.test)
    info = model.info
    row = {
        "model": model_name, "dataset": dataset, "seed": seed, "settings": overrides,
        "accuracy": test["accuracy"], "macro_f1": test["macro_f1"], "load_s": round(load_s, 2),
        "graph_s": info["graph_seconds"], "train_s": round(info["train_seconds"] - info["graph_seconds"], 2),
        "epochs": info["epochs_run"], "nodes": info["graph_nodes"], "edges": info["graph_edges"],
        "test_docs": len(corpus.test),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if info.get("resumed_at"):  # epochs completed when this process resumed (the fit records it)
        row["resumed_from_epoch"] = info["resumed_at"][-1]
    for key in ("stage_seconds", "stage_peak_rss_mb", "stage_detail_seconds", "cache_hits", "graph_pooling",
                "graph_stopped_at"):
        if key in info:
            row[key] = info[key]
    row["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in model.history]
    if model_name == "tensorgcn":  # inductive path on the trained graph tensor
        transductive = model.predict_proba(corpus.test.texts[:500]).argmax(1)
        t = time.perf_counter()
        inductive = model.predict_proba_inductive(corpus.test.texts[:500]).argmax(1)
        row["inductive_s_500"] = round(time.perf_counter() - t, 3)
        row["inductive_agreement_500"] = float((inductive == transductive).mean())
        if "graph_pooling" in info:  # what other graph weights would have scored on the test split
            row["pooling_test_accuracy"] = pooling_alternatives(model, corpus.test)
    if folder is not None:  # the row is recorded; the checkpoints (hundreds of MB on 20NG) are not needed
        shutil.rmtree(folder, ignore_errors=True)
    return row


def pooling_alternatives(model, test) -> dict:
    """Test accuracy (inductive pass) of the validated graph weights beside each graph alone and
    the mean: how much the validation split's choice gained or lost against the alternatives."""
    import numpy as np
    import torch

    graphs, chosen = model.config.graphs, model._tensors["graph_pooling"].clone()
    labels = np.array([model.labels.index(y) for y in test.labels])
    options = {"chosen": chosen, "mean": torch.full_like(chosen, 1 / len(graphs))}
    options.update({g: torch.eye(len(graphs))[k] for k, g in enumerate(graphs)})
    out = {}
    try:
        for name, weights in options.items():
            model._tensors["graph_pooling"] = weights
            out[name] = float((model.predict_proba_inductive(test.texts).argmax(1) == labels).mean())
    finally:
        model._tensors["graph_pooling"] = chosen
    return out


def key_of(row: dict) -> tuple:
    return row["model"], row["dataset"].lower(), row["seed"], json.dumps(row["settings"], sort_keys=True)


#: the settings of each ``--variants`` name (under ``--tensorgcn-set``)
VARIANTS = {"virtual": {"recipe": "paper", "inter_graph": "virtual"},
            "code": {"recipe": "paper", "inter_graph": "code"},
            "none": {"inter_graph": "none"}}


def plan(args) -> list[tuple[str, str, int, dict]]:
    """Runs in order of value: the first seed of every dataset (TextGCN, both variants), the
    ablation, then the other seeds (TextGCN and the paper's variant first, the code's last)."""
    runs = []
    first, rest = args.seeds[:1], args.seeds[1:]
    for seed in first:
        for dataset in args.datasets:
            if not args.no_textgcn:
                runs.append(("textgcn", dataset, seed, {}))
            for variant in args.variants:
                runs.append(("tensorgcn", dataset, seed, dict(VARIANTS[variant])))
    if args.ablation:
        subsets = [c for k in (1, 2, 3) for c in itertools.combinations(GRAPHS, k)]
        for seed in args.ablation_seeds:
            for subset in subsets:
                variants = ["virtual"] if len(subset) == 1 else ["virtual", "code"]  # same model for 1 graph
                for variant in variants:
                    settings = dict(VARIANTS[variant])  # all three graphs: the main table's run
                    if subset != GRAPHS:
                        settings = {"graphs": list(subset), **settings}
                    runs.append(("tensorgcn", args.ablation, seed, settings))
    for variants in (args.variants[:1], args.variants[1:]):
        for seed in rest:
            for dataset in args.datasets:
                if not args.no_textgcn and variants == args.variants[:1]:
                    runs.append(("textgcn", dataset, seed, {}))
                for variant in variants:
                    runs.append(("tensorgcn", dataset, seed, dict(VARIANTS[variant])))
    extra = dict(item.split("=", 1) for item in args.tensorgcn_set)
    for value in extra:
        try:
            extra[value] = json.loads(extra[value])
        except json.JSONDecodeError:
            pass  # a plain string
    if isinstance(extra.get("graphs"), str):  # graphs=syntactic,semantic: a list, as the ablation records it
        extra["graphs"] = [g.strip() for g in extra["graphs"].split(",")]
    runs = [(m, d, s, {**o, **extra} if m == "tensorgcn" else o) for m, d, s, o in runs]  # --tensorgcn-set wins
    seen, unique = set(), []
    for run in runs:
        k = (run[0], run[1].lower(), run[2], json.dumps(run[3], sort_keys=True))
        if k not in seen:
            seen.add(k)
            unique.append(run)
    return unique


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def protocol(row: dict) -> str:
    """The run's settings other than the graphs and the inter-graph step."""
    extra = {k: v for k, v in row["settings"].items() if k not in ("graphs", "inter_graph")}
    if extra.get("recipe") == "paper":  # rows written before the defaults changed hold no recipe
        del extra["recipe"]
    paper = row["settings"].get("inter_graph", "virtual") != "none"
    return ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) or ("paper defaults" if paper else "defaults")


def is_full(row: dict) -> bool:
    graphs = row["settings"].get("graphs")
    return graphs is None or tuple(graphs) == GRAPHS


def report(rows: list[dict]) -> None:
    print("\n### Test accuracy (%), mean ± sd over seeds\n")
    print("| dataset | settings | paper TensorGCN | TensorGCN, virtual graphs (paper) | "
          "TensorGCN, code's mixing | our TextGCN, same seeds | seeds | TensorGCN − TextGCN (virtual / code) |")
    print("|---|---|---|---|---|---|---|---|")
    groups = list(dict.fromkeys((r["dataset"], protocol(r)) for r in rows if r["model"] == "tensorgcn" and is_full(r)))
    for d, proto in groups:
        def acc(model, variant=None):
            return {r["seed"]: 100 * r["accuracy"] for r in rows if r["dataset"] == d and r["model"] == model
                    and (variant is None or (is_full(r) and protocol(r) == proto
                                             and r["settings"].get("inter_graph", "virtual") == variant))}
        tg, virtual, code = acc("textgcn"), acc("tensorgcn", "virtual"), acc("tensorgcn", "code")
        seeds = sorted(set(virtual) | set(code))
        tg = {s: v for s, v in tg.items() if s in seeds}
        cells = [mean_sd(list(x.values())) if x else "-" for x in (virtual, code, tg)]
        diffs = []
        for x in (virtual, code):
            common = sorted(set(x) & set(tg))
            diffs.append(f"{statistics.mean(x[s] - tg[s] for s in common):+.2f}" if common else "-")
        print(f"| {d} | {proto} | {PAPER.get(d.lower(), float('nan')):.2f} | {cells[0]} | {cells[1]} | {cells[2]} | "
              f"{','.join(map(str, seeds))} | {' / '.join(diffs)} |")

    ablation = [r for r in rows if r["model"] == "tensorgcn" and "graphs" in r["settings"]]
    ablation_runs = {(r["dataset"], r["seed"], protocol(r)) for r in ablation}
    ablation += [{**r, "settings": {"graphs": list(GRAPHS), **r["settings"]}} for r in rows
                 if r["model"] == "tensorgcn" and is_full(r) and (r["dataset"], r["seed"], protocol(r)) in ablation_runs]
    if ablation:
        print("\n### Ablation (test accuracy %, mean ± sd over the seeds listed)\n")
        print("| dataset | settings | graphs | inter-graph | accuracy | seeds | epochs |")
        print("|---|---|---|---|---|---|---|")
        groups: dict[tuple, list[dict]] = {}
        for r in ablation:
            groups.setdefault((r["dataset"], protocol(r), tuple(r["settings"]["graphs"]), r["settings"]["inter_graph"]), []).append(r)
        for (d, proto, graphs, variant), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], len(kv[0][2]), kv[0])):
            shown = "- (one graph)" if len(graphs) == 1 else variant
            print(f"| {d} | {proto} | {' + '.join(graphs)} | {shown} | {mean_sd([100 * r['accuracy'] for r in runs])} | "
                  f"{','.join(str(r['seed']) for r in runs)} | {statistics.mean(r['epochs'] for r in runs):.0f} |")

    full = [r for r in rows if r["model"] == "tensorgcn" and is_full(r)]
    if full:
        print("\n### Stages of TensorGCN (seconds; peak RSS of the run's process in MB at the end of each stage)\n")
        print("| dataset | settings | seed | variant | parse | syntactic graph | LSTM | relations | other graph steps | "
              "training (epochs) | peak RSS: parse / +semantic / training | spaCy worker peak RSS | cached |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in full:
            st, mem, det, hit = r["stage_seconds"], r["stage_peak_rss_mb"], r.get("stage_detail_seconds", {}), r.get("cache_hits", {})
            other = st.get("clean+sequential", 0) + st.get("normalise", 0)
            lstm = f"{det['lstm_s']:.1f}" if "lstm_s" in det else "cached"
            rel = f"{det['relations_s']:.1f}" if "relations_s" in det else "cached"
            parse = f"{st['parse']:.1f}" + ("" if not hit.get("parse") else " (cached)")
            cached = ", ".join(k for k, v in hit.items() if v) or "none"
            print(f"| {r['dataset']} | {protocol(r)} | {r['seed']} | {r['settings'].get('inter_graph')} | {parse} | "
                  f"{st['syntactic_graph']:.1f} | {lstm} | {rel} | {other:.1f} | {st['train']:.1f} ({r['epochs']}) | "
                  f"{mem['parse']:.0f} / {mem['lstm+relations']:.0f} / {mem['train']:.0f} | "
                  f"{mem.get('parse_worker_processes', 0):.0f} | {cached} |")
    tg = [r for r in rows if r["model"] == "textgcn"]
    if tg:
        print("\n### Our TextGCN in the same runs\n")
        print("| dataset | seed | accuracy | graph s | train s (epochs) | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        for r in tg:
            print(f"| {r['dataset']} | {r['seed']} | {100 * r['accuracy']:.2f} | {r['graph_s']:.1f} | "
                  f"{r['train_s']:.1f} ({r['epochs']}) | {r['peak_rss_mb']:.0f} |")
    ind = [r for r in full if "inductive_agreement_500" in r]
    if ind:
        print("\n### Inductive path (first 500 test documents, on the trained graph tensor)\n")
        print("| dataset | seed | variant | agreement with transductive | seconds |")
        print("|---|---|---|---|---|")
        for r in ind:
            print(f"| {r['dataset']} | {r['seed']} | {r['settings'].get('inter_graph')} | "
                  f"{100 * r['inductive_agreement_500']:.1f} % | {r['inductive_s_500']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=["R8", "mr", "R52", "20ng"],
                        help="datasets of the main table (default: all four)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["virtual", "code"], choices=["virtual", "code", "none"],
                        help="inter-graph steps of the main table")
    parser.add_argument("--no-textgcn", action="store_true", help="do not run our TextGCN alongside")
    parser.add_argument("--ablation", metavar="DATASET",
                        help="run the ablation (every non-empty subset of the three graphs, both "
                             "inter-graph steps for two or three graphs) on this dataset")
    parser.add_argument("--ablation-seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--tensorgcn-set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides for every TensorGCN run (recorded with each run), "
                             "e.g. lr=0.02 when 1000 epochs at the paper's lr=0.002 take too long")
    parser.add_argument("--data-dir", default=os.environ.get("TEXTZOO_DATA"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--json", default="benchmarks/out/tensorgcn.json")
    parser.add_argument("--checkpoints", metavar="DIR",
                        help="write training checkpoints under DIR (one folder per run) and resume an "
                             "interrupted run from them when the same command runs again")
    parser.add_argument("--append", action="store_true", help="keep the runs in --json and skip those already there")
    parser.add_argument("--report", nargs="*", metavar="JSON",
                        help="only print the tables of --json and of these other result files")
    args = parser.parse_args()

    path = Path(args.json)
    reporting = args.report is not None
    rows = json.loads(path.read_text()) if (args.append or reporting) and path.exists() else []
    for other in args.report or []:
        rows += json.loads(Path(other).read_text())
    if not reporting:
        done = {key_of(r) for r in rows}
        context = get_context("spawn")
        for model, dataset, seed, overrides in plan(args):
            if (model, dataset.lower(), seed, json.dumps(overrides, sort_keys=True)) in done:
                continue
            print(f"running {model} {dataset} seed {seed} {overrides}", file=sys.stderr, flush=True)
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                row = pool.submit(one_run, model, dataset, seed, overrides, args.data_dir, args.threads,
                                     args.checkpoints).result()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rows, indent=2))
            os.replace(tmp, path)
    report(rows)


if __name__ == "__main__":
    main()

"""BERT / ALBERT / GPT benchmark: training throughput against Hugging Face ``Trainer``, fine-tuning
accuracy against the BertGCN paper's BERT-base numbers, and pretraining from scratch.

Three parts (run one at a time; each writes ``benchmarks/out/transformers-PART.json`` and prints a
Markdown table):

``throughput``
    The offline MiniLM encoder (``bert``) trained for ``--steps`` updates of ``--batch-size``
    documents of ``--dataset`` (the first steps x batch training documents, ``--max-length``
    tokens) by our loop and by ``transformers.Trainer`` on the same model, data, batch and steps,
    in one process, the three set-ups interleaved over ``--rounds`` rounds: our loop (length-grouped
    batches, dynamic padding), Trainer with its defaults (random batches padded to their longest by
    the ``DataCollatorWithPadding`` it uses when given the tokenizer) and Trainer at its best
    (``train_sampling_strategy="group_by_length"``). Tokens/s counts the documents' real tokens
    ([CLS] and [SEP] included, padding not) over the training-loop time (ours: the epoch loop;
    Trainer: ``trainer.train()``); "end to end" adds loading the model and tokenising. Rates are
    per CPU-second of the process (``time.process_time``; with ``--threads 1`` that is the work
    done, insensitive to other jobs on a shared machine) and per wall-second. Also measures the fp32
    matmul peak (best of a 2048^3 ``torch.matmul``, per CPU-second) and the fraction of it that
    fine-tuning reaches, estimating the FLOPs as 6 x parameters x tokens (all parameters, and
    without the embedding tables, which cost no matmul).

``accuracy``
    ``textzoo train bert --dataset NAME`` with the paper defaults (max length 128, batch 32,
    3 epochs, lr 5e-5; ``--set`` changes them) for each of ``--datasets`` and ``--seeds``; test
    accuracy (mean ± sd over the seeds) against BertGCN's BERT-base.

``pretrain``
    For each of ``--models`` and ``--datasets``: ``textzoo pretrain MODEL`` on the training and
    validation texts of the corpus (never the test texts; ``--pretrain-text train`` leaves the
    validation texts out; ``--pretrain-on`` names other corpora whose texts are pretrained on once
    instead), then ``textzoo train MODEL`` from that folder and from the
    same architecture with random weights (``random_init=true``), once per fine-tuning seed.
    ``--pretrained-tag TAG`` fine-tunes from the folder of an earlier ``--tag TAG`` run instead of
    pretraining again (other fine-tuning settings on the same pretrained weights). ``--jobs N`` runs
    N fine-tuning processes side by side (each with its own log). ``--pretrain-set
    init_from=FOLDER`` continues an earlier pretraining on these texts (task-adaptive pretraining);
    the random-init arm then has FOLDER's architecture and tokenizer. Pretraining and fine-tuning
    run with ``--resume``: the same command run again continues an interrupted pretraining or
    fine-tuning run from its last checkpoint and does not redo a finished one (the pretraining's
    seconds are its own, from ``pretraining.json``, summed over the interrupted parts).

    python benchmarks/transformers.py throughput --dataset R8 --steps 20 --rounds 2 --threads 1
    python benchmarks/transformers.py accuracy --datasets mr R8 R52 20ng
    python benchmarks/transformers.py pretrain --models albert gpt --datasets mr R52
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
# this file is named transformers.py: keep its folder off the import path, so that `import
# transformers` finds the library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.modules.pop("transformers", None) if getattr(sys.modules.get("transformers"), "__file__", "") == __file__ else None
OUT = HERE / "out"
# test accuracy of BERT-base in Lin et al. 2021, "BertGCN: Transductive Text Classification by
# Combining GCN and BERT", Table 2; and the issue's targets for MiniLM on CPU
BERTGCN_BERT = {"R8": 97.8, "R52": 96.4, "mr": 85.7, "20ng": 85.3}
TARGETS = {"R8": 97.3, "R52": 95.0, "mr": 82.0, "20ng": 83.0}


# --------------------------------------------------------------------------------- throughput
def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> dict:
    """Best fp32 GFLOP/s of an n x n x n ``torch.matmul`` (2 n^3 FLOPs), per wall and per CPU second,
    on the device that fine-tuning uses (CUDA when available: n = 8192, synchronised)."""
    import torch

    cuda = torch.cuda.is_available()
    n = 8192 if cuda else n
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    a, b = (torch.randn(n, n, device="cuda" if cuda else "cpu") for _ in range(2))
    for _ in range(2):
        torch.matmul(a, b)
    sync()
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        torch.matmul(a, b)
        sync()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return {"wall": 2 * n ** 3 / wall / 1e9, "cpu": 2 * n ** 3 / cpu / 1e9, "device": "cuda" if cuda else "cpu"}


def _ours(train, args) -> dict:
    import textzoo

    t0, c0 = time.perf_counter(), time.process_time()
    model = textzoo.create("bert", max_length=args.max_length, batch_size=args.batch_size, epochs=1,
                           seed=0, group_by_length=True)
    model.fit(train)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = model.train_stats
    assert stats["steps"] == args.steps, stats
    return {"loop_seconds": stats["seconds"], "loop_cpu_seconds": stats["cpu_seconds"], "end_to_end_seconds": wall,
            "end_to_end_cpu_seconds": cpu, "tokens": stats["tokens"]}


def _trainer(train, labels, args, strategy: str) -> dict:
    import transformers as tf

    from textzoo.models.transformer_base import minilm_folder

    folder = minilm_folder()
    t0, c0 = time.perf_counter(), time.process_time()
    tok = tf.AutoTokenizer.from_pretrained(folder)
    model = tf.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(labels))
    index = {l: i for i, l in enumerate(labels)}
    enc = tok(train.texts, truncation=True, max_length=args.max_length)
    data = [{"input_ids": ids, "attention_mask": m, "labels": index[y]}
            for ids, m, y in zip(enc["input_ids"], enc["attention_mask"], train.labels)]
    targs = tf.TrainingArguments(output_dir=str(OUT / "trainer-tmp"), per_device_train_batch_size=args.batch_size,
                                 max_steps=args.steps, learning_rate=5e-5, seed=0, save_strategy="no",
                                 report_to="none", disable_tqdm=True, train_sampling_strategy=strategy)
    trainer = tf.Trainer(model=model, args=targs, train_dataset=data, processing_class=tok)
    t1, c1 = time.perf_counter(), time.process_time()
    trainer.train()
    t2, c2 = time.perf_counter(), time.process_time()
    return {"loop_seconds": t2 - t1, "loop_cpu_seconds": c2 - c1, "end_to_end_seconds": t2 - t0,
            "end_to_end_cpu_seconds": c2 - c0,
            "tokens": int(sum(len(d["input_ids"]) for d in data))}


def throughput(args) -> dict:
    import torch

    import textzoo
    from textzoo.models.transformer_base import minilm_folder

    torch.set_num_threads(args.threads)
    corpus = textzoo.load_dataset(args.dataset)
    train = corpus.train.head(args.steps * args.batch_size)
    peak = [matmul_peak_gflops()]   # also initialises CUDA, when there is one, before any set-up is timed
    import transformers  # noqa: F401  (the first import costs seconds: keep it out of "end to end")

    runs = {"ours": [], "trainer_default": [], "trainer_group_by_length": []}
    for r in range(args.rounds):
        for name in runs:
            if name == "ours":
                res = _ours(train, args)
            else:
                res = _trainer(train, corpus.labels, args,
                               "random" if name == "trainer_default" else "group_by_length")
            res["tokens_per_s"] = res["tokens"] / res["loop_seconds"]
            res["tokens_per_cpu_s"] = res["tokens"] / res["loop_cpu_seconds"]
            res["end_to_end_tokens_per_s"] = res["tokens"] / res["end_to_end_seconds"]
            res["end_to_end_tokens_per_cpu_s"] = res["tokens"] / res["end_to_end_cpu_seconds"]
            runs[name].append(res)
            print(f"round {r + 1} {name}: {res['tokens_per_cpu_s']:.0f} tokens/CPU-s, {res['tokens_per_s']:.0f} "
                  f"tokens/s ({res['loop_seconds']:.1f} s loop, {res['end_to_end_seconds']:.1f} s end to end)",
                  flush=True)
    peak.append(matmul_peak_gflops())
    import transformers as tf

    net = tf.AutoModel.from_pretrained(minilm_folder())
    params = sum(p.numel() for p in net.parameters())
    embed = sum(p.numel() for n, p in net.named_parameters() if n.startswith("embeddings."))
    tokens = {k: v[0]["tokens"] for k, v in runs.items()}
    assert len(set(tokens.values())) == 1, tokens  # the same documents and tokens for all three
    med = {k: statistics.median(x["tokens_per_cpu_s"] for x in v) for k, v in runs.items()}
    med_e2e = {k: statistics.median(x["end_to_end_tokens_per_cpu_s"] for x in v) for k, v in runs.items()}
    med_wall = {k: statistics.median(x["tokens_per_s"] for x in v) for k, v in runs.items()}
    # on a GPU the host's CPU-seconds say nothing about the device: use wall-clock rates there
    clock = "wall" if torch.cuda.is_available() else "cpu"
    peak_gflops = max(p[clock] for p in peak)
    rate = med_wall if clock == "wall" else med
    result = {
        "dataset": args.dataset, "steps": args.steps, "batch_size": args.batch_size,
        "max_length": args.max_length, "rounds": args.rounds, "threads": args.threads,
        "tokens": tokens["ours"], "runs": runs, "median_tokens_per_cpu_s": med,
        "median_end_to_end_tokens_per_cpu_s": med_e2e, "median_tokens_per_wall_s": med_wall,
        "speedup_wall_vs_trainer_default": med_wall["ours"] / med_wall["trainer_default"],
        "speedup_wall_vs_trainer_group_by_length": med_wall["ours"] / med_wall["trainer_group_by_length"],
        "speedup_vs_trainer_default": med["ours"] / med["trainer_default"],
        "speedup_vs_trainer_group_by_length": med["ours"] / med["trainer_group_by_length"],
        "matmul_peak_gflops": peak, "parameters": params, "embedding_parameters": embed,
    }
    result["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    for name in med:
        result[f"mfu_{name}"] = 6 * params * rate[name] / 1e9 / peak_gflops
        result[f"mfu_non_embedding_{name}"] = 6 * (params - embed) * rate[name] / 1e9 / peak_gflops
    lines = ["| set-up | tokens/CPU-s (loop) | ours / this | tokens/CPU-s (end to end) | tokens/wall-s (loop) "
             "| ours / this (wall) | 6PT / peak | 6(P-emb)T / peak |", "|---|---|---|---|---|---|---|---|"]
    for name in runs:
        lines.append(f"| {name} | {med[name]:.0f} | {med['ours'] / med[name]:.2f}x | {med_e2e[name]:.0f} | "
                     f"{med_wall[name]:.0f} | {med_wall['ours'] / med_wall[name]:.2f}x | "
                     f"{result[f'mfu_{name}']:.1%} | {result[f'mfu_non_embedding_{name}']:.1%} |")
    lines.append(f"\nmatmul peak ({result['device']}) {peak_gflops:.1f} GFLOP per {clock} second (start {peak[0]['cpu']:.1f}, end "
                 f"{peak[1]['cpu']:.1f}; per wall second {peak[0]['wall']:.1f}, {peak[1]['wall']:.1f}); "
                 f"{params / 1e6:.1f}M parameters ({embed / 1e6:.1f}M in embeddings); {tokens['ours']} tokens "
                 f"in {args.steps} steps of {args.batch_size}")
    result["table"] = "\n".join(lines)
    return result


# --------------------------------------------------------------------------------- accuracy
def _textzoo(argv: list[str], log: Path) -> None:
    cmd = [sys.executable, "-m", "textzoo", *argv]
    print("$", " ".join(cmd[1:]), flush=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd[1:]) + "\n")
        f.flush()
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT)


def accuracy(args) -> dict:
    import statistics

    rows = {}
    for name in args.datasets:
        accs, seconds = [], []
        for seed in args.seeds:
            run = OUT / "runs" / f"bert-{name}{args.tag}-s{seed}".lower()
            t = time.perf_counter()
            _textzoo(["train", "bert", "--dataset", name, "--out", str(run), "--set", f"seed={seed}",
                      *_sets(args.set)], OUT / f"transformers-accuracy-{name}{args.tag}-s{seed}.log")
            metrics = json.loads((run / "metrics.json").read_text())
            accs.append(100 * metrics["test"]["accuracy"])
            seconds.append(time.perf_counter() - t)
            print(f"{name} seed {seed}: {accs[-1]:.2f}% test accuracy", flush=True)
        key = next((k for k in BERTGCN_BERT if k.lower() == name.lower()), name)
        rows[name] = {"accuracy": statistics.mean(accs), "sd": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                      "per_seed": dict(zip(args.seeds, accs)), "bertgcn_bert_base": BERTGCN_BERT.get(key),
                      "target": TARGETS.get(key), "seconds": statistics.mean(seconds)}
        if not args.no_results:
            _record_bert(name, args, accs, seconds, [OUT / "runs" / f"bert-{name}{args.tag}-s{s}".lower() for s in args.seeds])
    lines = ["| corpus | MiniLM `bert` (ours), mean ± sd | seeds | BERT-base (BertGCN paper) | target | minutes per run |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        per_seed = ", ".join(f"{a:.2f}" for a in r["per_seed"].values())
        lines.append(f"| {name} | {r['accuracy']:.2f} ± {r['sd']:.2f} | {per_seed} | {r['bertgcn_bert_base']} | "
                     f"{r['target']} | {r['seconds'] / 60:.0f} |")
    return {"rows": rows, "settings": args.set, "table": "\n".join(lines)}


def _record_bert(name: str, args, accs: list[float], seconds: list[float], runs: list[Path]) -> None:
    """This corpus's row of benchmarks/results/bert.json: per-seed accuracy, time, peak memory, command."""
    import importlib.util

    # loaded by path: this folder is kept off sys.path (see the top of the file)
    spec = importlib.util.spec_from_file_location("results_io", HERE / "results_io.py")
    results_io = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results_io)
    infos = [json.loads((run / "config.json").read_text()).get("info", {}) for run in runs]
    peaks = [i.get("peak_cuda_mb") or i.get("peak_rss_mb") for i in infos]
    key = next((k for k in BERTGCN_BERT if k.lower() == name.lower()), name)
    results_io.record_row("bert", {
        "dataset": {"mr": "MR", "20ng": "20NG"}.get(key, key), "setting": args.setting or ", ".join(args.set) or "paper defaults",
        "paper": f"BERT-base (BertGCN): {BERTGCN_BERT.get(key, '-')}", "values": [round(a, 2) for a in accs],
        "seeds": list(args.seeds), "hardware": results_io.hardware(), "time": f"{statistics.mean(seconds):.0f} s",
        "peak_memory": f"{max(peaks):,.0f} MB" if all(peaks) else "-",
        "command": "python benchmarks/transformers.py " + " ".join(sys.argv[1:]),
    }, defaults={"title": "BERT: MiniLM `bert` fine-tuned, test accuracy %", "order": 40})


def _sets(pairs: list[str]) -> list[str]:
    return [x for p in pairs for x in ("--set", p)]


# --------------------------------------------------------------------------------- pretraining
def pretrain(args) -> dict:
    import textzoo
    from textzoo._io import atomic_write_text

    def unlabelled(names: list[str]) -> Path:
        """The training (and with ``--pretrain-text train+valid`` validation) texts of ``names``, one
        per line; never the test texts."""
        text = OUT / f"unlabelled-{'+'.join(names)}{'' if args.pretrain_text == 'train+valid' else '-train'}.txt"
        texts = []
        for n in names:
            corpus = textzoo.load_dataset(n)
            texts += corpus.train.texts
            if args.pretrain_text == "train+valid" and corpus.valid is not None:
                texts += corpus.valid.texts
        # atomic: two runs of this part (one per model) may share the folder
        atomic_write_text(text, "\n".join(" ".join(t.split()) for t in texts) + "\n")
        return text

    rows, pretrain_seconds = {}, {}  # pretrained folder -> seconds (one pretraining per folder)
    reuse = args.pretrained_tag is not None  # fine-tune from an earlier pretraining, do not pretrain again
    ptag = args.pretrained_tag if reuse else args.tag
    shared = unlabelled(args.pretrain_on) if args.pretrain_on and not reuse else None
    for name in args.datasets:
        text = None if reuse else shared or unlabelled([name])
        for model in args.models:
            log = OUT / f"transformers-pretrain-{model}-{name}{args.tag}.log"
            folder = OUT / "pretrained" / f"{model}-{'+'.join(args.pretrain_on) or name}{ptag}".lower()
            if reuse:
                if not (folder / "config.json").is_file():
                    raise SystemExit(f"--pretrained-tag: no pretrained model in {folder}; run without it first")
                pretrain_seconds[folder] = 0.0
            if folder not in pretrain_seconds:  # with --pretrain-on, one pretraining serves every corpus
                _textzoo(["pretrain", model, "--corpus", str(text), "--out", str(folder), "--resume",
                          *_sets(args.pretrain_set)], log)
                pretrain_seconds[folder] = json.loads((folder / "pretraining.json").read_text())["seconds"]
            runs = {(seed, init): OUT / "runs" / f"{model}-{name}{args.tag}-{init}"
                    f"{f'-s{seed}' if len(args.seeds) > 1 else ''}".lower()
                    for seed in args.seeds for init in ("pretrained", "random")}

            def fine_tune(key, folder=folder, log=log):
                (seed, init), run = key, runs[key]
                extra = ["--set", "random_init=true"] if init == "random" else []
                pretrained = folder / "pretraining.json"
                marks = [p for p in (run / "metrics.json", run / "checkpoints" / "latest.json") if p.is_file()]
                if pretrained.is_file() and any(p.stat().st_mtime < pretrained.stat().st_mtime for p in marks):
                    shutil.rmtree(run)  # fine-tuned (or begun) from an earlier pretraining in this folder: redo
                # side by side, each run writes its own log (one shared log would interleave them)
                _textzoo(["train", model, "--dataset", name, "--out", str(run), "--resume",
                          "--set", f"pretrained={folder}", "--set", f"seed={seed}", *extra, *_sets(args.set)],
                         log if args.jobs == 1 else OUT / f"transformers-pretrain-{run.name}.log")
                return 100 * json.loads((run / "metrics.json").read_text())["test"]["accuracy"]

            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                results = dict(zip(runs, pool.map(fine_tune, runs)))
            per_seed = {}  # fine-tuning seed -> {"pretrained": acc, "random": acc}
            for (seed, init), acc in results.items():
                per_seed.setdefault(str(seed), {})[init] = acc
            for seed, pair in per_seed.items():
                print(f"{model} {name} seed {seed}: {pair}", flush=True)
            row = {init: statistics.mean(accs[init] for accs in per_seed.values()) for init in ("pretrained", "random")}
            rows[f"{model}/{name}"] = {**row, "gain": row["pretrained"] - row["random"],
                                       "pretrain_seconds": pretrain_seconds[folder], "per_seed": per_seed}
            print(f"{model} {name}: {row}", flush=True)
    lines = ["| model / corpus | pretrained | random init | gain |", "|---|---|---|---|"]
    for key, r in rows.items():
        lines.append(f"| {key} | {r['pretrained']:.2f} | {r['random']:.2f} | {r['gain']:+.2f} |")
    return {"rows": rows, "pretrain_settings": args.pretrain_set, "settings": args.set, "table": "\n".join(lines)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("throughput", help="tokens/s of our loop against Trainer, and the share of matmul peak")
    p.add_argument("--dataset", default="R8")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p = sub.add_parser("accuracy", help="fine-tune the MiniLM `bert` on each corpus")
    p.add_argument("--datasets", nargs="+", default=["mr", "R8", "R52", "20ng"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="one run per seed; the table gives mean ± sd")
    p.add_argument("--tag", default="", help="suffix of the run folders and logs (runs with other settings)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="textzoo train --set")
    p.add_argument("--setting", help="the row's setting in benchmarks/results/bert.json (default: the --set pairs)")
    p.add_argument("--no-results", action="store_true", help="do not record the rows in benchmarks/results/bert.json")
    p = sub.add_parser("pretrain", help="textzoo pretrain, then fine-tune against random init")
    p.add_argument("--models", nargs="+", default=["albert", "gpt"])
    p.add_argument("--datasets", nargs="+", default=["mr", "R52"])
    p.add_argument("--pretrain-set", action="append", default=[], metavar="KEY=VALUE", help="textzoo pretrain --set")
    p.add_argument("--tag", default="", help="suffix of the pretrained folders, runs and logs")
    p.add_argument("--seeds", nargs="+", type=int, default=[0],
                   help="fine-tuning seeds (one pretraining); the table gives the means")
    p.add_argument("--pretrain-text", choices=["train+valid", "train"], default="train+valid",
                   help="texts pretrained on: train keeps the validation split unseen, so that choosing the "
                        "fine-tuning epoch by validation accuracy does not favour the pretrained arm")
    p.add_argument("--pretrain-on", nargs="+", default=[], metavar="CORPUS",
                   help="pretrain once on the --pretrain-text texts of these corpora (default: each "
                        "fine-tuning corpus on its own)")
    p.add_argument("--pretrained-tag", metavar="TAG",
                   help="fine-tune from the folder an earlier run with --tag TAG pretrained (same --pretrain-on) "
                        "instead of pretraining again; --tag then names only the new runs and log")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="textzoo train --set")
    p.add_argument("--jobs", type=int, default=1,
                   help="fine-tuning runs side by side (on a CPU, set OMP_NUM_THREADS to cores / jobs)")
    parser.add_argument("--json", type=Path, help="where to write the result (default: benchmarks/out/transformers-PART.json)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t = time.perf_counter()
    result = {"throughput": throughput, "accuracy": accuracy, "pretrain": pretrain}[args.part](args)
    result["command"] = "python benchmarks/transformers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result["seconds"] = time.perf_counter() - t
    result["load_average"] = os.getloadavg()
    (args.json or OUT / f"transformers-{args.part}.json").write_text(json.dumps(result, indent=2))
    print(result["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

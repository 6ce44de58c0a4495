"""ELMo benchmark: pretrain a biLM on the corpora's unlabelled training text, then classify with and
without ELMo, and time our biLM LSTM against torch.nn.LSTM.

1. ``textzoo pretrain elmo`` on the training + validation texts (never the test texts) of the
   chosen corpora, one text per line: perplexity (training, and held-out with the full softmax) and
   time.
2. ``elmo`` (features=elmo+words: [x_k; ELMo_k] into a BiLSTM + max-pool) on each corpus against the
   same task model on randomly initialised word embeddings only (features=words): test accuracy.
3. Tokens/s of our LSTM-with-projection stack (2 layers x 2 directions, cell clip, projection clip,
   residual) against ``torch.nn.LSTM(proj_size=...)`` of the same sizes, inference and training.

    python benchmarks/elmo.py            # all of it: preset tiny, all texts (hours on 2 CPU cores)
    # the reduced run in BENCHMARKS.md (about 47 min of pretraining + 5-20 min per classifier there):
    python benchmarks/elmo.py --pretrain-tokens 120000 --pretrain-epochs 2 --pretrain-batch 32 \
        --max-train 3000 --max-tokens 50 --epochs 6
    python benchmarks/elmo.py --skip pretrain classification   # the LSTM speed comparison alone

Writes a Markdown table to ``--out``.md and the raw figures to ``--out``.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

PRESETS = {
    # the paper's model (Section 3.4): 4096 cells, 512 projection, 2048 char filters, 2 highway
    "paper": {"dim": 4096, "projection_dim": 512, "n_highway": 2, "filters": [[1, 32], [2, 32], [3, 64], [4, 128],
                                                                            [5, 256], [6, 512], [7, 1024]]},
    # bilm-tf's "small" release: 1024 cells, 128 projection, 1 highway
    "small": {"dim": 1024, "projection_dim": 128, "n_highway": 1, "filters": [[1, 32], [2, 32], [3, 64], [4, 128],
                                                                             [5, 256], [6, 512], [7, 1024]]},
    # a CPU-sized biLM for quick runs
    "tiny": {"dim": 256, "projection_dim": 64, "n_highway": 1, "filters": [[1, 32], [2, 32], [3, 64], [4, 128],
                                                                          [5, 128]]},
}


def _subsample(split, n, seed=0):
    from textzoo.data.corpus import Split

    if not n or len(split) <= n:
        return split
    idx = random.Random(seed).sample(range(len(split)), n)
    return Split(texts=[split.texts[i] for i in idx], labels=[split.labels[i] for i in idx], name=split.name)


def pretrain_step(args, corpora: dict, out: Path) -> dict:
    from textzoo.pretraining import pretrainer

    lines = []
    for corpus in corpora.values():
        texts = _subsample(corpus.train, args.pretrain_docs).texts
        if corpus.valid is not None:
            texts = texts + corpus.valid.texts
        if args.pretrain_tokens:  # at most this many tokens per corpus (random texts, seeded)
            texts = random.Random(0).sample(texts, len(texts))
            kept, total = [], 0
            for text in texts:
                if total >= args.pretrain_tokens:
                    break
                kept.append(text)
                total += len(text.split())
            texts = kept
        lines += texts
    random.Random(0).shuffle(lines)
    corpus_file = out.parent / (out.name + ".pretrain.txt")
    corpus_file.write_text("\n".join(" ".join(t.split()) for t in lines if t.strip()) + "\n", encoding="utf-8")
    overrides = {**PRESETS[args.preset], "epochs": args.pretrain_epochs, "batch_size": args.pretrain_batch,
                 "optimizer": "adam", "lr": 0.002, "max_vocab": args.max_vocab, "min_count": 2,
                 "n_negative_samples": args.negatives, "progress": False}
    start = time.perf_counter()
    folder = pretrainer("elmo")(corpus=corpus_file, out=out.parent / (out.name + ".bilm"), overrides=overrides)
    seconds = time.perf_counter() - start
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    return {"folder": str(folder), "lines": len(lines), "seconds": round(seconds, 1), "preset": args.preset,
            "overrides": overrides, "history": history}


def _settings(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings -> a dict, values read as YAML scalars (true, 0.3, 100)."""
    import yaml

    return {k: yaml.safe_load(v) for k, v in (pair.split("=", 1) for pair in pairs)}


def classify_step(args, name: str, corpus, bilm: str) -> list[dict]:
    import textzoo

    train = _subsample(corpus.train, args.max_train)
    valid = _subsample(corpus.valid, args.max_train // 5 if args.max_train else 0)
    rows = []
    for features in args.features:
        for seed in args.seeds:
            start = time.perf_counter()
            model = textzoo.create("elmo", pretrained=bilm, features=features, epochs=args.epochs,
                                   max_tokens=args.max_tokens, seed=seed, progress=False,
                                   **_settings(args.set))
            model.fit(train, valid)
            metrics = model.evaluate(corpus.test)
            rows.append({"dataset": name, "features": features, "seed": seed, "train_docs": len(train),
                         "test_docs": len(corpus.test), "accuracy": metrics["accuracy"],
                         "macro_f1": metrics["macro_f1"], "epochs_run": len(model.history),
                         "seconds": round(time.perf_counter() - start, 1)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def speed_step(args) -> list[dict]:
    """Tokens/s of the LSTM stack alone (token embeddings given), ours vs torch.nn.LSTM(proj_size)."""
    import torch

    from textzoo.models.elmo_bilm import BiLM, BiLMOptions

    rows = []
    for preset in args.speed_presets:
        opt = BiLMOptions(**PRESETS[preset], char_dim=16)
        bilm = BiLM(opt)
        p = opt.projection_dim
        ref = torch.nn.LSTM(p, opt.dim, num_layers=2, bidirectional=True, proj_size=p, batch_first=True)
        batch, length = args.speed_batch, args.speed_length
        x = torch.randn(batch, length, p)
        mask = torch.ones(batch, length, dtype=torch.bool)
        tokens = batch * length

        def ours():
            return bilm(token_embeddings=x, mask=mask)[0][-1]

        def theirs():
            return ref(x)[0]

        for mode in ("inference", "training"):
            for label, fn in (("ours (clip + residual)", ours), ("torch.nn.LSTM(proj_size)", theirs)):
                times = []
                for rep in range(args.speed_reps + 1):
                    start = time.perf_counter()
                    if mode == "inference":
                        with torch.no_grad():
                            fn()
                    else:
                        fn().sum().backward()
                    if rep:
                        times.append(time.perf_counter() - start)
                best = min(times)
                rows.append({"preset": preset, "dim": opt.dim, "proj": p, "batch": batch, "length": length,
                             "mode": mode, "impl": label, "tokens_per_s": round(tokens / best, 1)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def markdown(result: dict) -> str:
    out = ["# ELMo benchmark", "", f"Command: `{result['command']}`", ""]
    if result.get("speed"):
        out += ["## biLM LSTM stack throughput (2 layers x 2 directions, with projection)", "",
                "| sizes (cells/proj) | batch x length | mode | ours tok/s | torch.nn.LSTM tok/s | ratio |",
                "|---|---|---|---|---|---|"]
        rows = result["speed"]
        for i in range(0, len(rows), 2):
            a, b = rows[i], rows[i + 1]
            out.append(f"| {a['dim']}/{a['proj']} | {a['batch']}x{a['length']} | {a['mode']} | {a['tokens_per_s']:.0f} "
                       f"| {b['tokens_per_s']:.0f} | {b['tokens_per_s'] / a['tokens_per_s']:.2f}x slower |"
                       if a["tokens_per_s"] < b["tokens_per_s"] else
                       f"| {a['dim']}/{a['proj']} | {a['batch']}x{a['length']} | {a['mode']} | {a['tokens_per_s']:.0f} "
                       f"| {b['tokens_per_s']:.0f} | {a['tokens_per_s'] / b['tokens_per_s']:.2f}x faster |")
        out.append("")
    if result.get("pretrain"):
        pt = result["pretrain"]
        last = pt["history"][-1]
        out += ["## biLM pretraining", "",
                f"{pt['lines']} lines, preset `{pt['preset']}` ({json.dumps(pt['overrides'])}), "
                f"{pt['seconds']} s in all.", "",
                "| epoch | train ppl | held-out ppl (full softmax) | tokens/s | seconds |", "|---|---|---|---|---|"]
        for row in pt["history"]:
            out.append(f"| {row['epoch']} | {row['train_ppl']:.1f} | {row.get('val_ppl', float('nan')):.1f} "
                       f"| {row['tokens_per_second']:.0f} | {row['seconds']:.0f} |")
        out.append("")
        del last
    if result.get("classification"):
        out += ["## Classification: ELMo vs the same task model without ELMo", "",
                "| dataset | train docs | features | seeds | test accuracy (mean) | macro F1 | seconds/run |",
                "|---|---|---|---|---|---|---|"]
        groups: dict = {}
        for row in result["classification"]:
            groups.setdefault((row["dataset"], row["features"]), []).append(row)
        for (dataset, features), rows in groups.items():
            acc = sum(r["accuracy"] for r in rows) / len(rows)
            f1 = sum(r["macro_f1"] for r in rows) / len(rows)
            secs = sum(r["seconds"] for r in rows) / len(rows)
            out.append(f"| {dataset} | {rows[0]['train_docs']} | {features} | {len(rows)} | {100 * acc:.2f} "
                       f"| {100 * f1:.2f} | {secs:.0f} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--datasets", nargs="+", default=["mr", "R8", "SST-2"])
    parser.add_argument("--out", default="benchmarks/out/elmo")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--pretrain-docs", type=int, default=0, help="training texts per corpus for the biLM (0: all)")
    parser.add_argument("--pretrain-tokens", type=int, default=0,
                        help="at most this many tokens of training + validation text per corpus for the biLM (0: all)")
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--pretrain-batch", type=int, default=64)
    parser.add_argument("--max-vocab", type=int, default=50000)
    parser.add_argument("--negatives", type=int, default=2048)
    parser.add_argument("--max-train", type=int, default=0, help="training texts per corpus for classification (0: all)")
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--features", nargs="+", default=["elmo+words", "words"],
                        choices=["elmo+words", "elmo", "words"], help="which task models to train")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="task-model settings for every run (e.g. elmo_output=true hidden=100)")
    parser.add_argument("--speed-presets", nargs="*", default=["tiny", "small"])
    parser.add_argument("--speed-batch", type=int, default=32)
    parser.add_argument("--speed-length", type=int, default=20)
    parser.add_argument("--speed-reps", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["speed", "pretrain", "classification"])
    parser.add_argument("--bilm", default=None, help="use this pretrained biLM folder instead of pretraining")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on 2 shared cores)")
    args = parser.parse_args()

    import logging

    import torch

    import textzoo

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result: dict = {"command": "python " + " ".join(sys.argv), "threads": args.threads}

    def write():
        out.with_suffix(".json").write_text(json.dumps(result, indent=2))
        out.with_suffix(".md").write_text(markdown(result))

    if "speed" not in args.skip:
        result["speed"] = speed_step(args)
        write()
    corpora = {name: textzoo.load_dataset(name, data_dir=args.data_dir) for name in args.datasets}
    bilm = args.bilm
    if "pretrain" not in args.skip and bilm is None:
        result["pretrain"] = pretrain_step(args, corpora, out)
        bilm = result["pretrain"]["folder"]
        write()
    if "classification" not in args.skip:
        result["classification"] = []
        for name, corpus in corpora.items():
            result["classification"] += classify_step(args, name, corpus, bilm)
            write()
    result["seconds"] = round(time.perf_counter() - started, 1)
    write()
    print(markdown(result))


if __name__ == "__main__":
    main()

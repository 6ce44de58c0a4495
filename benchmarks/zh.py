"""Chinese: every model on zh-reviews beside TF-IDF + linear SVM baselines run in the same script.

Arms (``--arms``; default: all):

* ``svm-char``  TF-IDF over character 1-2 grams (sublinear tf) + LinearSVC(C=1): the zh README's
  baseline (0.8414 there); ``svm-jieba``: the same over jieba word 1-2 grams (0.8501 there);
* ``textgcn-jieba``, ``textgcn-char``, ``textgcn-bigram`` (CJK character pairs), ``tensorgcn`` (jieba; sequential + semantic graphs: no
  Chinese spaCy parser installs offline), with the zh-reviews settings (stop words kept);
* ``elmo`` (a biLM pretrained by ``textzoo pretrain elmo`` on the pretraining text, jieba words) and
  ``elmo-words`` (the same task model without ELMo);
* ``bert``, ``albert``, ``gpt``: pretrained from scratch (``textzoo pretrain``, small defaults or
  ``--pretrain-steps``) on People's Daily plus the reviews' training texts (never the test texts),
  then fine-tuned; ``bert-random`` ... the same architectures from random weights;
* ``r8-textgcn``: TextGCN on R8 (English must not move: BENCHMARKS.md's 97.05 +- 0.14).

Each (arm, seed) runs in a fresh process, so its peak resident memory is its own. Pretrained
backbones are written once to ``--out``/pretrain-MODEL and reused.

    python benchmarks/zh.py --arms svm-char svm-jieba textgcn-jieba --seeds 0     # short version
    python benchmarks/zh.py --seeds 0 1 2 --json zh.json                          # everything
    python benchmarks/zh.py --arms bert bert-random --train-docs 2000 --pretrain-steps 300  # quick look
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

README_BASELINES = {"svm-char": 0.8414, "svm-jieba": 0.8501}
ARMS = ["svm-char", "svm-jieba", "textgcn-jieba", "textgcn-char", "textgcn-bigram", "tensorgcn", "elmo", "elmo-words",
        "bert", "bert-random", "albert", "albert-random", "gpt", "gpt-random", "r8-textgcn"]
FINETUNE = {"epochs": 3, "max_length": 128}


def _corpus(dataset: str, seed: int, data_dir: str | None, train_docs: int):
    import textzoo

    corpus = textzoo.load_dataset(dataset, data_dir=data_dir, seed=seed)
    if train_docs and train_docs < len(corpus.train):
        import random

        keep = sorted(random.Random(seed).sample(range(len(corpus.train)), train_docs))
        corpus.train = corpus.train.subset(keep, name="train")
    return corpus


def _svm(corpus, analyzer: str) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.svm import LinearSVC

    from textzoo.data.tokenizers import tokenize_text

    words = {"analyzer": "char", "ngram_range": (1, 2)} if analyzer == "char" else {
        "tokenizer": lambda t: tokenize_text(t, "jieba"), "token_pattern": None, "ngram_range": (1, 2)}
    texts = corpus.train.texts + (corpus.valid.texts if corpus.valid else [])
    labels = corpus.train.labels + (corpus.valid.labels if corpus.valid else [])
    start = time.perf_counter()
    vec = TfidfVectorizer(sublinear_tf=True, **words)
    clf = LinearSVC(C=1.0).fit(vec.fit_transform(texts), labels)
    seconds = time.perf_counter() - start
    pred = clf.predict(vec.transform(corpus.test.texts))
    return {"accuracy": accuracy_score(corpus.test.labels, pred),
            "macro_f1": f1_score(corpus.test.labels, pred, average="macro"), "train_s": round(seconds, 2)}


def pretrained_folder(model: str, out: Path, data_dir: str | None, steps: int) -> Path:
    """``textzoo pretrain MODEL`` on People's Daily + the zh-reviews training texts, once."""
    import textzoo
    from textzoo.pretraining import pretrainer

    folder = out / f"pretrain-{model}"
    if (folder / "config.json").is_file() or (folder / "options.json").is_file():
        return folder
    base = Path(data_dir or os.environ.get("TEXTZOO_DATA", "../shared/data"))
    corpus = textzoo.load_dataset("zh-reviews", data_dir=data_dir, valid_fraction=0)
    text = out / "pretrain-text.txt"
    if not text.is_file():
        daily = (base / "zh" / "peoples-daily-199801.txt").read_text(encoding="utf-8").splitlines()
        text.write_text("\n".join(daily + corpus.train.texts) + "\n", encoding="utf-8")
    overrides = {"tokenizer": "jieba", "epochs": 3} if model == "elmo" else {"max_steps": steps} if steps else {}
    if model == "elmo":
        overrides.update({"dim": 512, "projection_dim": 128, "n_negative_samples": 4096})
    pretrainer(model)(corpus=text, out=folder, overrides=overrides)
    return folder


def one_run(arm: str, seed: int, data_dir: str | None, train_docs: int, out: str, steps: int) -> dict:
    import textzoo

    corpus = _corpus("R8" if arm == "r8-textgcn" else "zh-reviews", seed, data_dir, train_docs)
    row = {"arm": arm, "seed": seed, "train_docs": len(corpus.train)}
    if arm.startswith("svm-"):
        row.update(_svm(corpus, arm[4:]))
    else:
        name, settings = arm.split("-")[0], {"seed": seed}
        if arm == "r8-textgcn":
            name = "textgcn"
        elif arm.startswith("textgcn"):
            settings["tokenizer"] = arm.split("-")[1]
        elif name == "elmo":
            settings.update({"pretrained": str(pretrained_folder("elmo", Path(out), data_dir, 0)),
                             "tokenizer": "jieba"} if arm == "elmo" else {"features": "words", "tokenizer": "jieba"})
        elif name in ("bert", "albert", "gpt"):
            settings.update(FINETUNE, pretrained=str(pretrained_folder(name, Path(out), data_dir, steps)))
            settings["random_init"] = arm.endswith("-random")
        model = textzoo.create(name, dataset=corpus.name, **settings)
        model.fit(corpus)
        test = model.evaluate(corpus.test)
        row.update(accuracy=test["accuracy"], macro_f1=test["macro_f1"], train_s=model.info["train_seconds"],
                   tokenizer=getattr(model.config, "tokenizer", None), unk_rate=model.info.get("unk_rate"))
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def _fmt(values: list[float], scale: float = 100.0) -> str:
    if len(values) == 1:
        return f"{scale * values[0]:.2f}"
    return f"{scale * statistics.mean(values):.2f} ± {scale * statistics.stdev(values):.2f}"


def table(rows: list[dict]) -> str:
    base = [r["accuracy"] for r in rows if r["arm"] == "svm-char"]
    lines = ["| arm | seeds | accuracy | macro-F1 | vs svm-char | README | train s | peak MB |",
             "|---|---|---|---|---|---|---|---|"]
    for arm in dict.fromkeys(r["arm"] for r in rows):
        rs = [r for r in rows if r["arm"] == arm]
        acc = [r["accuracy"] for r in rs]
        delta = f"{100 * (statistics.mean(acc) - statistics.mean(base)):+.2f}" if base and arm != "r8-textgcn" else ""
        readme = f"{100 * README_BASELINES[arm]:.2f}" if arm in README_BASELINES else ""
        lines.append(f"| {arm} | {','.join(str(r['seed']) for r in rs)} | {_fmt(acc)} | "
                     f"{_fmt([r['macro_f1'] for r in rs])} | {delta} | {readme} | "
                     f"{statistics.mean(r['train_s'] for r in rs):.1f} | {max(r['peak_rss_mb'] for r in rs):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=ARMS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--data-dir", default=None, help="data mirror (default: TEXTZOO_DATA)")
    parser.add_argument("--train-docs", type=int, default=0, help="training documents kept per run (0: all)")
    parser.add_argument("--pretrain-steps", type=int, default=0, help="BERT/ALBERT/GPT pretraining updates "
                        "(0: `textzoo pretrain`'s default of 1 epoch)")
    parser.add_argument("--out", default="benchmarks/out/zh", help="pretrained backbones go here")
    parser.add_argument("--json", default=None, help="write the raw rows here")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for arm in args.arms:
        for seed in args.seeds:
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                row = pool.submit(one_run, arm, seed, args.data_dir, args.train_docs, args.out,
                                  args.pretrain_steps).result()
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

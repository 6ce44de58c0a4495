"""Extreme multi-label benchmarks: Reuters-21578 accuracy and the scaling of the XMC pieces.

    # Reuters-21578 (394 labels): P/nDCG/PSP@1,3,5 of the models side by side, one run, one split
    python benchmarks/xmc.py reuters --models tfidf pecos xtransformer lightxml --epochs 1 \\
        --max-length 128 --json benchmarks/out/xmc_reuters.json

    # one table: textzoo's `linear`, the reference rows of BENCHMARKS.md (xmc_reference.json), and the
    # XMC models' paper variants beside their fusion with `linear` (fusion=linear, weight chosen on
    # the validation split; the models then train on the train split only, validated on valid)
    python benchmarks/xmc.py reuters --models linear xtransformer lightxml --fusion --epochs 1 \
        --max-length 128 --json benchmarks/out/xmc_reuters_fusion.json
    python benchmarks/xmc.py reuters --quick     # a few minutes on 2 cores: 500 documents, length 32

    # X-Transformer's paper ensemble: one model per label representation, and their score average
    python benchmarks/xmc.py reuters --models xtransformer --label-representations pifa-tfidf pifa-neural text-emb
    # the same members trained in separate processes: save their test scores, average them afterwards
    python benchmarks/xmc.py reuters --models xtransformer --label-representations pifa-neural --save-scores DIR
    python benchmarks/xmc.py ensemble DIR/xtransformer.npy DIR/xtransformer-pifa-neural.npy
    # long CPU runs: --checkpoints CKPT makes each model resumable (run the same command again)
    # scoring variants (post-processor x combiner) of a run saved with --save-runs, one test pass
    python benchmarks/xmc.py rescore --run RUNS/xtransformer

    # synthetic Zipf corpora: time and peak memory of indexing / matcher / ranker, latency per doc
    python benchmarks/xmc.py synthetic --labels 1000 10000 100000 500000 --json benchmarks/out/xmc_synth.json

``reuters`` trains on the train + valid documents of the ModApte split in ``TEXTZOO_DATA`` and
evaluates on its test documents; propensities (A = 0.55, B = 1.5) come from the training labels.
Models: ``linear`` (textzoo's registered ``linear`` model: the same TF-IDF and liblinear SVMs,
Platt-calibrated), ``tfidf`` (one-vs-rest linear squared-hinge SVMs on the TF-IDF features, liblinear),
``pecos`` (PECOS XR-Linear with its default PIFA indexer, on the same TF-IDF matrices; PECOS runs in
the interpreter given by --pecos-python, because libpecos 1.2.8 pins numpy/scipy versions older than
textzoo's: install it in its own virtual environment, see docs/notes/2026-11-28-xmc-reuters.md), ``xtransformer`` and
``lightxml`` (the offline MiniLM encoder).

``synthetic`` generates corpora whose label frequencies follow a Zipf law (exponent --zipf): each
label owns 3 signature words, a document draws 1 + Poisson(1.5) labels and mixes their signature
words with Zipf-distributed noise words. For each label count it times (and measures the peak
resident memory added by) the indexing (TF-IDF + PIFA + balanced 2-means), a fixed number of matcher
fine-tuning steps (MiniLM, output layer over the K clusters), the ranker (teacher-forcing negatives
plus the clusters of a simulated noisy matcher) and the per-document inference latency of the beam
ranker.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
# benchmarks/transformers.py would shadow the transformers package: drop this script's folder
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO / "src"))


class PeakRSS:
    """Peak resident memory added while the block runs (sampled every 5 ms), in MB."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self.stop = False
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _watch(self):
        while not self.stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.stop = True
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.mb = (self.peak - self.base) / 2**20


# ----------------------------------------------------------------------------------- Reuters
PECOS_CHILD = r"""
import sys, time, numpy as np, scipy.sparse as sp
from pecos.xmc.xlinear.model import XLinearModel
from pecos.xmc import Indexer, LabelEmbeddingFactory
folder = sys.argv[1]
X = sp.load_npz(f"{folder}/X.npz").tocsr().astype(np.float32)
Y = sp.load_npz(f"{folder}/Y.npz").tocsr().astype(np.float32)
Xt = sp.load_npz(f"{folder}/Xt.npz").tocsr().astype(np.float32)
t0 = time.perf_counter()
chain = Indexer.gen(LabelEmbeddingFactory.create(Y, X, method="pifa"), max_leaf_size=100, seed=0)
model = XLinearModel.train(X, Y, C=chain)
t1 = time.perf_counter()
P = model.predict(Xt, only_topk=5)
t2 = time.perf_counter()
sp.save_npz(f"{folder}/P.npz", sp.csr_matrix(P))
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def run_pecos(python: str, x, y, xt) -> tuple[np.ndarray, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        for name, m in (("X", x), ("Y", y), ("Xt", xt)):
            sp.save_npz(f"{tmp}/{name}.npz", sp.csr_matrix(m, dtype=np.float32))
        out = subprocess.run([python, "-c", PECOS_CHILD, tmp], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"PECOS failed:\n{out.stderr[-2000:]}")
        train_s, pred_s = map(float, out.stdout.split()[-2:])
        p = sp.load_npz(f"{tmp}/P.npz").toarray()
    return p, train_s, pred_s


def reuters_split(args):
    """(corpus, train, test, y, yt, record, rows): the ModApte split, a recorder of metric rows and
    the rows it recorded."""
    import textzoo
    from textzoo.data.corpus import Split
    from textzoo.metrics import multilabel_metrics, propensities
    from textzoo.xmc import label_matrix

    corpus = textzoo.load_dataset("reuters21578")
    train = Split(texts=corpus.train.texts + corpus.valid.texts, labels=corpus.train.labels + corpus.valid.labels,
                  name="train")
    if getattr(args, "fusion", False):  # the fused models choose their weight on the validation split
        train = corpus.train
    if getattr(args, "train_docs", 0):
        train = train.head(args.train_docs)
    test = corpus.test.head(args.test_docs) if getattr(args, "test_docs", 0) else corpus.test
    y = label_matrix(train.labels, corpus.labels)
    yt = label_matrix(test.labels, corpus.labels)
    prop = propensities(y)
    rows = []

    def record(name, scores, train_s, pred_s, **extra):
        m = multilabel_metrics(scores, yt, ks=(1, 3, 5), propensity=prop)
        row = {"model": name, **{k: round(v * 100, 2) for k, v in m.items()}, "train_s": round(train_s, 1),
               "predict_s": round(pred_s, 1), "train_docs": len(train), "test_docs": len(test), **extra}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(rows, indent=1))

    return corpus, train, test, y, yt, record, rows


def reuters(args) -> list[dict]:
    import textzoo
    from textzoo.xmc import ClusterIndex, average_scores
    from textzoo.xmc.ranker import beam_scores, to_dense, train_rankers
    from textzoo.xmc.tfidf import fit_tfidf

    corpus, train, test, y, yt, record, rows = reuters_split(args)
    x = xt = None
    if "tfidf" in args.models or "pecos" in args.models:
        vec, x = fit_tfidf(train.texts)
        xt = vec.transform(test.texts)
    valid = None
    if args.fusion:
        valid = corpus.valid.head(max(50, len(train) // 9)) if args.train_docs else corpus.valid
    if "linear" in args.models:
        t0 = time.perf_counter()
        linear = textzoo.create("linear").fit(train, valid, labels=corpus.labels)
        t1 = time.perf_counter()
        record("linear (textzoo; TF-IDF + liblinear L2-loss SVM, Platt)", linear.predict_proba(test.texts),
               t1 - t0, time.perf_counter() - t1)
    if "tfidf" in args.models:
        t0 = time.perf_counter()
        one = ClusterIndex(assign=np.zeros(len(corpus.labels), dtype=np.int64), n_clusters=1)
        w = train_rankers(x, y, one, sp.csr_matrix(np.ones((x.shape[0], 1))))
        t1 = time.perf_counter()
        labels, scores = beam_scores(xt, w, one, np.zeros((xt.shape[0], 1), dtype=np.int64),
                                     np.full((xt.shape[0], 1), 1.0))
        record("TF-IDF one-vs-rest linear (liblinear L2-loss SVM)", to_dense(labels, scores, len(corpus.labels)),
               t1 - t0, time.perf_counter() - t1)
    if "pecos" in args.models:
        if not args.pecos_python or not Path(args.pecos_python).exists():
            print(f"PECOS skipped: no interpreter at --pecos-python={args.pecos_python!r}", flush=True)
        else:
            p, train_s, pred_s = run_pecos(args.pecos_python, x, y, xt)
            record("PECOS XR-Linear (libpecos 1.2.8, defaults)", p, train_s, pred_s)
    members = [("xtransformer", rep) for rep in args.label_representations if "xtransformer" in args.models]
    members += [("lightxml", None)] if "lightxml" in args.models else []
    ensembles: dict[str, list] = {}  # X-Transformer scoring ("" or ", combine=ranker") -> members' scores
    xt_seconds = [0.0, 0.0]
    for name, rep in members:
        settings = dict(max_length=args.max_length, epochs=args.epochs, seed=0, device=args.device)
        if args.batch_size:
            settings["batch_size"] = args.batch_size
        if name == "lightxml":
            settings.update(swa_warmup=args.swa_warmup, swa_step=args.swa_step)
        else:
            settings["label_representation"] = rep
        if args.fusion:
            settings["fusion"] = "linear"
        model = textzoo.create(name, **settings)
        rep_tag = rep if rep and rep != "pifa-tfidf" else ""
        folder = name + (f"-{rep_tag}" if rep_tag else "")
        resumable = {} if not args.checkpoints else {"checkpoint_dir": Path(args.checkpoints) / folder, "resume": True}
        t0 = time.perf_counter()
        model.fit(train, valid, labels=corpus.labels, **resumable)
        t1 = time.perf_counter()
        if rep:  # one matcher pass scores the model's own way and, with --combine-ranker, without the matcher
            post = model.config.post
            variants = [(post, model.config.combine)] + \
                ([(post, "ranker")] if args.combine_ranker and model.config.combine != "ranker" else [])
            scored = dict(zip(["", ", combine=ranker"], scoring_variants(model, test.texts, variants)[0].values()))
        else:
            scored = {"": model.unfused_proba(test.texts)}
        linear_s = model.info.get("fusion", {}).get("linear_seconds", 0.0)
        if args.fusion:  # the paper variant and, from the same fit, its fusion with linear
            weight = model.info["fusion"]["weight"]
            scored.update({f"{v}, fused with linear (w={weight:.2f})": model.fuse_scores(x, test.texts)
                           for v, x in list(scored.items())})
        t2 = time.perf_counter()
        if args.save_runs:
            model.save(Path(args.save_runs) / folder)
        for variant, scores in scored.items():
            record(f"{name} (MiniLM-L6, {args.epochs} epoch(s), length {args.max_length}"
                   f"{', ' + rep_tag if rep_tag else ''}){variant}", scores,
                   t1 - t0 - (0.0 if "fused" in variant else linear_s), t2 - t1,
                   info={k: v for k, v in model.info.items() if k.endswith("seconds") or k == "clusters"})
            if args.save_scores:  # the test scores, for ensembles of runs made in separate processes
                Path(args.save_scores).mkdir(parents=True, exist_ok=True)
                np.save(Path(args.save_scores) / f"{folder}{variant.replace(', combine=', '.combine-')}.npy",
                        scores.astype(np.float32))
            if rep:
                ensembles.setdefault(variant, []).append(scores)
        if rep:
            xt_seconds = [xt_seconds[0] + t1 - t0, xt_seconds[1] + t2 - t1]
    for variant, scores in ensembles.items():  # the paper's ensemble (Section 4.3): the members' scores averaged
        if len(scores) > 1:
            record(f"xtransformer ensemble of {len(scores)} ({' + '.join(args.label_representations)}){variant}",
                   average_scores(scores), *xt_seconds)
    print_table(rows, args.reference)
    return rows


COLUMNS = ["P@1", "P@3", "P@5", "nDCG@5", "PSP@5", "train_s"]


def print_table(rows: list[dict], reference: str | None) -> None:
    """One Markdown table: this run's rows, then the reference rows of ``reference`` (a JSON file of
    rows measured earlier, with their source)."""
    lines = ["| model | train docs | test docs | " + " | ".join(COLUMNS) + " |",
             "|---|---:|---:|" + "---:|" * len(COLUMNS)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['train_docs']} | {r['test_docs']} | "
                     + " | ".join(str(r.get(c, "-")) for c in COLUMNS) + " |")
    if reference and Path(reference).is_file():
        ref = json.loads(Path(reference).read_text())
        for r in ref["rows"]:
            lines.append(f"| {r['model']} (reference) | {r['train_docs']} | {r['test_docs']} | "
                         + " | ".join(str(r.get(c, "-")) for c in COLUMNS) + " |")
        lines.append(f"\nReference rows: {ref['source']}")
    print("\n".join(lines), flush=True)


VARIANTS = [(post, combine) for post in ("l3-hinge", "sigmoid") for combine in ("product", "ranker")]


def scoring_variants(model, texts, variants=VARIANTS) -> tuple[dict, float]:
    """X-Transformer's (n_docs, n_labels) scores under each (post-processor, combiner), in the order
    given, from one pass of the matcher; and the seconds of that pass."""
    from textzoo.xmc.ranker import beam_scores, to_dense

    t0 = time.perf_counter()
    x, beam, beam_logits = model.beam_inputs(texts)
    seconds = time.perf_counter() - t0
    out = {}
    for post, combine in variants:
        labels, scores = beam_scores(x, model.ranker, model.index, beam, beam_logits, post, combine)
        out[post, combine] = to_dense(labels, scores, len(model.labels))
    return out, seconds


def rescore(args) -> list[dict]:
    """X-Transformer's scoring variants (post-processor x combiner) from one saved run, one test pass."""
    import textzoo

    corpus, train, test, y, yt, record, rows = reuters_split(args)
    model = textzoo.load(args.run)
    if model.name != "xtransformer":
        raise SystemExit(f"{args.run}: an xtransformer run folder is needed, this one holds {model.name}")
    scores, seconds = scoring_variants(model, test.texts)
    for (post, combine), s in scores.items():
        record(f"xtransformer ({args.run}), post={post}, combine={combine}", s, 0.0, seconds,
               beam=min(model.config.beam_size, model.index.n_clusters), clusters=int(model.index.n_clusters))
    return rows


def ensemble(args) -> list[dict]:
    """The score average of test-score files saved by ``reuters --save-scores`` (one ensemble row)."""
    from textzoo.xmc import average_scores

    corpus, train, test, y, yt, record, rows = reuters_split(args)
    members = [np.load(f) for f in args.scores]
    for f, m in zip(args.scores, members):
        if m.shape != yt.shape:
            raise SystemExit(f"{f}: scores of shape {m.shape}, the test split needs {yt.shape}")
        record(f"member {Path(f).stem}", m, 0.0, 0.0)
    record(f"ensemble of {len(members)} ({' + '.join(Path(f).stem for f in args.scores)})",
           average_scores(members), 0.0, 0.0)
    return rows


# ----------------------------------------------------------------------------------- synthetic
def synthetic_corpus(n_labels: int, n_docs: int, zipf: float = 1.1, seed: int = 0, noise_words: int = 30):
    """(texts, label_lists as int arrays) of a Zipf multi-label corpus (see the module docstring)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_labels + 1) ** zipf
    p /= p.sum()
    counts = 1 + rng.poisson(1.5, size=n_docs)
    flat = rng.choice(n_labels, size=int(counts.sum()), p=p)
    vocab = max(20_000, 3 * n_labels)
    signature = rng.integers(0, vocab, size=(n_labels, 3))
    noise_p = 1.0 / np.arange(1, vocab + 1)
    noise_p /= noise_p.sum()
    noise = rng.choice(vocab, size=(n_docs, noise_words), p=noise_p)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    words = np.char.add("w", np.arange(vocab).astype(str))
    texts, labels = [], []
    for i in range(n_docs):   # building the strings is the only per-document step
        lab = np.unique(flat[starts[i]:starts[i] + counts[i]])
        toks = np.concatenate([signature[lab].ravel(), signature[lab].ravel(), noise[i]])
        texts.append(" ".join(words[toks]))
        labels.append(lab)
    return texts, labels


def synthetic(args) -> list[dict]:
    import torch

    from textzoo.xmc import balanced_hierarchical_kmeans, pifa
    from textzoo.xmc.ranker import beam_scores, train_rankers
    from textzoo.xmc.tfidf import fit_tfidf

    rows = []
    for n_labels in args.labels:
        n_docs = max(args.min_docs, int(args.docs_per_label * n_labels))
        t0 = time.perf_counter()
        texts, labels = synthetic_corpus(n_labels, n_docs, args.zipf)
        gen_s = time.perf_counter() - t0
        rowsel = np.repeat(np.arange(n_docs), [len(l) for l in labels])
        y = sp.csr_matrix((np.ones(len(rowsel), dtype=np.float32), (rowsel, np.concatenate(labels))),
                          shape=(n_docs, n_labels))
        row = {"labels": n_labels, "docs": n_docs, "labels_with_docs": int((np.diff(y.tocsc().indptr) > 0).sum()),
               "generate_s": round(gen_s, 1)}
        with PeakRSS() as m:
            vec, x = fit_tfidf(texts, ngram_max=1)
            z = pifa(x, y)
            index = balanced_hierarchical_kmeans(z, 100, seed=0)
        row.update(index_s=round(m.seconds, 2), index_mb=round(m.mb, 1), clusters=index.n_clusters)
        y_cl = sp.csr_matrix((y @ index.matrix()) > 0, dtype=np.float32)
        if args.matcher_steps:
            row.update(matcher_timing(index.n_clusters, texts, y_cl, args))
        # a simulated matcher: the true clusters plus random ones, b = 10 per document
        rng = np.random.default_rng(1)
        b = min(10, index.n_clusters)
        fake = rng.integers(0, index.n_clusters, size=(n_docs, b))
        doc_clusters = y_cl.maximum(sp.csr_matrix((np.ones(n_docs * b, dtype=np.float32),
                                                   (np.repeat(np.arange(n_docs), b), fake.ravel())),
                                                  shape=y_cl.shape))
        if n_labels <= args.ranker_max_labels:
            with PeakRSS() as m:
                w = train_rankers(x, y, index, doc_clusters, progress=False)
            row.update(ranker_s=round(m.seconds, 2), ranker_mb=round(m.mb, 1), ranker_nnz=int(w.nnz))
            q = min(1000, n_docs)
            beam = np.asarray(y_cl[:q].argmax(axis=1)).ravel()[:, None].repeat(b, 1)
            beam[:, 1:] = fake[:q, 1:]
            t0 = time.perf_counter()
            beam_scores(x[:q], w, index, beam, np.ones_like(beam, dtype=np.float32))
            row["ranker_ms_per_doc"] = round((time.perf_counter() - t0) / q * 1000, 3)
            single = []  # one document per call, as a server sees them
            for i in range(min(100, q)):
                t0 = time.perf_counter()
                beam_scores(x[i:i + 1], w, index, beam[i:i + 1], np.ones((1, b), dtype=np.float32))
                single.append(time.perf_counter() - t0)
            row["ranker_ms_single_doc"] = round(float(np.median(single)) * 1000, 3)
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(rows, indent=1))
        del texts, labels, x, y, z
        torch.set_num_threads(torch.get_num_threads())
    return rows


def matcher_timing(n_clusters: int, texts, y_cl, args) -> dict:
    """Seconds per fine-tuning step and per-document inference of MiniLM with K cluster outputs."""
    import torch
    import torch.nn.functional as F
    import transformers

    from textzoo.models.transformer_base import minilm_folder, pad_batch

    folder = minilm_folder()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    backbone = transformers.AutoModel.from_pretrained(folder)
    head = torch.nn.Linear(backbone.config.hidden_size, n_clusters)
    opt = torch.optim.AdamW(list(backbone.parameters()) + list(head.parameters()), lr=5e-5)
    bs, length = 16, 64
    enc = tok(texts[:bs * args.matcher_steps], truncation=True, max_length=length)["input_ids"]
    with PeakRSS() as m:
        for s in range(args.matcher_steps):
            ids, mask = pad_batch(enc[s * bs:(s + 1) * bs], tok.pad_token_id)
            logits = head(backbone(input_ids=ids, attention_mask=mask).pooler_output)
            target = torch.from_numpy(y_cl[s * bs:(s + 1) * bs].toarray())
            loss = torch.clamp(1 - (2 * target - 1) * logits, min=0).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
    out = {"matcher_s_per_step": round(m.seconds / args.matcher_steps, 3), "matcher_mb": round(m.mb, 1)}
    backbone.eval()
    with torch.no_grad():
        ids, mask = pad_batch(enc[:bs], tok.pad_token_id)
        t0 = time.perf_counter()
        head(backbone(input_ids=ids, attention_mask=mask).pooler_output)
        out["matcher_ms_per_doc"] = round((time.perf_counter() - t0) / bs * 1000, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("reuters", help="P/nDCG/PSP@1,3,5 on Reuters-21578 (394 labels)")
    r.add_argument("--models", nargs="+", default=["linear", "pecos", "xtransformer", "lightxml"],
                   choices=["linear", "tfidf", "pecos", "xtransformer", "lightxml"])
    r.add_argument("--fusion", action="store_true",
                   help="train xtransformer/lightxml with fusion=linear on the train split (weight chosen on "
                   "valid) and report each paper variant beside its fused variant")
    r.add_argument("--quick", action="store_true",
                   help="a few minutes on a CPU: linear, xtransformer and lightxml with --fusion on 500 "
                   "training and 300 test documents, 1 epoch at length 32 (checks the pipeline; not a result)")
    r.add_argument("--test-docs", type=int, default=0, help="use only the first N test documents (0: all)")
    r.add_argument("--reference", default=str(REPO / "benchmarks/xmc_reference.json"),
                   help="JSON file of reference rows printed under the table (BENCHMARKS.md's baselines)")
    r.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs of both Transformer models")
    r.add_argument("--max-length", type=int, default=128, help="tokens per document (both models)")
    r.add_argument("--label-representations", nargs="+", default=["pifa-tfidf"],
                   choices=["pifa-tfidf", "pifa-neural", "text-emb"],
                   help="X-Transformer: one model per label representation; with several, their score average "
                        "(the paper's ensemble, Section 4.3) is reported too")
    r.add_argument("--batch-size", type=int, default=0, help="0: each model's default")
    r.add_argument("--swa-warmup", type=int, default=0, help="LightXML: epochs before SWA starts")
    r.add_argument("--swa-step", type=int, default=200, help="LightXML: updates between SWA snapshots")
    r.add_argument("--device", default="auto",
                   help="both Transformer models (auto: train on CUDA when there is one, predict on the CPU)")
    r.add_argument("--train-docs", type=int, default=0, help="use only the first N training documents (0: all)")
    r.add_argument("--pecos-python", default=str(REPO / "benchmarks/out/pecos-venv/bin/python"),
                   help="a Python with libpecos installed")
    r.add_argument("--save-runs", help="save the trained Transformer models under this folder")
    r.add_argument("--combine-ranker", action="store_true",
                   help="X-Transformer: also score each model without the matcher factor (combine=ranker)")
    r.add_argument("--checkpoints", help="write each Transformer model's training checkpoints under this folder "
                   "and resume from them: the same command run again continues an interrupted model "
                   "(train s then counts only the resumed part)")
    r.add_argument("--save-scores", help="save each Transformer model's test scores here (NAME.npy), for `ensemble`")
    r.add_argument("--json", help="write the rows here (rewritten after every model)")
    rs = sub.add_parser("rescore", help="X-Transformer's scoring variants from a run saved by reuters --save-runs")
    rs.add_argument("--run", required=True, help="the saved xtransformer run folder")
    rs.add_argument("--json", help="write the rows here")
    en = sub.add_parser("ensemble", help="the score average of files saved by reuters --save-scores")
    en.add_argument("scores", nargs="+", help="NAME.npy files of the same test split")
    en.add_argument("--json", help="write the rows here")
    s = sub.add_parser("synthetic", help="scaling of indexing / matcher / ranker on Zipf corpora")
    s.add_argument("--labels", type=int, nargs="+", default=[1000, 10000, 100000, 500000])
    s.add_argument("--docs-per-label", type=float, default=0.2)
    s.add_argument("--min-docs", type=int, default=10000)
    s.add_argument("--zipf", type=float, default=1.1)
    s.add_argument("--matcher-steps", type=int, default=3, help="MiniLM fine-tuning steps to time (0: skip)")
    s.add_argument("--ranker-max-labels", type=int, default=500000, help="skip the ranker above this many labels")
    s.add_argument("--json", help="write the rows here (rewritten after every size)")
    args = parser.parse_args()
    if getattr(args, "quick", False):
        args.models, args.fusion, args.epochs, args.max_length = ["linear", "xtransformer", "lightxml"], True, 1, 32
        args.train_docs, args.test_docs = args.train_docs or 500, args.test_docs or 300
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    {"reuters": reuters, "rescore": rescore, "ensemble": ensemble, "synthetic": synthetic}[args.what](args)


if __name__ == "__main__":
    main()

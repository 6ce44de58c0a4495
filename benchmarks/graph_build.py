"""Time TextGCN's preprocessing and graph against loop-for-loop ports of the original code.

    python benchmarks/graph_build.py --data-dir ../shared/data           # prints Markdown tables

* cleaning (utils.clean_str + remove_words.py) of the whole R8, R52, MR and 20NG corpora: ours
  (:func:`textzoo.data.cleaning.clean_documents`) against a plain port of remove_words.py;
* graph (build_graph.py's TF-IDF + PMI blocks) on R8 (all documents) and the first 2,000 documents
  of cleaned 20NG: ours (:func:`textzoo.graphs.build_textgcn_graph`) against the reference
  ``tests/reference_textgcn.py``, with an edge-for-edge equality check;
* all of 20NG: our build time and peak RSS, in a fresh subprocess (clean, build, adjacency).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reference_textgcn import reference_textgcn_graph  # noqa: E402
from textzoo.data.cleaning import (  # noqa: E402
    STOP_WORDS,
    clean_documents,
    clean_str_reference,
    read_corpus_lines,
)
from textzoo.graphs import adjacency, build_textgcn_graph, normalize_adjacency  # noqa: E402

CLEANING = {"R8": (True, 5), "R52": (True, 5), "mr": (False, 1), "20ng": (True, 5)}


def reference_remove_words(docs, remove_stopwords=True, min_count=5):
    """remove_words.py as written: clean_str twice per document, dict counting, per-word test."""
    word_freq = {}
    for doc_content in docs:
        for word in clean_str_reference(doc_content).split():
            if word in word_freq:
                word_freq[word] += 1
            else:
                word_freq[word] = 1
    clean_docs = []
    for doc_content in docs:
        doc_words = []
        for word in clean_str_reference(doc_content).split():
            if (not remove_stopwords or word not in STOP_WORDS) and word_freq[word] >= min_count:
                doc_words.append(word)
        clean_docs.append(" ".join(doc_words).strip())
    return clean_docs


def compare(ours, ref) -> tuple[bool, float]:
    """Same sparsity pattern and the largest relative difference of the values."""
    a, b = sp.csr_matrix(ours), sp.csr_matrix(ref)
    a.sort_indices()
    b.sort_indices()
    if a.shape != b.shape or not (
        np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    ):
        return False, float("nan")
    denom = np.maximum(np.abs(b.data), np.finfo(float).tiny)
    rel = float(np.max(np.abs(a.data - b.data) / denom)) if a.nnz else 0.0
    return rel <= 1e-9, rel


def corpus_path(data_dir: Path, name: str) -> Path:
    return data_dir / "textgcn" / "corpus" / f"{name}.txt"


def child_build(data_dir: Path, name: str, window: int) -> None:
    """Run in a fresh process: clean, then build; print JSON with timings and RSS figures."""
    import gc

    import psutil

    docs = clean_documents(read_corpus_lines(corpus_path(data_dir, name)), *CLEANING[name])
    gc.collect()
    rss_before = psutil.Process().memory_info().rss / 2**20  # current, not peak
    t = time.perf_counter()
    g = build_textgcn_graph(docs, window=window)
    build_s = time.perf_counter() - t
    rss_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak so far
    t = time.perf_counter()
    a_norm = normalize_adjacency(adjacency(g))
    adj_s = time.perf_counter() - t
    rss_adj = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "docs": len(docs), "words": len(g.vocabulary), "tokens": sum(len(d.split()) for d in docs),
        "doc_word_nnz": g.doc_word.nnz, "word_word_nnz": g.word_word.nnz, "adj_nnz": a_norm.nnz,
        "build_s": build_s, "adj_s": adj_s, "rss_before_mb": rss_before,
        "rss_build_mb": rss_build, "rss_adj_mb": rss_adj,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("TEXTZOO_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--slice", type=int, default=2000, help="20NG documents for the comparison")
    parser.add_argument("--skip-reference", action="store_true", help="time ours only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_build(args.data_dir, args.child, args.window)
        return

    # 1. full 20NG in a fresh subprocess first, so its peak RSS is the only child's
    out = subprocess.run(
        [sys.executable, __file__, "--data-dir", str(args.data_dir), "--window", str(args.window),
         "--child", "20ng"], check=True, capture_output=True, text=True,
    )
    full = json.loads(out.stdout.strip().splitlines()[-1])
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    # 2. cleaning
    print("### TextGCN cleaning (clean_str + remove_words), whole corpora\n")
    print("| corpus | docs | vocabulary | ours (s) | remove_words.py port (s) | speed-up | equal |")
    print("|---|---:|---:|---:|---:|---:|---|")
    cleaned = {}
    for name, (rs, mc) in CLEANING.items():
        raw = read_corpus_lines(corpus_path(args.data_dir, name))
        t = time.perf_counter()
        docs = clean_documents(raw, rs, mc)
        ours_s = time.perf_counter() - t
        cleaned[name] = docs
        vocab = len({w for d in docs for w in d.split()})
        if args.skip_reference:
            ref_s, same = float("nan"), "-"
        else:
            t = time.perf_counter()
            ref = reference_remove_words(raw, rs, mc)
            ref_s = time.perf_counter() - t
            same = "yes" if ref == docs else "NO"
        print(f"| {name} | {len(docs):,} | {vocab:,} | {ours_s:.2f} | {ref_s:.2f} | "
              f"{ref_s / ours_s:.1f}x | {same} |", flush=True)

    # 3. graph, ours against the reference
    print(f"\n### TextGCN graph (TF-IDF + PMI, window {args.window}), ours vs build_graph.py port\n")
    print("| corpus | docs | words | tokens | doc-word nnz | word-word nnz | ours (s) | "
          "reference (s) | speed-up | equal (max rel. diff) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, docs in [("R8 (all)", cleaned["R8"]),
                        (f"20NG (first {args.slice:,})", cleaned["20ng"][: args.slice])]:
        t = time.perf_counter()
        g = build_textgcn_graph(docs, window=args.window)
        ours_s = time.perf_counter() - t
        n_tok = sum(len(d.split()) for d in docs)
        if args.skip_reference:
            ref_s, eq = float("nan"), "-"
        else:
            t = time.perf_counter()
            r = reference_textgcn_graph(docs, window_size=args.window)
            ref_s = time.perf_counter() - t
            ok1, rel1 = compare(g.doc_word, r["doc_word"])
            ok2, rel2 = compare(g.word_word, r["word_word"])
            ok = ok1 and ok2 and g.vocabulary == r["vocabulary"]
            eq = f"{'yes' if ok else 'NO'} ({max(rel1, rel2):.1e})"
        print(f"| {label} | {len(docs):,} | {len(g.vocabulary):,} | {n_tok:,} | {g.doc_word.nnz:,} | "
              f"{g.word_word.nnz:,} | {ours_s:.2f} | {ref_s:.1f} | {ref_s / ours_s:.0f}x | {eq} |",
              flush=True)

    # 4. full 20NG
    print("\n### All of 20NG (fresh subprocess: clean, build, adjacency + normalisation)\n")
    print("| docs | words | tokens | doc-word nnz | word-word nnz | build (s) | RSS at build start (MB) "
          "| peak RSS up to end of build (MB) | + adjacency & normalisation (s) | Â nnz "
          "| peak RSS of the process (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {full['docs']:,} | {full['words']:,} | {full['tokens']:,} | {full['doc_word_nnz']:,} | "
          f"{full['word_word_nnz']:,} | {full['build_s']:.1f} | {full['rss_before_mb']:.0f} | "
          f"{full['rss_build_mb']:.0f} | {full['adj_s']:.1f} | {full['adj_nnz']:,} | {child_peak:.0f} |")


if __name__ == "__main__":
    main()

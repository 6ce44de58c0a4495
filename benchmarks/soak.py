"""Soak test of `textzoo serve`: many requests from many concurrent clients, a few malformed, on
loopback only, bounded in requests and time.

    python benchmarks/soak.py --run benchmarks/out/soak-runs/textgcn-r8-600 --train-docs 600
    python benchmarks/soak.py --run RUN --requests 20000 --clients 32 --malformed 0.01 --max-seconds 1800

If ``--run`` holds no run yet it is prepared first: TextGCN (seed 0, the paper's settings) trained on
the first ``--train-docs`` R8 training documents (all of them with ``--train-docs 0``) without the
test documents in its graph (as ``textzoo train --inductive``), so every request goes through
inductive prediction, the path that unseen text takes.

The server is the real command (``python -m textzoo serve RUN --host 127.0.0.1`` on a free port,
default settings: micro-batching on, 64 texts and 20,000 characters per request at most). 32
asyncio clients (``--clients``) send ``--requests`` requests in all:

* well-formed ones (99%): 1 to 4 R8 test documents (cycling over the test split), half of them with
  a ``top_k`` of 1 to 5. Each must answer 200 with one prediction per text and ``top_k`` labels.
* malformed ones (``--malformed``, 1%, drawn by a seeded RNG): cut-off JSON, bytes that are not
  UTF-8, a JSON list instead of an object, an unknown field, ``texts`` not a list, an empty text,
  a text of white space, more texts than allowed, a text over the character limit, ``top_k`` of 0
  or a string or a boolean, a body over the size limit; and hostile ones (issue 25): a body of a
  million unknown keys (8.9 MB), one unknown key of 10^7 characters, a UTF-8 byte-order mark, a
  UTF-16 body, JSON nested 100,000 deep. Each must answer 400, 413 or 422 with a body under 1 KB
  (no input echoed).
* a text holding U+0085 (NEL) in 1 well-formed request of 50: valid by the schema, answered 200.

Beside them, ``--slow-clients`` connections (20) each send half a request header and stall, again
and again: each must be closed by the server (``--request-timeout``, 10 s by default), and a probe
times ``GET /healthz`` every 0.25 s throughout (its slowest answer is reported).

The server's resident memory (``/proc/PID/status`` VmRSS, Linux) is sampled every 0.2 s. The
reference is the RSS when the warm-up (the first ``--warmup`` requests, 10% by default) is done;
the run passes if no well-formed request failed, every malformed one got its 4xx, the server is
alive, and the largest RSS after the warm-up is at most ``--max-growth`` (10%) above the reference.
Prints a Markdown table and writes the raw figures to ``--json``; exits 1 if a check fails.
The clients run on the same machine as the server and share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def malformed_request(rng: random.Random, limits: dict) -> tuple[str, bytes, str]:
    """``(kind, body, content type)`` of one malformed request."""
    kinds = {
        "cut-off JSON": lambda: b'{"texts": ["oil prices ro',
        "not UTF-8": lambda: b'{"texts": ["oil \xff\xfe prices"]}',
        "list body": lambda: b'["oil prices"]',
        "unknown field": lambda: json.dumps({"texts": ["oil"], "text": "oil"}).encode(),
        "texts not a list": lambda: json.dumps({"texts": "oil prices"}).encode(),
        "empty text": lambda: json.dumps({"texts": ["oil", ""]}).encode(),
        "white-space text": lambda: json.dumps({"texts": [" \t\n "]}).encode(),
        "too many texts": lambda: json.dumps({"texts": ["oil"] * (limits["max_texts"] + 1)}).encode(),
        "text too long": lambda: json.dumps({"texts": ["o" * (limits["max_chars"] + 1)]}).encode(),
        "top_k 0": lambda: json.dumps({"texts": ["oil"], "top_k": 0}).encode(),
        "top_k string": lambda: json.dumps({"texts": ["oil"], "top_k": "3"}).encode(),
        "top_k boolean": lambda: json.dumps({"texts": ["oil"], "top_k": True}).encode(),
        "body too large": lambda: b" " * (limits["max_body_bytes"] + 1),
        "a million keys": lambda: _cached("keys", lambda: ('{"texts": ["oil"], ' + ", ".join(
            f'"k{i}": 0' for i in range(1_000_000)) + "}").encode()),
        "a key of 10^7 characters": lambda: _cached("key", lambda: json.dumps({"texts": ["oil"], "k" * 10**7: 1}).encode()),
        "UTF-8 byte-order mark": lambda: b"\xef\xbb\xbf" + json.dumps({"texts": ["oil"]}).encode(),
        "UTF-16 body": lambda: json.dumps({"texts": ["oil prices"]}).encode("utf-16"),
        "nested 100,000 deep": lambda: b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    }
    kind = rng.choice(sorted(kinds))
    return kind, kinds[kind](), "application/json"


_BODIES: dict[str, bytes] = {}


def _cached(key: str, make) -> bytes:
    if key not in _BODIES:
        _BODIES[key] = make()
    return _BODIES[key]


async def slow_headers(url: str, stop: asyncio.Event, n: int, counts: dict) -> None:
    """``n`` connections at a time that send half a request header and wait for the server to close them."""
    host, port = url.rsplit("/", 1)[-1].split(":")

    async def one():
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                counts["refused"] += 1
                await asyncio.sleep(1)
                continue
            counts["opened"] += 1
            writer.write(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            t0 = time.perf_counter()
            try:
                while not stop.is_set():
                    try:
                        if await asyncio.wait_for(reader.read(1024), 0.5) == b"":
                            counts["closed"] += 1
                            counts["closed_after_s"] = max(counts["closed_after_s"], time.perf_counter() - t0)
                            break
                    except asyncio.TimeoutError:
                        continue
            except OSError:
                counts["closed"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one() for _ in range(n)))


async def probe_health(client, stop: asyncio.Event, out: dict) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            ok = (await client.get("/healthz")).status_code == 200
        except Exception:  # noqa: BLE001 - counted
            ok = False
        out["max_s"] = max(out["max_s"], time.perf_counter() - t0)
        out["n"] += 1
        out["failed"] += not ok
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except asyncio.TimeoutError:
            pass


async def soak(args, url: str, pid: int, texts: list[str]) -> dict:
    import httpx

    rng = random.Random(args.seed)
    limits_info = None
    async with httpx.AsyncClient(base_url=url, timeout=120,
                                 limits=httpx.Limits(max_connections=args.clients,
                                                     max_keepalive_connections=args.clients)) as client:
        card = (await client.get("/v1/model")).json()
        limits_info = card["limits"]
        plan = []  # the whole request plan, drawn up front from the seeded RNG
        for i in range(args.requests):
            if rng.random() < args.malformed:
                plan.append(("bad",) + malformed_request(rng, limits_info))
            else:
                n = rng.randint(1, 4)
                body = {"texts": [texts[(i * 4 + j) % len(texts)] for j in range(n)]}
                if rng.random() < 0.02:
                    body["texts"][0] = body["texts"][0][:200] + "\u0085" + body["texts"][0][200:]
                if rng.random() < 0.5:
                    body["top_k"] = rng.randint(1, 5)
                plan.append(("good", body))
        n_labels = len(card["labels"])
        state = {"next": 0, "done": 0}
        rows = {"good_ok": 0, "good_failed": [], "bad_ok": 0, "bad_wrong": [], "latency_ms": [],
                "status": {}, "bad_kinds": {}}
        rss: list[tuple[float, int, int]] = []  # (time, requests done, bytes)
        warm = {"rss": None, "at": None}
        start = time.perf_counter()
        deadline = start + args.max_seconds
        stop = asyncio.Event()

        async def sampler():
            while not stop.is_set():
                value = rss_bytes(pid)
                if value is not None:
                    rss.append((time.perf_counter() - start, state["done"], value))
                    if warm["rss"] is None and state["done"] >= args.warmup:
                        warm["rss"], warm["at"] = value, state["done"]
                try:
                    await asyncio.wait_for(stop.wait(), 0.2)
                except asyncio.TimeoutError:
                    pass

        async def worker():
            while time.perf_counter() < deadline:
                i = state["next"]
                if i >= len(plan):
                    return
                state["next"] = i + 1
                item = plan[i]
                t0, error = time.perf_counter(), None
                try:
                    if item[0] == "good":
                        answer = await client.post("/v1/predict", json=item[1])
                    else:
                        answer = await client.post("/v1/predict", content=item[2],
                                                   headers={"content-type": item[3]})
                    status = answer.status_code
                except httpx.HTTPError as exc:
                    answer, status, error = None, f"{type(exc).__name__}", f"{type(exc).__name__}: {exc!r}"
                elapsed = (time.perf_counter() - t0) * 1000
                rows["status"][str(status)] = rows["status"].get(str(status), 0) + 1
                if item[0] == "good":
                    rows["latency_ms"].append(elapsed)
                    ok = status == 200
                    if ok:
                        preds = answer.json()["predictions"]
                        want = min(item[1].get("top_k", 1), n_labels)
                        ok = len(preds) == len(item[1]["texts"]) and all(len(p["labels"]) == want for p in preds)
                    if ok:
                        rows["good_ok"] += 1
                    else:
                        rows["good_failed"].append({
                            "request": i, "status": status, "error": error, "ms": round(elapsed, 1),
                            "at_s": round(time.perf_counter() - start, 1),
                            "answer": None if answer is None else answer.text[:300]})
                else:
                    rows["bad_kinds"][item[1]] = rows["bad_kinds"].get(item[1], 0) + 1
                    if status in (400, 413, 422) and len(answer.content) < 1024:
                        rows["bad_ok"] += 1
                    else:
                        rows["bad_wrong"].append({"request": i, "kind": item[1], "status": status})
                state["done"] += 1

        slow = {"opened": 0, "closed": 0, "refused": 0, "closed_after_s": 0.0}
        health_probe = {"max_s": 0.0, "n": 0, "failed": 0}
        async with httpx.AsyncClient(base_url=url, timeout=120) as prober:
            side = [asyncio.create_task(sampler()), asyncio.create_task(probe_health(prober, stop, health_probe))]
            if args.slow_clients:
                side.append(asyncio.create_task(slow_headers(url, stop, args.slow_clients, slow)))
            await asyncio.gather(*(worker() for _ in range(args.clients)))
            seconds = time.perf_counter() - start
            stop.set()
            await asyncio.gather(*side)
        final_rss = rss_bytes(pid)
        health = (await client.get("/healthz")).json()
    after = [b for _, done, b in rss if warm["at"] is not None and done >= warm["at"]]
    lat = sorted(rows["latency_ms"])
    good = sum(1 for p in plan if p[0] == "good")
    return {
        "requests_planned": len(plan), "requests_done": state["done"], "clients": args.clients,
        "well_formed": good, "well_formed_ok": rows["good_ok"], "well_formed_failed": len(rows["good_failed"]),
        "failures": rows["good_failed"][:20], "malformed": len(plan) - good, "malformed_4xx": rows["bad_ok"],
        "malformed_wrong": rows["bad_wrong"][:20], "malformed_kinds": rows["bad_kinds"], "status": rows["status"],
        "seconds": round(seconds, 2), "requests_per_s": round(state["done"] / seconds, 1),
        "p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)], 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
        "rss_start_mb": round(rss[0][2] / 2**20, 1) if rss else None,
        "rss_warm_mb": round(warm["rss"] / 2**20, 1) if warm["rss"] else None, "warmup_requests": warm["at"],
        "rss_max_after_warm_mb": round(max(after) / 2**20, 1) if after else None,
        "rss_final_mb": round(final_rss / 2**20, 1) if final_rss else None,
        "growth_after_warm": round(max(after) / warm["rss"] - 1, 4) if after and warm["rss"] else None,
        "rss_samples": [(round(t, 2), d, round(b / 2**20, 1)) for t, d, b in rss[:: max(1, len(rss) // 200)]],
        "healthz": health, "status_5xx": sum(v for k, v in rows["status"].items() if k.startswith("5")),
        "healthz_max_ms": round(1000 * health_probe["max_s"], 1), "healthz_probes": health_probe["n"],
        "healthz_failed": health_probe["failed"], "slow_header_connections": slow,
        "rss_peak_mb": round(max(b for _, _, b in rss) / 2**20, 1) if rss else None,
    }


def prepare_run(run: Path, train_docs: int, data_dir: str | None) -> None:
    import textzoo

    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    train = corpus.train.head(train_docs) if train_docs else corpus.train
    valid = corpus.valid.head(max(1, train_docs // 10)) if train_docs else corpus.valid
    model = textzoo.create("textgcn", dataset="R8", seed=0).fit(train, valid, labels=corpus.labels)
    model.metrics = {"test": model.evaluate(corpus.test)}
    model.info.update({"dataset": "R8", "inductive": True})
    model.save(run)
    print(f"prepared {run}: TextGCN on {len(train)} R8 training documents, test accuracy "
          f"{model.metrics['test']['accuracy']:.4f}", file=sys.stderr)


def table(r: dict, max_growth: float) -> str:
    checks = checks_of(r, max_growth)
    rows = [
        ("requests (done / planned)", f"{r['requests_done']:,} / {r['requests_planned']:,}"),
        ("concurrent clients", str(r["clients"])),
        ("well-formed: answered 200 and complete", f"{r['well_formed_ok']:,} of {r['well_formed']:,}"),
        ("well-formed: failed", str(r["well_formed_failed"])),
        ("malformed: answered 400/413/422", f"{r['malformed_4xx']} of {r['malformed']}"),
        ("status counts", ", ".join(f"{k}: {v:,}" for k, v in sorted(r["status"].items()))),
        ("wall time (s)", f"{r['seconds']:.1f}"),
        ("throughput (requests/s)", f"{r['requests_per_s']:.1f}"),
        ("latency p50 / p99 (ms)", f"{r['p50_ms']} / {r['p99_ms']}"),
        ("server RSS at start (MiB)", str(r["rss_start_mb"])),
        (f"server RSS after warm-up ({r['warmup_requests']:,} requests) (MiB)", str(r["rss_warm_mb"])),
        ("server RSS, largest after warm-up (MiB)", str(r["rss_max_after_warm_mb"])),
        ("server RSS at the end (MiB)", str(r["rss_final_mb"])),
        ("growth after warm-up", "n/a" if r["growth_after_warm"] is None else f"{100 * r['growth_after_warm']:+.1f}%"),
        ("model calls / texts (from /healthz)", f"{r['healthz']['model_calls']:,} / {r['healthz']['texts']:,}"),
        ("5xx answers", str(r["status_5xx"])),
        ("GET /healthz during the run: slowest (ms) / probes / failed",
         f"{r['healthz_max_ms']} / {r['healthz_probes']} / {r['healthz_failed']}"),
        ("slow-header connections: opened / closed by the server / slowest close (s)",
         f"{r['slow_header_connections']['opened']} / {r['slow_header_connections']['closed']} / "
         f"{r['slow_header_connections']['closed_after_s']:.1f}"),
        ("server RSS, peak (MiB)", str(r["rss_peak_mb"])),
        ("checks", "PASS" if all(checks.values()) else "FAIL: " + ", ".join(k for k, v in checks.items() if not v)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'measure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
    return "\n".join(lines)


def checks_of(r: dict, max_growth: float) -> dict[str, bool]:
    return {
        "all requests sent": r["requests_done"] == r["requests_planned"],
        "no failed well-formed request": r["well_formed_failed"] == 0 and r["well_formed_ok"] == r["well_formed"],
        "every malformed request got a small 4xx": r["malformed_4xx"] == r["malformed"],
        "no 5xx": r["status_5xx"] == 0,
        "/healthz always answered within 1 s": r["healthz_failed"] == 0 and r["healthz_max_ms"] < 1000,
        f"RSS growth after warm-up <= {max_growth:.0%}": r["growth_after_warm"] is not None
        and r["growth_after_warm"] <= max_growth,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, type=Path, help="run folder to serve (textzoo train --out); "
                   "prepared first if it holds no run")
    p.add_argument("--train-docs", type=int, default=0,
                   help="when preparing --run: R8 training documents to train on (default 0: all)")
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--malformed", type=float, default=0.01, help="share of malformed requests (default 0.01)")
    p.add_argument("--warmup", type=int, help="requests before the RSS reference (default 10%% of --requests)")
    p.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth after warm-up (default 0.10)")
    p.add_argument("--max-seconds", type=float, default=1800, help="stop sending after this long (default 1800)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slow-clients", type=int, default=20,
                   help="connections kept sending half a header (default 20; 0: none)")
    p.add_argument("--data-dir", default=os.environ.get("TEXTZOO_DATA"), help="public corpora (default $TEXTZOO_DATA)")
    p.add_argument("--server-arg", action="append", default=[], help="extra option for textzoo serve (repeatable)")
    p.add_argument("--json", type=Path, default=HERE / "out" / "soak.json")
    args = p.parse_args()
    if args.warmup is None:
        args.warmup = args.requests // 10
    import textzoo
    from textzoo.serving import running_server

    if not (args.run / "config.json").is_file():
        prepare_run(args.run, args.train_docs, args.data_dir)
    texts = textzoo.load_dataset("R8", data_dir=args.data_dir, valid_fraction=0).test.texts
    args.json.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.json.with_suffix(".server.log")
    with running_server(args.run, log_path, *args.server_arg, startup_s=300, stop_s=30, quiet=True) as server:
        result = asyncio.run(soak(args, server.url, server.process.pid, texts))
        result["server_alive"] = server.process.poll() is None
    log = log_path.read_text(errors="replace")
    result["server_tracebacks"] = log.count("Traceback")
    result["run"] = str(args.run)
    result["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    args.json.write_text(json.dumps(result, indent=1))
    print(table(result, args.max_growth))
    checks = checks_of(result, args.max_growth)
    checks["server alive, no traceback"] = result["server_alive"] and result["server_tracebacks"] == 0
    if not all(checks.values()):
        print("FAILED: " + ", ".join(k for k, v in checks.items() if not v), file=sys.stderr)
        for failure in result["failures"][:5] + result["malformed_wrong"][:5]:
            print("  ", failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

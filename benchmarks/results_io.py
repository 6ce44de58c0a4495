"""Read and update the results files under ``benchmarks/results/`` (format: its README.md).

A benchmark script that prints a table also records its rows here, so that ``make benchmarks-page``
(``benchmarks/render.py``) puts them on BENCHMARKS.md::

    from results_io import record_row
    record_row("textgcn", {"dataset": "R8", "setting": "paper settings", "values": [96.89, 97.08]},
               defaults={"title": "TextGCN", ...})

A row replaces the row of the same ``dataset`` and ``setting`` (and ``metric``), or is appended.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROW_KEY = ("dataset", "setting", "metric")


def load(name: str, folder: Path = RESULTS) -> dict:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def save(name: str, data: dict, folder: Path = RESULTS) -> Path:
    """Write ``folder/NAME.json`` whole or not at all (temporary file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def record_row(name: str, row: dict, defaults: dict | None = None, folder: Path = RESULTS) -> Path:
    """Replace the row with the same (dataset, setting, metric) in results file NAME, or append it;
    a missing file is created from ``defaults`` (its kind, title, order, ...)."""
    path = folder / f"{name}.json"
    data = load(name, folder) if path.exists() else {"kind": "model", **(defaults or {}), "rows": []}
    key = tuple(row.get(k) for k in ROW_KEY)
    rows = data.setdefault("rows", [])
    for i, old in enumerate(rows):
        if tuple(old.get(k) for k in ROW_KEY) == key:
            rows[i] = {**old, **row}
            break
    else:
        rows.append(row)
    return save(name, data, folder)


def hardware() -> str:
    """What ran the benchmark: the GPU when CUDA is available, else the CPU cores this process may use."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"1 {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return f"{len(os.sched_getaffinity(0))} CPU cores"


def command_line() -> str:
    """The command that ran this script, as a user would type it from the repository root."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)

"""A single huge line in an input file is refused at the line-length limit without being read whole
(issue 25, item 5: a 150 MB CSV line peaked at 1.65 GB, 11x, before the "document too long" error)."""

import json
import subprocess
import sys

import pytest

LINE_MB = 150

MEASURE = """
import json, resource, sys
from textzoo.data.readers import read_table
from textzoo.errors import DataError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:
    read_table(sys.argv[1])
    message = None
except DataError as exc:
    message = str(exc)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth": peak - before, "message": message}))
"""


def _write_huge(path, fmt: str) -> int:
    """A header (CSV/TSV) and one row whose text is LINE_MB MB of one word; returns the line's bytes."""
    block = b"w" * (1 << 20)
    head, tail = {"csv": (b'text,label\n"', b'",a\n'), "tsv": (b"text\tlabel\n", b"\ta\n"),
                  "jsonl": (b'{"text": "', b'", "label": "a"}\n')}[fmt]
    with open(path, "wb") as out:
        out.write(head)
        for _ in range(LINE_MB):
            out.write(block)
        out.write(tail)
    return LINE_MB << 20


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_a_huge_line_peaks_under_three_times_its_size(tmp_path, fmt):
    path = tmp_path / f"huge.{fmt}"
    size = _write_huge(path, fmt)
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    line = 1 if fmt == "jsonl" else 2  # after the header
    assert out["message"] and f"huge.{fmt}:{line}: line longer than" in out["message"], out
    print(f"{fmt}: {size / 2**20:.0f} MB line, peak RSS growth {out['growth'] / 2**20:.1f} MB")
    assert out["growth"] < 3 * size, out  # before: 11x (CSV), 3.7x (JSONL / TSV)
    assert out["growth"] < 64 << 20  # in fact a few MB: one block at a time

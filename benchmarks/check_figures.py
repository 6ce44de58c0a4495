"""Check that no figure of an earlier BENCHMARKS.md was lost: every number in it must appear in the
current BENCHMARKS.md or in a note under docs/notes/.

    python benchmarks/check_figures.py --old 69def75     # BENCHMARKS.md as it was at that commit
    python benchmarks/check_figures.py --old-file OLD.md

A number is a run of digits with its thousands commas and decimals (``2,189``, ``97.05``, ``2.2e-16``
counts as ``2.2`` and ``16``); each must occur as such a token in the new text. Prints the missing
ones with their line in the old file and exits 1 if there are any.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def missing(old: str, new: str) -> list[tuple[int, str]]:
    known = numbers(new)
    return [(i, n) for i, line in enumerate(old.splitlines(), 1) for n in NUMBER.findall(line) if n not in known]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--old", help="a git revision whose BENCHMARKS.md is the old page")
    source.add_argument("--old-file", type=Path, help="the old page as a file")
    args = parser.parse_args(argv)
    if args.old:
        old = subprocess.run(["git", "show", f"{args.old}:BENCHMARKS.md"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
    else:
        old = args.old_file.read_text(encoding="utf-8")
    new = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "BENCHMARKS.md",
                                                             *sorted((REPO / "docs" / "notes").glob("*.md"))])
    lost = missing(old, new)
    for line, number in lost:
        print(f"old line {line}: {number} is in neither BENCHMARKS.md nor docs/notes/")
    print(f"{len(numbers(old))} distinct numbers in the old page, {len(lost)} occurrences missing")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

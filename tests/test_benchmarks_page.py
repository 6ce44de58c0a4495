"""BENCHMARKS.md is generated from benchmarks/results/*.json by benchmarks/render.py: the committed
page must be what the files give, and no figure of the hand-written page (commit 69def75) is lost."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load(name: str):
    # by file path: putting benchmarks/ on sys.path would shadow the `transformers` library
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load("render")
results_io = load("results_io")
check_figures = load("check_figures")


def test_committed_page_is_what_the_results_files_give():
    assert (REPO / "BENCHMARKS.md").read_text(encoding="utf-8") == render.render(), \
        "BENCHMARKS.md is stale: run `make benchmarks-page`"
    assert render.main(["--check"]) == 0


def test_page_is_short_and_links_only_existing_notes():
    page = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert len(page.splitlines()) < 500
    links = re.findall(r"\]\((docs/notes/[^)]+\.md)\)", page)
    assert links, "the page links no note"
    for link in links:
        assert (REPO / link).is_file(), link
    for section in ("## Accuracy by model", "## Speed", "## Known deviations"):
        assert section in page
    for model in ("TextGCN", "TensorGCN", "ELMo", "BERT", "ALBERT", "GPT", "X-Transformer", "LightXML"):
        assert f"### {model}" in page, model


def test_no_progress_diary_wording_in_the_page_or_the_readme():
    for name in ("BENCHMARKS.md", "README.md"):
        text = (REPO / name).read_text(encoding="utf-8")
        for pattern in (r"\bsession \d", r"\bplan \d", r"\bPLAN=", r"\bso far\b", r"load average", r"other helpers",
                        r"shared the (2|two) cores"):
            assert not re.search(pattern, text, re.IGNORECASE), (name, pattern)


def test_adding_one_results_file_adds_its_table_and_deviation(tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(REPO / "benchmarks" / "results", folder)
    before = render.render(folder)
    results_io.record_row("example-baseline", {"dataset": "R8", "setting": "defaults", "paper": "-", "values": [96.0, 97.0, 98.0],
                                     "hardware": "2 CPU cores", "time": "3 s", "peak_memory": "200 MB",
                                     "command": "textzoo train linear --dataset R8", "note": "2026-12-05-linear.md"},
                          defaults={"title": "Linear baseline", "order": 90,
                                    "deviations": [{"text": "Not a paper's model.", "note": "2026-12-05-linear.md"}]},
                          folder=folder)
    after = render.render(folder)
    assert "### Linear baseline" not in before
    table = after[after.index("### Linear baseline"):after.index("## Speed")]
    assert "| R8 | defaults | - | 97.00 ± 1.00 | 3 | 2 CPU cores | 3 s | 200 MB | `textzoo train linear --dataset R8` |" in table
    assert "- Not a paper's model. ([2026-12-05-linear](docs/notes/2026-12-05-linear.md))" in after
    assert after.index("### LightXML") < after.index("### Linear baseline")


def test_record_row_replaces_the_row_of_the_same_dataset_and_setting(tmp_path):
    row = {"dataset": "MR", "setting": "a", "values": [1.0]}
    results_io.record_row("m", row, defaults={"title": "M"}, folder=tmp_path)
    results_io.record_row("m", {**row, "values": [2.0, 4.0]}, folder=tmp_path)
    results_io.record_row("m", {**row, "setting": "b"}, folder=tmp_path)
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["kind"] == "model" and data["title"] == "M"
    assert [(r["setting"], r["values"]) for r in data["rows"]] == [("a", [2.0, 4.0]), ("b", [1.0])]
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left behind
    assert "| MR | a | - | 3.00 ± 1.41 | 2 |" in render.render(tmp_path)


def test_a_results_file_of_unknown_kind_is_refused_with_its_name(tmp_path):
    (tmp_path / "odd.json").write_text(json.dumps({"kind": "table", "rows": []}))
    with pytest.raises(SystemExit, match="odd.json: field 'kind'"):
        render.render(tmp_path)


def test_no_figure_of_the_hand_written_page_is_lost():
    old = subprocess.run(["git", "show", "69def75:BENCHMARKS.md"], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout
    assert len(old.splitlines()) == 2059
    new = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "BENCHMARKS.md",
                                                             *sorted((REPO / "docs" / "notes").glob("*.md"))])
    assert check_figures.missing(old, new) == []
    assert check_figures.missing("R8 97.07 and 1,234 s", "R8 97.07") == [(1, "1,234")]

"""Your data, your way (reading side): the line formats of neighbouring tools, CSV delimiter sniffing,
folders in the public layouts (``load_dataset(PATH)``), the one stratified validation split, plain
Python inputs (lists, DataFrames, ``datasets.Dataset``) and the scoring rule shared by every entry
point. Real corpus slices from the data directory; no model training here (test_user_runs.py)."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

import textzoo
from textzoo.data.corpus import Corpus, Split
from textzoo.data.inputs import as_split, default_name
from textzoo.data.readers import read_table
from textzoo.data.splitting import stratified_holdout
from textzoo.errors import DataError
from textzoo.scoring import labels_of_scores, ranked_answers, split_metrics


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir, valid_fraction=0)


@pytest.fixture(scope="module")
def reuters_small(data_dir):
    corpus = textzoo.load_dataset("reuters21578", data_dir=data_dir, valid_fraction=0)
    return corpus.train.head(200), corpus.test.head(50)


# --------------------------------------------------------------------------------------------
# file formats


def test_libmultilabel_fasttext_and_txt_files(reuters_small, r8, tmp_path):
    train, _ = reuters_small
    lml = tmp_path / "train_lml.txt"
    lml.write_text("".join(f"{i}\t{' '.join(y)}\t{t}\n" for i, (t, y) in enumerate(zip(train.texts, train.labels))))
    split = read_table(lml)  # recognised from its first line: two TABs
    assert split.texts == train.texts and split.labels == train.labels and split.multilabel
    assert read_table(lml, format="libmultilabel").labels == train.labels
    no_id = tmp_path / "no_id.lml"
    no_id.write_text("".join(f"{' '.join(y)}\t{t}\n" for t, y in zip(train.texts[:5], train.labels[:5])))
    assert read_table(no_id, format="libmultilabel").labels == train.labels[:5]

    ft = tmp_path / "r8.ft.txt"
    ft.write_text("".join(f"__label__{y} {t}\n" for t, y in zip(r8.train.texts[:50], r8.train.labels[:50])))
    split = read_table(ft)
    assert split.texts == [t.strip() for t in r8.train.texts[:50]] and split.labels == r8.train.labels[:50]
    assert not split.multilabel  # one label on every line: single-label
    ft.write_text("__label__a __label__b two labels\n__label__a one label\n")
    assert read_table(ft, format="fasttext").labels == [["a", "b"], ["a"]]
    ft.write_text("__label__a fine\nno label here\n")
    with pytest.raises(DataError, match=r"r8\.ft\.txt:2: expected '__label__LABEL"):
        read_table(ft, format="fasttext")

    # Cachopo's R8 layout: LABEL<TAB>TEXT
    txt = read_table(data_dir_file(r8, "R8/train.txt"), format="txt")
    assert len(txt) == 5485 and set(txt.labels) == set(r8.labels)
    odd = tmp_path / "odd.txt"
    odd.write_text("just some words without tabs\n")
    with pytest.raises(DataError, match="pass --format"):
        read_table(odd)


def data_dir_file(corpus, rel):
    path, _ = corpus.train.where(0)  # .../textgcn/corpus/R8.txt
    from pathlib import Path

    return Path(path).parents[1] / rel


def test_semicolon_csv_is_sniffed(r8, tmp_path):
    path = tmp_path / "semi.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["id", "text", "label"])
        writer.writerows((i, t, y) for i, (t, y) in enumerate(zip(r8.train.texts[:30], r8.train.labels[:30])))
    split = read_table(path)
    assert split.texts == [t.strip() for t in r8.train.texts[:30]] and split.labels == r8.train.labels[:30]
    with pytest.raises(DataError, match="no text column 'body'"):
        read_table(path, text_column="body")


# --------------------------------------------------------------------------------------------
# folders in the public layouts


def test_load_dataset_reads_folders_in_known_layouts(data_dir, tmp_path):
    xmc = textzoo.load_dataset(data_dir / "xmc" / "reuters21578-modapte-all")
    assert xmc.multilabel and len(xmc.train) + len(xmc.valid) == 9508 and len(xmc.test) == 3291
    mr = textzoo.load_dataset(str(data_dir / "textgcn" / "mr.txt"))  # its cp1252 encoding, as the named one
    assert mr.name == "mr" and len(mr.test) == 3554
    with pytest.raises(DataError, match=r"4 TextGCN corpora .*--dataset .*20ng\.txt"):
        textzoo.load_dataset(data_dir / "textgcn")
    sst = textzoo.load_dataset(data_dir / "extra" / "SST-2", valid_fraction=0)
    assert (len(sst.train), len(sst.test)) == (67349, 872)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "train.jsonl").write_text('{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"}\n')
    (tmp_path / "mine" / "test.jsonl").write_text('{"text": "a d", "label": "x"}\n')
    mine = textzoo.load_dataset(tmp_path / "mine", valid_fraction=0)
    assert mine.name == "mine" and mine.labels == ["x", "y"]
    with pytest.raises(DataError, match="no known layout"):
        textzoo.load_dataset(tmp_path)


def test_default_run_name_is_not_the_folder_called_data(tmp_path):
    assert default_name(tmp_path / "data" / "reviews_train.csv") == "reviews"
    assert default_name(tmp_path / "data" / "mine.csv") == "mine"
    assert default_name(tmp_path / "shop" / "data" / "train.csv") == "shop"


# --------------------------------------------------------------------------------------------
# the validation split


def test_stratified_split_keeps_every_class_in_training(data_dir):
    r52 = textzoo.load_dataset("R52", data_dir=data_dir, valid_fraction=0)
    counts = Counter(r52.train.labels)
    for seed in range(6):
        split = r52.with_validation(0.1, seed)
        train_counts = Counter(split.train.labels)
        assert len(split.valid) == int(0.1 * len(r52.train))
        for label, n in counts.items():  # every class keeps min(n, 2) or more training documents
            assert train_counts[label] >= min(n, 2)
        for label, n in Counter(split.valid.labels).items():  # and its share (rounding) in validation
            assert abs(n - 0.1 * counts[label]) <= 1.5
    # seeded: the same seed draws the same split, another seed another one
    assert r52.with_validation(0.1, 4).valid.texts == r52.with_validation(0.1, 4).valid.texts
    assert r52.with_validation(0.1, 4).valid.texts != r52.with_validation(0.1, 5).valid.texts


def test_multilabel_split_is_stratified_by_the_rarest_label(reuters_small):
    train, _ = reuters_small
    keep, valid = stratified_holdout(train.labels, True, 0.2, 0)
    assert len(valid) == 40 and len(keep) == 160
    counts = Counter(label for target in train.labels for label in target)
    rarest = Counter(min(train.labels[i], key=lambda l: (counts[l], l)) for i in valid)
    everyone = Counter(min(t, key=lambda l: (counts[l], l)) for t in train.labels)
    assert all(everyone[k] >= 3 for k in rarest)  # a label held by 1 or 2 documents stays in training


# --------------------------------------------------------------------------------------------
# plain Python inputs


def test_lists_dataframes_and_datasets_become_splits(r8):
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    texts, labels = r8.train.texts[:20], r8.train.labels[:20]
    from_lists = as_split(texts, labels)
    frame = as_split(pd.DataFrame({"text": texts, "label": labels}))
    names = sorted(set(labels))
    ds = datasets.Dataset.from_dict({"body": texts, "y": [names.index(y) for y in labels]},
                                    features=datasets.Features({"body": datasets.Value("string"),
                                                                "y": datasets.ClassLabel(names=names)}))
    from_ds = as_split(ds, text_column="body", label_column="y")  # ClassLabel ids become names
    assert from_lists.labels == frame.labels == from_ds.labels == labels
    assert as_split(["x", "y"], [0, 1.0]).labels == ["0", "1"]
    assert as_split(["x", "y"], [("a", "b"), "c"]).labels == [["a", "b"], ["c"]]
    with pytest.raises(DataError, match="no text column 'text'"):
        as_split(pd.DataFrame({"body": texts, "label": labels}))
    with pytest.raises(DataError, match="document 1 has no label"):
        as_split(["x", "y"], ["a", None])
    with pytest.raises(DataError, match="2 train texts but 1 labels"):
        as_split(["x", "y"], ["a"])
    with pytest.raises(TypeError, match="single string"):
        as_split("one text", ["a"])


# --------------------------------------------------------------------------------------------
# the scoring rule


def test_one_scoring_rule():
    labels = ["a", "b", "c"]
    probs = np.array([[0.7, 0.6, 0.1], [0.2, 0.3, 0.4]], dtype=np.float32)
    assert labels_of_scores(probs, labels, False) == ["a", "c"]
    assert labels_of_scores(probs, labels, True) == [["a", "b"], ["c"]]  # none passes 0.5: the best one
    assert labels_of_scores(probs, labels, True, threshold=0.65) == [["a"], ["c"]]
    assert labels_of_scores(probs, labels, True, threshold=0.25) == [["a", "b"], ["c", "b"]]
    assert [[l for l, _ in row] for row in ranked_answers(probs, labels, True, top_k=1)] == [["a"], ["c"]]
    assert [[l for l, _ in row] for row in ranked_answers(probs, labels, False, top_k=5)] == [["a", "b", "c"],
                                                                                              ["c", "b", "a"]]


def test_multilabel_metrics_report_micro_and_macro_f1():
    labels = ["a", "b", "c"]
    probs = np.array([[0.9, 0.6, 0.1], [0.2, 0.3, 0.4]], dtype=np.float32)
    split = Split(["x", "y"], [["a"], ["c", "b"]], name="test")
    m = split_metrics(probs, split, labels, True, ks=(1,))
    # answered: {a, b} and {c}; truth: {a} and {b, c}: TP 2 (a, c), FP 1 (b), FN 1 (b)
    assert m["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m["macro_f1"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["P@1"] == 1.0


def test_corpus_from_files_draws_the_cli_validation_split(r8, tmp_path):
    for name, split in (("train", r8.train.head(300)), ("test", r8.test.head(40))):
        with open(tmp_path / f"{name}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *zip(split.texts, split.labels)])
    corpus = Corpus.from_files(tmp_path / "train.csv", tmp_path / "test.csv", seed=3)
    reference = Corpus.from_files(tmp_path / "train.csv", tmp_path / "test.csv", valid_fraction=0)
    assert len(corpus.valid) == 30 and corpus.valid.texts == reference.with_validation(0.1, 3).valid.texts


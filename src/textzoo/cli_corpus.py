"""The corpus options of ``textzoo train`` and ``textzoo evaluate``, and the corpus they name."""

from __future__ import annotations

import argparse

from .data.readers import FORMATS


def add_data_dir(p) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="local mirror of the public corpora (default: $TEXTZOO_DATA, else download into the cache)")


def add_corpus_options(p: argparse.ArgumentParser, float_in_range, int_at_least) -> None:
    g = p.add_argument_group("corpus (a named dataset, a folder, or your own files)")
    g.add_argument("--dataset", metavar="NAME|PATH",
                   help="named dataset (see `textzoo datasets`), or a folder in a layout textzoo knows: XMC "
                   "(train_texts.txt, train_labels.txt, test_...), TextGCN (NAME.txt + corpus/NAME.txt, or "
                   "PATH/NAME.txt), GLUE TSV (train.tsv, dev.tsv), TREC, or train.EXT + test.EXT files")
    add_data_dir(g)
    g.add_argument("--train", metavar="FILE", help="your training file (.csv, .tsv, .jsonl, .txt)")
    g.add_argument("--test", metavar="FILE", help="your test file")
    g.add_argument("--valid", metavar="FILE", help="your validation file (default: 10%% of --train, stratified)")
    g.add_argument("--format", choices=FORMATS, help="format of your files (default: from the suffix; a .txt "
                   "file from its first line). libmultilabel: 'ID<TAB>LABELS<TAB>TEXT', fasttext: "
                   "'__label__A TEXT', txt: 'LABEL<TAB>TEXT'; CSV delimiters (, ; TAB |) are sniffed")
    g.add_argument("--name", metavar="NAME", help="the dataset's name in the run (and the default --out); default: "
                   "the training file's name without 'train', or the folder's name")
    g.add_argument("--text-column", default="text", help="column/field holding the text (default text)")
    g.add_argument("--label-column", default="label", help="column/field holding the label (default label)")
    g.add_argument("--label-sep", metavar="SEP",
                   help="multi-label files: separator between labels in the label column")
    g.add_argument("--valid-fraction", type=float_in_range, default=0.1,
                   help="share of the training documents held out for validation, in [0, 1), stratified by "
                   "label, every class keeping 2 training documents (default 0.1; 0: no validation split)")
    g.add_argument("--seed", type=int_at_least, help="seed of the validation split and, for `train`, of the "
                   "model (unless --set seed=... says otherwise; default 0)")


def _table_options(args) -> dict:
    return dict(text_column=args.text_column, label_column=args.label_column, multilabel_sep=args.label_sep,
                format=args.format)


def load_corpus(args):
    """The corpus of ``--dataset NAME|PATH`` or ``--train FILE --test FILE``, with its validation split."""
    from .data import load_dataset
    from .data.corpus import Corpus
    from .data.registry import is_dataset_path
    from .errors import ConfigError

    if args.dataset and args.train:
        raise ConfigError("give either --dataset or --train/--test, not both")
    seed = args.seed or 0
    if args.dataset and is_dataset_path(args.dataset):
        corpus = load_dataset(args.dataset, valid_fraction=args.valid_fraction, seed=seed, **_table_options(args))
    elif args.dataset:
        corpus = load_dataset(args.dataset, data_dir=args.data_dir, valid_fraction=args.valid_fraction, seed=seed)
    elif args.train and args.test:
        corpus = Corpus.from_files(train=args.train, test=args.test, valid=args.valid, name=args.name,
                                   valid_fraction=args.valid_fraction, seed=seed, **_table_options(args))
    else:
        raise ConfigError("name a corpus: --dataset NAME|FOLDER, or --train FILE --test FILE")
    if args.name:
        corpus.name = args.name
    return corpus


def evaluation_split(args):
    """``(corpus name, split)`` that ``evaluate`` scores: ``--split`` of the named corpus or of the
    user's files; ``--test FILE`` alone is read on its own (a saved run needs no training file)."""
    from .errors import ConfigError

    if args.test and not args.train and not args.dataset:
        from .data.readers import read_table

        if args.split != "test":
            raise ConfigError(f"--split {args.split}: with --test FILE alone only the test split is there; "
                              "add --train FILE (and --valid FILE) to score another split")
        return str(args.test), read_table(args.test, name="test", **_table_options(args))
    corpus = load_corpus(args)
    split = corpus.splits.get(args.split)
    if split is None:
        raise ConfigError(f"the corpus has no {args.split!r} split")
    return corpus.name, split

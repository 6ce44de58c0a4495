"""The ``textzoo`` command: list datasets, train, evaluate and predict."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys

from . import __version__

log = logging.getLogger("textzoo")

EPILOG = """examples:
  textzoo datasets
  textzoo train textgcn --dataset R8 --out runs/r8-textgcn
  textzoo train textgcn --dataset mr --set hidden=100 --set epochs=50
  textzoo train textgcn --train my_train.csv --test my_test.csv --text-column body --label-column tag
  textzoo evaluate runs/r8-textgcn --dataset R8
  textzoo evaluate runs/xt-pifa runs/xt-neural runs/xt-text --dataset reuters21578   # ensemble
  textzoo predict runs/r8-textgcn "oil prices rose sharply" --top-k 3
  textzoo serve runs/r8-textgcn --port 8000
  textzoo serve runs/xt-pifa runs/xt-neural runs/xt-text                          # ensemble
  textzoo report runs/ --out report.md
  textzoo compare linear textgcn bert --dataset R8 --out compare/r8
  textzoo export runs/r8-bert --format onnx --out r8-bert.onnx
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textzoo", description="Train, evaluate and use classic text-classification models.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"textzoo {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("datasets", help="list the named corpora, their sizes and where each is found")
    _add_data_dir(p)
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("models", help="list the registered models and their default configurations")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train", help="train a model and save the run folder",
                       description="Train MODEL on a named dataset or on your own files, evaluate it on "
                       "the test split and save the run (config, weights, metrics, history) to --out.")
    p.add_argument("model", help="registered model name (see `textzoo models`)")
    _add_corpus_options(p)
    p.add_argument("--config", metavar="FILE", help="YAML or JSON file with config values")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override one config value (repeatable), e.g. --set hidden=100")
    p.add_argument("--inductive", action="store_true",
                   help="transductive models (TextGCN): leave the test documents out of the graph "
                   "and predict them inductively")
    p.add_argument("--out", metavar="DIR",
                   help="run folder to write (default: runs/MODEL-DATASET). While training, checkpoints "
                   "are written to DIR/checkpoints (TextGCN, TensorGCN, ELMo: every checkpoint_every "
                   "epochs, --set checkpoint_every=N; BERT/ALBERT/GPT, LightXML, X-Transformer: every "
                   "checkpoint_steps updates, --set checkpoint_steps=N, and at every epoch end; "
                   "X-Transformer also after each stage); "
                   "at the end the finished run replaces DIR whole. Without --resume, training starts "
                   "afresh: old checkpoints are deleted at once. A finished run already in DIR is "
                   "replaced only with --overwrite (it stays loadable until the new run replaces it)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the finished run in --out DIR (refused without this option)")
    _add_device(p, "where a Transformer or XMC model trains and evaluates (default auto: the GPU when "
                "there is one, else the CPU)")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also log the training curves (loss and validation metrics per epoch) and the "
                   "final test metrics as TensorBoard event files in DIR (needs the tensorboard package: "
                   "pip install 'textzoo[tensorboard]'); view with `tensorboard --logdir DIR`")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out DIR from its last checkpoint (same data "
                   "and settings; ends with the same model as an uninterrupted run). Without a "
                   "checkpoint it starts at epoch 1; if DIR already holds the finished run with these "
                   "settings it prints that run's metrics and exits")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a saved run (or an ensemble of runs) on a labelled split",
                       description="Print the metrics of the run in RUN_DIR on a labelled split. With several "
                                   "run folders, the metrics of their score average: the ensembles of the "
                                   "X-Transformer (one run per label representation) and LightXML (one run "
                                   "per encoder) papers, or of any runs sharing one label vocabulary. "
                                   "The split comes from --dataset NAME, from --train FILE --test FILE, or "
                                   "from --test FILE alone (your labelled file; no training file needed).")
    p.add_argument("run_dir", nargs="+", help="run folder(s) written by `textzoo train`")
    _add_corpus_options(p)
    p.add_argument("--split", default="test", choices=["train", "valid", "test"], help="split to score (default test)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_device(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict labels for texts with a saved run",
                       description="Predict the labels of TEXT arguments or of each line of --input (options "
                       "may come before or after the texts; put -- before a text that starts with -). "
                       "Answers: the best label (single-label runs); every label scoring at least "
                       "--threshold, or the best one when none does (multi-label runs); with --top-k "
                       "the K best labels with their scores. `textzoo serve` answers the same.")
    p.add_argument("run_dir", help="run folder written by `textzoo train`")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--input", metavar="FILE", help="UTF-8 file with one text per line ('-' for stdin)")
    p.add_argument("--with", dest="also", action="append", default=[], metavar="RUN_DIR",
                   help="another run folder (repeatable): predict with the ensemble of RUN_DIR and these, "
                   "the mean of their scores")
    p.add_argument("--top-k", type=_int_at_least(1), metavar="K", help="print the K best labels with "
                   "probabilities, whatever their score")
    p.add_argument("--threshold", type=_float_in(0, 1), default=0.5, metavar="T",
                   help="multi-label runs: the score a label needs, in [0, 1] (default 0.5; the best label "
                   "when none reaches it)")
    p.add_argument("--json", action="store_true", help="print one JSON object per text")
    _add_device(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", help="serve a saved run over HTTP (JSON API, OpenAPI page at /docs)",
                       description="Serve the run in RUN_DIR: POST /v1/predict, GET /v1/model, GET /healthz, /docs. "
                                   "With several run folders (sharing one label vocabulary), serve their "
                                   "ensemble: the mean of their scores, as `textzoo evaluate RUN RUN ...` scores it.")
    p.add_argument("run_dir", nargs="+", help="run folder(s) written by `textzoo train`")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port, 1 to 65535 (default 8000)")
    p.add_argument("--max-batch", type=_int_at_least(1), default=64, metavar="N",
                   help="most texts per batched model call (default 64)")
    p.add_argument("--batch-window-ms", type=_float_at_least(0), default=3.0, metavar="MS",
                   help="how long to collect concurrent requests into one batch (default 3)")
    p.add_argument("--no-batching", action="store_true", help="predict each request on its own")
    _add_device(p)
    p.add_argument("--keep-alive", type=_float_at_least(0), default=75.0, metavar="S",
                   help="seconds an idle connection stays open (default 75; keep it above your "
                   "clients' idle expiry, 5 s for most HTTP clients)")
    p.add_argument("--request-timeout", type=_float_at_least(0.1), default=10.0, metavar="S",
                   help="seconds a client has to send its request headers, and most seconds between two "
                   "chunks of a body (default 10); slower connections are closed")
    p.add_argument("--max-connections", type=_int_at_least(1), metavar="N", help="open connections beyond "
                   "which requests get 503 (default 1000, fewer if the open-file limit is lower)")
    p.add_argument("--max-texts", type=_int_at_least(1), default=64, metavar="N", help="most texts per request (default 64)")
    p.add_argument("--max-chars", type=_int_at_least(1, _max_document_chars()), default=20000, metavar="N",
                   help="most characters per text (default 20000, at most 1000000)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("report", help="Markdown leaderboard of saved runs, with a bar chart and the papers' numbers",
                       description="Write a Markdown leaderboard of the runs (model, dataset, test metrics, "
                       "training time, peak memory) with the papers' published numbers beside ours where "
                       "the dataset is one of the papers', and a bar chart PNG beside it (FILE with .png).")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders, or folders holding run folders")
    p.add_argument("--out", default="report.md", metavar="FILE.md", help="Markdown file to write (default report.md)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="export a saved run to ONNX (bert, albert, gpt, textgcn's inductive predictor)",
                       description="Export the run in RUN_DIR as an ONNX graph that onnxruntime runs, with a JSON "
                       "side file FILE.json describing its inputs (token ids for the Transformer models, TF-IDF "
                       "rows for TextGCN's inductive predictor; see textzoo.export).")
    p.add_argument("run_dir", help="run folder written by `textzoo train`")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (default onnx)")
    p.add_argument("--out", metavar="FILE", help="file to write (default RUN_DIR.onnx beside the run folder)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("pretrain", help="pretrain a backbone from scratch on your unlabelled text",
                       description="Pretrain MODEL's backbone (tokenizer included) on --corpus, one "
                       "document or sentence per line, and write a folder that `textzoo train MODEL "
                       "--set pretrained=DIR` fine-tunes.")
    p.add_argument("model", help="model whose backbone to pretrain (see `textzoo models`)")
    p.add_argument("--corpus", required=True, metavar="FILE", help="UTF-8 text file, one text per line")
    p.add_argument("--config", metavar="FILE", help="YAML or JSON file with pretraining config values")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override one pretraining config value (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write the pretrained backbone to. Checkpoints go to DIR/checkpoints: "
                   "BERT/ALBERT/GPT every checkpoint_steps updates (default 500, --set checkpoint_steps=N), "
                   "ELMo every checkpoint_every epochs (default 1); 0 for none. The finished folder "
                   "replaces DIR whole. Without --resume, old checkpoints in DIR are deleted at once")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted pretraining in --out DIR from its last checkpoint (same corpus "
                   "and settings): it ends with the same weights as an uninterrupted run. Without a "
                   "checkpoint it starts afresh; if DIR already holds this finished pretraining, nothing "
                   "is done")
    p.set_defaults(func=cmd_pretrain)
    from .compare import add_parser as add_compare_parser  # `textzoo compare`, in its own module
    add_compare_parser(sub)
    return parser


def _int_at_least(low: int, high: int | None = None):
    """argparse type: a whole number in [low, high]; a one-line usage error otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return parse


def _max_document_chars() -> int:
    from .data.corpus import MAX_DOCUMENT_CHARS

    return MAX_DOCUMENT_CHARS


def _port(text: str) -> int:
    return _int_at_least(1, 65535)(text)


def _float_at_least(low: float, below: float | None = None):
    """argparse type: a finite number in [low, below) ([low, inf) without ``below``); a one-line
    usage error otherwise."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < low or (below is not None and value >= below):
            bound = f">= {low:g}" if below is None else f"in [{low:g}, {below:g})"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return parse


def _add_device(p: argparse.ArgumentParser, text: str = "where a Transformer or XMC model predicts (default "
                "auto: the GPU when there is one, else the CPU; the device a run was trained on does not "
                "matter)") -> None:
    p.add_argument("--device", metavar="DEVICE", help=text + "; cpu, cuda, cuda:1, auto")


def _float_in(low: float, high: float):
    """argparse type: a number in [low, high]; a one-line usage error otherwise."""
    def parse(text: str) -> float:
        value = _float_at_least(low)(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {value}")
        return value
    return parse


def _add_data_dir(p) -> None:
    from .cli_corpus import add_data_dir

    add_data_dir(p)


def _add_corpus_options(p: argparse.ArgumentParser) -> None:
    from .cli_corpus import add_corpus_options

    add_corpus_options(p, _float_at_least(0, 1), _int_at_least(0))


def _load_corpus(args):
    from .cli_corpus import load_corpus

    return load_corpus(args)


def cmd_datasets(args) -> int:
    from .data import list_datasets

    rows = list_datasets(args.data_dir)
    header = ["name", "train", "test", "labels", "type", "status"]
    table = [[r["name"], str(r.get("train", "?")), str(r.get("test", "?")), str(r.get("labels", "?")),
              "multi-label" if r.get("multilabel") else "single-label", _short_status(r["status"])]
             for r in rows]
    _print_table(header, table)
    return 0


def _short_status(status: str) -> str:
    return "downloads on first use" if status.startswith("not downloaded") else status


def cmd_models(args) -> int:
    from dataclasses import asdict

    from .models.hf_backbone import offline_note
    from .models.registry import available_models, model_class

    for name in available_models():
        cls = model_class(name)
        doc = " ".join((sys.modules[cls.__module__].__doc__ or "").strip().split("\n\n")[0].split())
        print(f"{name}: {doc}")
        print("  defaults: " + ", ".join(f"{k}={v}" for k, v in asdict(cls.Config()).items()))
        print("  offline: " + offline_note(cls.Config(), name))
    return 0


def cmd_train(args) -> int:
    from .config import parse_overrides
    from .runs import train

    corpus = _load_corpus(args)
    s = corpus.summary()
    print(f"{args.model} on {corpus.name}: {s['train']} train / {s['valid']} valid / {s['test']} test "
          f"documents, {s['labels']} labels", file=sys.stderr)
    result = train(args.model, corpus, args.out, config_file=args.config, overrides=parse_overrides(args.overrides),
                   seed=args.seed, inductive=args.inductive, resume=args.resume, overwrite=args.overwrite,
                   tensorboard=args.tensorboard, device=args.device)
    if result.already_finished:
        print(f"{result.out} already holds the finished run (no checkpoint left to resume); its test metrics:")
    elif result.out is None:  # a torchrun rank other than 0
        return 0
    else:
        print(f"\ntest metrics ({corpus.name}, {len(corpus.test)} documents):")
    _print_metrics(result.metrics.get("test", {}))
    if not result.already_finished:
        print(f"saved to {result.out}")
    return 0


def cmd_report(args) -> int:
    from .report.leaderboard import write_report

    out, chart, rows = write_report(args.runs, args.out)
    print(out.read_text(encoding="utf-8"))
    print(f"wrote {out}" + (f" and {chart}" if chart else "") + f" ({len(rows)} runs)", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx

    out = export_onnx(args.run_dir, args.out)
    print(f"exported {args.run_dir} to {out} (inputs described in {out.name}.json)")
    return 0


def cmd_pretrain(args) -> int:
    from .config import parse_overrides
    from .pretraining import pretrainer

    run = pretrainer(args.model)
    extra = {}
    if args.resume:
        import inspect

        from .errors import ConfigError

        if "resume" not in inspect.signature(run).parameters:
            raise ConfigError(f"`textzoo pretrain {args.model}` cannot resume; run it without --resume")
        extra["resume"] = True
    out = run(corpus=args.corpus, out=args.out, config_file=args.config,
              overrides=parse_overrides(args.overrides), **extra)
    print(f"pretrained {args.model} backbone saved to {out}")
    return 0


def cmd_evaluate(args) -> int:
    from .models.base import Model
    from .xmc.ensemble import Ensemble

    models = [Model.load(run, device=args.device) for run in args.run_dir]
    name, split = _evaluation_split(args)
    metrics = (models[0] if len(models) == 1 else Ensemble(models)).evaluate(split)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        what = models[0].name if len(models) == 1 else \
            f"ensemble of {len(models)} runs ({', '.join(m.name for m in models)}; score average)"
        print(f"{what} on {name} {args.split} ({len(split)} documents):")
        _print_metrics(metrics)
    return 0


def _evaluation_split(args):
    from .cli_corpus import evaluation_split

    return evaluation_split(args)


def cmd_predict(args) -> int:
    from .data.readers import decode_lines, read_lines
    from .errors import ConfigError, DataError
    from .models.base import Model
    from .xmc.ensemble import Ensemble

    texts = list(args.texts)
    if args.input:
        lines = decode_lines(sys.stdin.buffer.read(), "<stdin>") if args.input == "-" else read_lines(args.input)
        empty = next((i for i, line in enumerate(lines) if not line.strip()), None)
        if empty is not None:  # skipping it would shift every later answer against its input line
            raise DataError("empty line: one text per line is expected, and each gets one answer line "
                            "(remove the empty lines)", args.input if args.input != "-" else "<stdin>", empty + 1)
        texts += [line.strip() for line in lines]
    if not texts:
        raise ConfigError("nothing to predict: give TEXT arguments or --input FILE")
    model = Model.load(args.run_dir, device=args.device) if not args.also else \
        Ensemble.load([args.run_dir, *args.also], device=args.device)
    results = model.predict(texts, top_k=args.top_k, threshold=args.threshold)
    for text, result in zip(texts, results):
        if args.json:
            if args.top_k:
                result = [{"label": label, "score": score} for label, score in result]
            print(json.dumps({"text": text, "prediction": result}, ensure_ascii=False))
        elif args.top_k:
            print("\t".join(f"{label} ({score:.3f})" for label, score in result))
        else:
            print(" ".join(result) if isinstance(result, list) else result)
    return 0


def cmd_serve(args) -> int:
    from .serving import serve

    serve(args.run_dir, host=args.host, port=args.port, max_batch=args.max_batch,
          batch_window_ms=args.batch_window_ms, batching=not args.no_batching, max_texts=args.max_texts,
          device=args.device,
          max_chars=args.max_chars, access_log=args.verbose > 0, keep_alive=args.keep_alive,
          request_timeout=args.request_timeout, max_connections=args.max_connections,
          log_level="warning" if args.quiet else ("debug" if args.verbose > 1 else "info"))
    return 0


def _print_metrics(metrics: dict) -> None:
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"  {key:<12} {value:.4f}")


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    from .errors import TextzooError

    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command == "predict" and not any(r.startswith("-") for r in rest):
        args.texts = [*args.texts, *rest]  # texts after options: predict RUN --top-k 2 "text"
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except TextzooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Reduced CPU check of `textzoo pretrain` on MR: fine-tune a pretrained folder and the same
architecture with random weights, and look at what the pretrained [CLS] encodes.

    # fine-tune (full MR training split, its validation split, 1,000 random test documents)
    python benchmarks/pretrain_check.py finetune albert FOLDER --set max_length=64
    # ALBERT only: the SOP head and the pooled [CLS] on fine-tuning inputs ([CLS] sentence [SEP])
    python benchmarks/pretrain_check.py cls FOLDER
    # GPT only: LM loss per token on MR training and validation sentences (pretrained on) and test sentences
    python benchmarks/pretrain_check.py lm FOLDER

Used for issue 4 (docs/notes/2026-12-04-pretraining-mr-r52.md); the
full-size comparison is ``benchmarks/transformers.py pretrain``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# benchmarks/transformers.py would shadow the library: keep this folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np
import torch

import textzoo


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def finetune(args) -> None:
    corpus = textzoo.load_dataset("mr")
    train = corpus.train.subset(np.random.default_rng(0).permutation(len(corpus.train))[:args.train_docs])
    test = corpus.test.subset(np.random.default_rng(1).permutation(len(corpus.test))[:args.test_docs])
    sets = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    for init in args.inits:
        t = time.perf_counter()
        model = textzoo.create(args.model, pretrained=str(args.folder), random_init=init == "random", **sets)
        model.fit(train, valid=corpus.valid)
        acc = model.evaluate(test)["accuracy"]
        history = [{k: round(v, 4) for k, v in row.items() if k in ("loss", "val_loss", "val_accuracy")}
                   for row in model.history]
        print(json.dumps({"model": args.model, "init": init, "settings": sets, "test_docs": len(test),
                          "test_accuracy": round(100 * acc, 2), "history": history,
                          "seconds": round(time.perf_counter() - t)}), flush=True)


@torch.no_grad()
def cls(args) -> None:
    import transformers as tf

    corpus = textzoo.load_dataset("mr")
    texts = [corpus.train.texts[i] for i in np.random.default_rng(0).permutation(len(corpus.train))[:512]]
    tok = tf.AutoTokenizer.from_pretrained(args.folder)
    enc = tok(texts, padding=True, return_tensors="pt")
    net = tf.AlbertForPreTraining.from_pretrained(args.folder).eval()
    out = net(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
    swapped = out.sop_logits.softmax(-1)[:, 1]
    first = out.hidden_states[-1][:, 0]
    pooled = net.albert.pooler_activation(net.albert.pooler(first))
    unit = torch.nn.functional.normalize(first, dim=1)
    cos = (unit @ unit.T)[~torch.eye(len(first), dtype=torch.bool)].mean()
    print(json.dumps({"sop_p_swapped_mean": round(float(swapped.mean()), 3),
                      "sop_p_swapped_over_0.9": round(float((swapped > 0.9).float().mean()), 3),
                      "pooled_std_over_documents": round(float(pooled.std(0).mean()), 4),
                      "cls_mean_pairwise_cosine": round(float(cos), 4)}))


@torch.no_grad()
def lm(args) -> None:
    import transformers as tf

    corpus = textzoo.load_dataset("mr")
    tok = tf.AutoTokenizer.from_pretrained(args.folder)
    net = tf.AutoModelForCausalLM.from_pretrained(args.folder).eval()
    eos = tok.eos_token_id
    rng = np.random.default_rng(0)

    def loss(texts: list[str]) -> float:
        total = count = 0
        for text in texts:  # as in pretraining: <|endoftext|> text <|endoftext|>
            ids = torch.tensor([[eos] + tok(text)["input_ids"][:net.config.n_positions - 2] + [eos]])
            total += net(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
        return total / count

    train = [corpus.train.texts[i] for i in rng.permutation(len(corpus.train))[:300]]
    test = [corpus.test.texts[i] for i in rng.permutation(len(corpus.test))[:300]]
    valid = [corpus.valid.texts[i] for i in np.random.default_rng(1).permutation(len(corpus.valid))[:300]]
    print(json.dumps({"lm_loss_train_sentences": round(loss(train), 3), "lm_loss_test_sentences": round(loss(test), 3),
                      "lm_loss_valid_sentences": round(loss(valid), 3)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("finetune", help="fine-tune from FOLDER and from random weights")
    p.add_argument("model", choices=["bert", "albert", "gpt"])
    p.add_argument("folder")
    p.add_argument("--inits", nargs="+", default=["pretrained", "random"], choices=["pretrained", "random"])
    p.add_argument("--train-docs", type=int, default=6398)
    p.add_argument("--test-docs", type=int, default=1000)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p = sub.add_parser("cls", help="ALBERT: SOP head and pooled [CLS] on single sentences")
    p.add_argument("folder")
    p = sub.add_parser("lm", help="GPT: LM loss on MR training, validation and test sentences")
    p.add_argument("folder")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    {"finetune": finetune, "cls": cls, "lm": lm}[args.part](args)


if __name__ == "__main__":
    main()

"""The pretraining objectives, one class each, with the tokenizer and the network each needs:

* :class:`MaskedLMWithNSP` (``bert``, Devlin et al. 2019, Section 3.1): WordPiece; masked LM on 15%
  of the tokens (80/10/10) + next-sentence prediction; ``BertForPreTraining``.
* :class:`MaskedLMWithSOP` (``albert``, Lan et al. 2020, Sections 3.1-4.1): Unigram; n-gram masked LM
  over whole words + sentence-order prediction; factorised, shared-layer ``AlbertForPreTraining``.
* :class:`CausalLM` (``gpt``, Radford et al. 2018, Section 3.1): byte-level BPE; next-token loss on
  contiguous blocks of the token stream; ``GPT2LMHeadModel``.

:func:`objective` gives a model name's objective; :func:`textzoo.pretraining.transformers_lm.pretrain_model`
drives any of them. A new objective is a subclass registered in ``OBJECTIVES``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .masking import mask_tokens, ngram_mask, word_starts
from .pairs import make_pairs, split_sentences
from .tokenizer_training import train_tokenizer


class Objective:
    """A pretraining objective (see the module docstring); subclasses fill the attributes and hooks."""

    name: str = ""                 #: the model name (``textzoo pretrain NAME``)
    tokenizer_kind: str = ""       #: :func:`~.tokenizer_training.train_tokenizer`'s kind
    model_type: str = ""           #: the ``model_type`` of checkpoints that ``init_from`` continues
    pretraining_class: str = ""    #: the ``transformers`` class with the pretraining heads

    def train_tokenizer(self, docs: list[str], cfg):
        return train_tokenizer(self.tokenizer_kind, docs, cfg.vocab_size, cfg.min_frequency)

    def build(self, cfg, vocab: int, tok):
        """A freshly initialised network of ``cfg``'s size for a tokenizer of ``vocab`` entries."""
        raise NotImplementedError

    def check_tokenizer(self, tok, source: str) -> None:
        """A one-line ConfigError when ``init_from=source``'s tokenizer lacks a token the objective needs."""

    def examples(self, docs: list[str], tok, cfg, rng: np.random.Generator) -> list:
        raise NotImplementedError

    def word_lut(self, tok) -> torch.Tensor | None:
        """What :meth:`collate` needs of the tokenizer besides its ids (None: nothing)."""
        return None

    def collate(self, items, tok, cfg, gen: torch.Generator, rng: np.random.Generator,
                word_lut: torch.Tensor | None = None) -> dict:
        raise NotImplementedError

    def loss(self, net, batch: dict, parts: dict | None = None) -> torch.Tensor:
        """The batch's loss; ``parts`` (a dict), when given, receives its terms."""
        raise NotImplementedError


def _common(cfg, vocab: int, tok) -> dict:
    return dict(vocab_size=vocab, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate,
                max_position_embeddings=cfg.max_length, hidden_dropout_prob=cfg.dropout,
                attention_probs_dropout_prob=cfg.dropout, pad_token_id=tok.pad_token_id)


class PairedMaskedLM(Objective):
    """Masked LM + a two-class objective on segment pairs ``[CLS] A [SEP] B [SEP]`` (BERT, ALBERT).

    The loss is the mean masked-LM cross-entropy plus the mean pair cross-entropy over the examples
    that have a pair label (one-segment examples have -100); ``transformers``' own loss would be NaN
    for a batch without any pair label. ``parts`` receives ``mlm`` and ``pair`` (None without labels).
    """

    pair: str = ""        #: make_pairs' objective: nsp or sop
    label_key: str = ""   #: the pair label's argument name in ``transformers``

    def check_tokenizer(self, tok, source: str) -> None:
        if tok.mask_token_id is None or tok.cls_token_id is None or tok.sep_token_id is None:
            raise ConfigError(f"init_from={source!r}: its tokenizer lacks [CLS], [SEP] or [MASK]")

    def examples(self, docs, tok, cfg, rng):
        backend = tok.backend_tokenizer
        sentences = [split_sentences(d) for d in docs]
        flat = [s for d in sentences for s in d]
        encoded = iter(e.ids for e in backend.encode_batch(flat, add_special_tokens=False))
        tokenised = [[next(encoded) for _ in d] for d in sentences]
        return make_pairs(tokenised, self.pair, cfg.max_length - 3, rng, cfg.pair_prob, cfg.short_seq_prob,
                          cfg.single_segment)

    def mask(self, ids, special, tok, cfg, gen, rng, word_lut):
        raise NotImplementedError

    def pair_logits(self, out) -> torch.Tensor:
        raise NotImplementedError

    def collate(self, items, tok, cfg, gen, rng, word_lut=None):
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        # [CLS] A [SEP] B [SEP], or [CLS] A [SEP] for a one-segment example (B empty)
        seqs = [[tok.cls_token_id] + a + [tok.sep_token_id] + (b + [tok.sep_token_id] if b else [])
                for a, b, _ in items]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
        for i, (s, (a, _, _)) in enumerate(zip(seqs, items)):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
            types[i, len(a) + 2:len(s)] = 1
        special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (mask == 0)
        inputs, labels = self.mask(ids, special, tok, cfg, gen, rng, word_lut)
        return {"input_ids": inputs, "attention_mask": mask, "token_type_ids": types, "labels": labels,
                self.label_key: torch.tensor([lab for _, _, lab in items])}

    def loss(self, net, batch, parts=None):
        key = self.label_key
        out = net(**{k: v for k, v in batch.items() if k not in ("labels", key)})
        mlm = F.cross_entropy(out.prediction_logits.flatten(0, 1).float(), batch["labels"].flatten(),
                              ignore_index=-100)
        labelled = batch[key] != -100
        pair = F.cross_entropy(self.pair_logits(out).float(), batch[key], ignore_index=-100, reduction="sum")
        pair = pair / labelled.sum().clamp(min=1)
        if parts is not None:
            parts["mlm"] = mlm.item()
            parts["pair"] = pair.item() if labelled.any() else None
        return mlm + pair


class MaskedLMWithNSP(PairedMaskedLM):
    """BERT: token masking (80/10/10) + next-sentence prediction."""

    name, tokenizer_kind, model_type, pretraining_class = "bert", "wordpiece", "bert", "BertForPreTraining"
    pair, label_key = "nsp", "next_sentence_label"

    def build(self, cfg, vocab, tok):
        import transformers as tf

        return tf.BertForPreTraining(tf.BertConfig(**_common(cfg, vocab, tok)))

    def mask(self, ids, special, tok, cfg, gen, rng, word_lut):
        return mask_tokens(ids, special, tok.mask_token_id, len(tok), gen, cfg.mask_prob)

    def pair_logits(self, out):
        return out.seq_relationship_logits


class MaskedLMWithSOP(PairedMaskedLM):
    """ALBERT: n-gram masking over whole words (p(n) ~ 1/n, n <= max_ngram) + sentence-order prediction."""

    name, tokenizer_kind, model_type, pretraining_class = "albert", "unigram", "albert", "AlbertForPreTraining"
    pair, label_key = "sop", "sentence_order_label"

    def build(self, cfg, vocab, tok):
        import transformers as tf

        conf = tf.AlbertConfig(embedding_size=cfg.embedding_size, num_hidden_groups=1, inner_group_num=1,
                               classifier_dropout_prob=cfg.dropout, **_common(cfg, vocab, tok))
        conf.bos_token_id, conf.eos_token_id = tok.cls_token_id, tok.sep_token_id
        return tf.AlbertForPreTraining(conf)

    def word_lut(self, tok):
        return word_starts(tok)

    def mask(self, ids, special, tok, cfg, gen, rng, word_lut):
        return ngram_mask(ids, special, tok.mask_token_id, len(tok), rng, cfg.mask_prob, cfg.max_ngram,
                          word_start=None if word_lut is None else word_lut[ids])

    def pair_logits(self, out):
        return out.sop_logits


class CausalLM(Objective):
    """GPT: ``transformers``' causal LM loss on contiguous blocks of ``max_length`` tokens of the
    token stream, documents separated by ``<|endoftext|>``."""

    name, tokenizer_kind, model_type, pretraining_class = "gpt", "bytebpe", "gpt2", "GPT2LMHeadModel"

    def build(self, cfg, vocab, tok):
        import transformers as tf

        return tf.GPT2LMHeadModel(tf.GPT2Config(
            vocab_size=vocab, n_positions=cfg.max_length, n_embd=cfg.hidden, n_layer=cfg.layers,
            n_head=cfg.heads, n_inner=cfg.intermediate, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id))

    def check_tokenizer(self, tok, source):
        if tok.eos_token_id is None:
            raise ConfigError(f"init_from={source!r}: its tokenizer has no end-of-text token")

    def examples(self, docs, tok, cfg, rng):
        eos = tok.eos_token_id
        stream = []
        for enc in tok.backend_tokenizer.encode_batch(docs, add_special_tokens=False):
            stream.extend(enc.ids + [eos])
        L = cfg.max_length
        return [stream[i:i + L] for i in range(0, max(1, len(stream) - 1), L) if len(stream[i:i + L]) > 1]

    def collate(self, items, tok, cfg, gen, rng, word_lut=None):
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        width = max(len(x) for x in items)
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, x in enumerate(items):
            ids[i, :len(x)] = torch.tensor(x)
            mask[i, :len(x)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}

    def loss(self, net, batch, parts=None):
        return net(**batch).loss


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (MaskedLMWithNSP(), MaskedLMWithSOP(), CausalLM())}


def objective(model: str) -> Objective:
    """The pretraining objective of model ``model`` (a one-line ConfigError for an unknown one)."""
    if model not in OBJECTIVES:
        raise ConfigError(f"no pretraining for {model!r}; Transformer objectives: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[model]

"""Tiny Hugging Face checkpoints that the tests save themselves (random weights, tokenizers trained
by ``tokenizers`` on a few lines), to exercise loading by local folder without network."""

from __future__ import annotations

from pathlib import Path

import torch

from textzoo.pretraining.transformers_lm import train_tokenizer


def tiny_checkpoint(kind: str, folder: Path, texts: list[str], vocab: int = 400) -> Path:
    """Save a tiny ``bert``, ``albert``, ``openai-gpt`` or ``gpt2`` model + tokenizer to ``folder``."""
    import transformers as tf

    torch.manual_seed(0)
    folder = Path(folder)
    tok_kind = {"bert": "wordpiece", "albert": "unigram", "openai-gpt": "bytebpe", "gpt2": "bytebpe"}[kind]
    tok = train_tokenizer(tok_kind, texts, vocab, min_frequency=1)
    common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=128)
    if kind == "bert":
        model = tf.BertModel(tf.BertConfig(**common))
    elif kind == "albert":
        model = tf.AlbertModel(tf.AlbertConfig(embedding_size=16, **common))
    elif kind == "openai-gpt":
        model = tf.OpenAIGPTLMHeadModel(tf.OpenAIGPTConfig(vocab_size=len(tok), n_positions=128, n_embd=32,
                                                           n_layer=2, n_head=2))
    else:
        model = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32,
                                                 n_layer=2, n_head=2, n_inner=64))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder

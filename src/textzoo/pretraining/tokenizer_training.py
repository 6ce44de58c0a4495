"""The tokenizers that pretraining trains on the user's corpus with Hugging Face ``tokenizers``:
BERT's WordPiece, ALBERT's SentencePiece-style Unigram and GPT-2's byte-level BPE."""

from __future__ import annotations

from typing import Literal, Sequence

from ..errors import ConfigError

#: special tokens of each tokenizer kind: (pad, unk, cls/bos, sep/eos, mask)
SPECIALS = {
    "wordpiece": {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    "unigram": {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    "bytebpe": {"eos": "<|endoftext|>"},
}


def train_tokenizer(kind: Literal["wordpiece", "unigram", "bytebpe"], texts: Sequence[str],
                    vocab_size: int = 8000, min_frequency: int = 2):
    """A ``transformers.PreTrainedTokenizerFast`` trained on ``texts`` with ``tokenizers``.

    wordpiece: BERT's (lower-cased, BERT pre-tokenizer); unigram: SentencePiece's Unigram model over
    Metaspace pieces (ALBERT); bytebpe: GPT-2's byte-level BPE.

    WordPiece and byte-level BPE give the same vocabulary for the same texts in every run; the
    Unigram trainer of ``tokenizers`` does not (two runs on MR's 7,108 sentences differed in 27 of
    8,000 pieces and in the scores, with ``TOKENIZERS_PARALLELISM=false`` too), so an ALBERT run is
    reproduced exactly only from its saved ``tokenizer.json`` (``init_from``, or fine-tuning the folder).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind not in SPECIALS:
        raise ConfigError(f"unknown tokenizer kind {kind!r}")
    sp = SPECIALS[kind]
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=sp["unk"]))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=list(sp.values()))
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(sp.values()),
                                          unk_token=sp["unk"])
    else:  # bytebpe
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(sp.values()),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    texts = list(texts)
    tok.train_from_iterator(texts, trainer=trainer)
    if kind == "wordpiece":
        tok = _same_wordpiece_every_run(tok, texts, vocab_size, min_frequency, list(sp.values()))
    if kind in ("wordpiece", "unigram"):  # [CLS] A [SEP] (B [SEP]) for users of the saved folder
        cls_id, sep_id = tok.token_to_id(sp["cls"]), tok.token_to_id(sp["sep"])
        tok.post_processor = processors.TemplateProcessing(
            single=f"{sp['cls']} $A {sp['sep']}", pair=f"{sp['cls']} $A {sp['sep']} $B:1 {sp['sep']}:1",
            special_tokens=[(sp["cls"], cls_id), (sp["sep"], sep_id)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=sp["unk"], pad_token=sp["pad"],
                                       cls_token=sp["cls"], sep_token=sp["sep"], mask_token=sp["mask"])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=sp["eos"], eos_token=sp["eos"],
                                   unk_token=sp["eos"])


def _same_wordpiece_every_run(tok, texts: list[str], vocab_size: int, min_frequency: int, specials: list[str]):
    """``tok`` trained again so that the same texts give the same vocabulary in every process.

    ``tokenizers``' WordPiece trainer (its BPE trainer with the ``##`` prefix) numbers the
    continuing-subword characters (``##e``) in hash-map order, and those ids break ties between
    equally frequent merges, so the vocabulary and the token ids differed from one run to the next
    (huggingface/tokenizers#1794; still so in 0.23). Listing those characters, sorted, after the
    special tokens gives them fixed ids. The merges are the trainer's; the listed characters then
    become plain vocabulary entries again (they were in the vocabulary anyway), not special tokens.
    """
    from tokenizers import Tokenizer, models, trainers

    continuing = sorted(t for t in tok.get_vocab(with_added_tokens=False) if t.startswith("##") and len(t) == 3)
    fixed = Tokenizer(models.WordPiece(unk_token=tok.model.unk_token))
    fixed.normalizer, fixed.pre_tokenizer = tok.normalizer, tok.pre_tokenizer
    fixed.train_from_iterator(texts, trainer=trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials + continuing))
    out = Tokenizer(models.WordPiece(vocab=fixed.get_vocab(with_added_tokens=False), unk_token=tok.model.unk_token))
    out.normalizer, out.pre_tokenizer, out.decoder = tok.normalizer, tok.pre_tokenizer, tok.decoder
    out.add_special_tokens(specials)
    return out

"""The original GPT release (openai/finetune-transformer-lm, its ``model/`` folder), converted to a
``transformers`` checkpoint that :mod:`textzoo.models.gpt` fine-tunes.

The release holds the weights of the paper's model (Radford et al. 2018, Section 4.1: 12 decoder
layers, 768 states, 12 heads, 512 positions, a 40,000-merge BPE vocabulary) as NumPy shards:

    params_shapes.json       the shapes of the 146 parameters, in order
    params_0.npy ... _9.npy  their values, flattened, concatenated and cut into 10 pieces
    encoder_bpe_40000.json   the BPE vocabulary (token -> id, word ends marked ``</w>``)
    vocab_40000.bpe          the BPE merges, one per line after a version line

Parameter order, as the release's ``train.py`` builds them: the position embeddings (512 x 768),
the token embeddings (40,478 x 768), then per layer ``attn/c_attn`` (w, b), ``attn/c_proj`` (w, b),
``ln_1`` (g, b), ``mlp/c_fc`` (w, b), ``mlp/c_proj`` (w, b), ``ln_2`` (g, b); the 1-wide
convolutions' weights are ``(1, in, out)``, which is ``transformers``' ``Conv1D`` layout without
the first axis. The LM head is the token embedding (tied), the activation the tanh GELU
(``transformers``' ``afn="gelu"`` for this model), layer norm epsilon 1e-5 as in the release.

``textzoo train gpt --set pretrained=DIR`` accepts such a folder: :func:`converted_release`
converts it once into the cache (keyed by the files' content) and fine-tunes the result. The
release's special tokens (``_start_``, ``_delimiter_``, ``_classify_``) were drawn at random when
fine-tuning began and were never part of it; :mod:`textzoo.models.gpt` adds its own the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np
import torch

from .._io import write_folder
from ..errors import ConfigError, ModelFileError

log = logging.getLogger(__name__)

SHAPES_FILE = "params_shapes.json"
VOCAB_FILE = "encoder_bpe_40000.json"
MERGES_FILE = "vocab_40000.bpe"
#: each layer's parameters in the release's order, by their name in ``transformers``' OpenAIGPTModel
LAYER_PARAMS = ("attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                "mlp.c_proj.bias", "ln_2.weight", "ln_2.bias")
_SHARD = re.compile(r"params_(\d+)\.npy")


def is_release(folder: str | Path) -> bool:
    """Whether ``folder`` looks like the original release's ``model/`` folder."""
    return Path(folder).is_dir() and (Path(folder) / SHAPES_FILE).is_file()


def _shards(folder: Path) -> list[Path]:
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _SHARD.fullmatch(p.name)))
    if not found or [n for n, _ in found] != list(range(len(found))):
        raise ModelFileError(f"{folder}: expected weight shards params_0.npy, params_1.npy, ... "
                             f"(found {[p.name for _, p in found] or 'none'})")
    return [p for _, p in found]


def read_release_params(folder: str | Path) -> list[np.ndarray]:
    """The release's parameters in order, as its ``train.py`` reads them (shards concatenated, then
    cut by ``params_shapes.json``). Only ``.npy`` arrays are read, never pickles."""
    folder = Path(folder)
    try:
        shapes = json.loads((folder / SHAPES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{folder / SHAPES_FILE}: cannot read the parameter shapes ({exc})") from None
    if not isinstance(shapes, list) or not all(isinstance(s, list) and all(isinstance(d, int) and d > 0 for d in s)
                                               for s in shapes):
        raise ModelFileError(f"{folder / SHAPES_FILE}: expected a list of shapes (lists of positive integers)")
    flat = []
    for path in _shards(folder):
        try:
            flat.append(np.load(path, allow_pickle=False).reshape(-1))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: not a NumPy array file ({exc})") from None
    values = np.concatenate(flat)
    sizes = [int(np.prod(s)) for s in shapes]
    if values.size != sum(sizes):
        raise ModelFileError(f"{folder}: the shards hold {values.size} values, {SHAPES_FILE} needs {sum(sizes)}")
    pieces = np.split(values, np.cumsum(sizes)[:-1])
    return [piece.reshape(shape).astype(np.float32, copy=False) for piece, shape in zip(pieces, shapes)]


def release_state_dict(params: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """``transformers`` OpenAIGPTModel weights (``transformer.`` prefix) from the release's parameters."""
    if len(params) < 2 or (len(params) - 2) % len(LAYER_PARAMS):
        raise ModelFileError(f"{len(params)} parameters: the release has 2 embeddings and "
                             f"{len(LAYER_PARAMS)} per layer")
    out = {"transformer.positions_embed.weight": params[0], "transformer.tokens_embed.weight": params[1]}
    for i, value in enumerate(params[2:]):
        layer, k = divmod(i, len(LAYER_PARAMS))
        out[f"transformer.h.{layer}.{LAYER_PARAMS[k]}"] = value[0] if value.ndim == 3 else value  # (1, in, out)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}


def convert_release(folder: str | Path, out: str | Path, n_head: int = 12) -> Path:
    """Write the release in ``folder`` to ``out`` as a ``transformers`` OpenAIGPT checkpoint
    (``OpenAIGPTLMHeadModel`` safetensors, config, fast tokenizer). ``n_head``: the release's 12
    (the shapes do not record it)."""
    import transformers as tf
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    folder, out = Path(folder), Path(out)
    for name in (VOCAB_FILE, MERGES_FILE):
        if not (folder / name).is_file():
            raise ConfigError(f"{folder}: {name} is missing; the release's model/ folder holds {SHAPES_FILE}, "
                              f"params_*.npy, {VOCAB_FILE} and {MERGES_FILE}")
    state = release_state_dict(read_release_params(folder))
    n_positions, n_embd = state["transformer.positions_embed.weight"].shape
    vocab_size = state["transformer.tokens_embed.weight"].shape[0]
    n_layer = (len(state) - 2) // len(LAYER_PARAMS)
    if n_embd % n_head:
        raise ConfigError(f"n_head={n_head} does not divide the release's {n_embd} states")
    config = tf.OpenAIGPTConfig(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                                n_head=n_head, afn="gelu", layer_norm_epsilon=1e-5)
    net = tf.OpenAIGPTLMHeadModel(config)
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the token embeddings
    if missing or unexpected:
        raise ModelFileError(f"{folder}: the release does not fit OpenAIGPT (missing {missing[:4]}, "
                             f"unexpected {unexpected[:4]})")
    net.tie_weights()

    vocab = _read_vocab(folder / VOCAB_FILE, vocab_size)
    lines = (folder / MERGES_FILE).read_text(encoding="utf-8").split("\n")[1:]  # a version line first
    merges = []
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ModelFileError(f"{folder / MERGES_FILE}, line {number}: expected two symbols, got {line!r}")
        merges.append((parts[0], parts[1]))
    # the release's text_utils.TextEncoder: lower-cased words (its spaCy/ftfy clean-up is not
    # reproduced; BERT's basic tokenizer splits words as transformers' openai-gpt tokenizer does),
    # BPE with "</w>" marking the end of a word
    backend = Tokenizer(BPE(vocab=vocab, merges=merges, end_of_word_suffix="</w>", unk_token=None))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.BPEDecoder(suffix="</w>")
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=n_positions)

    def write(tmp: Path) -> None:
        net.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    write_folder(out, write)
    log.info("converted the GPT release in %s (%d layers, %d states, %d tokens) to %s",
             folder, n_layer, n_embd, vocab_size, out)
    return out


def _read_vocab(path: Path, vocab_size: int) -> dict[str, int]:
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: cannot read the BPE vocabulary ({exc})") from None
    if not isinstance(vocab, dict) or sorted(vocab.values()) != list(range(len(vocab))):
        raise ModelFileError(f"{path}: expected a JSON object mapping tokens to the ids 0..n-1")
    if len(vocab) != vocab_size:
        raise ModelFileError(f"{path}: {len(vocab)} tokens, the token embeddings have {vocab_size} rows")
    return vocab


def release_digest(folder: str | Path) -> str:
    """A digest of the release's files (shapes, shards, vocabulary, merges)."""
    folder = Path(folder)
    digest = hashlib.blake2b(digest_size=16)
    for path in [folder / SHAPES_FILE, *_shards(folder), folder / VOCAB_FILE, folder / MERGES_FILE]:
        digest.update(path.name.encode() + b"\0")
        if path.is_file():
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
    return digest.hexdigest()


def converted_release(folder: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The converted checkpoint of the release in ``folder``, converted on first use into the cache
    (``TEXTZOO_CACHE`` or ``~/.cache/textzoo``, under ``converted/``)."""
    from ..data.registry import cache_dir_path

    out = cache_dir_path(cache_dir) / "converted" / f"gpt-release-{release_digest(folder)}"
    if not (out / "config.json").is_file():
        log.info("converting the original GPT release in %s (once; cached in %s)", folder, out)
        convert_release(folder, out)
    return out

"""ELMo for text classification: Peters et al., "Deep contextualized word representations", NAACL 2018.

The paper's feature-based use (Section 3.3): a pretrained biLM (:mod:`textzoo.models.elmo_bilm`) is
run with frozen weights over each text; its 2L + 1 layer representations are collapsed into one
vector per token by a task-specific :class:`~textzoo.models.elmo_bilm.ScalarMix`
(ELMo_k^task = gamma^task sum_j s_j^task h_kj, Eq. 1), which is concatenated with the task model's
own word embeddings, [x_k; ELMo_k], at the input of the task model. Optionally (``elmo_output``) a
second, separate mix is concatenated with the task model's output states, [h_k; ELMo_k] (Section 3.3,
"including ELMo at the output"). Dropout on the ELMo vectors and an L2 penalty lambda ||s||^2 on the
mixing weights (Section 3.3, lambda = 0.001) regularise it.

The task model by default is a BiLSTM encoder, max-pooled over the tokens, with a linear layer and
softmax on top (one of the classification models of the paper's SST-5 / supplement setting, kept
simple). ``features="words"`` gives the control: the same task model on randomly initialised word
embeddings without ELMo.

Tokens are the whitespace-separated words of a text (the corpora are pre-tokenised; ``tokenizer``
picks another tokenisation, :mod:`textzoo.data.tokenizers`, e.g. ``jieba`` for Chinese), cut to
``max_tokens``. The biLM runs in stateless mode; ``cache_token_embeddings`` keeps the char-CNN output
of every token seen so far (the CNN is most of a biLM step, see docs/design.md), and ``cache_activations``
keeps the biLM layers of each training and validation text so the biLM runs once per text and not
once per epoch (it is frozen and deterministic, so this gives the same model).

Saved runs hold the biLM weights in ``model.safetensors`` (prefix ``bilm.``), its options in
``bilm_options.json`` and the word vocabulary in ``vocabulary.json``: loading needs no other file.
"""

from __future__ import annotations

import copy
import logging
import random
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import tokenizers
from ..data.corpus import Split
from ..errors import ConfigError, ModelFileError
from ..training import EarlyStopping, EpochLoop, seed_everything
from .base import Model, State
from ..training.checkpoint import RunCheckpoints
from .elmo_bilm import BOS_TOKEN, EOS_TOKEN, BiLM, BiLMOptions, ScalarMix, load_release, token_char_ids

log = logging.getLogger(__name__)

PAD, UNK = "<PAD>", "<UNK>"

NEEDS_BILM = ("ELMo needs a pretrained biLM: set pretrained=DIR (`--set pretrained=DIR`), a folder in the "
              "original ELMo release format (options.json + a weights .hdf5 file), e.g. a published ELMo "
              "model or one made with `textzoo pretrain elmo --corpus FILE --out DIR` (FILE: unlabelled "
              "text, one sentence per line). Use features=words for the same task model without ELMo.")


@dataclass
class ELMoConfig:
    """The task model and its training; defaults follow Section 3.3 and the supplement of the paper."""

    pretrained: str | None = None     # biLM folder in the release format (options.json + *.hdf5)
    features: Literal["elmo+words", "elmo", "words"] = "elmo+words"
    #   "elmo+words": [x_k; ELMo_k] at the input (the paper); "elmo": ELMo only;
    #   "words": control without ELMo (randomly initialised word embeddings only)
    word_dim: int = 100               # size of the task model's own word embeddings x_k
    hidden: int = 200                 # BiLSTM units per direction
    elmo_output: bool = False         # also [h_k; ELMo_k] at the task model's output (second mix)
    layer_norm: bool = False          # layer-normalise each biLM layer before mixing (Section 3.2)
    dropout: float = 0.5              # on ELMo vectors, word embeddings and the pooled vector
    mix_l2: float = 0.001             # lambda of the L2 penalty on the mixing weights s
    lr: float = 0.001                 # Adam
    batch_size: int = 32
    epochs: int = 20
    patience: int = 3                 # early stopping on the validation loss
    max_tokens: int = 100             # tokens kept per text
    tokenizer: Literal["auto", "whitespace", "english", "unicode", "jieba", "char", "bigram"] = "auto"
    #   textzoo.data.tokenizers; auto: whitespace for ASCII text (the pre-tokenised corpora), jieba
    #   for Chinese, unicode otherwise; use the biLM's pretraining tokenizer (saved: auto's choice)
    min_count: int = 1                # words rarer in training become <UNK> (word embeddings)
    max_vocab: int = 50000
    cache_token_embeddings: bool = True   # memoise the char-CNN output per token string
    cache_activations: bool = True        # run the frozen biLM once per training/validation text
    seed: int = 0
    progress: bool = True
    checkpoint_every: int = 1         # epochs between checkpoints when fit() gets checkpoint_dir

    def __post_init__(self):
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if min(self.hidden, self.batch_size, self.epochs, self.max_tokens, self.min_count) < 1:
            raise ValueError("hidden, batch_size, epochs, max_tokens and min_count must be >= 1")
        if self.word_dim < 0 or (self.features != "elmo" and self.word_dim < 1):
            raise ValueError(f"features={self.features!r} needs word_dim >= 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    @property
    def uses_elmo(self) -> bool:
        return self.features != "words"

    @property
    def uses_words(self) -> bool:
        return self.features != "elmo"


class ELMoEmbedder:
    """The frozen biLM over tokenised texts: layers without the boundary tokens, char-CNN cache."""

    def __init__(self, bilm: BiLM, cache: bool = True):
        self.bilm = bilm.eval()
        for p in self.bilm.parameters():
            p.requires_grad_(False)
        self.cache = cache
        self._index: dict[str, int] = {}
        self._table = torch.zeros(0, bilm.options.projection_dim)

    def _token_embeddings(self, rows: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = self.bilm.options.max_characters_per_token
        length = max(len(r) for r in rows)
        if not self.cache:
            ids = torch.zeros(len(rows), length, width, dtype=torch.long)
            for b, r in enumerate(rows):
                ids[b, :len(r)] = torch.tensor([token_char_ids(t, width) for t in r])
            mask = (ids > 0).any(-1)
            return self.bilm.char_cnn(ids), mask
        new = sorted({t for r in rows for t in r} - self._index.keys())
        if new:
            ids = torch.tensor([token_char_ids(t, width) for t in new])
            parts = [self.bilm.char_cnn(ids[i:i + 1024]) for i in range(0, len(new), 1024)]
            base = len(self._index)
            self._index.update((t, base + i) for i, t in enumerate(new))
            self._table = torch.cat([self._table] + parts)
        index = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        for b, r in enumerate(rows):
            index[b, :len(r)] = torch.tensor([self._index[t] for t in r])
            mask[b, :len(r)] = True
        return self._table[index], mask

    @torch.no_grad()
    def __call__(self, sentences: list[list[str]]) -> list[torch.Tensor]:
        """L + 1 tensors (B, T, 2 x proj) for the tokens (boundaries removed; zero past the end)."""
        rows = [[BOS_TOKEN] + s + [EOS_TOKEN] for s in sentences]
        emb, mask = self._token_embeddings(rows)
        layers, mask = self.bilm(token_embeddings=emb, mask=mask)
        t = max(len(s) for s in sentences)
        keep = torch.zeros(len(sentences), t, 1)
        for b, s in enumerate(sentences):
            keep[b, :len(s)] = 1.0
        return [h[:, 1:t + 1] * keep for h in layers]


class ELMoTaskNet(nn.Module):
    """[x_k; ELMo_k] -> BiLSTM -> (optionally [h_k; ELMo_k]) -> max-pool -> linear (Section 3.3)."""

    def __init__(self, cfg: ELMoConfig, vocab_size: int, n_layers: int, elmo_dim: int, n_labels: int):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab_size, cfg.word_dim, padding_idx=0) if cfg.uses_words else None
        self.mix_in = ScalarMix(n_layers, cfg.layer_norm) if cfg.uses_elmo else None
        self.mix_out = ScalarMix(n_layers, cfg.layer_norm) if cfg.uses_elmo and cfg.elmo_output else None
        size = (cfg.word_dim if cfg.uses_words else 0) + (elmo_dim if cfg.uses_elmo else 0)
        self.lstm = nn.LSTM(size, cfg.hidden, batch_first=True, bidirectional=True)
        out = 2 * cfg.hidden + (elmo_dim if self.mix_out is not None else 0)
        self.head = nn.Linear(out, n_labels)

    def mix_penalty(self) -> torch.Tensor:
        return sum(((m.s ** 2).sum() for m in (self.mix_in, self.mix_out) if m is not None), torch.zeros(()))

    def forward(self, words: torch.Tensor, lengths: torch.Tensor, layers: list[torch.Tensor] | None):
        mask = torch.arange(words.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        drop = self.cfg.dropout
        inputs = []
        if self.embed is not None:
            inputs.append(F.dropout(self.embed(words), drop, self.training))
        if self.mix_in is not None:
            inputs.append(F.dropout(self.mix_in(layers, mask), drop, self.training))
        x = torch.cat(inputs, dim=-1)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=words.shape[1])
        if self.mix_out is not None:
            h = torch.cat([h, F.dropout(self.mix_out(layers, mask), drop, self.training)], dim=-1)
        pooled = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
        return self.head(F.dropout(pooled, drop, self.training))


class ELMo(Model):
    """Frozen biLM + ScalarMix + BiLSTM/max-pool classifier (see the module docstring)."""

    name = "elmo"
    Config = ELMoConfig
    #: a checkpoint holds the task model, Adam, the RNG states (the batch order's too) and the loop
    supports_checkpoints = True

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.vocab: list[str] = []
        self.bilm: BiLM | None = None
        self.net: ELMoTaskNet | None = None
        self._embedder: ELMoEmbedder | None = None

    # ------------------------------------------------------------------------------ inputs
    def _tokens(self, text: str) -> list[str]:
        name = self.config.tokenizer  # auto: a run saved before the setting existed
        words = text.split() if name in ("auto", "whitespace") else tokenizers.tokenize_text(text, name)
        return words[: self.config.max_tokens] or [UNK]

    def _load_bilm(self) -> None:
        cfg: ELMoConfig = self.config
        if not cfg.uses_elmo:
            return
        if not cfg.pretrained:
            raise ConfigError(NEEDS_BILM)
        try:
            self.bilm = load_release(cfg.pretrained)
        except ModelFileError as exc:
            raise ConfigError(f"pretrained={cfg.pretrained!r}: {exc}. {NEEDS_BILM}") from None
        self._embedder = ELMoEmbedder(self.bilm, cfg.cache_token_embeddings)

    def _batch(self, token_lists: list[list[str]], cached: list[list[torch.Tensor]] | None = None):
        index = self._word_index
        lengths = torch.tensor([len(t) for t in token_lists])
        words = torch.zeros(len(token_lists), int(lengths.max()), dtype=torch.long)
        for b, toks in enumerate(token_lists):
            words[b, :len(toks)] = torch.tensor([index.get(t, 1) for t in toks])
        layers = None
        if self._embedder is not None:
            if cached is not None:
                layers = [nn.utils.rnn.pad_sequence([c[j] for c in cached], batch_first=True)
                          for j in range(len(cached[0]))]
            else:
                layers = self._embedder(token_lists)
        return words, lengths, layers

    def _precompute(self, token_lists: list[list[str]], what: str) -> list[list[torch.Tensor]]:
        out = []
        order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))
        result: list = [None] * len(token_lists)
        bs = max(self.config.batch_size, 64)
        for start in tqdm(range(0, len(order), bs), desc=f"biLM over {what}", unit="batch", leave=False,
                          disable=not self.config.progress, dynamic_ncols=True):
            idx = order[start:start + bs]
            layers = self._embedder([token_lists[i] for i in idx])
            for b, i in enumerate(idx):
                n = len(token_lists[i])
                result[i] = [h[b, :n].clone() for h in layers]
        out = result
        return out

    # ------------------------------------------------------------------------------ training
    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run: RunCheckpoints) -> None:
        cfg: ELMoConfig = self.config
        seed_everything(cfg.seed)
        cfg.tokenizer = tokenizers.resolve(cfg.tokenizer, train.texts, english="whitespace")  # saved
        self._load_bilm()
        train_tokens = [self._tokens(t) for t in train.texts]
        counts = Counter(t for toks in train_tokens for t in toks)
        words = [w for w, c in counts.most_common(cfg.max_vocab) if c >= cfg.min_count and w not in (PAD, UNK)]
        self.vocab = [PAD, UNK] + words if cfg.uses_words else [PAD, UNK]
        self._word_index = {w: i for i, w in enumerate(self.vocab)}
        n_layers = self.bilm.num_layers if self.bilm is not None else 0
        elmo_dim = self.bilm.output_dim if self.bilm is not None else 0
        self.net = ELMoTaskNet(cfg, len(self.vocab), n_layers, elmo_dim, len(self.labels))
        y_train = self._targets(train)
        valid_tokens = [self._tokens(t) for t in valid.texts] if valid is not None else []
        y_valid = self._targets(valid) if valid is not None else None
        cache_train = cache_valid = None
        if self._embedder is not None and cfg.cache_activations:
            cache_train = self._precompute(train_tokens, "training texts")
            cache_valid = self._precompute(valid_tokens, "validation texts") if valid_tokens else None
        opt = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=cfg.lr)
        rng = random.Random(cfg.seed)

        def loss_fn(logits, target):
            if self.multilabel:
                return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
            return F.cross_entropy(logits, target, reduction="sum")

        def train_epoch(epoch: int) -> dict:
            self.net.train()
            total, n = 0.0, 0
            batches = _length_batches([len(t) for t in train_tokens], cfg.batch_size, rng)
            for idx in tqdm(batches, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                            disable=not cfg.progress, dynamic_ncols=True):
                words, lengths, layers = self._batch([train_tokens[i] for i in idx],
                                                     [cache_train[i] for i in idx] if cache_train else None)
                loss = loss_fn(self.net(words, lengths, layers), y_train[idx])
                objective = loss / len(idx) + cfg.mix_l2 * self.net.mix_penalty()
                opt.zero_grad()
                objective.backward()
                opt.step()
                total, n = total + loss.item(), n + len(idx)
            return {"loss": total / n}

        def validate(epoch: int) -> dict:
            if valid is None:
                return {}
            probs = self._probabilities(valid_tokens, cache_valid)
            if self.multilabel:
                p = torch.from_numpy(probs).clamp(1e-7, 1 - 1e-7)
                val_loss = float(F.binary_cross_entropy(p, y_valid, reduction="sum")) / len(valid_tokens)
                return {"val_loss": val_loss}
            val_loss = float(-np.log(np.clip(probs[np.arange(len(probs)), y_valid.numpy()], 1e-12, None)).mean())
            return {"val_loss": val_loss, "val_accuracy": float((probs.argmax(1) == y_valid.numpy()).mean())}

        loop = EpochLoop(epochs=cfg.epochs, train_epoch=train_epoch, validate=validate,
                         stopper=EarlyStopping("patience", cfg.patience) if valid is not None else None,
                         keep_best=valid is not None,
                         get_state=lambda: copy.deepcopy(self.net.state_dict()),
                         set_state=self.net.load_state_dict, progress=cfg.progress,
                         description="elmo",
                         checkpoint=run.callback(self.net.state_dict, opt,
                                                 lambda: {"batch_rng": rng.getstate()}),
                         checkpoint_every=cfg.checkpoint_every)
        if run.resuming:  # the task model, Adam, the loop and, last, the global RNGs
            extra = run.restore(loop, self.net.state_dict(), opt)
            try:
                rng.setstate(extra["batch_rng"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelFileError(f"{run.folder}: the checkpoint cannot be restored "
                                     f"(batch order: {exc})") from None
        self.history = loop.run()
        self.net.eval()

    def _targets(self, split: Split) -> torch.Tensor:
        if self.multilabel:
            index = {label: i for i, label in enumerate(self.labels)}
            y = torch.zeros(len(split), len(self.labels))
            for r, labels in enumerate(split.labels):
                y[r, [index[l] for l in labels]] = 1.0
            return y
        return torch.from_numpy(self.label_indices(split))

    # ------------------------------------------------------------------------------ prediction
    @torch.no_grad()
    def _probabilities(self, token_lists: list[list[str]], cached=None) -> np.ndarray:
        self.net.eval()
        out = np.zeros((len(token_lists), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))
        bs = max(self.config.batch_size, 64)
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            words, lengths, layers = self._batch([token_lists[i] for i in idx],
                                                 [cached[i] for i in idx] if cached else None)
            logits = self.net(words, lengths, layers)
            probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=-1)
            out[idx] = probs.numpy()
        return out

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self._probabilities([self._tokens(t) for t in texts])

    # ------------------------------------------------------------------------------ persistence
    def _state(self) -> State:
        tensors = {f"task.{k}": v for k, v in self.net.state_dict().items()}
        extra = {"vocabulary": self.vocab}
        if self.bilm is not None:
            tensors.update({f"bilm.{k}": v for k, v in self.bilm.state_dict().items()})
            extra["bilm_options"] = self.bilm.options.to_json()
        return State(tensors=tensors, extra=extra)

    def _restore(self, state: State) -> None:
        cfg: ELMoConfig = self.config
        vocab = state.check_words(at_least=2)
        self.vocab = vocab
        self._word_index = {w: i for i, w in enumerate(vocab)}
        self.bilm = None
        self._embedder = None
        if cfg.uses_elmo:
            if "bilm_options" not in state.extra:
                raise ModelFileError(f"{state.source}: lacks bilm_options.json for features={cfg.features!r}")
            try:
                self.bilm = BiLM(BiLMOptions.from_json(state.extra["bilm_options"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelFileError(f"{state.source}: bilm_options.json is malformed ({exc!r})") from None
            bilm_state = {}
            for k, v in self.bilm.state_dict().items():
                bilm_state[k] = state.check_tensor(f"bilm.{k}", tuple(v.shape), v.dtype)
            self.bilm.load_state_dict(bilm_state)
            self._embedder = ELMoEmbedder(self.bilm, cfg.cache_token_embeddings)
        n_layers = self.bilm.num_layers if self.bilm is not None else 0
        elmo_dim = self.bilm.output_dim if self.bilm is not None else 0
        self.net = ELMoTaskNet(cfg, len(vocab), n_layers, elmo_dim, len(self.labels))
        net_state = {k: state.check_tensor(f"task.{k}", tuple(v.shape), v.dtype)
                     for k, v in self.net.state_dict().items()}
        self.net.load_state_dict(net_state)
        self.net.eval()


def _length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of texts of similar length (sorted inside pools of 50 batches)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches

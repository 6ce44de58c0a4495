"""The ELMo biLM: Peters et al., "Deep contextualized word representations", NAACL 2018.

Everything the biLM needs, top to bottom, in PyTorch only (no AllenNLP, no TensorFlow):

* :func:`char_ids` — the release's character input (Section 3.1 and the bilm-tf code): the UTF-8
  bytes of a token (0..255) between begin-of-word 258 and end-of-word 259, padded with 260 to 50
  characters (tokens are cut to 48 bytes); the sentence boundaries are the special tokens
  begin-of-sentence 256 and end-of-sentence 257 (``[258, 256|257, 259, 260, ...]``). Every id is
  shifted by +1 so that 0 is the mask of padded token positions.
* :class:`CharCNN` — context-independent token representation x_k (Section 3.1, following Józefowicz
  et al. 2016 / Kim et al. 2015): character embeddings, convolutions of several widths max-pooled
  over the characters, an activation, highway layers and a linear projection.
* :class:`LSTMWithProjection` — one direction of one layer: TensorFlow's ``LSTMCell`` with
  ``num_proj``, ``cell_clip`` and ``proj_clip`` as bilm-tf uses it (:func:`bidirectional_layer`
  runs a layer's two directions together, the biLM's fast path). Gates are kept in TensorFlow's
  order (i, j, f, o) with the +1.0 forget bias applied at run time, and the kernel ``W`` packs the
  input and recurrent weights (rows ``[:input_size]`` then ``[input_size:]``), so the release weights
  load without reordering.
* :class:`BiLM` — separate forward and backward stacks of L layers (Eq. 1 and 2), residual (skip)
  connections between layers (Section 3.4), the token layer duplicated so that all 2L + 1
  representations R_k (Eq. 3) have the width 2 x projection. Stateless by default; ``stateful=True``
  carries each batch row's final LSTM states over to the same row of the next batch (the way the
  TensorFlow biLM computed the released activations).
* :class:`ScalarMix` — ELMo_k = gamma * sum_j softmax(s)_j h_kj (Eq. 1 of Section 3.2), with the
  optional layer normalisation of each h_j that Section 3.2 mentions.
* :func:`load_release` / :func:`save_release` — the original release format: ``options.json`` plus an
  hdf5 file of weights named as bilm-tf's ``dump_weights`` names them (``char_embed``, ``CNN/W_cnn_i``,
  ``CNN_high_k/{W,b}_{transform,carry}``, ``CNN_proj/{W,b}_proj``,
  ``RNN_{0,1}/RNN/MultiRNNCell/Cell{l}/LSTMCell/{W_0,B,W_P_0}``). Our highway layer is written in
  bilm-tf's form ``t * relu(W_T x) + (1 - t) * x`` with ``t = sigmoid(W_carry x + b_carry)``; a
  ``g * x + (1 - g) * f(x)`` highway (AllenNLP's) needs the carry weights and bias negated instead.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------- character ids
MAX_CHARS = 50
BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR = 256, 257, 258, 259, 260
BOS_TOKEN, EOS_TOKEN = "<S>", "</S>"


def _special(char: int, width: int = MAX_CHARS) -> list[int]:
    ids = [PAD_CHAR] * width
    ids[0], ids[1], ids[2] = BOW_CHAR, char, EOW_CHAR
    return [i + 1 for i in ids]


def token_char_ids(token: str, width: int = MAX_CHARS) -> list[int]:
    """The ``width`` character ids of one token (already shifted by +1; never 0).

    ``"<S>"`` and ``"</S>"`` are the sentence-boundary tokens (as in bilm-tf's
    ``UnicodeCharsVocabulary``); any other token is its UTF-8 bytes, cut to ``width - 2``.
    """
    if token == BOS_TOKEN:
        return _special(BOS_CHAR, width)
    if token == EOS_TOKEN:
        return _special(EOS_CHAR, width)
    data = token.encode("utf-8", "ignore")[: width - 2]
    ids = [BOW_CHAR, *data, EOW_CHAR] + [PAD_CHAR] * (width - 2 - len(data))
    return [i + 1 for i in ids]


def char_ids(sentences: Sequence[Sequence[str]], boundaries: bool = True,
             width: int = MAX_CHARS) -> torch.Tensor:
    """Character ids of a batch of tokenised sentences, shape (batch, max_tokens [+ 2], width).

    With ``boundaries`` each sentence is wrapped in ``<S>`` ... ``</S>``; positions past a
    sentence's end are all 0 (the mask).
    """
    rows = [([BOS_TOKEN] if boundaries else []) + list(s) + ([EOS_TOKEN] if boundaries else [])
            for s in sentences]
    length = max((len(r) for r in rows), default=0)
    out = torch.zeros(len(rows), length, width, dtype=torch.long)
    for b, row in enumerate(rows):
        if row:
            out[b, : len(row)] = torch.tensor([token_char_ids(t, width) for t in row], dtype=torch.long)
    return out


# ------------------------------------------------------------------------------- options
@dataclass
class BiLMOptions:
    """The ``options.json`` of a release (bilm-tf's names). Defaults: the paper's original model."""

    dim: int = 4096                   # LSTM cell size (Section 3.4: 4096 units)
    projection_dim: int = 512         # projection of each LSTM layer and of the char CNN (512)
    n_layers: int = 2                 # L = 2 biLSTM layers
    cell_clip: float | None = 3.0
    proj_clip: float | None = 3.0
    use_skip_connections: bool = True  # residual connection between the LSTM layers
    char_dim: int = 16
    filters: list = field(default_factory=lambda: [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256],
                                                   [6, 512], [7, 1024]])  # 2048 filters
    n_highway: int = 2
    n_characters: int = 262           # 261 rows in the file + the mask row 0
    max_characters_per_token: int = MAX_CHARS
    activation: str = "relu"
    extra: dict = field(default_factory=dict)  # other keys of options.json, kept when re-saving

    @classmethod
    def from_json(cls, data: dict) -> "BiLMOptions":
        lstm, cnn = data["lstm"], data["char_cnn"]
        known = {"lstm", "char_cnn"}
        return cls(dim=int(lstm["dim"]), projection_dim=int(lstm.get("projection_dim", lstm["dim"])),
                   n_layers=int(lstm["n_layers"]), cell_clip=lstm.get("cell_clip"),
                   proj_clip=lstm.get("proj_clip"),
                   use_skip_connections=bool(lstm.get("use_skip_connections", False)),
                   char_dim=int(cnn["embedding"]["dim"]), filters=[list(map(int, f)) for f in cnn["filters"]],
                   n_highway=int(cnn.get("n_highway", 0)), n_characters=int(cnn.get("n_characters", 262)),
                   max_characters_per_token=int(cnn.get("max_characters_per_token", MAX_CHARS)),
                   activation=str(cnn.get("activation", "relu")),
                   extra={k: v for k, v in data.items() if k not in known})

    def to_json(self) -> dict:
        return {**self.extra,
                "lstm": {"dim": self.dim, "projection_dim": self.projection_dim, "n_layers": self.n_layers,
                         "cell_clip": self.cell_clip, "proj_clip": self.proj_clip,
                         "use_skip_connections": self.use_skip_connections},
                "char_cnn": {"embedding": {"dim": self.char_dim}, "filters": self.filters,
                             "n_highway": self.n_highway, "n_characters": self.n_characters,
                             "max_characters_per_token": self.max_characters_per_token,
                             "activation": self.activation}}


# ------------------------------------------------------------------------------- char CNN
class CharCNN(nn.Module):
    """Context-independent token representation x_k (Section 3.1): char CNN + highway + projection."""

    def __init__(self, opt: BiLMOptions):
        super().__init__()
        if opt.activation not in ("relu", "tanh"):
            raise ValueError(f"char_cnn activation must be relu or tanh, got {opt.activation!r}")
        self.activation = torch.relu if opt.activation == "relu" else torch.tanh
        # row 0 is the mask (zeros, never trained); rows 1.. are the release's char_embed
        self.char_embed = nn.Parameter(torch.empty(opt.n_characters - 1, opt.char_dim).uniform_(-1, 1))
        self.convs = nn.ModuleList(nn.Conv1d(opt.char_dim, num, width) for width, num in opt.filters)
        n_filters = sum(num for _, num in opt.filters)
        # highway k: t = sigmoid(x W_carry + b_carry); y = t * relu(x W_transform + b_transform) + (1 - t) * x
        self.highway = nn.ModuleList(nn.Linear(n_filters, 2 * n_filters) for _ in range(opt.n_highway))
        for layer in self.highway:  # bilm-tf initialises the carry bias to -2 (mostly carry the input)
            nn.init.constant_(layer.bias[n_filters:], -2.0)
        self.proj = nn.Linear(n_filters, opt.projection_dim)
        self.n_filters = n_filters

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` (..., n_chars) -> (..., projection_dim); all-0 (masked) tokens give arbitrary rows."""
        shape = ids.shape[:-1]
        table = torch.cat([self.char_embed.new_zeros(1, self.char_embed.shape[1]), self.char_embed])
        x = F.embedding(ids.reshape(-1, ids.shape[-1]), table).transpose(1, 2)  # (N, char_dim, chars)
        x = torch.cat([self.activation(conv(x).max(dim=-1).values) for conv in self.convs], dim=-1)
        for layer in self.highway:
            transform, carry = layer(x).chunk(2, dim=-1)
            t = torch.sigmoid(carry)
            x = t * torch.relu(transform) + (1.0 - t) * x
        return self.proj(x).reshape(*shape, -1)


# ------------------------------------------------------------------------------- LSTM
class LSTMWithProjection(nn.Module):
    """One layer, one direction: TF ``LSTMCell(num_units, num_proj, cell_clip, proj_clip)``.

    gates = [x, h_prev] W + B, split (i, j, f, o);  c = sigmoid(f + 1) c_prev + sigmoid(i) tanh(j),
    clipped to +-cell_clip;  h = (sigmoid(o) tanh(c)) W_P, clipped to +-proj_clip.
    """

    def __init__(self, input_size: int, cell_size: int, proj_size: int,
                 cell_clip: float | None, proj_clip: float | None):
        super().__init__()
        self.input_size, self.cell_size, self.proj_size = input_size, cell_size, proj_size
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        bound = 1.0 / math.sqrt(cell_size)
        self.W = nn.Parameter(torch.empty(input_size + proj_size, 4 * cell_size).uniform_(-bound, bound))
        self.B = nn.Parameter(torch.zeros(4 * cell_size))
        self.W_P = nn.Parameter(torch.empty(cell_size, proj_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
                reverse: bool = False):
        """``x`` (B, T, in), ``mask`` (B, T) bool, ``state`` = (c (B, cell), h (B, proj)).

        Returns the outputs (B, T, proj), zero at masked positions, and the final state of each row
        (masked positions leave a row's state unchanged, so the backward direction of a short row
        starts at its own last token and every row ends at its own boundary).
        """
        c, h = state
        xw = torch.addmm(self.B, x.reshape(-1, x.shape[-1]), self.W[: self.input_size])
        xw = xw.reshape(x.shape[0], x.shape[1], -1)
        w_h = self.W[self.input_size:]
        m = mask.unsqueeze(-1)
        xw_steps = xw.unbind(1)
        outputs = [None] * x.shape[1]
        steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        cell = self.cell_size
        for t in steps:
            gates = xw_steps[t] + h @ w_h
            i, j, f, o = gates[:, :cell], gates[:, cell:2 * cell], gates[:, 2 * cell:3 * cell], gates[:, 3 * cell:]
            c_new = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(j)
            if self.cell_clip:
                c_new = c_new.clamp(-self.cell_clip, self.cell_clip)
            h_new = (torch.sigmoid(o) * torch.tanh(c_new)) @ self.W_P
            if self.proj_clip:
                h_new = h_new.clamp(-self.proj_clip, self.proj_clip)
            keep = m[:, t]
            c = torch.where(keep, c_new, c)
            h = torch.where(keep, h_new, h)
            outputs[t] = h_new * keep
        return torch.stack(outputs, dim=1), (c, h)


def bidirectional_layer(fwd: LSTMWithProjection, bwd: LSTMWithProjection, x_fwd: torch.Tensor,
                        x_bwd: torch.Tensor, mask: torch.Tensor, state_fwd: tuple, state_bwd: tuple):
    """Both directions of one layer in a single time loop; the same result as calling ``fwd`` and
    ``bwd(reverse=True)`` one after the other (a test checks it), about twice as fast on CPU.

    At step s the forward cell reads position s and the backward cell position T - 1 - s; their
    recurrent products are one batched matmul. The gate columns are reordered once per call to
    (i, f, o, j) with the +1 forget bias folded into B, so one sigmoid covers three gates.
    Returns ``(out_fwd, out_bwd, state_fwd, state_bwd)`` as :meth:`LSTMWithProjection.forward` does.
    """
    if (fwd.input_size, fwd.cell_size, fwd.proj_size, fwd.cell_clip, fwd.proj_clip) != \
            (bwd.input_size, bwd.cell_size, bwd.proj_size, bwd.cell_clip, bwd.proj_clip):
        raise ValueError("both directions of a layer must have the same sizes and clips")
    n, cell, clip_c, clip_p = fwd.input_size, fwd.cell_size, fwd.cell_clip, fwd.proj_clip
    batch, steps = x_fwd.shape[0], x_fwd.shape[1]
    order = torch.cat([torch.arange(0, cell), torch.arange(2 * cell, 4 * cell), torch.arange(cell, 2 * cell)])
    forget = torch.zeros(4 * cell, dtype=x_fwd.dtype, device=x_fwd.device)
    forget[cell:2 * cell] = 1.0
    W = torch.stack([fwd.W, bwd.W])[:, :, order]                       # (2, in + proj, 4 cell)
    B = torch.stack([fwd.B, bwd.B])[:, order] + forget                 # (2, 4 cell)
    W_x, W_h, W_P = W[:, :n], W[:, n:], torch.stack([fwd.W_P, bwd.W_P])
    x = torch.stack([x_fwd, x_bwd.flip(1)])                            # backward input in its own time order
    xw = torch.baddbmm(B.unsqueeze(1), x.reshape(2, batch * steps, n), W_x).reshape(2, batch, steps, 4 * cell)
    keep_all = torch.stack([mask, mask.flip(1)]).unsqueeze(-1)          # (2, B, T, 1)
    c = torch.stack([state_fwd[0], state_bwd[0]])
    h = torch.stack([state_fwd[1], state_bwd[1]])
    full = keep_all.flatten(0, 1).all(dim=0).flatten().tolist()   # steps without padding in any row or direction
    xw_steps = xw.unbind(2)  # one backward node for all steps (indexing xw[:, :, t] costs O(T^2))
    outputs = []
    for t in range(steps):
        ifo, j = torch.baddbmm(xw_steps[t], h, W_h).split([3 * cell, cell], dim=-1)
        i, f, o = torch.sigmoid(ifo).chunk(3, dim=-1)
        c_new = torch.addcmul(f * c, i, torch.tanh(j))
        if clip_c:
            c_new = c_new.clamp(-clip_c, clip_c)
        h_new = torch.bmm(o * torch.tanh(c_new), W_P)
        if clip_p:
            h_new = h_new.clamp(-clip_p, clip_p)
        if full[t]:
            c, h = c_new, h_new
            outputs.append(h_new)
            continue
        keep = keep_all[:, :, t]
        c = torch.where(keep, c_new, c)
        h = torch.where(keep, h_new, h)
        outputs.append(h_new * keep)
    out = torch.stack(outputs, dim=2)                                  # (2, B, T, proj)
    return out[0], out[1].flip(1), (c[0], h[0]), (c[1], h[1])


# ------------------------------------------------------------------------------- biLM
class BiLM(nn.Module):
    """The biLM of Section 3.1/3.4; ``forward`` returns the 2L + 1 layer representations.

    ``stateful=True``: row r of each batch starts from the final states of row r of the previous
    batch (both directions, every layer), as the TensorFlow biLM ran; call :meth:`reset_states` to
    start from zeros again. The default (stateless) starts every batch from zeros.
    """

    def __init__(self, options: BiLMOptions | dict, stateful: bool = False):
        super().__init__()
        if isinstance(options, dict):
            options = BiLMOptions.from_json(options)
        self.options = opt = options
        self.char_cnn = CharCNN(opt)
        p = opt.projection_dim
        self.forward_layers = nn.ModuleList(
            LSTMWithProjection(p, opt.dim, p, opt.cell_clip, opt.proj_clip) for _ in range(opt.n_layers))
        self.backward_layers = nn.ModuleList(
            LSTMWithProjection(p, opt.dim, p, opt.cell_clip, opt.proj_clip) for _ in range(opt.n_layers))
        self.stateful = stateful
        self._states: list | None = None
        self.dropout = 0.0  # between layers, in training mode only (pretraining)

    @property
    def output_dim(self) -> int:
        return 2 * self.options.projection_dim

    @property
    def num_layers(self) -> int:
        return self.options.n_layers + 1

    def reset_states(self) -> None:
        self._states = None

    def _initial(self, batch: int, like: torch.Tensor) -> list:
        opt = self.options
        zeros = [(like.new_zeros(batch, opt.dim), like.new_zeros(batch, opt.projection_dim))
                 for _ in range(2 * opt.n_layers)]
        if not self.stateful or self._states is None:
            return zeros
        kept = self._states
        if kept[0][0].shape[0] < batch:  # a larger batch: the new rows start from zeros
            return [(torch.cat([c, z[0][c.shape[0]:]]), torch.cat([h, z[1][h.shape[0]:]]))
                    for (c, h), z in zip(kept, zeros)]
        return [(c[:batch], h[:batch]) for c, h in kept]

    def forward(self, ids: torch.Tensor | None = None, token_embeddings: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Layer representations for character ids (B, T, chars) (boundaries included).

        Alternatively pass precomputed ``token_embeddings`` (B, T, proj) and ``mask`` (B, T)
        (the cached char-CNN path). Returns ``(layers, mask)``: a list of L + 1 tensors
        (B, T, 2 x proj), layer 0 being the token representation duplicated [x_k; x_k], and the
        token mask (B, T).
        """
        if token_embeddings is None:
            mask = (ids > 0).any(dim=-1)
            token_embeddings = self.char_cnn(ids)
        x = token_embeddings * mask.unsqueeze(-1)
        batch = x.shape[0]
        states = self._initial(batch, x)
        new_states = []
        layers = [torch.cat([x, x], dim=-1)]
        fwd_in, bwd_in = x, x
        for k in range(self.options.n_layers):
            fwd, bwd, f_state, b_state = bidirectional_layer(
                self.forward_layers[k], self.backward_layers[k], fwd_in, bwd_in, mask,
                states[2 * k], states[2 * k + 1])
            new_states += [f_state, b_state]
            if k > 0 and self.options.use_skip_connections:
                fwd, bwd = fwd + fwd_in, bwd + bwd_in
            layers.append(torch.cat([fwd, bwd], dim=-1))
            if self.training and self.dropout > 0:
                fwd, bwd = F.dropout(fwd, self.dropout), F.dropout(bwd, self.dropout)
            fwd_in, bwd_in = fwd, bwd
        if self.stateful:
            if self._states is not None and self._states[0][0].shape[0] > batch:
                # a smaller batch: the rows it lacks keep their states
                new_states = [(torch.cat([c, old[0][batch:]]), torch.cat([h, old[1][batch:]]))
                              for (c, h), old in zip(new_states, self._states)]
            self._states = [(c.detach(), h.detach()) for c, h in new_states]
        return layers, mask


# ------------------------------------------------------------------------------- ScalarMix
class ScalarMix(nn.Module):
    """ELMo_k = gamma * sum_j softmax(s)_j h_kj (Section 3.2, Eq. 1), optional layer norm of each h_j."""

    def __init__(self, n_layers: int, layer_norm: bool = False, initial: Sequence[float] | None = None,
                 gamma: float = 1.0):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(list(initial) if initial is not None else [0.0] * n_layers))
        self.gamma = nn.Parameter(torch.tensor([float(gamma)]))
        self.layer_norm = layer_norm

    def forward(self, layers: Sequence[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        weights = torch.softmax(self.s, dim=0)
        if self.layer_norm:
            layers = [_masked_layer_norm(h, mask) for h in layers]
        return self.gamma * sum(w * h for w, h in zip(weights, layers))


def _masked_layer_norm(h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Normalise h by the mean and std of its unmasked entries (one pair per sequence of the batch)."""
    if mask is None:
        mask = torch.ones(h.shape[:-1], dtype=torch.bool, device=h.device)
    m = mask.unsqueeze(-1).to(h.dtype)
    n = (m.sum(dim=(1, 2), keepdim=True) * h.shape[-1]).clamp(min=1)
    mean = (h * m).sum(dim=(1, 2), keepdim=True) / n
    var = (((h - mean) * m) ** 2).sum(dim=(1, 2), keepdim=True) / n
    return (h - mean) / torch.sqrt(var + 1e-12) * m


# the release format lives in its own module; its functions are part of this module's interface
from .elmo_release import OPTIONS_FILE, WEIGHTS_FILE, load_release, release_arrays, save_release  # noqa: E402,F401

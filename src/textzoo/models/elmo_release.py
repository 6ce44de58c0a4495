"""The original ELMo release format (bilm-tf's ``dump_weights``): ``options.json`` plus an hdf5 file of
weights, read into and written from a :class:`~textzoo.models.elmo_bilm.BiLM` (the names and layouts
are listed in :mod:`textzoo.models.elmo_bilm`'s docstring)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelFileError
from .elmo_bilm import BiLM, BiLMOptions

OPTIONS_FILE = "options.json"
WEIGHTS_FILE = "weights.hdf5"


def _lstm_prefix(direction: int, layer: int) -> str:
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def release_arrays(bilm: BiLM) -> dict[str, np.ndarray]:
    """The biLM's weights under the release's hdf5 names and layouts."""
    cnn = bilm.char_cnn
    out = {"char_embed": cnn.char_embed}
    for i, conv in enumerate(cnn.convs):  # torch (num, char_dim, width) -> TF (1, width, char_dim, num)
        out[f"CNN/W_cnn_{i}"] = conv.weight.permute(2, 1, 0).unsqueeze(0)
        out[f"CNN/b_cnn_{i}"] = conv.bias
    n = cnn.n_filters
    for k, layer in enumerate(cnn.highway):
        out[f"CNN_high_{k}/W_transform"] = layer.weight[:n].t()
        out[f"CNN_high_{k}/W_carry"] = layer.weight[n:].t()
        out[f"CNN_high_{k}/b_transform"] = layer.bias[:n]
        out[f"CNN_high_{k}/b_carry"] = layer.bias[n:]
    out["CNN_proj/W_proj"] = cnn.proj.weight.t()
    out["CNN_proj/b_proj"] = cnn.proj.bias
    for d, stack in enumerate([bilm.forward_layers, bilm.backward_layers]):
        for k, lstm in enumerate(stack):
            out[f"{_lstm_prefix(d, k)}/W_0"] = lstm.W
            out[f"{_lstm_prefix(d, k)}/B"] = lstm.B
            out[f"{_lstm_prefix(d, k)}/W_P_0"] = lstm.W_P
    return {k: v.detach().cpu().contiguous().numpy().astype(np.float32) for k, v in out.items()}


def save_release(bilm: BiLM, folder: str | Path, extra_arrays: dict[str, np.ndarray] | None = None,
                 extra_options: dict | None = None) -> Path:
    """Write ``folder/options.json`` and ``folder/weights.hdf5`` in the release format."""
    import h5py

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    options = bilm.options.to_json()
    options.update(extra_options or {})
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    with h5py.File(tmp, "w") as f:
        for name, value in {**release_arrays(bilm), **(extra_arrays or {})}.items():
            f.create_dataset(name, data=value)
    tmp.replace(folder / WEIGHTS_FILE)
    (folder / (OPTIONS_FILE + ".tmp")).write_text(json.dumps(options, indent=2))
    (folder / (OPTIONS_FILE + ".tmp")).replace(folder / OPTIONS_FILE)
    return folder


def _find_weights(folder: Path) -> Path:
    for name in (WEIGHTS_FILE, "lm_weights.hdf5"):
        if (folder / name).exists():
            return folder / name
    found = sorted(p for p in folder.glob("*.hdf5") if "weight" in p.name)
    if not found:
        raise ModelFileError(f"{folder}: no biLM weights (expected {WEIGHTS_FILE} or another *weights*.hdf5)")
    return found[0]


def load_release(options: str | Path | dict, weights: str | Path | None = None,
                 stateful: bool = False) -> BiLM:
    """A :class:`BiLM` from the release format: a folder, or ``options.json`` + an hdf5 weight file."""
    import h5py

    if isinstance(options, (str, Path)) and Path(options).is_dir():
        folder = Path(options)
        options, weights = folder / OPTIONS_FILE, weights or _find_weights(folder)
    if isinstance(options, (str, Path)):
        path = Path(options)
        try:
            options = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelFileError(f"{path}: missing (an ELMo release folder holds options.json and weights)") from None
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    try:
        bilm = BiLM(BiLMOptions.from_json(options), stateful=stateful)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"ELMo options lack or misstate a setting ({exc!r})") from None
    expected = release_arrays(bilm)
    params = _release_parameters(bilm)
    with h5py.File(weights, "r") as f:
        for name, want in expected.items():
            if name not in f:
                raise ModelFileError(f"{weights}: lacks dataset {name!r}")
            value = np.asarray(f[name][...], dtype=np.float32)
            if value.shape != want.shape:
                raise ModelFileError(f"{weights}: {name!r} has shape {value.shape}, options.json implies {want.shape}")
            params[name](torch.from_numpy(value))
    bilm.eval()
    return bilm


def _release_parameters(bilm: BiLM) -> dict:
    """Release name -> a function that copies a release-layout tensor into the parameter."""
    def setter(param, transform=lambda t: t):
        def copy(value):
            with torch.no_grad():
                param.copy_(transform(value))
        return copy

    cnn = bilm.char_cnn
    n = cnn.n_filters
    out = {"char_embed": setter(cnn.char_embed)}
    for i, conv in enumerate(cnn.convs):
        out[f"CNN/W_cnn_{i}"] = setter(conv.weight, lambda t: t[0].permute(2, 1, 0))
        out[f"CNN/b_cnn_{i}"] = setter(conv.bias)
    for k, layer in enumerate(cnn.highway):
        out[f"CNN_high_{k}/W_transform"] = setter(layer.weight[:n], lambda t: t.t())
        out[f"CNN_high_{k}/W_carry"] = setter(layer.weight[n:], lambda t: t.t())
        out[f"CNN_high_{k}/b_transform"] = setter(layer.bias[:n])
        out[f"CNN_high_{k}/b_carry"] = setter(layer.bias[n:])
    out["CNN_proj/W_proj"] = setter(cnn.proj.weight, lambda t: t.t())
    out["CNN_proj/b_proj"] = setter(cnn.proj.bias)
    for d, stack in enumerate([bilm.forward_layers, bilm.backward_layers]):
        for k, lstm in enumerate(stack):
            out[f"{_lstm_prefix(d, k)}/W_0"] = setter(lstm.W)
            out[f"{_lstm_prefix(d, k)}/B"] = setter(lstm.B)
            out[f"{_lstm_prefix(d, k)}/W_P_0"] = setter(lstm.W_P)
    return out

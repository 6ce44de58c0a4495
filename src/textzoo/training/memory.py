"""Peak memory of a block of code (the training of a run), recorded in the run info.

``peak_rss_mb``: the process's peak resident set size while the block ran. On Linux the kernel's
high-water mark (``VmHWM``) is reset at the start (``/proc/self/clear_refs``, value 5) and read at
the end, so the figure belongs to the block alone; elsewhere, or where the reset is refused, it is
the process's peak since it started (``getrusage``), an upper bound, and ``peak_rss_scope`` says
``"process"`` instead of ``"fit"``. ``peak_cuda_mb``: the most CUDA memory allocated by torch
during the block, when CUDA is in use.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _hwm_mb() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def rusage_peak_mb(children: bool = False) -> float | None:
    """The peak resident set size in MB of this process since it started (``children``: of its
    largest finished child process), from ``getrusage``; None where there is none (Windows)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0, 1)  # bytes / kB


@contextlib.contextmanager
def track_peak_memory(info: dict) -> Iterator[None]:
    """Write ``peak_rss_mb`` (and ``peak_cuda_mb``) of the enclosed block into ``info``."""
    import torch

    scoped = _reset_hwm() and _hwm_mb() is not None
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        yield
    finally:
        peak = _hwm_mb() if scoped else rusage_peak_mb()
        if peak is not None:
            info["peak_rss_mb"] = round(peak, 1)
            info["peak_rss_scope"] = "fit" if scoped else "process"
        if torch.cuda.is_available() and torch.cuda.is_initialized():  # also when first used in the block
            info["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

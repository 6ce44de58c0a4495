"""Server-side micro-batching: concurrent requests share one ``predict_proba`` call.

A request's texts wait in a queue; a collector task takes the oldest request, keeps collecting for
up to ``window_ms`` after that request arrived (or until ``max_batch`` texts are waiting), and runs
the model once on all collected texts in a single worker thread. Each request gets back exactly its
own rows. A request larger than ``max_batch`` is never split: it runs in a batch of its own.

The model runs in one thread only, so models need not be thread-safe, and the event loop stays free
to accept requests while a batch is being predicted (those requests form the next batch).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future
    arrived: float


@dataclass
class BatchStats:
    """Counters for tests and monitoring: model calls made and texts predicted."""

    calls: int = 0
    texts: int = 0
    requests: int = 0
    largest_batch: int = 0


class MicroBatcher:
    """Collect concurrent prediction requests into batches for ``predict_fn(texts) -> (n, L) array``.

    ``enabled=False`` predicts each request on its own (still in the single worker thread).
    """

    def __init__(self, predict_fn: Callable[[list[str]], np.ndarray], *, max_batch: int = 32,
                 window_ms: float = 3.0, enabled: bool = True):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if window_ms < 0:
            raise ValueError(f"window_ms must be >= 0, got {window_ms}")
        self.predict_fn = predict_fn
        self.max_batch = int(max_batch)
        self.window = float(window_ms) / 1000.0
        self.enabled = bool(enabled)
        self.stats = BatchStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textzoo-predict")
        self._queue: deque[_Pending] = deque()
        self._queued_texts = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities for ``texts`` (rows in order), computed alone or within a batch."""
        texts = list(texts)
        loop = asyncio.get_running_loop()
        self.stats.requests += 1
        if not self.enabled:
            return await loop.run_in_executor(self._executor, self._call, texts)
        self._ensure_started()
        future = loop.create_future()
        self._queue.append(_Pending(texts, future, loop.time()))
        self._queued_texts += len(texts)
        self._wake.set()
        return await future

    async def aclose(self) -> None:
        """Stop the collector, fail what is still queued and release the worker thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(RuntimeError("the server is shutting down"))
        self._queued_texts = 0
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -------------------------------------------------------------------------------- internals
    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._collect(), name="textzoo-batcher")

    def _call(self, texts: list[str]) -> np.ndarray:
        probs = np.asarray(self.predict_fn(texts))
        self.stats.calls += 1
        self.stats.texts += len(texts)
        self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
        return probs

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            deadline = self._queue[0].arrived + self.window
            while self._queued_texts < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take_batch()
            if batch:
                await self._run_batch(batch)

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size = 0
        while self._queue:
            item = self._queue[0]
            if batch and size + len(item.texts) > self.max_batch:
                break
            self._queue.popleft()
            self._queued_texts -= len(item.texts)
            if item.future.done():  # the client went away
                continue
            batch.append(item)
            size += len(item.texts)
        return batch

    async def _run_batch(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        texts = [t for item in batch for t in item.texts]
        try:
            probs = await loop.run_in_executor(self._executor, self._call, texts)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            if len(batch) > 1:
                # one bad request must not fail the others: predict each on its own
                log.warning("a batch of %d requests failed (%s); retrying them one by one", len(batch), exc)
                for item in batch:
                    await self._run_batch([item])
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        start = 0
        for item in batch:
            rows = probs[start:start + len(item.texts)]
            start += len(item.texts)
            if not item.future.done():
                item.future.set_result(rows)

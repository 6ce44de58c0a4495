"""HTTP JSON API over a saved run folder (FastAPI on uvicorn).

    POST /v1/predict   {"texts": ["...", ...], "top_k": 3}  ->  labels with scores per text
    GET  /v1/model     model name, config, labels, metrics at training time, library version
    GET  /healthz      liveness
    GET  /docs         OpenAPI page (spec at /openapi.json)

Answers follow the one rule of :mod:`textzoo.scoring` (``textzoo predict`` and ``Model.predict``
answer the same): with ``top_k`` the ``top_k`` best labels; without it the best label
(single-label), or every label scoring at least the threshold (request ``threshold``, default the
server's, 0.5), best first, and the best label alone when none reaches it (multi-label). Requests are validated (texts per request, characters per text,
types, empty input); the served run is fixed when the app is created, so no request names a file.
Concurrent requests are micro-batched (see :mod:`.batching`) without changing any answer.
"""

# No ``from __future__ import annotations`` here: FastAPI must resolve the request model that
# create_app defines locally (its limits are per app).

import asyncio
import json
import logging
import math
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Optional, Sequence

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError
from starlette.requests import ClientDisconnect

from .. import __version__
from .batching import MicroBatcher
from .guard import (NOT_SPACE, BodyError, OncePerInterval, RequestTimeoutProtocol, default_max_connections,
                    parse_predict_body)

log = logging.getLogger(__name__)

DEFAULT_MAX_TEXTS = 64
DEFAULT_MAX_CHARS = 20_000
DEFAULT_MAX_BATCH = 64
DEFAULT_BATCH_WINDOW_MS = 3.0
DEFAULT_THRESHOLD = 0.5


class LabelScore(BaseModel):
    """One label and its probability."""

    label: str
    score: float


class Prediction(BaseModel):
    """The labels answered for one text, best first."""

    labels: list[LabelScore]


class PredictResponse(BaseModel):
    """One prediction per input text, in input order."""

    model: str
    multilabel: bool
    predictions: list[Prediction]


class Limits(BaseModel):
    max_texts: int
    max_chars: int
    max_body_bytes: int
    batching: bool
    max_batch: int
    batch_window_ms: float


class ModelInfo(BaseModel):
    """What is served: the run's model, configuration, labels and training-time metrics."""

    model: str
    textzoo_version: str = Field(description="version of the library serving the run")
    trained_with_version: Optional[str] = Field(None, description="library version that saved the run")
    multilabel: bool
    threshold: float
    labels: list[str]
    config: dict[str, Any] = Field(description="the run's configuration; for an ensemble {\"members\": [{run, "
                                          "model, config, metrics}, ...]}")
    metrics: Optional[dict[str, Any]] = Field(None, description="metrics.json of the run (NaN as null)")
    info: dict[str, Any]
    limits: Limits


class Health(BaseModel):
    """Liveness, and counters of the predictions made since the server started."""

    status: str
    model: str
    requests: int = Field(description="prediction requests answered or under way")
    model_calls: int = Field(description="predict_proba calls (fewer than requests when batching merged some)")
    texts: int = Field(description="texts predicted")
    largest_batch: int = Field(description="most texts in one predict_proba call")


def create_app(run_dir: str | Path | Sequence[str | Path], *, max_texts: int = DEFAULT_MAX_TEXTS,
               max_chars: int = DEFAULT_MAX_CHARS, batch_window_ms: float = DEFAULT_BATCH_WINDOW_MS, max_batch: int = DEFAULT_MAX_BATCH,
               batching: bool = True, threshold: float = DEFAULT_THRESHOLD, device: str | None = None) -> FastAPI:
    """A FastAPI app serving the run in ``run_dir`` (loaded once, here), or with a list of several
    run folders their ensemble (:class:`textzoo.xmc.Ensemble`: the mean of their scores).

    ``device`` (Transformer and XMC models): where predictions run, e.g. ``cuda``; by default
    ``auto`` (:func:`textzoo.runtime.resolve_device`)."""
    import textzoo
    from ..config import config_to_dict
    from ..models.base import read_run_config
    from ..xmc.ensemble import Ensemble

    from ..data.corpus import MAX_DOCUMENT_CHARS

    if max_texts < 1 or not 1 <= max_chars <= MAX_DOCUMENT_CHARS:
        raise ValueError(f"max_texts must be >= 1 and max_chars in [1, {MAX_DOCUMENT_CHARS}]")
    run_dirs = [Path(run_dir)] if isinstance(run_dir, (str, Path)) else [Path(r) for r in run_dir]
    members = [textzoo.load(r, device=device) for r in run_dirs]
    metas = [read_run_config(r) for r in run_dirs]
    # worst case \\uXXXX\\uXXXX per character (12 bytes) plus JSON punctuation
    max_body = max_texts * (12 * max_chars + 16) + 65_536
    limits = Limits(max_texts=max_texts, max_chars=max_chars, max_body_bytes=max_body, batching=batching,
                    max_batch=max_batch, batch_window_ms=batch_window_ms)
    if len(members) == 1:
        model = members[0]
        card = dict(trained_with_version=metas[0].get("textzoo_version"), config=config_to_dict(model.config),
                    metrics=_finite(model.metrics) if model.metrics else None, info=_finite(dict(model.info)))
        what = f"run `{run_dirs[0].name}`"
    else:
        model = Ensemble(members)
        card = dict(trained_with_version=", ".join(sorted({str(m.get("textzoo_version")) for m in metas})),
                    config={"members": [{"run": str(r), "model": m.name, "config": config_to_dict(m.config),
                                         "metrics": _finite(m.metrics) if m.metrics else None}
                                        for r, m in zip(run_dirs, members)]},
                    metrics=None, info={"combine": "mean of the members' scores"})
        what = "runs " + ", ".join(f"`{r.name}`" for r in run_dirs) + " (their score average)"
    model_info = ModelInfo(model=model.name, textzoo_version=__version__, multilabel=model.multilabel,
                           threshold=threshold, labels=list(model.labels), limits=limits, **card)
    n_labels = len(model.labels)
    labels = np.array(model.labels, dtype=object)
    batcher = MicroBatcher(model.predict_proba, max_batch=max_batch, window_ms=batch_window_ms, enabled=batching)

    default_threshold = threshold  # the request model's field of that name would hide it in its class body
    Text = Annotated[str, StringConstraints(min_length=1, max_length=max_chars, pattern=NOT_SPACE, strict=True)]

    class PredictRequest(BaseModel):
        """Texts to classify and, optionally, how many ranked labels to return per text."""

        model_config = ConfigDict(extra="forbid", json_schema_extra={
            "examples": [{"texts": ["oil prices rose sharply after the opec meeting"], "top_k": 3}]})

        texts: Annotated[list[Text], Field(
            min_length=1, max_length=max_texts,
            description=f"1 to {max_texts} texts, each 1 to {max_chars} characters with a non-space character")]
        top_k: Optional[Annotated[int, Field(ge=1, strict=True), BeforeValidator(_whole_number)]] = Field(
            None, description="the k best labels whatever their score (larger than the number of labels "
                              "means all); without it: the best label, or for a multi-label run every label "
                              "at or above the threshold (the best one when none is)")
        threshold: Optional[Annotated[float, Field(ge=0, le=1, strict=True)]] = Field(
            None, description=f"multi-label runs: the score a label needs without top_k (default {default_threshold})")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log.info("serving %s model from %s (%d labels, batching %s)", model.name, what, n_labels,
                 f"up to {max_batch} texts / {batch_window_ms} ms" if batching else "off")
        asyncio.get_running_loop().set_exception_handler(OncePerInterval().loop_errors)  # accept() errors
        yield
        await batcher.aclose()

    app = FastAPI(title="textzoo", version=__version__, lifespan=lifespan,
                  description=f"Text classification with the `{model.name}` model of {what}.")
    app.state.model = model
    app.state.batcher = batcher

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            return JSONResponse(status_code=413, content={"detail": f"request body over {max_body} bytes"})
        return await call_next(request)

    app.add_middleware(_StreamedBodyLimit, max_body=max_body)  # bodies without a Content-Length

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # the default answer echoes the input back (up to megabytes of text): keep where, what and why
        errors = [{"loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
                   "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    fields = frozenset(PredictRequest.model_fields)

    # the body is parsed here, not by FastAPI: unknown keys and bad encodings are refused cheaply (guard.py)
    @app.post("/v1/predict", response_model=PredictResponse, summary="Classify texts",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}},
              responses={400: {"description": "the body cannot be parsed (not UTF-8 JSON, or a byte-order mark)"},
                         413: {"description": "request body too large"},
                         422: {"description": "invalid request: where, what and why (the input is not echoed)"}})
    async def predict(raw: Request):
        try:
            value = parse_predict_body(await raw.body(), fields, max_texts)
            request = PredictRequest.model_validate(value)
        except BodyError as exc:
            return JSONResponse(status_code=exc.status, content={"detail": exc.detail})
        except ClientDisconnect:  # gone (or closed by the request timeout): nobody reads an answer
            return Response(status_code=400)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        probs = await batcher.predict(request.texts)
        return PredictResponse(model=model.name, multilabel=model.multilabel,
                               predictions=_answers(probs, labels, model.multilabel, request.top_k,
                                                    threshold if request.threshold is None else request.threshold))

    @app.get("/v1/model", response_model=ModelInfo, summary="The served model")
    async def model_card() -> ModelInfo:
        return model_info

    @app.get("/healthz", response_model=Health, summary="Liveness")
    async def healthz() -> Health:
        stats = batcher.stats
        return Health(status="ok", model=model.name, requests=stats.requests, model_calls=stats.calls,
                      texts=stats.texts, largest_batch=stats.largest_batch)

    @app.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse("/docs")

    return app


class _BodyTooLarge(Exception):
    pass


class _StreamedBodyLimit:
    """ASGI middleware: 413 once a request body streamed without a Content-Length header (chunked)
    passes ``max_body`` bytes; the ``limit_body`` middleware refuses declared lengths up front."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or any(k == b"content-length" for k, _ in scope.get("headers", ())):
            return await self.app(scope, receive, send)
        seen, started, too_large = 0, False, False

        async def counting_receive():
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if too_large:  # the app's own answer to the cut-off body gives way to the 413 below
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            body = json.dumps({"detail": f"request body over {self.max_body} bytes"}).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


def _answers(probs: np.ndarray, labels: np.ndarray, multilabel: bool, top_k: int | None,
             threshold: float) -> list[Prediction]:
    """Per row, the answered labels best first: :func:`textzoo.scoring.ranked_answers`."""
    from ..scoring import ranked_answers

    return [Prediction(labels=[LabelScore(label=label, score=score) for label, score in pairs])
            for pairs in ranked_answers(probs, labels, multilabel, top_k, threshold)]


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 3.0 as an integer: accept it as 3; refuse booleans and strings."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool):
        raise ValueError("top_k must be an integer, not a boolean")
    return value


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def serve(run_dir: str | Path | Sequence[str | Path], host: str = "127.0.0.1", port: int = 8000, *, access_log: bool = False,
          log_level: str = "info", keep_alive: float = 75.0, request_timeout: float = 10.0,
          max_connections: int | None = None, **options) -> None:
    """Run the app for ``run_dir`` (one run folder, or a list: their ensemble) on uvicorn until
    interrupted; ``options`` go to :func:`create_app`.

    ``request_timeout``: seconds a client has to send its request headers (from their first byte or
    from connecting), and most seconds between two chunks of a body. ``max_connections``: open connections beyond which requests get
    503 (default 1000, fewer when the open-file limit is lower). Repeated log messages are held
    back to one per 10 s (:mod:`.guard`).

    ``keep_alive``: seconds an idle connection stays open. Longer than clients' own idle expiry
    (httpx and most pools: 5 s) so that the server never closes a connection at the moment a client
    reuses it; with uvicorn's default of 5 s that race lost requests under load in the soak test.
    """
    import uvicorn

    app = create_app(run_dir, **options)
    log.info("API on http://%s:%d (OpenAPI page at /docs)", host, port)
    # log_config=None: uvicorn's loggers propagate to the handlers the textzoo command set up
    once = OncePerInterval()
    for name in ("uvicorn.error", "uvicorn", "asyncio"):
        logging.getLogger(name).addFilter(once)
    uvicorn.run(app, host=host, port=port, log_config=None, log_level=log_level, access_log=access_log,
                timeout_keep_alive=keep_alive, http=RequestTimeoutProtocol.with_timeout(request_timeout),
                limit_concurrency=max_connections or default_max_connections())

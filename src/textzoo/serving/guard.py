"""What keeps ``textzoo serve`` responsive under hostile clients (SECURITY.md, "The HTTP server").

* :func:`parse_predict_body`: the request body is parsed before the schema sees it, cheaply: not
  UTF-8, a byte-order mark (UTF-8, UTF-16 or UTF-32) or invalid JSON is a 400; unknown keys and
  too many texts are one 422 entry each (no per-key error list, no key echoed back). A body with
  more JSON strings than a request can hold is refused before parsing (two ``bytes.count``), so a
  million keys cost milliseconds, not a ``json.loads`` of seconds and a 1.7 GB dictionary.
* :class:`RequestTimeoutProtocol`: uvicorn's h11 protocol, closing a connection whose request
  headers are not complete ``request_timeout`` seconds after their first byte or after the
  connection opened, or whose body stalls that long between two chunks (uvicorn has no such
  timeout: slow-header connections stayed open forever).
* :class:`OncePerInterval`: the same log message (``accept()`` out of file descriptors, "exceeded
  concurrency limit", invalid HTTP, event-loop errors) at most once per interval, with the count of
  those it held back, and without tracebacks for event-loop errors.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 LE / BE (and the start of UTF-32 LE)
#: JSON Schema's ``\\s`` (ECMA-262 white space and line terminators), spelled out: Python's, Rust's
#: (pydantic-core) and ECMA's ``\\s`` differ (U+0085, U+001C-U+001F, U+FEFF), so ``\\S`` in a schema
#: would accept texts that the server refuses or the other way round.
NOT_SPACE = "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"


class BodyError(Exception):
    """A request refused before validation: ``status`` and a short ``detail`` (never the input)."""

    def __init__(self, status: int, detail: Any):
        super().__init__(detail)
        self.status, self.detail = status, detail


def parse_predict_body(body: bytes, fields: frozenset[str], max_texts: int) -> Any:
    """The JSON value of ``body``, or a :class:`BodyError` (see the module docstring)."""
    # every JSON string has at least one '"' not preceded by a backslash; a request has at most
    # max_texts + 2 strings, so a body with many more is refused before parsing (a million keys)
    if body.count(b'"') - body.count(b'\\"') > 2 * (2 * max_texts + 8):
        raise BodyError(422, [{"loc": ["body"], "type": "too_long", "msg": "more JSON strings than a request holds "
                               f"({max_texts} texts at most, and the keys " + " and ".join(sorted(fields)) + ")"}])
    if body.startswith(BOMS):
        raise BodyError(400, "the body starts with a byte-order mark: send UTF-8 JSON without one")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"the body is not UTF-8 (byte {exc.start}): send UTF-8 JSON") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits; deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long"
        raise BodyError(400, f"the body is not valid JSON: {reason}") from None
    if isinstance(value, dict):
        unknown = len(value) - len(fields & value.keys())
        if unknown:
            raise BodyError(422, [{"loc": ["body"], "type": "extra_forbidden",
                                   "msg": f"{unknown} unknown field(s); a request has only "
                                          + " and ".join(sorted(fields))}])
        texts = value.get("texts")
        if isinstance(texts, list) and len(texts) > max_texts:
            raise BodyError(422, [{"loc": ["body", "texts"], "type": "too_long",
                                   "msg": f"at most {max_texts} texts per request, found {len(texts)}"}])
    return value


class RequestTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request (module docstring)."""

    request_timeout: float = 10.0
    _deadline: Any = None

    @classmethod
    def with_timeout(cls, seconds: float) -> type["RequestTimeoutProtocol"]:
        return type(cls.__name__, (cls,), {"request_timeout": float(seconds)})

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # a new request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is h11.SEND_BODY:
            self._arm()  # the body: at most request_timeout between two chunks
        elif self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request is complete (or the connection is done)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection that did not send its request within %g s", self.request_timeout)
            self.transport.close()


class OncePerInterval(logging.Filter):
    """A logging filter (and an asyncio exception handler) that lets each message through at most once
    per ``interval`` seconds, adding how many were held back since it last let one through."""

    def __init__(self, interval: float = 10.0):
        super().__init__()
        self.interval = interval
        self._last: dict[Any, float] = {}
        self._held: dict[Any, int] = {}

    def _admit(self, key) -> int | None:
        """None to hold the message back, else the count held back before it."""
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def filter(self, record: logging.LogRecord) -> bool:
        held = self._admit((record.name, record.msg))
        if held is None:
            return False
        if held:
            record.msg = f"{record.msg} ({held} more like it held back)"
        return True

    def loop_errors(self, loop, context: dict) -> None:
        """``loop.set_exception_handler``: one line per kind of error and interval, no traceback."""
        exc = context.get("exception")
        message = context.get("message", "event loop error")
        held = self._admit(("loop", message, type(exc).__name__))
        if held is not None:
            log.error("%s: %s%s", message, exc if exc is not None else "",
                      f" ({held} more like it held back)" if held else "")


def default_max_connections(wanted: int = 1000) -> int:
    """``wanted`` connections, or fewer when the open-file limit would run out first (accept() fails)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, min(wanted, soft - 64)) if soft != resource.RLIM_INFINITY else wanted

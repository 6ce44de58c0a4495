"""Serve a saved run over HTTP: ``create_app(run_dir)`` (FastAPI) and ``serve(run_dir)`` (uvicorn)."""

from .app import create_app, serve
from .batching import MicroBatcher

__all__ = ["create_app", "serve", "MicroBatcher"]

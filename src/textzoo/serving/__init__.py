"""Serve a saved run over HTTP: ``create_app(run_dir)`` (FastAPI) and ``serve(run_dir)`` (uvicorn);
``running_server(run_dir, log_path)`` runs `textzoo serve` as a child process on 127.0.0.1."""

from .app import create_app, serve
from .batching import MicroBatcher
from .process import ServerProcess, free_port, running_server

__all__ = ["create_app", "serve", "MicroBatcher", "ServerProcess", "free_port", "running_server"]

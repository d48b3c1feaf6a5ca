"""The Prometheus endpoint of a Locust run (``--prometheus-port``): on the master (every
worker's figures merged) or the local runner, never on a worker. A small gevent WSGI server
beside Locust's web UI, so it also serves headless runs; each scrape renders what fleet holds
at that moment (``fleet.metrics.prometheus``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from gevent.pywsgi import WSGIServer
from locust.env import Environment

from fleet.locust_ext.state import FleetState
from fleet.metrics.prometheus import CONTENT_TYPE, exposition

logger = logging.getLogger("fleet.prometheus")


def metrics_app(environment: Environment) -> Callable[..., Iterable[bytes]]:
    state = FleetState.of(environment)

    def source() -> tuple[Any, Any]:
        return state.stats(environment), state.table(environment)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"fleet: metrics are at /metrics\n"]
        body = exposition(source)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [body]

    return app


def serve(environment: Environment, host: str, port: int) -> WSGIServer:
    """Start serving /metrics on host:port (raises OSError when the port is taken)."""
    server = WSGIServer((host, port), metrics_app(environment), log=None, error_log=logger)
    server.start()
    shown = host or "0.0.0.0"
    logger.info("fleet: Prometheus metrics at http://%s:%d/metrics", shown, server.server_port)
    return server

"""`fleet run`'s Prometheus endpoint (``--prometheus-port``, ``run.prometheus_port``): a small
HTTP server on the stations' own event loop, so each scrape reads the figures in the thread
that writes them (no locks, no copy). One GET per connection; anything else gets 404 or 405."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

from fleet.metrics.prometheus import CONTENT_TYPE, exposition

logger = logging.getLogger("fleet.prometheus")
REQUEST_LIMIT: Final = 8192  # bytes of request head read at most
READ_TIMEOUT_S: Final = 5.0


async def serve_metrics(
    host: str, port: int, source: Callable[[], tuple[Any, Any]]
) -> asyncio.Server:
    """Serve /metrics on host:port until the returned server is closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        method, _, rest = head.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if method != b"GET":
            status, kind, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
        elif path not in (b"/metrics", b"/"):
            status, kind, body = "404 Not Found", "text/plain", b"metrics are at /metrics\n"
        else:
            status, kind, body = "200 OK", CONTENT_TYPE, exposition(source)
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, host, port, limit=REQUEST_LIMIT)
    shown = host or "0.0.0.0"
    bound = server.sockets[0].getsockname()[1] if server.sockets else port
    logger.info("Prometheus metrics at http://%s:%d/metrics", shown, bound)
    return server

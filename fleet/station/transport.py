"""How frames move: a three-method Transport, its websocket implementation and an in-memory pair.

The station only ever sees a Transport, so its behaviour is tested over ``memory_pair()`` without
a network, and the websocket details (subprotocol negotiation, close codes, handshake errors) are
translated into fleet's errors here, at one seam.
"""

from __future__ import annotations

import asyncio
import errno
import http
import resource
from typing import Final, Protocol
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.http11 import Response

from fleet.errors import ConnectionFailed, FleetError, SubprotocolRefused
from fleet.wire import SUBPROTOCOLS


class TransportClosed(FleetError):
    """The connection is gone. ``by_peer``: the CSMS (or the network) ended it, not us."""

    def __init__(self, reason: str, by_peer: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.by_peer = by_peer


class Transport(Protocol):
    async def send(self, frame: bytes) -> None:
        """Send one OCPP-J frame (UTF-8 JSON) as a text message; raise TransportClosed."""

    async def recv(self) -> bytes | str:
        """The next text message; raise TransportClosed when the connection ends."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close cleanly; a no-op when already closed."""


# --- websockets ----------------------------------------------------------------------------------

# Compression off (OCPP frames are small; deflate costs CPU and ~100 KB per connection), no
# keepalive task per connection (heartbeats keep the socket busy), small queues: thousands of
# stations share one process.
_CLIENT_OPTIONS: Final = {
    "compression": None,
    "ping_interval": None,
    "max_queue": 4,
    "max_size": 2**20,
    "close_timeout": 2,
}


_HANDSHAKE_DONE: Final = Response(101, "Switching Protocols", Headers())


def _describe_close(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection dropped without a close frame"
    text = f"code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
    return f"CSMS closed the connection ({text})" if exc.rcvd else f"connection closed ({text})"


class WebsocketTransport:
    __slots__ = ("ws",)

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: bytes) -> None:
        try:
            await self.ws.send(frame, text=True)
        except ConnectionClosed as exc:
            raise TransportClosed(_describe_close(exc)) from None

    async def recv(self) -> bytes | str:
        try:
            return await self.ws.recv(decode=False)
        except ConnectionClosed as exc:
            raise TransportClosed(_describe_close(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)


async def connect(
    url: str,
    station_id: str,
    version: str,
    open_timeout_s: float,
    source_address: str | None = None,
) -> WebsocketTransport:
    """Open ``<url>/<station_id>`` asking for the version's subprotocol; raise ConnectionFailed
    with a one-line reason a user can act on."""
    subprotocol = SUBPROTOCOLS[version]
    target = f"{url}/{station_id}"
    where = urlsplit(url).netloc
    local = {"local_addr": (source_address, 0)} if source_address else {}
    try:
        ws = await websockets.connect(
            target,
            subprotocols=[subprotocol],  # type: ignore[list-item]
            open_timeout=open_timeout_s,
            **_CLIENT_OPTIONS,  # type: ignore[arg-type]
            **local,  # type: ignore[arg-type]
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
        if "subprotocol" in body.lower():
            raise SubprotocolRefused(
                f"CSMS did not accept subprotocol {subprotocol} (HTTP {status})"
            ) from None
        phrase = (
            http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else ""
        )
        raise ConnectionFailed(
            f"CSMS refused the websocket: HTTP {status} {phrase}".rstrip()
        ) from None
    except InvalidHandshake as exc:
        if "subprotocol" in str(exc):
            raise SubprotocolRefused(
                f"CSMS did not accept subprotocol {subprotocol} ({exc})"
            ) from None
        raise ConnectionFailed(f"websocket handshake failed: {exc}") from None
    except InvalidURI as exc:
        raise ConnectionFailed(f"invalid CSMS URL: {exc}") from None
    except TimeoutError:
        raise ConnectionFailed(
            f"no websocket handshake from {where} within {open_timeout_s:g} s"
        ) from None
    except ConnectionRefusedError:
        raise ConnectionFailed(f"connection refused by {where} (is the CSMS running?)") from None
    except OSError as exc:
        if exc.errno == errno.EMFILE:
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            raise ConnectionFailed(
                f"too many open files: this process may open {limit} (ulimit -n); run fewer "
                "stations per process"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            on = f" on {source_address}" if source_address else ""
            raise ConnectionFailed(
                f"no free local port{on} towards {where}: spread stations over more source "
                "addresses (csms.source_addresses, --source-addresses)"
            ) from None
        raise ConnectionFailed(f"cannot connect to {where}: {exc.strerror or exc}") from None
    if ws.subprotocol != subprotocol:
        await ws.close(1002, "subprotocol required")
        raise SubprotocolRefused(f"CSMS did not accept subprotocol {subprotocol}")
    # The handshake's request and response (headers and all) stay referenced for the life of
    # the connection and nothing reads them again: ~3.5 KB per station. websockets tests
    # `response is None` for "handshake pending", so one shared, empty Response stands in.
    ws.request = None
    ws.response = _HANDSHAKE_DONE
    return WebsocketTransport(ws)


# --- in memory -----------------------------------------------------------------------------------


class MemoryTransport:
    """One end of an in-memory connection: what it sends, the other end receives."""

    def __init__(
        self, inbox: asyncio.Queue[bytes | None], peer: asyncio.Queue[bytes | None]
    ) -> None:
        self._inbox = inbox
        self._peer = peer
        self.closed: str | None = None

    async def send(self, frame: bytes) -> None:
        if self.closed is not None:
            raise TransportClosed(self.closed, by_peer=False)
        self._peer.put_nowait(frame)

    async def recv(self) -> bytes:
        if self.closed is not None:
            raise TransportClosed(self.closed, by_peer=False)
        frame = await self._inbox.get()
        if frame is None:
            by_peer = self.closed is None
            self.closed = self.closed or "peer closed the connection"
            raise TransportClosed(self.closed, by_peer=by_peer)
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed is None:
            self.closed = f"closed (code {code})"
            self._peer.put_nowait(None)
            self._inbox.put_nowait(None)


def memory_pair() -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports, e.g. (station side, CSMS side)."""
    a: asyncio.Queue[bytes | None] = asyncio.Queue()
    b: asyncio.Queue[bytes | None] = asyncio.Queue()
    return MemoryTransport(a, b), MemoryTransport(b, a)

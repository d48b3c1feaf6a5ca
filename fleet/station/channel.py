"""What a station talks through: the ``Transport`` interface, ``TransportClosed``, and the
``Inbox`` (the receiving half) both implementations share: the websocket one
(``transport.py``) and the in-memory one for tests (``memory.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from fleet.errors import FleetError


class TransportClosed(FleetError):
    """The connection is gone. ``by_peer``: the CSMS (or the network) ended it, not us."""

    def __init__(self, reason: str, by_peer: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.by_peer = by_peer

    def again(self) -> TransportClosed:
        """A fresh copy to raise: raising one instance repeatedly chains its tracebacks."""
        return TransportClosed(self.reason, self.by_peer)


Intercept = Callable[[bytes], bool]


class Transport(Protocol):
    intercept: Intercept | None
    """Offered every incoming message first, on the socket's callback; what it accepts (returns
    True for) is not queued for ``recv()``. It must not raise."""
    on_pong: Callable[[bytes], None] | None
    """Given each pong's payload, on the socket's callback. It must not raise."""

    def send(self, frame: bytes) -> None:
        """Send one OCPP-J frame (UTF-8 JSON) as a text message; raise TransportClosed."""

    def ping(self, payload: bytes) -> None:
        """Send a websocket ping; raise TransportClosed."""

    async def recv(self) -> bytes:
        """The next message not intercepted; raise TransportClosed when the connection ends."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close cleanly; a no-op when already closed."""

    def cut(self, reason: str, silent_for_s: float = 0.0) -> None:
        """A storm's fault: the connection is over for the station at once, without a close
        frame. The socket is reset now, or (``silent_for_s``) left open and silent that long
        (nothing read, nothing sent: a half-open link the CSMS must find by its pings)."""


class Inbox:
    """The receiving half both transports share: messages not intercepted wait here until
    ``recv()``, which raises TransportClosed once the connection has ended and they are read."""

    __slots__ = ("_closed", "_frames", "_waiter", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._frames: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._closed: TransportClosed | None = None

    async def recv(self) -> bytes:
        while not self._frames:
            if self._closed is not None:
                raise self._closed.again()
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._frames.pop(0)
        self._taken()
        return frame

    def _taken(self) -> None:
        """A message left the inbox (a transport may resume reading)."""

    def _queue(self, message: bytes) -> None:
        self._frames.append(message)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

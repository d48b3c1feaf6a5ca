"""An in-memory connection: a whole station driven without a socket.

``memory_pair()`` gives the station's end (a ``Transport``) and the other end, which a test or a
micro-benchmark plays the CSMS with. Frames cross on the loop's next iteration, as they would
through a socket callback, and the station's ``intercept`` sees each one first, as it does on
the websocket transport. Not a stand-in for the wire in end-to-end tests: those use real sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fleet.station.channel import Inbox, Intercept, TransportClosed


class MemoryTransport(Inbox):
    """One end of the pair: what arrives waits in the inbox until ``recv()``."""

    __slots__ = ("close_code", "intercept", "on_pong", "peer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.peer: MemoryTransport | None = None
        self.intercept: Intercept | None = None
        self.on_pong: Callable[[bytes], None] | None = None
        self.close_code: int | None = None  # the code this end was closed with, by either end

    def send(self, frame: bytes) -> None:
        if self._closed is not None:
            raise self._closed.again()
        assert self.peer is not None
        self.loop.call_soon(self.peer._deliver, frame)

    def ping(self, payload: bytes) -> None:
        """The other end answers at once (as a websocket server's protocol does)."""
        if self._closed is not None:
            raise self._closed.again()
        self.loop.call_soon(self._ponged, payload)

    def _ponged(self, payload: bytes) -> None:
        if self._closed is None and self.on_pong is not None:
            self.on_pong(payload)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed is not None:
            return
        self._end(code, reason, by_peer=False)
        if self.peer is not None and self.peer._closed is None:
            self.peer._end(code, reason, by_peer=True)

    def cut(self, reason: str, silent_for_s: float = 0.0) -> None:
        if self._closed is not None:
            return
        self._closed = TransportClosed(reason, by_peer=False)
        self._wake()
        peer = self.peer
        if peer is not None and peer._closed is None:
            if silent_for_s > 0:
                self.loop.call_later(silent_for_s, peer._end, 1006, "", True)
            else:
                peer._end(1006, "", by_peer=True)

    def _deliver(self, frame: bytes) -> None:
        if self._closed is not None:
            return
        if self.intercept is not None and self.intercept(frame):
            return
        self._queue(frame)

    def _end(self, code: int, reason: str, by_peer: bool) -> None:
        self.close_code = code
        text = f"connection closed (code {code}: {reason})" if reason else f"code {code}"
        self._closed = TransportClosed(text, by_peer)
        self._wake()


def memory_pair() -> tuple[MemoryTransport, MemoryTransport]:
    """(the station's end, the CSMS's end) of a new in-memory connection on the running loop."""
    loop = asyncio.get_running_loop()
    station, csms = MemoryTransport(loop), MemoryTransport(loop)
    station.peer, csms.peer = csms, station
    return station, csms

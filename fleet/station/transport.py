"""How frames move on a websocket: the ``Transport`` (``channel.py``) stations use in runs.

The websocket client is websockets' sans-I/O ``ClientProtocol`` driven by a plain asyncio
``Protocol`` (as websockets' own docs suggest for custom integrations), not websockets' asyncio
connection: a station needs none of its per-connection tasks, locks, queues or per-frame context
managers, and thousands of stations share one process. Two things make it cheaper per round
trip: ``send()`` writes to the socket synchronously, and a station may ``intercept`` frames
straight from the socket's data callback (the answer it waits for) instead of having a reader
task woken for each one. How a connection ends (close codes) is told in fleet's words here;
opening one, with its handshake and TLS errors, is ``fleet.station.connect``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Final, cast

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State

import fleet
from fleet.station.channel import Inbox, Intercept, TransportClosed
from fleet.station.frames import HEAD_TEXT, MASKED, mask_keys, text_frame
from fleet.station.watch import RECEIVED, SENT, Tracer

MAX_SIZE: Final = 2**20  # largest incoming message
CLOSE_TIMEOUT_S: Final = 2.0  # after the close handshake, how long the CSMS gets to end TCP
QUEUE_LIMIT: Final = 16  # messages waiting for recv() before reading from the socket pauses
USER_AGENT: Final = f"fleet/{fleet.__version__} (OCPP load tester)"
_NO_HEADERS: Final = Headers()


def _describe_close(protocol: ClientProtocol, error: Exception | None) -> tuple[str, bool]:
    """A one-line reason for a closed connection, and whether the CSMS's side ended it."""
    rcvd, sent = protocol.close_rcvd, protocol.close_sent
    by_peer = rcvd is not None and (sent is None or bool(protocol.close_rcvd_then_sent))
    frame = rcvd if by_peer else sent
    if frame is None:
        cause = f": {error}" if error else ""
        return f"connection dropped without a close frame{cause}", True
    text = f"code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
    if by_peer:
        return f"CSMS closed the connection ({text})", True
    return f"connection closed ({text})", False


class WebsocketTransport(Inbox, asyncio.Protocol):
    """One station's websocket: websockets' ClientProtocol fed from asyncio callbacks."""

    __slots__ = (
        "_close_timer",
        "_fragments",
        "_head",
        "_lost",
        "_opened",
        "_partial",
        "_reading_paused",
        "_scan",
        "_writing_paused",
        "authorization",
        "intercept",
        "on_pong",
        "protocol",
        "trace",
        "transport",
    )

    def __init__(self, protocol: ClientProtocol, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.protocol = protocol
        self.transport: asyncio.Transport | None = None
        self.intercept: Intercept | None = None
        self.on_pong: Callable[[bytes], None] | None = None
        self.trace: Tracer | None = None  # the station's frames logged or watched (watch.py)
        self.authorization: str | None = None  # the handshake's Authorization header
        self._fragments: list[bytes] | None = None
        self._opened: asyncio.Future[None] | None = loop.create_future()
        self._lost: asyncio.Future[None] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._head: bytearray | None = bytearray()  # the handshake response, until complete
        self._partial = b""  # the start of a frame whose end has not arrived yet
        self._scan = True  # False once the protocol must see everything (a refused handshake)

    # --- the station's side ----------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        if self._closed is not None:
            raise self._closed.again()
        if self.protocol.state is not State.OPEN or self.transport is None:
            raise TransportClosed("connection closing", by_peer=False)
        # Written straight to the socket: the protocol has nothing pending (every callback
        # flushes what it queued) and a data frame changes none of its state.
        self.transport.write(text_frame(frame, mask_keys.take()))
        if self.trace is not None:
            self.trace(SENT, frame)

    def ping(self, payload: bytes) -> None:
        if self._closed is not None:
            raise self._closed.again()
        if self.protocol.state is not State.OPEN or self.transport is None:
            raise TransportClosed("connection closing", by_peer=False)
        self.protocol.send_ping(payload)
        self._flush()

    def _taken(self) -> None:
        if self._reading_paused and len(self._frames) < QUEUE_LIMIT // 2:
            self._resume_reading()

    def cut(self, reason: str, silent_for_s: float = 0.0) -> None:
        if self._closed is not None:
            return
        self._closed = TransportClosed(reason, by_peer=False)
        self._frames.clear()
        self._wake()
        transport = self.transport
        if transport is None:
            return
        if silent_for_s > 0:
            self._pause_reading()  # unread, the CSMS's pings go unanswered
            self.loop.call_later(silent_for_s, transport.abort)
        else:
            transport.abort()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake, then wait (at most CLOSE_TIMEOUT_S) for the CSMS to end TCP."""
        if self.transport is None or self._closed is not None:
            return
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self._flush()
        if self._lost is None:
            self._lost = self.loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), CLOSE_TIMEOUT_S)
        except TimeoutError:
            self.transport.abort()

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        request = self.protocol.connect()
        request.headers["User-Agent"] = USER_AGENT
        if self.authorization is not None:
            request.headers["Authorization"] = self.authorization
            self.authorization = None  # needed once: the secret is not kept
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        """Bytes from the CSMS. websockets' protocol parses the handshake response, control
        frames, fragments and everything once closing has begun; a complete text frame (almost
        every message) is cut out here and delivered directly, ~2.5 µs less per message than
        websockets' generator-based parser. Only whole frames are ever given to the protocol,
        so its parser always waits at a frame boundary."""
        if self._head is not None:
            data = self._handshake(data)
        if not data:
            return
        if not self._scan:
            self._via_protocol(data)
            return
        buffer = self._partial + data if self._partial else data
        end, size = 0, len(buffer)
        while size - end >= 2:
            start = end
            first, second = buffer[start], buffer[start + 1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if size - start < 4:
                    break
                length, offset = int.from_bytes(buffer[start + 2 : start + 4], "big"), 4
            elif length == 127:
                if size - start < 10:
                    break
                length, offset = int.from_bytes(buffer[start + 2 : start + 10], "big"), 10
            masked = second & MASKED
            if masked:
                offset += 4  # a CSMS must not mask: the protocol will say so
            if length > MAX_SIZE:  # the protocol refuses it (close code 1009)
                self._scan = False
                self._via_protocol(buffer[start:])
                self._partial = b""
                return
            end = start + offset + length
            if end > size:
                end = start
                break
            protocol = self.protocol
            if (
                first == HEAD_TEXT  # FIN, no reserved bits, a text frame
                and not masked
                and protocol.state is State.OPEN
                and protocol.current_size is None  # not inside a fragmented message
            ):
                self._deliver(bytes(buffer[start + offset : end]))
            else:
                self._via_protocol(buffer[start:end])
        self._partial = buffer[end:] if end < size else b""

    def _handshake(self, data: bytes) -> bytes:
        """Collect the HTTP response; give the protocol exactly the response, return what
        follows it (frames). A refusal gives the protocol everything, from now on."""
        head = self._head
        assert head is not None
        head += data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > MAX_SIZE:
                self._head, self._scan = None, False
                return bytes(head)
            return b""
        self._head = None
        self._via_protocol(bytes(head[: end + 4]))
        rest = bytes(head[end + 4 :])
        if self.protocol.state is not State.OPEN:
            self._scan = False  # a refusal: its body and anything after are the protocol's
        return rest

    def _via_protocol(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._flush()  # pongs, the answer to a close frame
        for event in events:
            if type(event) is Frame:
                if event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY:
                    if event.fin:
                        self._deliver(bytes(event.data))
                    else:
                        self._fragments = [bytes(event.data)]
                elif event.opcode is Opcode.PONG:
                    if self.on_pong is not None:
                        self.on_pong(bytes(event.data))
                elif event.opcode is Opcode.CONT and self._fragments is not None:
                    self._fragments.append(bytes(event.data))
                    if event.fin:
                        message, self._fragments = b"".join(self._fragments), None
                        self._deliver(message)
            elif isinstance(event, Response):
                if protocol.handshake_exc is None:
                    # The parser keeps the handshake response for the connection's life and
                    # nothing reads it again: its headers are ~13 objects per station for the
                    # GC to walk. (A refusal keeps them: the error message reads them.)
                    event.headers = _NO_HEADERS
                if self._opened is not None and not self._opened.done():
                    self._opened.set_result(None)
        if protocol.close_expected() and self._close_timer is None:
            self._close_timer = self.loop.call_later(CLOSE_TIMEOUT_S, self._abort)

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush()
        return None  # close the transport: nothing is written after the peer's EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent: the state is CLOSED from here on
        reason, by_peer = _describe_close(self.protocol, exc)
        if self._closed is None:  # not cut by a storm already
            self._closed = TransportClosed(reason, by_peer)
        if self.trace is not None:
            self.trace("closed:", reason)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        opened = self._opened
        if isinstance(exc, ssl.SSLError) and opened is not None and not opened.done():
            opened.set_exception(exc)  # a TLS alert (our certificate refused) ends the handshake
        for future in (self._waiter, self._lost, opened):
            if future is not None and not future.done():
                future.set_result(None)
        self._opened = None

    def pause_writing(self) -> None:
        # The CSMS is not reading: stop reading its messages too, so answers cannot pile up.
        self._writing_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if len(self._frames) < QUEUE_LIMIT:
            self._resume_reading()

    # --- internals -------------------------------------------------------------------------------

    async def opened(self) -> None:
        """Wait for the handshake's end (success, refusal or a dropped connection)."""
        if self._opened is not None:
            await self._opened
        self._opened = None

    def _deliver(self, message: bytes) -> None:
        if self.trace is not None:
            self.trace(RECEIVED, message)
        intercept = self.intercept
        if intercept is not None and intercept(message):
            return
        self._queue(message)
        if len(self._frames) >= QUEUE_LIMIT:
            self._pause_reading()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._closed is not None:
            return  # over for the station (a silent link stays unread)
        if self._reading_paused and not self._writing_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    def _abort(self) -> None:
        self._close_timer = None
        if self.transport is not None:
            self.transport.abort()

"""A minimal OCPP-J responder for benchmarks: no OCPP library, and cheap enough per message that
the CSMS side is never the bottleneck being measured. Answers every CALL at once.

websockets' sans-I/O ServerProtocol does the handshake and the control frames; data frames are
read and written directly on a plain asyncio Protocol (as fleet's station transport does), so
one responder process answers well over 25,000 messages a second on one core.

Its timestamps are what a real CSMS sends: the current time with millisecond precision, as the
embedded CSMS and most CSMSs do, so consecutive answers differ and no client-side cache of
answers can flatter the figures. ``--timestamps repeat`` answers with a time that changes once a
second (every answer within a second is byte-identical): only to show that nothing on the
client side profits from that.

    python bench/responder.py [--port 0] [--interval 300] [--timestamps ms|repeat] [--reuse-port]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import uvloop
from websockets.frames import Frame, Opcode, apply_mask
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

SUBPROTOCOLS = [Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")]


def now_ms() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_second: list[object] = [0, ""]


def now_repeating() -> str:
    second = int(time.time())
    if _second[0] != second:
        _second[0] = second
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return str(_second[1])


ACCEPTED: dict[str, str] = {"status": "Accepted"}
_transactions = [0]


def answer(message: Any, now: Callable[[], str], interval: int) -> bytes | None:
    if type(message) is not list or len(message) != 4 or message[0] != 2:
        return None
    action = message[2]
    payload: dict[str, object]
    if action == "BootNotification":
        payload = {"status": "Accepted", "currentTime": now(), "interval": interval}
    elif action == "Heartbeat":
        payload = {"currentTime": now()}
    elif action == "Authorize":  # 1.6: idTagInfo, 2.0.1: idTokenInfo
        key = "idTagInfo" if "idTag" in message[3] else "idTokenInfo"
        payload = {key: ACCEPTED}
    elif action == "StartTransaction":
        _transactions[0] += 1
        payload = {"transactionId": _transactions[0], "idTagInfo": ACCEPTED}
    else:  # StatusNotification, MeterValues, StopTransaction, TransactionEvent: empty is valid
        payload = {}
    return orjson.dumps([3, message[1], payload])


def text_frame(payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return bytes((0x81, 126)) + length.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + length.to_bytes(8, "big") + payload


class Responder(asyncio.Protocol):
    def __init__(self, now: Callable[[], str], interval: int) -> None:
        self.now, self.interval = now, interval
        self.protocol = ServerProtocol(subprotocols=SUBPROTOCOLS)
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.via_protocol(data)
            return
        buffer = self.buffer + data if self.buffer else data
        end, size = 0, len(buffer)
        while size - end >= 6:  # client frames are masked: 2 + 4 bytes at least
            start = end
            first, length, offset = buffer[start], buffer[start + 1] & 0x7F, 2
            if length == 126:
                length, offset = int.from_bytes(buffer[start + 2 : start + 4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(buffer[start + 2 : start + 10], "big"), 10
            end = start + offset + 4 + length
            if end > size:
                end = start
                break
            if first != 0x81:  # control frames, fragments: the protocol's
                self.via_protocol(buffer[start:end])
                continue
            mask = buffer[start + offset : start + offset + 4]
            reply = answer(orjson.loads(apply_mask(buffer[start + offset + 4 : end], mask)),
                           self.now, self.interval)  # fmt: skip
            if reply is not None and self.transport is not None:
                self.transport.write(text_frame(reply))
        self.buffer = buffer[end:] if end < size else b""

    def via_protocol(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Request):
                protocol.send_response(protocol.accept(event))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                reply = answer(orjson.loads(event.data), self.now, self.interval)
                if reply is not None:
                    protocol.send_text(reply)
        assert self.transport is not None
        for chunk in protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:
                self.transport.close()
        # Only a whole handshake request is fed to the protocol before it opens, so once open
        # its parser waits at a frame boundary and frames can be read here.
        self.open = protocol.state is State.OPEN and not protocol.parser_exc

    def eof_received(self) -> bool | None:
        return None


async def serve(port: int, interval: int, repeat: bool, reuse_port: bool = False) -> None:
    now = now_repeating if repeat else now_ms
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Responder(now, interval),
        "127.0.0.1",
        port,
        backlog=4096,
        reuse_port=reuse_port or None,
    )
    bound = server.sockets[0].getsockname()
    print(f"listening on ws://{bound[0]}:{bound[1]}/ocpp", flush=True)
    async with server:
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interval", type=int, default=300)
    parser.add_argument("--timestamps", choices=("ms", "repeat"), default="ms")
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="share --port with other responders (SO_REUSEPORT): the kernel spreads connects",
    )
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # as many connections as allowed
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.port, args.interval, args.timestamps == "repeat", args.reuse_port))


if __name__ == "__main__":
    main()

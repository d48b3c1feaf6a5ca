"""The station's receive path cuts complete text frames out of the byte stream itself and gives
websockets' protocol everything else, whole. A CSMS written here with websockets' sans-I/O
ServerProtocol on a raw TCP server decides how its bytes are cut into TCP writes: one byte at a
time, the handshake response and a frame in one write, frames with 16- and 64-bit lengths, a
masked frame (which a CSMS must not send)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from fleet.station.state import State
from tests.conftest import fleet_running, make_scenario, wait_until

BOOT = {"currentTime": "2030-01-01T00:00:00.000Z", "interval": 300, "status": "Accepted"}


class RawCsms:
    """One connection's server side: bytes out exactly as the test writes them."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.protocol = ServerProtocol(subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        self.writer = writer
        self.received: list[list[Any]] = []
        self.closed_with: int | None = None

    async def write(self, data: bytes, piece: int = 0) -> None:
        """Write ``data`` whole, or in writes of ``piece`` bytes with a pause between."""
        if not piece:
            self.writer.write(data)
        for at in range(0, len(data), piece or len(data) or 1):
            if piece:
                self.writer.write(data[at : at + piece])
                await asyncio.sleep(0.001)
        await self.writer.drain()

    def frame(self, message: list[Any], masked: bool = False) -> bytes:
        return Frame(Opcode.TEXT, orjson.dumps(message)).serialize(mask=masked)

    def feed(self, data: bytes) -> list[list[Any]]:
        if not data:
            raise ConnectionError("the station closed the connection")
        self.protocol.receive_data(data)
        messages = []
        for event in self.protocol.events_received():
            if isinstance(event, Request):
                continue
            if event.opcode is Opcode.TEXT:
                messages.append(orjson.loads(event.data))
            elif event.opcode is Opcode.CLOSE:
                self.closed_with = int.from_bytes(event.data[:2], "big")
        self.received += messages
        return messages


Script = Callable[[RawCsms, asyncio.StreamReader], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        csms = RawCsms(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await script(csms, reader)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/ocpp"
    finally:
        server.close()
        await server.wait_closed()


async def accept(csms: RawCsms, reader: asyncio.StreamReader) -> bytes:
    """Read the station's handshake request; return the 101 response's bytes (not sent)."""
    request = await reader.readuntil(b"\r\n\r\n")
    csms.protocol.receive_data(request)
    (event,) = csms.protocol.events_received()
    csms.protocol.send_response(csms.protocol.accept(event))
    return b"".join(csms.protocol.data_to_send())


async def next_call(csms: RawCsms, reader: asyncio.StreamReader) -> list[Any]:
    while True:
        for message in csms.feed(await reader.read(65536)):
            if message[0] == 2:
                return message


async def test_frames_arriving_a_byte_at_a_time_and_with_the_handshake() -> None:
    """The response and a CSMS CALL in one write; then every frame one byte per write."""
    servers: list[RawCsms] = []

    async def script(csms: RawCsms, reader: asyncio.StreamReader) -> None:
        servers.append(csms)
        response = await accept(csms, reader)
        call = csms.frame([2, "c1", "ClearCache", {}])
        await csms.write(response + call)  # coalesced: the frame follows the headers at once
        boot = await next_call(csms, reader)
        await csms.write(csms.frame([3, boot[1], BOOT]), piece=1)
        while True:
            for message in csms.feed(await reader.read(65536)):
                if message[0] == 2:
                    await csms.write(csms.frame([3, message[1], {}]), piece=1)

    async with raw_server(script) as url, fleet_running(make_scenario(), url) as fleet:
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
        await wait_until(lambda: fleet.summary.rows.get("StatusNotification") is not None)
    answers = [m for m in servers[0].received if m[0] == 3]
    assert answers == [[3, "c1", {"status": "Accepted"}]]
    assert fleet.summary.failures == [] and fleet.summary.stats.conformance.total == 0


async def test_frames_with_16_and_64_bit_lengths() -> None:
    keys = [f"Key{n:06d}" for n in range(8000)]  # ~100 KB: a 64-bit length
    answers: list[list[Any]] = []

    async def script(csms: RawCsms, reader: asyncio.StreamReader) -> None:
        await csms.write(await accept(csms, reader))
        boot = await next_call(csms, reader)
        await csms.write(csms.frame([3, boot[1], {**BOOT, "interval": 300}]))
        for n, wanted in enumerate((keys[:20], keys)):  # ~270 bytes (16-bit), then ~100 KB
            await csms.write(csms.frame([2, f"g{n}", "GetConfiguration", {"key": wanted}]), 1000)
        while len(answers) < 2:
            answers.extend(m for m in csms.feed(await reader.read(65536)) if m[0] == 3)
        while True:
            csms.feed(await reader.read(65536))

    async with raw_server(script) as url, fleet_running(make_scenario(), url) as fleet:
        await wait_until(lambda: len(answers) >= 2, 10)
    assert fleet.summary.stats.timings["CSMS→CP GetConfiguration"].count == 2
    assert [a[1] for a in answers] == ["g0", "g1"]
    assert answers[0][2]["unknownKey"] == keys[:20] and answers[1][2]["unknownKey"] == keys


async def test_a_masked_frame_from_the_csms_is_refused_as_websockets_would() -> None:
    async def script(csms: RawCsms, reader: asyncio.StreamReader) -> None:
        await csms.write(await accept(csms, reader))
        boot = await next_call(csms, reader)
        await csms.write(csms.frame([3, boot[1], BOOT], masked=True))
        while csms.closed_with is None:
            csms.feed(await reader.read(65536))

    async with raw_server(script) as url, fleet_running(make_scenario(), url) as fleet:
        await wait_until(lambda: "connection lost" in fleet.summary.stats.timings)
    reasons = [f["reason"] for f in fleet.summary.failures]
    assert any("1002" in reason for reason in reasons), reasons  # protocol error

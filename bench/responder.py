"""A minimal OCPP-J responder for benchmarks: uvloop + orjson + websockets, no OCPP library, so
the CSMS side is never the bottleneck being measured. Answers every CALL at once.

Its timestamps are what a real CSMS sends: the current time with millisecond precision, as the
embedded CSMS and most CSMSs do, so consecutive answers differ and no client-side cache of
answers can flatter the figures. ``--timestamps repeat`` answers with a time that changes once a
second (every answer within a second is byte-identical): only to show that nothing on the
client side profits from that.

    python bench/responder.py [--port 0] [--interval 300] [--timestamps ms|repeat]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from datetime import UTC, datetime

import orjson
import uvloop
import websockets


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


async def serve(port: int, interval: int, repeat: bool) -> None:
    now = now_repeating if repeat else now_ms

    async def handler(ws: websockets.ServerConnection) -> None:
        try:
            async for raw in ws:
                message = orjson.loads(raw)
                if message[0] != 2:
                    continue
                action = message[2]
                if action == "BootNotification":
                    payload: dict[str, object] = {
                        "status": "Accepted",
                        "currentTime": now(),
                        "interval": interval,
                    }
                elif action == "Heartbeat":
                    payload = {"currentTime": now()}
                else:
                    payload = {}
                await ws.send(orjson.dumps([3, message[1], payload]), text=True)
        except websockets.ConnectionClosed:
            pass

    async with websockets.serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
        max_queue=4,
        backlog=4096,
    ) as server:
        bound = server.sockets[0].getsockname()
        print(f"listening on ws://{bound[0]}:{bound[1]}/ocpp", flush=True)
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interval", type=int, default=300)
    parser.add_argument("--timestamps", choices=("ms", "repeat"), default="ms")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.port, args.interval, args.timestamps == "repeat"))


if __name__ == "__main__":
    main()

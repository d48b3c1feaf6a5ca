"""A minimal OCPP-J responder for benchmarks: uvloop + orjson + websockets, no OCPP library, so
the CSMS side is never the bottleneck being measured. Answers every CALL at once.

    python bench/responder.py [--port 0] [--interval 300]   # prints "listening on ws://..."
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import orjson
import uvloop
import websockets

_now_cache: list[object] = [0, b""]


def now() -> str:
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache[0] = second
        _now_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return str(_now_cache[1])


async def serve(port: int, interval: int) -> None:
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
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.port, args.interval))


if __name__ == "__main__":
    main()

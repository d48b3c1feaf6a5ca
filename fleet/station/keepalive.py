"""Websocket pings on one connection: the thin layer that carries out ``pings.Pings``' intents
(a timer, the transport's ping, the round trip recorded, a dead connection cut).

Made only for a connection whose station pings (WebSocketPingInterval above 0), so an idle
fleet that does not ping carries nothing for it. Each pong's round trip is a sample of fleet's
own ``ws ping`` row; a ping left unanswered is a failure there, and the connection is cut
with the same reason, which the session reports as a lost connection before reconnecting.
"""

from __future__ import annotations

import asyncio
import time

from fleet.metrics.sample import WS_PING, Sink
from fleet.station.calendar import Calendar, Entry
from fleet.station.channel import Transport, TransportClosed
from fleet.station.pings import GiveUp, Intent, Ping, Pings, Wake


class Keepalive:
    __slots__ = ("_loop", "_pings", "_sent_at", "_sink", "_station", "_timer", "_transport")

    def __init__(
        self,
        station: str,
        sink: Sink,
        transport: Transport,
        loop: asyncio.AbstractEventLoop,
        every_s: float,
        timeout_s: float,
    ) -> None:
        self._station, self._sink, self._transport, self._loop = station, sink, transport, loop
        self._pings = Pings(every_s, timeout_s, loop.time())
        self._timer: Entry | None = None  # on the loop's calendar: ~90 bytes, a timer ~540
        self._sent_at = 0.0  # perf_counter when the ping out was sent (the sample's start)
        transport.on_pong = self._pong
        self._carry_out(self._pings.first())

    def replan(self, every_s: float) -> None:
        """WebSocketPingInterval changed (0: stop pinging)."""
        self._cancel()
        self._carry_out(self._pings.replan(every_s, self._loop.time()))

    def stop(self) -> None:
        """The connection ended: no more pings on it."""
        self._cancel()
        self._transport.on_pong = None

    def _due(self) -> None:
        self._timer = None
        self._carry_out(self._pings.due(self._loop.time()))

    def _pong(self, payload: bytes) -> None:
        if self._pings.pong(payload):
            took_ms = (time.perf_counter() - self._sent_at) * 1000
            self._sink.timing(self._station, WS_PING, self._sent_at, took_ms, None)

    def _carry_out(self, intents: list[Intent]) -> None:
        for intent in intents:
            if type(intent) is Wake:
                self._cancel()
                self._timer = Calendar.of(self._loop).at(intent.at_s, self._due)
            elif type(intent) is Ping:
                self._sent_at = time.perf_counter()
                try:
                    self._transport.ping(intent.payload)
                except TransportClosed:
                    return  # the connection is ending: its end stops the pings
            elif type(intent) is GiveUp:
                waited_ms = (time.perf_counter() - self._sent_at) * 1000
                self._sink.timing(self._station, WS_PING, self._sent_at, waited_ms, intent.reason)
                self.stop()
                self._transport.cut(intent.reason)
                return

    def _cancel(self) -> None:
        if self._timer is not None:
            Calendar.of(self._loop).cancel(self._timer)
            self._timer = None

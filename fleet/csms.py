"""The embedded reference CSMS: a real websocket server built on the ``ocpp`` library's
central-system side, for demos, tests and benchmarks that need a CSMS on loopback.

It negotiates ocpp1.6 / ocpp2.0.1 by subprotocol, takes the station id from the last path
segment, validates every incoming CALL against the ocpp package's schemas (compiled once, as the
stations do) and keeps a per-station ledger of messages received per action. Over plain HTTP on
the same port (loopback tooling, tests):

* ``GET /health``: 200 with the number of stations seen;
* ``GET /ledger``: the ledger as JSON;
* ``GET /call/<station id>/<Action>?payload=<JSON>``: send a CSMS-initiated call and return the
  station's answer (``{"ok": true, "response": {...}}`` or ``{"ok": false, "error": "..."}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ocpp.messages
import orjson
import websockets
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import InternalError, OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.server import Server, ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from fleet import wire
from fleet.routing import Routed, ocpp_error, to_payload
from fleet.wire import SUBPROTOCOLS, VERSIONS

logger = logging.getLogger("fleet.csms")

# One validation per message on the loop thread, not a thread-pool hop per message.
ocpp.messages.ASYNC_VALIDATION = False

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
BACKLOG = 8192  # the kernel caps it at net.core.somaxconn


def _format(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True, frozen=True)
class Captured:
    """A frame the CSMS received (with capture on): what a station really put on the wire."""

    at: float  # time.monotonic()
    station: str
    version: str
    raw: str

    @property
    def message(self) -> list[Any]:
        decoded: list[Any] = orjson.loads(self.raw)
        return decoded


@dataclass
class StationRecord:
    """What the CSMS knows of one station."""

    version: str
    received: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # CallErrors the CSMS answered with
    connections: int = 0
    connected: bool = False
    first_boot_at: float | None = None
    boot_status: str | None = None
    peers: set[str] = field(default_factory=set)  # source addresses the station came from

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "received": dict(self.received),
            "errors": dict(self.errors),
            "connections": self.connections,
            "connected": self.connected,
            "boot_status": self.boot_status,
            "peers": sorted(self.peers),
        }


class _Central(Routed):
    """Behaviour shared by both versions' central-system classes.

    Incoming CALLs are answered here rather than by ``ChargePoint._handle_call``: the same
    ``@on`` handlers and call_result dataclasses, but the route table is built once per class
    (``routing``), payloads are checked by the compiled validators (``wire``; the test suite checks
    every frame with the ocpp library's reference validators) and the handler's signature is not
    inspected per message. In a boot storm this is what lets one CSMS process keep up.
    """

    csms: Csms
    id: str
    _ocpp_version: str

    def __init__(self, station_id: str, connection: ServerConnection, csms: Csms) -> None:
        # ChargePoint.__init__ without its per-instance route map; what call() needs is kept.
        self.id = station_id
        self.csms = csms
        self._connection = connection
        self._response_timeout = 30
        self._call_lock = asyncio.Lock()
        self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
        self._unique_id_generator = uuid.uuid4
        self.logger = logging.getLogger("ocpp")

    async def _send(self, message: str) -> None:
        if self.csms.capture is not None:
            sent = orjson.loads(message)
            if sent[0] == 2:
                self.csms.calls_sent[sent[1]] = sent[2]
        await self._connection.send(message)  # type: ignore[attr-defined]

    async def route_message(self, raw_msg: str) -> None:
        if self.csms.capture is not None:
            self.csms.capture.append(
                Captured(time.monotonic(), self.id, self._ocpp_version, raw_msg)
            )
        await super().route_message(raw_msg)  # type: ignore[misc]

    async def _handle_call(self, msg: Any) -> None:
        action = msg.action
        record = self.csms.ledger[self.id]
        record.received[action] += 1
        try:
            if action in self.csms.error_on:
                raise InternalError(description=f"{action} refused by fleet csms --error-on")
            try:
                payload = self.answer_call(action, msg.payload, check_request=True)
            except wire.SchemaViolation as violation:
                raise ocpp_error(violation.code, violation.description) from None
        except OCPPError as exc:
            # Answered here, in one log line: raised on, the library would log a traceback.
            record.errors[exc.code] += 1
            logger.warning("%s: %s answered with CallError %s", self.id, action, exc.code)
            await self._send(msg.create_call_error(exc).to_json())
            return
        await self._send(orjson.dumps([wire.CALLRESULT, msg.unique_id, payload]).decode())

    def boot_answer(self) -> tuple[str, int]:
        status, interval = self.csms.boot_decision(self.id)
        self.csms.ledger[self.id].boot_status = status
        logger.info("%s boot %s (interval %d s)", self.id, status, interval)
        return status, interval


class Central16(_Central, ChargePoint16):
    known_actions = frozenset(a.value for a in Action16)

    @on(Action16.boot_notification)
    def on_boot(self, **_: Any) -> result16.BootNotification:
        status, interval = self.boot_answer()
        return result16.BootNotification(
            current_time=self.csms.now(), interval=interval, status=status
        )

    @on(Action16.heartbeat)
    def on_heartbeat(self, **_: Any) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=self.csms.now())

    @on(Action16.status_notification)
    def on_status(self, **_: Any) -> result16.StatusNotification:
        return result16.StatusNotification()

    @on(Action16.authorize)
    def on_authorize(self, **_: Any) -> result16.Authorize:
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action16.start_transaction)
    def on_start(self, **_: Any) -> result16.StartTransaction:
        return result16.StartTransaction(
            transaction_id=self.csms.next_transaction_id(), id_tag_info={"status": "Accepted"}
        )

    @on(Action16.stop_transaction)
    def on_stop(self, **_: Any) -> result16.StopTransaction:
        return result16.StopTransaction()

    @on(Action16.meter_values)
    def on_meter_values(self, **_: Any) -> result16.MeterValues:
        return result16.MeterValues()


class Central201(_Central, ChargePoint201):
    known_actions = frozenset(a.value for a in Action201)

    @on(Action201.boot_notification)
    def on_boot(self, **_: Any) -> result201.BootNotification:
        status, interval = self.boot_answer()
        return result201.BootNotification(
            current_time=self.csms.now(), interval=interval, status=status
        )

    @on(Action201.heartbeat)
    def on_heartbeat(self, **_: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=self.csms.now())

    @on(Action201.status_notification)
    def on_status(self, **_: Any) -> result201.StatusNotification:
        return result201.StatusNotification()

    @on(Action201.authorize)
    def on_authorize(self, **_: Any) -> result201.Authorize:
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on(Action201.transaction_event)
    def on_transaction_event(self, **_: Any) -> result201.TransactionEvent:
        return result201.TransactionEvent()

    @on(Action201.notify_report)
    def on_notify_report(self, **_: Any) -> result201.NotifyReport:
        return result201.NotifyReport()

    @on(Action201.meter_values)
    def on_meter_values(self, **_: Any) -> result201.MeterValues:
        return result201.MeterValues()


# The ocpp ChargePoint classes are untyped: the central classes are handled as Any.
_CENTRAL: dict[str, Any] = {"1.6": Central16, "2.0.1": Central201}


class Csms:
    """The reference CSMS. ``boot_status`` answers every BootNotification, except that with
    ``accept_after_s`` a station is Accepted on the first boot that many seconds after its first.
    ``interval_s`` is the interval sent with every boot answer (heartbeat or retry wait)."""

    def __init__(
        self,
        boot_status: str = "Accepted",
        interval_s: int = 300,
        accept_after_s: float | None = None,
        versions: Sequence[str] = VERSIONS,
        capture: bool = False,
        clock_skew_s: float = 0.0,
        error_on: Sequence[str] = (),
        naive_time: bool = False,
    ) -> None:
        if boot_status not in BOOT_STATUSES:
            raise ValueError(f"boot_status must be one of {', '.join(BOOT_STATUSES)}")
        self.boot_status = boot_status
        self.interval_s = interval_s
        self.accept_after_s = accept_after_s
        self.versions = tuple(versions)
        self.ledger: dict[str, StationRecord] = {}
        self.connections: dict[str, Any] = {}  # station id -> its central ChargePoint
        self.capture: list[Captured] | None = [] if capture else None
        self.calls_sent: dict[str, str] = {}  # with capture: unique id -> action, CSMS's CALLs
        self.clock_skew_s = clock_skew_s
        # currentTime without a UTC offset, microseconds, as datetime.utcnow().isoformat() gives
        # (and home-grown CSMSs send): breaks the schema, to see how a fleet reports it.
        self.naive_time = naive_time
        self.error_on = frozenset(error_on)  # actions answered with CallError InternalError
        self._transaction_id = 0
        self._server: Server | None = None
        self.url = ""

    # --- decisions -------------------------------------------------------------------------------

    def boot_decision(self, station_id: str) -> tuple[str, int]:
        record = self.ledger[station_id]
        now = time.monotonic()
        if record.first_boot_at is None:
            record.first_boot_at = now
        status = self.boot_status
        if self.accept_after_s is not None and now - record.first_boot_at >= self.accept_after_s:
            status = "Accepted"
        return status, self.interval_s

    def now(self) -> str:
        """The CSMS's clock as sent in currentTime (``clock_skew_s`` ahead of the real one)."""
        moment = datetime.now(UTC) + timedelta(seconds=self.clock_skew_s)
        if self.naive_time:
            return moment.replace(tzinfo=None).isoformat()
        return _format(moment)

    def next_transaction_id(self) -> int:
        self._transaction_id += 1
        return self._transaction_id

    def ledger_json(self) -> dict[str, Any]:
        return {station: record.to_json() for station, record in sorted(self.ledger.items())}

    # --- server ----------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 9000, path: str = "/ocpp") -> str:
        self._server = await websockets.serve(
            self._serve,
            host,
            port,
            subprotocols=[SUBPROTOCOLS[v] for v in self.versions],  # type: ignore[misc]
            compression=None,
            process_request=self._http,
            ping_interval=None,
            max_queue=4,
            # A boot storm opens thousands of connections at once: with the default backlog of
            # 100 the kernel drops SYNs and stations connect 1, 3, 7 s later (TCP retries).
            backlog=BACKLOG,
        )
        bound = self._server.sockets[0].getsockname()
        self.url = f"ws://{bound[0]}:{bound[1]}{path}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/call/"):
            return await self._http_call(request.path)
        if request.path == "/health":
            return _json_response(http.HTTPStatus.OK, {"ok": True, "stations": len(self.ledger)})
        if request.path == "/ledger":
            return _json_response(http.HTTPStatus.OK, self.ledger_json())
        station_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        if not station_id or request.path.count("/") < 1:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "no station id in path\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        version = "1.6" if ws.subprotocol == "ocpp1.6" else "2.0.1"
        record = self.ledger.get(station_id)
        if record is None or record.version != version:
            record = self.ledger[station_id] = StationRecord(version)
        if station_id in self.connections:
            logger.warning(
                "%s connected again while connected; closing the old connection", station_id
            )
            await self.connections[station_id]._connection.close(1000, "replaced")
        central = _CENTRAL[version](station_id, ws, self)
        self.connections[station_id] = central
        record.connections += 1
        record.connected = True
        record.peers.add(str(ws.remote_address[0]))
        logger.info("%s connected (OCPP %s)", station_id, version)
        try:
            await central.start()  # type: ignore[attr-defined]
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(station_id) is central:
                del self.connections[station_id]
                record.connected = False
            logger.info("%s disconnected", station_id)

    async def _http_call(self, target: str) -> Response:
        parts = urlsplit(target)
        _, _, station_id, action = [*parts.path.split("/"), "", ""][:4]
        query = parse_qs(parts.query)
        central = self.connections.get(station_id)
        if central is None:
            return _json_response(
                http.HTTPStatus.NOT_FOUND, {"ok": False, "error": "not connected"}
            )
        module = call16 if central._ocpp_version == "1.6" else call201
        shape = getattr(module, action, None)
        try:
            payload = orjson.loads(query.get("payload", ["{}"])[0])
            request = shape(**camel_to_snake_case(payload))  # type: ignore[misc]
            answer = await self.call(station_id, request)
        except OCPPError as exc:
            body = {"ok": False, "error": f"{exc.code}: {exc.description}"}
            return _json_response(http.HTTPStatus.OK, body)
        except (TypeError, ValueError, orjson.JSONDecodeError, TimeoutError) as exc:
            body = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            return _json_response(http.HTTPStatus.BAD_REQUEST, body)
        return _json_response(http.HTTPStatus.OK, {"ok": True, "response": to_payload(answer)})

    async def call(self, station_id: str, payload: Any, timeout_s: float = 10) -> Any:
        """Send a CSMS-initiated call (an ``ocpp`` call dataclass) and return the station's answer;
        raises the OCPPError the station answered with, or TimeoutError."""
        central = self.connections[station_id]
        central._response_timeout = timeout_s  # type: ignore[attr-defined]
        return await central.call(payload, suppress=False)  # type: ignore[attr-defined]


def _json_response(status: http.HTTPStatus, body: Any) -> Response:
    data = orjson.dumps(body)
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status.value, status.phrase, headers, data)


@contextlib.asynccontextmanager
async def running_csms(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[Csms]:
    """A started CSMS on an ephemeral loopback port, stopped on exit (tests, benchmarks)."""
    csms = Csms(**options)
    await csms.start(host, port)
    try:
        yield csms
    finally:
        await csms.stop()


async def serve_forever(
    csms: Csms, host: str, port: int, ready: asyncio.Event | None = None
) -> None:
    url = await csms.start(host, port)
    versions = ", ".join(csms.versions)
    print(
        f"fleet csms listening on {url} (OCPP {versions}; boot {csms.boot_status}, "
        f"interval {csms.interval_s} s)",
        flush=True,
    )
    if ready is not None:
        ready.set()
    try:
        await asyncio.Future()
    finally:
        await csms.stop()

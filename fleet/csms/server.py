"""The embedded reference CSMS: a real websocket server built on the ``ocpp`` library's
central-system side, for demos, tests and benchmarks that need a CSMS on loopback.

It negotiates ocpp1.6 / ocpp2.0.1 by subprotocol, takes the station id from the last path
segment, validates every incoming CALL against the ocpp package's schemas (compiled once, as the
stations do), answers as ``central`` says, and keeps a per-station ledger of messages received
per action and a per-transaction ledger (``transactions``). Over plain HTTP on the same port
(loopback tooling and tests; answered by ``tooling``):

* ``GET /health``: 200 with the number of stations seen;
* ``GET /ledger``: both ledgers as JSON, ``{"stations": {...}, "transactions": {...}}``;
* ``GET /call/<station id>/<Action>?payload=<JSON>``: send a CSMS-initiated call and return the
  station's answer (``{"ok": true, "response": {...}}`` or ``{"ok": false, "error": "..."}``),
  e.g. ``/call/CP-00001/RemoteStartTransaction?payload={"idTag":"T1","connectorId":1}``;
* ``GET /campaign/<Action>?payload=<JSON>[&stations=<id pattern>][&version=<v>][&timeout_s=<s>]``:
  send the call to every connected station of a version whose schema the payload meets
  (``stations``: those a shell pattern picks) and return answers per status, CallErrors per
  code, timeouts and answer latencies, once all are in; ``GET /campaigns``: every campaign's
  outcome so far.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import http
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import ocpp.messages
import websockets
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from fleet.certs import Authority
from fleet.csms import tooling
from fleet.csms.campaign import Campaign, run_campaign
from fleet.csms.central import CENTRAL
from fleet.csms.door import Door, request_station
from fleet.csms.journal import Journal
from fleet.csms.ocsp import OcspResponder
from fleet.csms.records import Captured, StationRecord
from fleet.csms.tags import TagPolicy
from fleet.csms.transactions import Transactions
from fleet.wire import SUBPROTOCOLS, VERSIONS

logger = logging.getLogger("fleet.csms")

# One validation per message on the loop thread, not a thread-pool hop per message.
ocpp.messages.ASYNC_VALIDATION = False

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
BACKLOG = 8192  # the kernel caps it at net.core.somaxconn


def _format(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


CONNECT_LOG_KEPT = 200_000  # connects and disconnects remembered, the newest


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
        hang_up_on: Sequence[str] = (),
        silent_on: Sequence[str] = (),
        slow_on: Mapping[str, float] | None = None,
        naive_time: bool = False,
        tags: TagPolicy | None = None,
        ledger_file: str | None = None,
        tls: ssl.SSLContext | None = None,
        door: Door | None = None,
        signer: Authority | None = None,
        schedule_ev_needs: bool = False,
        start_plugged_after_s: float | None = None,
        revoke_v2g: Sequence[str] = (),
    ) -> None:
        if boot_status not in BOOT_STATUSES:
            raise ValueError(f"boot_status must be one of {', '.join(BOOT_STATUSES)}")
        self.boot_status = boot_status
        self.interval_s = interval_s
        self.accept_after_s = accept_after_s
        self.versions = tuple(versions)
        self.ledger: dict[str, StationRecord] = {}
        self.connections: dict[str, Any] = {}  # station id -> its central ChargePoint
        # (time.monotonic(), station id, "connect" or "disconnect"): the pattern a storm makes
        self.connect_log: collections.deque[tuple[float, str, str]] = collections.deque(
            maxlen=CONNECT_LOG_KEPT
        )
        self.capture: list[Captured] | None = [] if capture else None
        self.calls_sent: dict[str, str] = {}  # with capture: unique id -> action, CSMS's CALLs
        self.clock_skew_s = clock_skew_s
        # currentTime without a UTC offset, microseconds, as datetime.utcnow().isoformat() gives
        # (and home-grown CSMSs send): breaks the schema, to see how a fleet reports it.
        self.naive_time = naive_time
        self.error_on = frozenset(error_on)  # actions answered with CallError InternalError
        # Actions that make the CSMS close the connection instead of answering, the first time
        # each station sends one: the message was received, its answer never leaves.
        self.hang_up_on = frozenset(hang_up_on)
        self.hung_up: set[tuple[str, str]] = set()  # (station, action) done
        self.silent_on = frozenset(silent_on)  # actions received and never answered
        self.slow_on = dict(slow_on or {})  # action -> ms to wait before answering it
        self.tags = tags or TagPolicy()  # who may charge
        # ISO 15118 smart charging (2.0.1 K15): NotifyEVChargingNeeds answered Accepted and a
        # TxProfile sent after it; without, Rejected (no schedules).
        self.schedule_ev_needs = schedule_ev_needs
        # --start-plugged: as the drivers' app, a remote start for each EV plugged in without
        # a badge (1.6 Preparing; 2.0.1 a transaction the cable Started), this long after.
        self.start_plugged_after_s = start_plugged_after_s
        self.transactions = Transactions()
        # With a file, transaction messages survive a restart (``journal.py``).
        self.journal = None if ledger_file is None else Journal(ledger_file)
        self.campaigns: list[Campaign] = []
        self.tls = tls  # wss:// (profiles 2 and 3; ``door.server_context``)
        self.door = door  # who is let in (Basic auth, certificate identity)
        self.signer = signer  # the CA that signs stations' CSRs (SignCertificate)
        self.ocsp = OcspResponder(signer, revoke_v2g)  # GetCertificateStatus answered
        # --schedule-ev-needs: the limit (W) each (station, EVSE) was levelled to
        self.leveled_w: dict[tuple[str, int], float] = {}
        self.tasks: set[asyncio.Task[None]] = set()  # calls of the CSMS's own under way
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
        self._transaction_id = max(self._transaction_id, self.transactions.last_id) + 1
        return self._transaction_id

    def record(self, station: str, action: str, payload: dict[str, Any], tx_id: Any = None) -> None:
        """A transaction message received: into the journal (with a ledger file), then the
        ledger."""
        if self.journal is not None:
            self.journal.write(station, action, payload, tx_id)
        self.transactions.apply(station, action, payload, tx_id)

    def ledger_json(self) -> dict[str, Any]:
        stations = {station: record.to_json() for station, record in sorted(self.ledger.items())}
        ledger = {"stations": stations, "transactions": self.transactions.to_json()}
        if self.door is not None:
            ledger["door"] = self.door.to_json()
        return ledger

    # --- server ----------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 9000, path: str = "/ocpp") -> str:
        if self.journal is not None:
            replayed = self.journal.open(self.transactions)
            logger.info(
                "ledger: %d transaction messages replayed from %s", replayed, self.journal.path
            )
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
            ssl=self.tls,
        )
        bound = self._server.sockets[0].getsockname()
        scheme = "ws" if self.tls is None else "wss"
        self.url = f"{scheme}://{bound[0]}:{bound[1]}{path}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.journal is not None:
            self.journal.close()

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        answered = await tooling.answer(self, request.path)
        if answered is not None:
            return answered
        station_id = request_station(request)
        if not station_id or request.path.count("/") < 1:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "no station id in path\n")
        if self.door is not None:
            peer = connection.transport.get_extra_info("peercert")
            refusal = self.door.check(station_id, request.headers, peer)
            if refusal is not None:
                logger.info("%s refused: %s", station_id, refusal.body.decode().strip())
            return refusal
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = request_station(ws.request)
        version = "1.6" if ws.subprotocol == "ocpp1.6" else "2.0.1"
        record = self.ledger.get(station_id)
        if record is None or record.version != version:
            record = self.ledger[station_id] = StationRecord(version)
        if station_id in self.connections:
            logger.warning(
                "%s connected again while connected; closing the old connection", station_id
            )
            await self.connections[station_id]._connection.close(1000, "replaced")
        central = CENTRAL[version](station_id, ws, self)
        self.connections[station_id] = central
        record.connections += 1
        record.connected = True
        self.connect_log.append((time.monotonic(), station_id, "connect"))
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
            self.connect_log.append((time.monotonic(), station_id, "disconnect"))
            logger.info("%s disconnected", station_id)

    async def campaign(
        self,
        action: str,
        requests: dict[str, Any],
        pattern: str | None = None,
        timeout_s: float = 10,
    ) -> Campaign:
        """Send ``requests[version]`` to every connected station (see ``campaign.py``)."""
        targets = []
        for station_id, central in list(self.connections.items()):
            request = requests.get(central._ocpp_version)
            send = None if request is None else functools.partial(_ask, self, request, timeout_s)
            targets.append((station_id, send))
        outcome = await run_campaign(action, targets, pattern)
        self.campaigns.append(outcome)
        logger.info("campaign %s: %s", action, outcome.to_json())
        return outcome

    async def call(self, station_id: str, payload: Any, timeout_s: float = 10) -> Any:
        """Send a CSMS-initiated call (an ``ocpp`` call dataclass) and return the station's answer;
        raises the OCPPError the station answered with, or TimeoutError."""
        central = self.connections[station_id]
        central._response_timeout = timeout_s  # type: ignore[attr-defined]
        answer = await central.call(payload, suppress=False)  # type: ignore[attr-defined]
        if self.door is not None:
            self.door.answered(station_id, payload, answer)
        return answer


async def _ask(csms: Csms, request: Any, timeout_s: float, station_id: str) -> Any:
    return await csms.call(station_id, request, timeout_s)


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
        f"interval {csms.interval_s} s; {csms.tags.describe()})",
        flush=True,
    )
    if ready is not None:
        ready.set()
    try:
        await asyncio.Future()
    finally:
        await csms.stop()

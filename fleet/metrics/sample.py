"""What leaves a station: plain samples through one small interface (a Sink).

Station code never knows who listens. The headless runner plugs in ``Summary``; the Locust bridge
plugs in a sink that hands samples to gevent, where wire exchanges are fired as
``events.request`` and everything else goes to fleet's own statistics. A round trip is timed on
the wire: the clock starts when the frame is handed to the socket, not when the station first
wanted to send it. Times are ``time.perf_counter()`` seconds; durations are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from fleet.station.state import State

# Wire exchanges: the kind of a CALL is the station's "OCPP1.6" / "OCPP2.0.1"; a connect is:
CONNECT: Final = "connect"


def version_of(kind: str) -> str:
    """The OCPP version of a CALL's kind: "OCPP1.6" -> "1.6"."""
    return kind.removeprefix("OCPP")


# ... and a connect that shows a security.negative misbehaviour: refused is its success, the
# CSMS letting the station in its failure.
NEGATIVE_ROWS: Final = {
    "wrong_password": "connect (wrong password)",
    "foreign_certificate": "connect (other station's certificate)",
    "expired_certificate": "connect (expired certificate)",
    "downgrade": "connect (downgraded profile)",
}
LET_IN: Final = "CSMS let the station in"

# Beside the station states, per version: stations with a charging session running (a gauge).
CHARGING: Final = "charging"

# Rows of fleet's own statistics.
BOOT_ACCEPTED: Final = "boot→accepted"  # first BootNotification sent until Accepted
RECONNECTED: Final = "lost→accepted"  # an accepted connection lost until accepted again
CSMS_TO_CP: Final = "CSMS→CP"  # "CSMS→CP Reset": the station's handling of a CSMS call
CONNECTION_LOST: Final = "connection lost"  # a connection the CSMS or the network ended
LATE_ANSWER: Final = "late answer"  # an answer that arrived after the CALL had timed out
LOOP_LAG: Final = "loop lag"  # how late the event loop ran a timer (fleet's own punctuality)
SESSION_ERROR: Final = "session error"  # fleet's own session code failed: counted, run goes on
STATION_ERROR: Final = "station error"  # fleet's own connection code failed: counted, retried
DRIFT: Final = "drift"  # "Heartbeat drift": how late a scheduled message left its schedule
WS_PING: Final = "ws ping"  # a websocket ping until its pong (WebSocketPingInterval above 0)

# Why a scheduled message (a heartbeat; later meter values) could not leave on schedule.
MISSED_OFFLINE: Final = "offline"  # the station had no accepted connection
MISSED_BUSY: Final = "busy"  # the previous CALL was still out (OCPP-J: one CALL at a time)
MISSED_STALL: Final = "stall"  # fleet's own event loop was late
MISSED_CAUSES: Final = (MISSED_OFFLINE, MISSED_BUSY, MISSED_STALL)

# What happened to transaction messages on their way (``Sink.delivery``).
DELIVERY_DELIVERED: Final = "delivered"  # answered by the CSMS (each message once)
DELIVERY_QUEUED: Final = "queued offline"  # made while offline: waited for the next boot
DELIVERY_REPLAYED: Final = "replayed"  # a message queued offline, answered after reconnecting
DELIVERY_RETRIED: Final = "retried"  # sent again: the CSMS did not answer, or answered CallError
DELIVERY_RESENT: Final = "resent"  # out when the connection dropped: sent again after the boot
DELIVERY_GAVE_UP: Final = "given up"  # had its attempts (or its 1.6 start did): never delivered
DELIVERY_DROPPED: Final = "dropped"  # the offline queue was full (offline.when_full)
DELIVERY_LEFT: Final = "still queued"  # waiting when its station stopped (taken back if it returns)
DELIVERY_EVENTS: Final = (
    DELIVERY_DELIVERED,
    DELIVERY_QUEUED,
    DELIVERY_REPLAYED,
    DELIVERY_RETRIED,
    DELIVERY_RESENT,
    DELIVERY_GAVE_UP,
    DELIVERY_DROPPED,
    DELIVERY_LEFT,
)

# How a station answered a CSMS call, besides the status it answered with.
UNANSWERED: Final = "(unanswered)"  # the scenario's policy: never answered
DROPPED: Final = "(connection lost)"  # held back by a delay, and the connection ended first
ANSWERED: Final = "(answered)"  # an answer without a top-level status (GetConfiguration, ...)


def call_error_outcome(code: str) -> str:
    return f"CallError {code}"


# Where a CSMS violation was seen.
ANSWER: Final = "answer"  # the CSMS's CALLRESULT to a station's CALL
CALL: Final = "call"  # a CALL the CSMS sent
FRAME: Final = "frame"  # a frame that is not OCPP-J RPC at all (not JSON, unknown message id)


def covers(action: str, row: str) -> bool:
    """Whether a gate's action covers a wire row: its own, or its parts ("TransactionEvent"
    covers "TransactionEvent(Started)", "(Updated)" and "(Ended)")."""
    return row == action or (row.startswith(action) and row[len(action) : len(action) + 1] == "(")


# Failed exchanges by class: a label set small enough for a Prometheus counter. The reasons
# themselves (with their text) are in the failure lists.
_REASON_CLASSES: Final = (
    ("CallError ", "call_error"),
    ("no answer within ", "timeout"),
    ("invalid ", "invalid_response"),
    ("connection lost", "connection_lost"),
    ("outbox full", "outbox_full"),
    ("boot Rejected", "rejected"),
    (LET_IN, "let_in"),
    ("TLS", "tls"),
    ("CSMS refused the websocket", "refused"),
)


def reason_class(reason: str) -> str:
    """The class of a failure reason: call_error, timeout, invalid_response, connection_lost,
    outbox_full, rejected, let_in, tls, refused, or other (a connect that failed otherwise, a
    CALL that could not be sent)."""
    for prefix, klass in _REASON_CLASSES:
        if reason.startswith(prefix):
            return klass
    return "other"


def handling_row(action: str) -> str:
    return f"{CSMS_TO_CP} {action}"


def drift_row(action: str) -> str:
    return f"{action} {DRIFT}"


@dataclass(slots=True, frozen=True)
class Violation:
    """A CSMS message that breaks OCPP. Counted per (direction, action, field, rule); ``example``
    is the frame as received (cut to EXAMPLE_CHARS)."""

    direction: str  # ANSWER, CALL or FRAME
    action: str
    field: str  # JSON path in the payload: "currentTime", "idTagInfo.status", "items[].x"
    rule: str  # the schema rule it broke: "format", "enum", "required", "type", ...
    wanted: str  # what the rule wanted: "date-time", "one of Accepted, Pending, Rejected"
    example: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.direction, self.action, self.field, self.rule)


EXAMPLE_CHARS: Final = 400


@dataclass(slots=True, frozen=True)
class SessionDelta:
    """A station's charging progress since its last report: figures that only grow travel as
    differences, so batches and workers add up; ``charging`` is +1 when the station's first
    running session began, -1 when its last one ended (or the station stopped)."""

    charging: int
    started: int
    completed: int
    energy_wh: float
    faults: int = 0  # connector faults (scenario ``faults``)


class Sink(Protocol):
    """Receives every measurement a station makes. Calls come from the event loop's thread and
    must not block: a sink that needs another thread queues the values."""

    def exchange(
        self,
        station: str,
        kind: str,
        action: str,
        sent_at: float,
        rtt_ms: float,
        size: int,
        error: str | None,
    ) -> None:
        """A wire exchange the station started: ``kind`` "OCPP1.6"/"OCPP2.0.1" for a CALL and
        its answer (``action`` the CALL's), or CONNECT for TCP + websocket handshake.
        ``sent_at``: when it began; ``size``: bytes received; ``error``: None or a one-line
        reason."""

    def timing(
        self, station: str, name: str, started_at: float | None, ms: float, error: str | None
    ) -> None:
        """One of fleet's own figures (BOOT_ACCEPTED, ``handling_row(action)``,
        ``drift_row(action)``, CONNECTION_LOST, LATE_ANSWER). ``started_at`` is given when the
        figure spans time fleet's own stalls could have stretched."""

    def missed(self, station: str, action: str, cause: str, count: int) -> None:
        """``count`` scheduled ``action`` messages could not leave on schedule, for ``cause``."""

    def violation(self, station: str, violation: Violation) -> None:
        """The CSMS broke OCPP (whether the station could go on is reported separately)."""

    def state(self, station: str, version: str, old: State, new: State) -> None:
        """A station moved from ``old`` to ``new``."""

    def sessions(self, station: str, version: str, delta: SessionDelta) -> None:
        """Charging went on: sessions started or completed, energy delivered."""

    def answered(self, station: str, action: str, outcome: str) -> None:
        """The station answered a CSMS call: ``outcome`` is the status it answered with,
        ``call_error_outcome(code)``, ANSWERED, UNANSWERED or DROPPED."""

    def delivery(self, station: str, row: str, event: str, count: int = 1) -> None:
        """``count`` transaction messages (``row``: "StopTransaction",
        "TransactionEvent(Updated)") went through one of DELIVERY_EVENTS (a negative count
        takes DELIVERY_LEFT back when the station returns)."""

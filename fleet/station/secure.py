"""What both OCPP versions' stations do for security, once: certificate renewal (SignCertificate,
then CertificateSigned used from the next connect), the roots the CSMS installs, lists and
deletes, SecurityEventNotification after what the specs name (a failed login, a CSMS
certificate not trusted, security parameters changed), and the rounds asking the OCSP status of
the V2G chain (``v2g_status`` decides). Version modules add the ``@on`` handlers and the names
each version gives these things.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import time
from typing import Any, ClassVar, Final

from fleet.certs import ORGANIZATION
from fleet.errors import CSMS_UNTRUSTED, LOGIN_REFUSED, CallFailed, ConnectionFailed
from fleet.station import pnc
from fleet.station.calendar import Calendar, Entry
from fleet.station.certificates import (
    ACCEPTED,
    NOT_FOUND,
    CertificateStore,
    Installed,
    store_client,
)
from fleet.station.core import Station
from fleet.station.rare import Rare
from fleet.station.settings import CPO_NAME, PNC_ENABLED
from fleet.station.state import State
from fleet.station.v2g_status import ASKING, chain_requests, next_due, starts
from fleet.station.v2g_status import ROW as V2G_ROW
from fleet.station.v2g_status import judge as judge_v2g
from fleet.station.v2g_status import request as v2g_request

logger = logging.getLogger("fleet.station")

RECONFIGURED: Final = "ReconfigurationOfSecurityParameters"
BAD_SIGNING_CERTIFICATE: Final = "InvalidFirmwareSigningCertificate"
# What TriggerMessage (2.0.1) and ExtendedTriggerMessage (1.6) call a certificate renewal.
SIGN_TRIGGERS: Final = ("SignChargePointCertificate", "SignChargingStationCertificate")
SIGN_V2G: Final = "SignV2GCertificate"  # 2.0.1: the ISO 15118 certificate, for Plug & Charge
V2G: Final = "V2GCertificate"
SIGN: Final = "SignCertificate"
MAX_PENDING_EVENTS: Final = 50  # security events kept while offline, the newest dropped beyond


class SecureStation(Station):
    """Security behaviour common to both versions. Subclasses name the events."""

    __slots__ = ()
    # 1.6 FailedToAuthenticateAtCentralSystem, InvalidCentralSystemCertificate; 2.0.1
    # FailedToAuthenticateAtCsms, InvalidCsmsCertificate.
    failed_login_event: ClassVar[str]
    untrusted_csms_event: ClassVar[str]
    store: Rare[CertificateStore | None] = Rare(None)  # made by the first certificate message
    pending_events: Rare[list[dict[str, Any]] | None] = Rare(None)  # security events not sent
    # When the V2G chain's OCSP status is asked next (loop time; None: once accepted; ASKING:
    # under way), and the calendar entry that wakes the station then.
    v2g_due_s: Rare[float | None] = Rare(None)
    v2g_wake: Rare[Entry | None] = Rare(None)

    def certificates(self) -> CertificateStore:
        if self.store is None:
            self.store = CertificateStore(self.id)
        return self.store

    # --- secure firmware update -------------------------------------------------------------------

    def answer_firmware_request(
        self, action: str, request_id: int, firmware: dict[str, Any], notification: str
    ) -> str:
        """2.0.1 UpdateFirmware or 1.6 SignedUpdateFirmware (L01 in both): the status to answer
        with (the scenario's), AcceptedCanceled when it replaces an update under way. An update
        answered InvalidCertificate is aborted and reported as a security event (L01.FR.02)."""
        status = self.status_for(action)
        if status == "InvalidCertificate":
            self.security_event(BAD_SIGNING_CERTIFICATE, f"{action} {request_id}")
        if status != "Accepted":
            return status
        replaces = self.answer_firmware(
            firmware["location"],
            firmware["retrieve_date_time"],
            firmware.get("install_date_time"),
            request_id,
            "signature" in firmware,
            notification,
        )
        return "AcceptedCanceled" if replaces else status

    # --- renewal ---------------------------------------------------------------------------------

    async def request_certificate(self, v2g: bool = False) -> None:
        """Send SignCertificate with a CSR for a new key; the CSMS's CertificateSigned follows.
        ``v2g``: for the ISO 15118 certificate (2.0.1 certificateType V2GCertificate)."""
        organization = self.get_setting(CPO_NAME) or ORGANIZATION
        payload: dict[str, Any] = {"csr": self.certificates().request(organization, v2g)}
        if self.version == "2.0.1":
            payload["certificateType"] = V2G if v2g else "ChargingStationCertificate"
        with contextlib.suppress(CallFailed):
            if v2g and self.version == "1.6":  # the OCA's PnC on 1.6: inside DataTransfer
                wrapped = pnc.wrapped(SIGN, {**payload, "certificateType": V2G})
                judge = functools.partial(pnc.judged16, SIGN, _no_verdict)
                await self.call("DataTransfer", wrapped, judge=judge, row=SIGN)
            else:
                await self.call(SIGN, payload)

    def trigger(
        self, requested: str, connectors: list[int] | None, action: str = "TriggerMessage"
    ) -> str:
        v2g = requested == SIGN_V2G  # (1.6: inside DataTransfer, see v16_pnc)
        if requested not in SIGN_TRIGGERS and not v2g:
            return super().trigger(requested, connectors, action)
        chosen = self.status_for(action)
        if v2g and self.get_setting(PNC_ENABLED) != "true":
            return "Rejected"  # no ISO 15118 here: no V2G certificate to renew
        if chosen == ACCEPTED:
            self.then(functools.partial(self.request_certificate, v2g))
        return chosen

    async def _ask_v2g_now(self) -> None:
        self.plan_v2g_status()

    def renew_certificate(self) -> None:
        """A renewal storm reached the station: ask now when accepted (else it missed it)."""
        if self.state is State.ACCEPTED and self._transport is not None:
            self._spawn(self.request_certificate())

    def answer_signed(self, chain: str, kind: str | None = None) -> str:
        """CertificateSigned: the chain checked against the CSR sent; kept for the next
        connect when Accepted."""
        chosen = self.status_for("CertificateSigned")
        if chosen != ACCEPTED:
            return chosen
        now = datetime.datetime.now(datetime.UTC)
        if kind == V2G:
            status = self.certificates().signed_v2g(chain, now)
            if status == ACCEPTED and self.v2g_due_s != ASKING:
                self.v2g_due_s = 0.0  # a new chain: its status asked at once
                self.then(self._ask_v2g_now)
            return status
        if kind not in (None, "ChargingStationCertificate"):
            return "Rejected"
        status, key = self.certificates().signed(chain, now)
        if key is not None:
            self.certificate = store_client(self.id, chain, key)
            logger.info("%s: new certificate installed, used from the next connect", self.id)
            self.security_event(RECONFIGURED, "client certificate renewed")
        return status

    # --- installed roots -------------------------------------------------------------------------

    def answer_install(self, kind: str, pem: str) -> str:
        chosen = self.status_for("InstallCertificate")
        if chosen != ACCEPTED:
            return chosen
        status = self.certificates().install(kind, pem)
        if status == ACCEPTED:
            self.security_event(RECONFIGURED, f"{kind} installed")
        return status

    def answer_installed(self, kinds: list[str] | None) -> tuple[str, list[Any]]:
        """GetInstalledCertificateIds: (status, the installed certificates of ``kinds``)."""
        chosen = self.status_for("GetInstalledCertificateIds")
        if chosen != ACCEPTED:
            return chosen, []
        found = self.certificates().ids(kinds)
        return (ACCEPTED if found else NOT_FOUND), found

    def answer_delete(self, hash_data: dict[str, Any]) -> str:
        chosen = self.status_for("DeleteCertificate")
        if chosen != ACCEPTED:
            return chosen
        status = self.certificates().delete(hash_data)
        if status == ACCEPTED:
            self.security_event(RECONFIGURED, "certificate deleted")
        return status

    def set_password(self, password: bytes | None) -> str:
        status = super().set_password(password)
        if status == ACCEPTED:
            self.security_event(RECONFIGURED, "Basic-auth password changed")
        return status

    # --- security events -------------------------------------------------------------------------

    def refused(self, failure: ConnectionFailed) -> None:
        """A connect failed: a refused login or an untrusted CSMS certificate is a security
        event, reported once the station is accepted again."""
        if failure.security == LOGIN_REFUSED:
            self.security_event(self.failed_login_event, failure.reason)
        elif failure.security == CSMS_UNTRUSTED:
            self.security_event(self.untrusted_csms_event, failure.reason)

    def security_event(self, kind: str, tech_info: str | None = None) -> None:
        """Send SecurityEventNotification ``kind`` (now if accepted, else after the next
        acceptance), when the scenario's stations report security events."""
        if not self.scenario.security.reports_events:
            return
        event: dict[str, Any] = {"type": kind, "timestamp": self.timestamp()}
        if tech_info:
            event["techInfo"] = tech_info[:255]
        if self.pending_events is None:
            self.pending_events = []
        if len(self.pending_events) < MAX_PENDING_EVENTS:
            self.pending_events.append(event)
        if self.state is State.ACCEPTED and self._transport is not None:
            self.then(self.send_security_events)

    async def send_security_events(self) -> None:
        events, self.pending_events = self.pending_events or [], None
        for event in events:
            with contextlib.suppress(CallFailed):
                await self.call("SecurityEventNotification", event)

    async def booted(self) -> None:
        await super().booted()
        if self.pending_events:
            await self.send_security_events()
        self.plan_v2g_status()

    # --- the V2G chain's OCSP status (M06) -------------------------------------------------------

    def plan_v2g_status(self) -> None:
        """Ask for the V2G chain's OCSP status if due (``v2g_status`` decides), else wake when
        it will be; only while accepted on a connection (``booted`` plans again)."""
        if self.state is not State.ACCEPTED or self._transport is None or not self._asks_v2g():
            return
        loop = asyncio.get_running_loop()
        due = self.v2g_due_s
        if due is None:  # the first acceptance: the first round is certificate_status_after_s on
            after_s = self.scenario.sessions.plug_and_charge.certificate_status_after_s
            due = self.v2g_due_s = loop.time() + after_s
        if starts(due, loop.time()):
            self.v2g_due_s = ASKING
            self._spawn(self.ask_v2g_status())
            return
        if due == ASKING:
            return  # under way: it plans the next when it ends
        calendar = Calendar.of(loop)
        if self.v2g_wake is not None:
            calendar.cancel(self.v2g_wake)
        self.v2g_wake = calendar.at(due, self._v2g_woken)

    def _v2g_woken(self) -> None:
        self.v2g_wake = None
        self.plan_v2g_status()

    def _asks_v2g(self) -> bool:
        """Whether the station asks at all: ISO15118PnCEnabled and a certificate_status_h."""
        config = self.scenario.sessions.plug_and_charge
        return bool(config.certificate_status_h) and self.get_setting(PNC_ENABLED) == "true"

    def ended(self) -> None:
        super().ended()
        if self.v2g_wake is not None:  # a stopped station is not kept for its wake-up
            Calendar.of(asyncio.get_running_loop()).cancel(self.v2g_wake)
            self.v2g_wake = None

    async def ask_v2g_status(self) -> None:
        """One round: each certificate's status in turn (GetCertificateStatus; 1.6 inside
        DataTransfer), stopped by the first that does not hold; then plan the next."""
        config = self.scenario.sessions.plug_and_charge
        signed = None if self.store is None else self.store.v2g
        verdicts: list[str | None] = []
        try:
            for asked in chain_requests(self.id, config.responder_url, signed):
                now_s = time.time() + self.clock_offset_s
                check: Any = functools.partial(judge_v2g, asked, now_s)
                action, payload, row = V2G_ROW, v2g_request(asked), None
                if self.version == "1.6":
                    action, payload, row = "DataTransfer", pnc.wrapped(V2G_ROW, payload), V2G_ROW
                    check = functools.partial(pnc.judged16, V2G_ROW, check)
                judge = functools.partial(_noted, verdicts, check)
                await self.call(action, payload, judge=judge, row=row)
                if verdicts[-1] is not None:
                    break
        except CallFailed:
            verdicts.append("no answer")
        finally:
            held = not verdicts or verdicts[-1] is None
            hour_s = 3600.0
            every_s, retry_s = config.certificate_status_h, config.certificate_status_retry_h
            now_s = asyncio.get_running_loop().time()
            self.v2g_due_s = next_due(held, now_s, every_s * hour_s, retry_s * hour_s)
        self.plan_v2g_status()


def _noted(verdicts: list[str | None], judge: Any, answer: dict[str, Any]) -> str | None:
    """``judge``'s verdict on ``answer``, kept in ``verdicts`` for the caller to read."""
    verdict = judge(answer)
    verdicts.append(verdict)
    return verdict


def _no_verdict(answer: dict[str, Any]) -> str | None:
    return None  # the CSMS's Rejected is its word on the CSR, as in 2.0.1


def installed_chain(found: list[Installed]) -> list[dict[str, Any]]:
    """GetInstalledCertificateIdsResponse's certificateHashDataChain (2.0.1 shape)."""
    return [{"certificateType": i.kind, "certificateHashData": i.hash_data} for i in found]

"""The OCSP status of a station's V2G chain (2.0.1 M06; 1.6 inside DataTransfer), without
sockets: what a station asks about (checked against real certificates), which answers hold
(real OCSP responses: the embedded CSMS's, and ones built wrong on purpose), when it asks
again (a fake clock), and the embedded CSMS's side of it."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet import wire
from fleet.certs import Authority, issue, new_authority, new_key
from fleet.csms.ocsp import OcspResponder
from fleet.csms.plug_and_charge import data_transfer_answer
from fleet.errors import ScenarioError
from fleet.scenario import load_scenario
from fleet.station import pnc
from fleet.station.calendar import Calendar
from fleet.station.certificates import hash_data
from fleet.station.v2g_status import (
    ASKING,
    Asked,
    chain_requests,
    judge,
    leaf_serial,
    next_due,
    request,
    starts,
    v2g_pki,
)

URL = "http://ocsp.example/"
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
NOW_S = NOW.timestamp()


def _answer(response: ocsp.OCSPResponse) -> dict[str, Any]:
    der = response.public_bytes(serialization.Encoding.DER)
    return {"status": "Accepted", "ocspResult": base64.b64encode(der).decode()}


def _built(
    asked: Asked,
    signer: Authority,
    *,
    serial: int | None = None,
    this_update: datetime.datetime = NOW,
    next_update: datetime.datetime | None = NOW + datetime.timedelta(days=7),
    responder: x509.Certificate | None = None,
) -> dict[str, Any]:
    """An OCSP response saying "good" for ``asked``, built as a responder might get it wrong."""
    data = asked.request
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=bytes.fromhex(data["issuerNameHash"]),
        issuer_key_hash=bytes.fromhex(data["issuerKeyHash"]),
        serial_number=int(data["serialNumber"], 16) if serial is None else serial,
        algorithm=hashes.SHA256(),
        cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=this_update,
        next_update=next_update,
        revocation_time=None,
        revocation_reason=None,
    )
    shown = responder or signer.certificate
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, shown)
    if responder is not None:
        builder = builder.certificates([responder])
    return _answer(builder.sign(signer.key, hashes.SHA256()))


def _responder_certificate(issuer: Authority, ocsp_signing: bool) -> Authority:
    """A delegated responder's certificate and key, issued by ``issuer`` (RFC 6960 4.2.2.2)."""
    key = new_key()
    usage = [ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing else ExtendedKeyUsageOID.CLIENT_AUTH]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "responder")]))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return Authority(certificate, key)


# --- what a station asks about -----------------------------------------------------------------


def test_a_station_asks_about_its_leaf_and_both_sub_cas_as_real_certificates_name_them() -> None:
    root, sub1, sub2 = v2g_pki()
    asked = chain_requests("CP-00007", URL)
    assert [a.issuer for a in asked] == [sub2.certificate, sub1.certificate, root.certificate]
    # The leaf is named as a certificate sub-CA 2 issues it with that serial would be.
    leaf = issue(sub2, "CP-00007", new_key().public_key(), serial=leaf_serial("CP-00007"))
    assert asked[0].request == {**hash_data(leaf, sub2.key.public_key()), "responderURL": URL}
    assert asked[1].request == {
        **hash_data(sub2.certificate, sub1.key.public_key()),
        "responderURL": URL,
    }
    assert asked[2].request == {
        **hash_data(sub1.certificate, root.key.public_key()),
        "responderURL": URL,
    }
    for a in asked:
        wire.checker("2.0.1", "GetCertificateStatus", "request")(request(a))
    # Another station: its own leaf, the same sub-CAs.
    other = chain_requests("CP-00008", URL)
    assert other[0].request["serialNumber"] != asked[0].request["serialNumber"]
    assert other[1:] == asked[1:]


def test_the_chain_is_the_same_in_every_process() -> None:
    code = (
        "import json; from fleet.station.v2g_status import chain_requests; "
        f"print(json.dumps([a.request for a in chain_requests('CP-00007', {URL!r})]))"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(elsewhere.stdout) == [a.request for a in chain_requests("CP-00007", URL)]


def test_a_chain_the_csms_signed_is_asked_about_instead() -> None:
    ca = new_authority(name="CSMS CA")
    leaf = issue(ca, "CP-00001", new_key().public_key())
    asked = chain_requests("CP-00001", URL, [leaf, ca.certificate])
    # The CA is a root: only the leaf is asked about, its issuer the CSMS's CA.
    assert [a.request for a in asked] == [
        {**hash_data(leaf, ca.key.public_key()), "responderURL": URL}
    ]
    assert asked[0].issuer == ca.certificate


# --- which answers hold ------------------------------------------------------------------------


def test_the_embedded_csms_s_answers_hold_for_every_certificate_of_the_chain() -> None:
    responder = OcspResponder()
    for asked in chain_requests("CP-00001", URL):
        answer = responder.answer(request(asked), "CP-00001", NOW)
        wire.checker("2.0.1", "GetCertificateStatus", "response")(answer)
        assert judge(asked, NOW_S, answer) is None


def test_a_revoked_v2g_certificate_fails_the_row() -> None:
    responder = OcspResponder(revoke=["CP-0000*"])
    leaf, sub_ca, _ = chain_requests("CP-00001", URL)
    assert judge(leaf, NOW_S, responder.answer(request(leaf), "CP-00001", NOW)) == (
        "OCSP: certificate revoked"
    )
    # Only the station's own certificate: the sub-CAs above it stay good.
    assert judge(sub_ca, NOW_S, responder.answer(request(sub_ca), "CP-00001", NOW)) is None
    other = chain_requests("CP-00012", URL)[0]
    assert judge(other, NOW_S, responder.answer(request(other), "CP-00012", NOW)) is None


def test_an_answer_only_holds_when_the_certificate_s_issuer_signed_it() -> None:
    _, _, sub2 = v2g_pki()
    asked = chain_requests("CP-00001", URL)[0]
    assert judge(asked, NOW_S, _built(asked, sub2)) is None
    stranger = new_authority(name="fleet CPO sub-CA 2")  # the same name, another key
    assert judge(asked, NOW_S, _built(asked, stranger)) == (
        "the OCSP response is not signed by the certificate's issuer"
    )
    # A delegated responder: one the issuer certified for OCSP signing, carried in the answer.
    delegated = _responder_certificate(sub2, ocsp_signing=True)
    assert judge(asked, NOW_S, _built(asked, delegated, responder=delegated.certificate)) is None
    not_for_ocsp = _responder_certificate(sub2, ocsp_signing=False)
    built = _built(asked, not_for_ocsp, responder=not_for_ocsp.certificate)
    assert (
        judge(asked, NOW_S, built) == "the OCSP response is not signed by the certificate's issuer"
    )
    self_made = _responder_certificate(stranger, ocsp_signing=True)
    built = _built(asked, self_made, responder=self_made.certificate)
    assert (
        judge(asked, NOW_S, built) == "the OCSP response is not signed by the certificate's issuer"
    )


def test_an_answer_about_another_certificate_or_out_of_date_does_not_hold() -> None:
    _, _, sub2 = v2g_pki()
    asked = chain_requests("CP-00001", URL)[0]
    other_serial = leaf_serial("CP-00002")
    assert judge(asked, NOW_S, _built(asked, sub2, serial=other_serial)) == (
        "the OCSP response is about another certificate"
    )
    week = datetime.timedelta(days=7)
    stale = _built(asked, sub2, this_update=NOW - 2 * week, next_update=NOW - week)
    assert judge(asked, NOW_S, stale) == "the OCSP response has expired (nextUpdate passed)"
    early = _built(asked, sub2, this_update=NOW + datetime.timedelta(hours=1))
    assert judge(asked, NOW_S, early) == "the OCSP response's thisUpdate is in the future"
    # Within the clocks' allowed skew, and without a nextUpdate: it holds.
    assert (
        judge(asked, NOW_S, _built(asked, sub2, this_update=NOW + datetime.timedelta(minutes=4)))
        is None
    )
    assert judge(asked, NOW_S, _built(asked, sub2, next_update=None)) is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"status": "Failed"}, "status Failed"),
        (
            {"status": "Failed", "statusInfo": {"reasonCode": "NoResponder"}},
            "status Failed (NoResponder)",
        ),
        ({"status": "Accepted"}, "Accepted without an ocspResult"),
        (
            {"status": "Accepted", "ocspResult": "not base64!"},
            "ocspResult is not an OCSP response (DER in base64)",
        ),
        (
            {"status": "Accepted", "ocspResult": "AAAA"},
            "ocspResult is not an OCSP response (DER in base64)",
        ),
        (
            _answer(ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)),
            "OCSP responseStatus TRY_LATER",
        ),
    ],
)
def test_an_answer_without_a_usable_ocsp_response_fails(
    answer: dict[str, Any], reason: str
) -> None:
    assert judge(chain_requests("CP-00001", URL)[0], NOW_S, answer) == reason


def test_1_6_carries_the_request_and_answer_in_data_transfer() -> None:
    asked = chain_requests("CP-00001", URL)[0]
    payload = pnc.wrapped("GetCertificateStatus", request(asked))
    wire.checker("1.6", "DataTransfer", "request")(payload)
    assert payload["vendorId"] == "org.openchargealliance.iso15118pnc"
    responder = OcspResponder()
    answers = {"GetCertificateStatus": lambda inner: responder.answer(inner, "CP-00001", NOW)}
    status, data = data_transfer_answer(payload, answers)
    answer16 = {"status": status, "data": data}
    check = pnc.judged16
    assert check("GetCertificateStatus", lambda a: judge(asked, NOW_S, a), answer16) is None
    refused = {"status": "UnknownMessageId"}
    assert check("GetCertificateStatus", lambda a: None, refused) == (
        "DataTransfer UnknownMessageId: the CSMS did not take the GetCertificateStatus"
    )
    empty = {"status": "Accepted", "data": "[]"}
    assert check("GetCertificateStatus", lambda a: None, empty) == (
        "DataTransfer data holds no GetCertificateStatus answer"
    )
    # The embedded CSMS refuses what it does not carry.
    assert data_transfer_answer({**payload, "messageId": "Get15118EVCertificate"}, answers) == (
        "UnknownMessageId",
        None,
    )
    assert data_transfer_answer({**payload, "data": "[1]"}, answers) == ("Rejected", None)
    assert orjson.loads(data or "")["status"] == "Accepted"


def test_the_embedded_csms_fails_what_it_cannot_answer_for() -> None:
    responder = OcspResponder()
    stranger = new_authority(name="someone else's CA")
    leaf = issue(stranger, "CP-00001", new_key().public_key())
    unknown = {
        "ocspRequestData": {**hash_data(leaf, stranger.key.public_key()), "responderURL": URL}
    }
    assert responder.answer(unknown, "CP-00001", NOW) == {
        "status": "Failed",
        "statusInfo": {"reasonCode": "UnknownIssuer"},
    }
    broken = {"ocspRequestData": {**unknown["ocspRequestData"], "serialNumber": "zz"}}
    assert responder.answer(broken, "CP-00001", NOW)["statusInfo"] == {"reasonCode": "BadRequest"}
    # Its own signing CA's certificates it answers for (a V2G certificate it signed).
    signer = OcspResponder(signer=stranger)
    asked = chain_requests("CP-00001", URL, [leaf, stranger.certificate])[0]
    assert judge(asked, NOW_S, signer.answer(request(asked), "CP-00001", NOW)) is None


# --- when a station asks ----------------------------------------------------------------------


def test_a_station_asks_at_once_then_every_interval_and_sooner_after_a_failure() -> None:
    every_s, retry_s = 600.0, 60.0
    assert starts(5.0, 5.0)  # due
    assert not starts(ASKING, 1e12)  # one round at a time
    due = next_due(True, 8.0, every_s, retry_s)
    assert due == 608.0
    assert not starts(due, 607.9) and starts(due, 608.0)
    due = next_due(False, 610.0, every_s, retry_s)  # failed: again sooner
    assert due == 670.0
    assert not starts(due, 669.0) and starts(due, 670.0)


class HandLoop:
    """A loop's clock and timers, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[list[Any]] = []  # [when, callback, cancelled]

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> Any:
        timer = [when, callback, False]
        self.timers.append(timer)
        return _Handle(timer)

    def advance(self, to: float, early_s: float = 0.0) -> None:
        """Move the clock to ``to``, firing the timers due by then (``early_s``: and those due
        that much later, as uvloop fires a timer up to ~0.5 ms before its time)."""
        self.now = to
        for timer in list(self.timers):
            if not timer[2] and timer[0] <= to + early_s:
                self.timers.remove(timer)
                timer[1]()

    def armed(self) -> list[float]:
        return [t[0] for t in self.timers if not t[2]]


class _Handle:
    def __init__(self, timer: list[Any]) -> None:
        self.timer = timer

    def cancel(self) -> None:
        self.timer[2] = True


def test_the_calendar_wakes_many_on_one_timer_in_order_and_forgets_the_cancelled() -> None:
    loop = HandLoop()
    calendar = Calendar(loop)  # type: ignore[arg-type]
    woken: list[str] = []
    late = calendar.at(100.0, lambda: woken.append("late"))
    calendar.at(50.0, lambda: woken.append("early"))
    tie = calendar.at(50.0, lambda: woken.append("tie"))
    assert loop.armed() == [50.0]  # one timer, for the earliest
    calendar.cancel(tie)
    assert len(calendar) == 2
    loop.advance(49.9)
    assert woken == []
    loop.advance(50.0)
    assert woken == ["early"] and loop.armed() == [100.0]
    # A wake-up may set another; a cancelled one never runs and holds nothing.
    calendar.at(75.0, lambda: woken.append("set later"))
    calendar.cancel(late)
    assert late[2] is None
    loop.advance(200.0)
    assert woken == ["early", "set later"] and len(calendar) == 0 and loop.armed() == []
    # A timer fired a little before its time runs what is due then, rather than being set
    # again for the same instant (a spin until the clock gets there).
    calendar.at(300.0, lambda: woken.append("a hair early"))
    loop.advance(299.9996, early_s=0.0005)
    assert woken[-1] == "a hair early" and loop.armed() == []
    # Cancelled entries do not pile up: the heap is compacted past half.
    entries = [calendar.at(1000.0 + i, lambda: None) for i in range(10)]
    for entry in entries[:6]:
        calendar.cancel(entry)
    assert len(calendar._heap) == 4 and len(calendar) == 4


@pytest.mark.parametrize(
    ("field", "value"), [("certificate_status_h", -1), ("certificate_status_retry_h", 0)]
)
def test_a_bad_interval_is_refused_naming_its_field(tmp_path: Path, field: str, value: int) -> None:
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(f"sessions:\n  plug_and_charge: {{share: 1, {field}: {value}}}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_file, environ={})
    assert f"sessions.plug_and_charge.{field}:" in str(caught.value)
    assert "Traceback" not in str(caught.value)

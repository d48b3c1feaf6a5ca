"""How the embedded CSMS answers a Plug & Charge Authorize (2.0.1 C07; 1.6 inside DataTransfer):
the contract's chain, when sent, must parse and name the token (its leaf's CN is the eMAID);
OCSP request data is taken as given (the embedded CSMS asks no OCSP responder). The token
itself goes through the tag policy like any tag."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from fleet.csms.tags import ACCEPTED, INVALID, TagPolicy
from fleet.station.pnc import VENDOR_ID


def certificate_status(request: dict[str, Any]) -> str | None:
    """The certificateStatus for a 2.0.1 AuthorizeRequest (camelCase): None when it carries no
    contract data (a tag)."""
    chain = request.get("certificate")
    if chain is None:
        return ACCEPTED if request.get("iso15118CertificateHashData") else None
    try:
        certificates = x509.load_pem_x509_certificates(chain.encode())
    except ValueError:
        return "CertChainError"
    names = certificates[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    token = (request.get("idToken") or {}).get("idToken")
    if not names or names[0].value != token:
        return "CertChainError"
    for leaf, issuer in itertools.pairwise(certificates):
        try:
            leaf.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return "SignatureError"
    return ACCEPTED


def authorize_answer(request: dict[str, Any], tags: TagPolicy) -> dict[str, Any]:
    """A 2.0.1 AuthorizeResponse (camelCase) for ``request``: a revoked contract (the tag
    policy's ``revoke``) is CertificateRevoked, its token Invalid."""
    token = request["idToken"]["idToken"]
    if not isinstance(token, str):
        raise TypeError("idToken")
    answer: dict[str, Any] = {"idTokenInfo": {"status": tags.status(token)}}
    status = certificate_status(request)
    if status == ACCEPTED and tags.revoked(token):
        status, answer["idTokenInfo"]["status"] = "CertificateRevoked", INVALID
    if status is not None:
        answer["certificateStatus"] = status
    return answer


def data_transfer_answer(
    request: dict[str, Any], answers: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]
) -> tuple[str, str | None]:
    """(status, data) of a 1.6 DataTransfer answer: a 2.0.1 request it carries (``answers``:
    how to answer each messageId) answered inside it; anything else refused as the spec has
    it (UnknownVendorId, UnknownMessageId; Rejected for data that is no JSON object)."""
    if request.get("vendorId") != VENDOR_ID:
        return "UnknownVendorId", None
    answer = answers.get(str(request.get("messageId")))
    if answer is None:
        return "UnknownMessageId", None
    try:
        inner = orjson.loads(request.get("data") or "")
    except orjson.JSONDecodeError:
        return "Rejected", None
    if type(inner) is not dict:
        return "Rejected", None
    try:
        answered = answer(inner)
    except (TypeError, KeyError, AttributeError):  # a request its schema would refuse
        return "Rejected", None
    return ACCEPTED, orjson.dumps(answered).decode()


MIN_AC_CURRENT_A = 6  # IEC 61851-1: the least an AC EVSE may offer
_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


def leveled_limit_w(needs: dict[str, Any], now_s: float) -> float | None:
    """Load levelling for an ISO 15118 EV's needs (2.0.1 K15): the power that delivers its
    energy by its departure, within what the EV takes (AC: its current limits on the phases
    asked for at its voltage); None without an energy amount or a departure time to level to."""
    mode = needs.get("requestedEnergyTransfer")
    ac = needs.get("acChargingParameters")
    params = ac if ac is not None else needs.get("dcChargingParameters")
    departure = needs.get("departureTime")
    if params is None or departure is None or params.get("energyAmount") is None:
        return None
    try:
        left_s = datetime.fromisoformat(departure.replace("Z", "+00:00")).timestamp() - now_s
    except ValueError:
        return None
    if left_s <= 0:
        return None
    wanted_w = params["energyAmount"] * 3600 / left_s
    if ac is not None:
        phases = _PHASES.get(str(mode), 3) * float(ac.get("evMaxVoltage") or 230)
        low, high = MIN_AC_CURRENT_A * phases, ac["evMaxCurrent"] * phases
    else:
        most_w = params.get("evMaxPower") or params["evMaxCurrent"] * params["evMaxVoltage"]
        low, high = 0.0, float(most_w)
    return round(min(max(wanted_w, low), high), 1)


def keeps_within(schedule: dict[str, Any], given_w: float | None) -> bool:
    """Whether an EV's chosen schedule (NotifyEVChargingSchedule, camelCase) keeps within the
    levelled limit this CSMS gave its EVSE (None: it gave none, anything goes)."""
    if given_w is None or schedule["chargingRateUnit"] != "W":
        return True
    return all(period["limit"] <= given_w for period in schedule["chargingSchedulePeriod"])

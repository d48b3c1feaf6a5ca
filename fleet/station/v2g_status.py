"""The OCSP status of a station's own V2G certificate chain (2.0.1 M06 GetCertificateStatus;
1.6 inside DataTransfer, as the OCA's "Using ISO 15118 Plug & Charge with OCPP 1.6" has it):
which certificates to ask about, whether the CSMS's answer holds, and when to ask again. Pure:
times are given.

An ISO 15118 station hands each EV the OCSP answers for its chain (the SECC certificate and the
CPO sub-CAs above it) in their TLS handshake, so it keeps them fresh: asked once accepted, then
every refresh interval (EVerest: 167 h), sooner after a try that failed. For the CSMS each is a
round trip to an OCSP responder: three per Plug & Charge station in a boot storm.

The chain is fleet's own (a V2G root, two CPO sub-CAs, a leaf per station; keys and serial
numbers derived from the names, so every worker and the embedded CSMS hold the same), or the
one the CSMS signed (SignCertificate V2GCertificate). A derived leaf is only ever named by its
serial number: what an OCSP request carries, so no key or signature is made per station.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from fleet.certs import Authority, derived_key, derived_serial, new_authority
from fleet.station.certificates import hash_data, named_data

ROW: Final = "GetCertificateStatus"  # both versions' row (1.6: the DataTransfer carrying it)
ROOT_NAME: Final = "fleet V2G root"
SUB_CA_NAMES: Final = ("fleet CPO sub-CA 1", "fleet CPO sub-CA 2")
SKEW_S: Final = 300.0  # how far the CSMS's clock may be from the station's
_STATUS_NAMES: Final = {
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}


@dataclass(slots=True, frozen=True)
class Asked:
    """One certificate's OCSP request (OCSPRequestDataType) and the CA that issued it: the
    signer of a good answer, directly or through a responder certificate it issued."""

    request: dict[str, str]
    issuer: x509.Certificate


@functools.cache
def v2g_pki() -> tuple[Authority, ...]:
    """fleet's V2G root and the CPO sub-CAs below it, root first: the same in every process."""
    root = new_authority(
        name=ROOT_NAME, path_length=2, key=derived_key(ROOT_NAME), serial=derived_serial(ROOT_NAME)
    )
    authorities = [root]
    for depth, name in enumerate(SUB_CA_NAMES):
        authorities.append(
            new_authority(
                name=name,
                issuer=authorities[-1],
                path_length=len(SUB_CA_NAMES) - 1 - depth,
                key=derived_key(name),
                serial=derived_serial(name),
            )
        )
    return tuple(authorities)


def leaf_serial(station_id: str) -> int:
    """The serial number of the station's derived V2G certificate (CN = the station id)."""
    return derived_serial(f"{SUB_CA_NAMES[-1]}:{station_id}")


def chain_requests(
    station_id: str, responder_url: str, signed: Sequence[x509.Certificate] | None = None
) -> tuple[Asked, ...]:
    """What the station asks about, leaf first: each certificate of its chain whose issuer it
    holds, the root left out. ``signed``: the chain the CSMS signed (leaf first), else fleet's."""
    asked: list[Asked] = []
    if signed:
        for certificate, issuer in itertools.pairwise(signed):
            if certificate.subject != certificate.issuer:
                data = hash_data(certificate, issuer.public_key())
                asked.append(Asked({**data, "responderURL": responder_url}, issuer))
        return tuple(asked)
    issuer = v2g_pki()[-1].certificate
    data = named_data(issuer.subject, issuer.public_key(), leaf_serial(station_id))
    return (Asked({**data, "responderURL": responder_url}, issuer), *_sub_cas(responder_url))


@functools.cache
def _sub_cas(responder_url: str) -> tuple[Asked, ...]:
    """The sub-CAs' requests, every station's alike: made once."""
    return tuple(
        Asked(
            {**hash_data(below.certificate, above.key.public_key()), "responderURL": responder_url},
            above.certificate,
        )
        for below, above in itertools.pairwise(reversed(v2g_pki()))
    )


def request(asked: Asked) -> dict[str, Any]:
    """2.0.1 GetCertificateStatusRequest."""
    return {"ocspRequestData": asked.request}


def judge(asked: Asked, now_s: float, answer: dict[str, Any]) -> str | None:
    """Why a GetCertificateStatusResponse is a failure, or None when it holds: Accepted with an
    OCSP response (RFC 6960, DER in base64) that answers for this certificate, signed by its
    issuer (or a responder the issuer certified), current at ``now_s`` (epoch), and "good"."""
    status = answer.get("status")
    if status != "Accepted":
        info = answer.get("statusInfo")
        reason = info.get("reasonCode") if type(info) is dict else None
        return f"status {status}" + (f" ({reason})" if reason else "")
    result = answer.get("ocspResult")
    if not result:
        return "Accepted without an ocspResult"
    try:
        response = ocsp.load_der_ocsp_response(base64.b64decode(result, validate=True))
    except (ValueError, binascii.Error):
        return "ocspResult is not an OCSP response (DER in base64)"
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return f"OCSP responseStatus {response.response_status.name}"
    single = next((one for one in response.responses if _names(one, asked.request)), None)
    if single is None:
        return "the OCSP response is about another certificate"
    if not _signed(response, asked.issuer):
        return "the OCSP response is not signed by the certificate's issuer"
    now = datetime.datetime.fromtimestamp(now_s, datetime.UTC)
    skew = datetime.timedelta(seconds=SKEW_S)
    if single.this_update_utc > now + skew:
        return "the OCSP response's thisUpdate is in the future"
    if single.next_update_utc is not None and single.next_update_utc < now - skew:
        return "the OCSP response has expired (nextUpdate passed)"
    named = _STATUS_NAMES.get(single.certificate_status)
    return None if named is None else f"OCSP: certificate {named}"


def _names(single: Any, wanted: dict[str, str]) -> bool:
    """Whether an OCSP SingleResponse is about the certificate ``wanted`` names."""
    return (
        single.hash_algorithm.name.upper() == wanted["hashAlgorithm"]
        and single.serial_number == int(wanted["serialNumber"], 16)
        and single.issuer_name_hash.hex() == wanted["issuerNameHash"].lower()
        and single.issuer_key_hash.hex() == wanted["issuerKeyHash"].lower()
    )


def _signed(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """RFC 6960 4.2.2.2: signed by the issuer, or by a responder certificate the response
    carries that the issuer signed for OCSP signing."""
    signers = [issuer.public_key()]
    for responder in response.certificates:
        try:
            responder.verify_directly_issued_by(issuer)
            usage = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usage:
            signers.append(responder.public_key())
    algorithm = response.signature_hash_algorithm
    for key in signers:
        if not isinstance(key, ec.EllipticCurvePublicKey) or algorithm is None:
            continue  # fleet's chains are ECDSA
        try:
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        except (InvalidSignature, UnsupportedAlgorithm):
            continue
        return True
    return False


ASKING: Final = math.inf  # when a station asks next while a round is under way: not again


def starts(due_s: float, now_s: float) -> bool:
    """Whether a round starts now: due, and none under way (ASKING is never due)."""
    return due_s <= now_s


def next_due(held: bool, now_s: float, every_s: float, retry_s: float) -> float:
    """When the round after one that ended now is due: ``every_s`` after a round that held,
    ``retry_s`` after one that failed."""
    return now_s + (every_s if held else retry_s)

"""The embedded CSMS's answers to GetCertificateStatus (2.0.1 M06; 1.6 inside DataTransfer): it
plays the OCSP responder of fleet's V2G PKI and of its own signing CA (``--signing-ca``), and
signs each answer with the issuer's key, as RFC 6960 lets a CA answer for what it issued. A
certificate of another issuer is Failed: a CSMS that cannot reach that issuer's responder.

A real CSMS forwards the request to the responder at ``responderURL``; this one answers at
once, so what a load test reads against it is the station side's cost, not a responder's.
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Sequence
from typing import Any, Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ReasonFlags, ocsp

from fleet.certs import Authority
from fleet.csms.tags import compiled
from fleet.station.certificates import named_data
from fleet.station.v2g_status import leaf_serial, v2g_pki

VALID_FOR: Final = datetime.timedelta(days=7)  # nextUpdate: a week, as responders commonly give
FAILED: Final = "Failed"


class OcspResponder:
    """Answers for the certificates of the CAs it holds; the V2G certificates of stations
    matching ``revoke`` (shell-style patterns over station ids) are revoked."""

    def __init__(self, signer: Authority | None = None, revoke: Sequence[str] = ()) -> None:
        self._signer = signer
        self._revoke: re.Pattern[str] | None = compiled([p.strip() for p in revoke if p.strip()])
        self._issuers: dict[tuple[str, str], Authority] | None = None  # made on first use

    def issuers(self) -> dict[tuple[str, str], Authority]:
        """The CAs it answers for, by (issuerNameHash, issuerKeyHash) of what they issue."""
        if self._issuers is None:
            held = [*v2g_pki(), *([self._signer] if self._signer is not None else [])]
            self._issuers = {}
            for authority in held:
                named = named_data(authority.certificate.subject, authority.key.public_key(), 1)
                self._issuers[(named["issuerNameHash"], named["issuerKeyHash"])] = authority
        return self._issuers

    def answer(
        self, request: dict[str, Any], station_id: str, now: datetime.datetime
    ) -> dict[str, Any]:
        """A 2.0.1 GetCertificateStatusResponse (camelCase) for a GetCertificateStatusRequest."""
        data = request.get("ocspRequestData") or {}
        try:
            key = (str(data["issuerNameHash"]).lower(), str(data["issuerKeyHash"]).lower())
            serial = int(str(data["serialNumber"]), 16)
        except (KeyError, ValueError):
            return _failed("BadRequest")
        if data.get("hashAlgorithm") != "SHA256":
            return _failed("UnsupportedHash")
        issuer = self.issuers().get(key)
        if issuer is None:
            return _failed("UnknownIssuer")
        status, revoked_at = ocsp.OCSPCertStatus.GOOD, None
        if self._revokes(station_id, issuer, serial):
            status, revoked_at = ocsp.OCSPCertStatus.REVOKED, now - datetime.timedelta(days=1)
        response = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=bytes.fromhex(key[0]),
                issuer_key_hash=bytes.fromhex(key[1]),
                serial_number=serial,
                algorithm=hashes.SHA256(),
                cert_status=status,
                this_update=now,
                next_update=now + VALID_FOR,
                revocation_time=revoked_at,
                revocation_reason=None if revoked_at is None else ReasonFlags.key_compromise,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
            .sign(issuer.key, hashes.SHA256())
        )
        der = response.public_bytes(serialization.Encoding.DER)
        return {"status": "Accepted", "ocspResult": base64.b64encode(der).decode()}

    def _revokes(self, station_id: str, issuer: Authority, serial: int) -> bool:
        """Whether the certificate asked about is the V2G certificate of a station ``revoke``
        names: its derived leaf, or one the signing CA issued it."""
        if self._revoke is None or self._revoke.match(station_id) is None:
            return False
        if issuer is self._signer:
            return True
        return issuer is v2g_pki()[-1] and serial == leaf_serial(station_id)


def _failed(reason: str) -> dict[str, Any]:
    return {"status": FAILED, "statusInfo": {"reasonCode": reason}}

"""How the embedded CSMS answers a station's certificate messages, shared by both versions'
central-system classes: CSRs signed (SignCertificate; 1.6's V2G one inside DataTransfer, as the
OCA's Plug & Charge application note has it) and CertificateSigned sent after the answer, the
V2G chain's OCSP status (GetCertificateStatus), security events counted.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final

import orjson
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.exceptions import ConnectionClosed

from fleet.csms.signing import signed_chain
from fleet.station import pnc

if TYPE_CHECKING:
    from fleet.csms.server import Csms

logger = logging.getLogger("fleet.csms")
V2G: Final = (
    "V2GCertificate"  # the ISO 15118 certificate (2.0.1 certificateType; 1.6 in DataTransfer)
)


class CertificateAnswers:
    """A mixin of ``central._Central``: what it uses of the connection is declared here."""

    csms: Csms
    id: str
    _ocpp_version: str
    after_answer: Callable[[], Coroutine[Any, Any, None]] | None

    def certificate_status(self, request: dict[str, Any]) -> dict[str, Any]:
        """GetCertificateStatus (2.0.1 camelCase, both versions): the OCSP responder's answer."""
        return self.csms.ocsp.answer(request, self.id, datetime.datetime.now(datetime.UTC))

    def sign_answer(self, csr: str, kind: str = "ChargingStationCertificate") -> str:
        """SignCertificate: Accepted when the CSMS can sign this CSR (then CertificateSigned
        follows the answer, for the certificate ``kind`` asked for), else Rejected."""
        record = self.csms.ledger[self.id]
        record.certificates["requested"] += 1
        signer = self.csms.signer
        chain = None if signer is None else signed_chain(signer, csr, self.id)
        if chain is None:
            record.certificates["refused"] += 1
            return "Rejected"
        self.after_answer = functools.partial(self._send_signed, chain, kind)
        return "Accepted"

    async def _send_signed(self, chain: str, kind: str) -> None:
        record = self.csms.ledger[self.id]
        wrapped = self._ocpp_version == "1.6" and kind == V2G  # the OCA's PnC on 1.6
        if wrapped:
            signed = {"certificateChain": chain, "certificateType": kind}
            data = orjson.dumps(signed).decode()
            request: Any = call16.DataTransfer(
                vendor_id=pnc.VENDOR_ID, message_id="CertificateSigned", data=data
            )
        elif self._ocpp_version == "1.6":
            request = call16.CertificateSigned(certificate_chain=chain)
        else:
            request = call201.CertificateSigned(certificate_chain=chain, certificate_type=kind)
        try:
            answer = await self.csms.call(self.id, request)
        except (OCPPError, TimeoutError, KeyError, ConnectionClosed):
            record.certificates["unanswered"] += 1
            return
        if wrapped:
            inner = pnc.inner({"status": answer.status, "data": answer.data})
            status = "unanswered" if inner is None else str(inner.get("status"))
        else:
            status = answer.status
        record.certificates[status] += 1

    def _sign_v2g16(self, request: dict[str, Any]) -> dict[str, Any]:
        """A 1.6 SignCertificate inside DataTransfer: the V2G certificate's CSR."""
        return {"status": self.sign_answer(request["csr"], request.get("certificateType", V2G))}

    def security_event(self, kind: str) -> None:
        self.csms.ledger[self.id].security_events[kind] += 1
        logger.info("%s security event %s", self.id, kind)

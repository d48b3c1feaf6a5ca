"""Plug & Charge certificate management on OCPP 1.6, as the OCA's "Using ISO 15118 Plug & Charge
with OCPP 1.6" has it: the CSMS's 2.0.1 certificate messages (CertificateSigned, InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate, TriggerMessage SignV2GCertificate) arrive inside
DataTransfer (vendorId ``org.openchargealliance.iso15118pnc``, messageId the 2.0.1 action, data
its request as JSON), checked against the 2.0.1 schema, and are answered with the 2.0.1 response
as the DataTransfer's data. What the station does is ``secure``'s, as a 2.0.1 station's; one
with Plug & Charge off does not know the vendor (UnknownVendorId).
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from fleet import wire
from fleet.station import pnc
from fleet.station.secure import SIGN_V2G, V2G, installed_chain
from fleet.station.settings import PNC_ENABLED
from fleet.station.v16_security import SecurityV16

# messageId -> the method answering it (the 2.0.1 request, camelCase -> the 2.0.1 response)
_ANSWERS: Final = {
    "CertificateSigned": "_pnc_signed",
    "InstallCertificate": "_pnc_install",
    "GetInstalledCertificateIds": "_pnc_installed",
    "DeleteCertificate": "_pnc_delete",
    "TriggerMessage": "_pnc_trigger",
}


class PncV16(SecurityV16):
    __slots__ = ()

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None, **_: Any
    ) -> call_result.DataTransfer:
        status = self.status_for("DataTransfer")
        if vendor_id != pnc.VENDOR_ID or status != "Accepted":
            return call_result.DataTransfer(status=status)
        if self.get_setting(PNC_ENABLED) != "true":
            return call_result.DataTransfer(status="UnknownVendorId")
        method = _ANSWERS.get(message_id or "")
        if method is None:
            return call_result.DataTransfer(status="UnknownMessageId")
        request = _request(str(message_id), data)
        if request is None:
            return call_result.DataTransfer(status="Rejected")
        answer = getattr(self, method)(request)
        return call_result.DataTransfer(status="Accepted", data=orjson.dumps(answer).decode())

    def _pnc_signed(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("certificateType", V2G) != V2G:
            return {"status": "Rejected"}  # inside DataTransfer: the V2G certificate only
        return {"status": self.answer_signed(request["certificateChain"], V2G)}

    def _pnc_install(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.answer_install(request["certificateType"], request["certificate"])}

    def _pnc_installed(self, request: dict[str, Any]) -> dict[str, Any]:
        status, found = self.answer_installed(request.get("certificateType"))
        answer: dict[str, Any] = {"status": status}
        if found:
            answer["certificateHashDataChain"] = installed_chain(found)
        return answer

    def _pnc_delete(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.answer_delete(request["certificateHashData"])}

    def _pnc_trigger(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["requestedMessage"] != SIGN_V2G:
            return {"status": "NotImplemented"}  # the application note carries no other
        return {"status": self.trigger(SIGN_V2G, None)}


def _request(message_id: str, data: str | None) -> dict[str, Any] | None:
    """The 2.0.1 request a DataTransfer's data holds, when it is one its schema takes."""
    try:
        request = orjson.loads(data or "")
    except orjson.JSONDecodeError:
        return None
    if type(request) is not dict:
        return None
    try:
        wire.checker("2.0.1", message_id, "request")(request)
    except wire.SchemaViolation:
        return None
    return request

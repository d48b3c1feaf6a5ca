"""How the embedded CSMS answers a Plug & Charge Authorize (2.0.1 C07; 1.6 inside DataTransfer):
the contract's chain, when sent, must parse and name the token (its leaf's CN is the eMAID);
OCSP request data is taken as given (the embedded CSMS asks no OCSP responder). The token
itself goes through the tag policy like any tag."""

from __future__ import annotations

import itertools
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
    answer: dict[str, Any] = {"idTokenInfo": {"status": tags.status(token)}}
    status = certificate_status(request)
    if status == ACCEPTED and tags.revoked(token):
        status, answer["idTokenInfo"]["status"] = "CertificateRevoked", INVALID
    if status is not None:
        answer["certificateStatus"] = status
    return answer


def data_transfer_answer(request: dict[str, Any], tags: TagPolicy) -> tuple[str, str | None]:
    """(status, data) of a 1.6 DataTransfer answer: the PnC Authorize answered inside it,
    anything else refused as the spec has it (UnknownVendorId, UnknownMessageId)."""
    if request.get("vendorId") != VENDOR_ID:
        return "UnknownVendorId", None
    if request.get("messageId") != "Authorize":
        return "UnknownMessageId", None
    try:
        inner = orjson.loads(request.get("data") or "")
        token = inner["idToken"]["idToken"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return "Rejected", None
    if not isinstance(token, str):
        return "Rejected", None
    return ACCEPTED, orjson.dumps(authorize_answer(inner, tags)).decode()

"""The embedded CSMS as a certificate authority for its stations (SignCertificate): a CSR is
signed when it is well formed, its signature holds and its CN is the station's own id (a CSMS
that signs any CN lets one station become another)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from fleet.certs import Authority, certificate_pem, sign_request


def signed_chain(authority: Authority, csr_pem: str, station_id: str) -> str | None:
    """The chain (the station's new certificate, then the CA's) in PEM, or None when the CSR
    is refused."""
    try:
        request = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        return None
    if not request.is_signature_valid:
        return None
    names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != station_id:
        return None
    try:
        certificate = sign_request(authority, request)
    except ValueError:
        return None
    chain = certificate_pem(certificate) + certificate_pem(authority.certificate)
    return chain.decode()

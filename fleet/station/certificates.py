"""A station's certificates (OCPP 1.6 Security Whitepaper, 2.0.1 A02/A03, M03-M05): the roots
the CSMS installed, the key and CSR of a renewal under way, and the client certificate the CSMS
signed. Decisions only: what to answer and what to keep; writing the new certificate where the
TLS context can load it is ``store_client``'s one I/O.

Made on first use: a fleet that never renews a certificate does not pay for it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.certs import ORGANIZATION, key_pem, new_key

ACCEPTED: Final = "Accepted"
REJECTED: Final = "Rejected"
FAILED: Final = "Failed"
NOT_FOUND: Final = "NotFound"
MAX_INSTALLED: Final = 20  # roots a station keeps; more is a Failed install (memory full)


@dataclass(slots=True, frozen=True)
class Installed:
    kind: str  # certificateType as the CSMS sent it
    certificate: x509.Certificate
    hash_data: dict[str, str]  # CertificateHashDataType, camelCase


def hash_data(certificate: x509.Certificate, issuer_key: Any | None = None) -> dict[str, str]:
    """CertificateHashData: SHA256 of the issuer's DER name and of its public key, and the
    serial number in hex. A root is its own issuer."""
    key = issuer_key if issuer_key is not None else certificate.public_key()
    return named_data(certificate.issuer, key, certificate.serial_number)


def named_data(issuer_name: x509.Name, issuer_key: Any, serial: int) -> dict[str, str]:
    """``hash_data`` of the certificate ``issuer_name`` (whose public key is ``issuer_key``)
    issued with ``serial``: what an OCSP request names it by (RFC 6960 CertID)."""
    if isinstance(issuer_key, ec.EllipticCurvePublicKey):  # the subjectPublicKey bits of the key
        key_bytes = issuer_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    else:
        key_bytes = issuer_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(issuer_name.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(key_bytes).hexdigest(),
        "serialNumber": format(serial, "x"),
    }


def _pem_chain(text: str) -> list[x509.Certificate]:
    """The certificates of a PEM chain, leaf first; ValueError when it holds none."""
    certificates = x509.load_pem_x509_certificates(text.encode())
    if not certificates:
        raise ValueError("no certificate")
    return certificates


class CertificateStore:
    """One station's certificates."""

    __slots__ = ("client", "installed", "pending_key", "pending_v2g", "station_id", "v2g")

    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.installed: list[Installed] = []
        self.pending_key: ec.EllipticCurvePrivateKey | None = None  # a CSR sent, not signed yet
        self.client: tuple[str, str] | None = None  # certificate and key files, once signed
        # ISO 15118's own (2.0.1 V2GCertificate): the certificate an EV's TLS would see, asked
        # for and signed apart from the one the station shows the CSMS.
        self.pending_v2g: ec.EllipticCurvePrivateKey | None = None
        self.v2g: list[x509.Certificate] | None = None

    # --- SignCertificate / CertificateSigned -----------------------------------------------------

    def request(self, organization: str = ORGANIZATION, v2g: bool = False) -> str:
        """A new key and a CSR for it (CN = station id, O = ``organization``: 1.6 CpoName,
        2.0.1 SecurityCtrlr.OrganizationName), PEM: what SignCertificate carries. A renewal
        asked again replaces the pending key (``v2g``: the V2G certificate's, kept apart)."""
        key = new_key()
        if v2g:
            self.pending_v2g = key
        else:
            self.pending_key = key
        subject = x509.Name(
            [
                # X.509 bounds an organizationName at 64 characters; an empty one is refused
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64] or ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, self.station_id),
            ]
        )
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def signed(self, chain: str, now: Any) -> tuple[str, bytes | None]:
        """Check the chain CertificateSigned brings: its leaf must be for this station (CN),
        for the key of the CSR sent, and valid now (``now``: an aware datetime). Returns the
        status and, when Accepted, the chain and key as PEM to store."""
        key = self.pending_key
        certificates = self._checked(chain, key, now)
        if key is None or certificates is None:
            return REJECTED, None
        self.pending_key = None
        return ACCEPTED, key_pem(key)

    def signed_v2g(self, chain: str, now: Any) -> str:
        """``signed`` for the V2G certificate: kept in memory when Accepted (no EV connects)."""
        certificates = self._checked(chain, self.pending_v2g, now)
        if certificates is None:
            return REJECTED
        self.pending_v2g, self.v2g = None, certificates
        return ACCEPTED

    def _checked(
        self, chain: str, key: ec.EllipticCurvePrivateKey | None, now: Any
    ) -> list[x509.Certificate] | None:
        if key is None:
            return None
        try:
            certificates = _pem_chain(chain)
        except ValueError:
            return None
        leaf = certificates[0]
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or names[0].value != self.station_id:
            return None
        if leaf.public_key() != key.public_key():
            return None
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            return None
        return certificates

    # --- InstallCertificate / GetInstalledCertificateIds / DeleteCertificate ---------------------

    def install(self, kind: str, pem: str) -> str:
        try:
            certificate = _pem_chain(pem)[0]
        except ValueError:
            return REJECTED
        data = hash_data(certificate)
        if any(i.hash_data == data for i in self.installed):
            return ACCEPTED  # already there
        if len(self.installed) >= MAX_INSTALLED:
            return FAILED
        self.installed.append(Installed(kind, certificate, data))
        return ACCEPTED

    def ids(self, kinds: list[str] | None) -> list[Installed]:
        return [i for i in self.installed if not kinds or i.kind in kinds]

    def delete(self, wanted: dict[str, Any]) -> str:
        """Remove the certificate ``wanted`` (CertificateHashData, either case) names."""
        keys = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")
        snake = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")
        given = {
            k: _norm(wanted.get(k, wanted.get(s, ""))) for k, s in zip(keys, snake, strict=True)
        }
        for item in self.installed:
            if {k: _norm(v) for k, v in item.hash_data.items()} == given:
                self.installed.remove(item)
                return ACCEPTED
        return NOT_FOUND


def _norm(value: Any) -> str:
    """Hex as compared: case and leading zeros do not matter."""
    return str(value).lower().lstrip("0")


# --- where signed certificates go ----------------------------------------------------------------

_folder: Path | None = None


def store_client(station_id: str, chain: str, key: bytes) -> tuple[str, str]:
    """Write a signed chain and its key where a TLS context can load them: a private folder
    of this process (removed at exit). Returns (certificate file, key file)."""
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="fleet-certs-"))
        atexit.register(shutil.rmtree, _folder, True)
    name = f"{station_id}-{hashlib.sha256(chain.encode()).hexdigest()[:12]}"
    cert_path, key_path = _folder / f"{name}.pem", _folder / f"{name}.key"
    cert_path.write_text(chain)
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key)
    return str(cert_path), str(key_path)

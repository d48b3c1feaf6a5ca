"""Test certificates for security profiles 2 and 3: a CA, the embedded CSMS's server
certificate, and one client certificate per station (CN = station id, as OCPP requires), made
with ``cryptography``.

Keys are ECDSA P-256 (allowed by OCPP 2.0.1 A00 beside RSA >= 2048): a key and certificate take
~0.2 ms, where an RSA-2048 key alone takes ~50 ms, so 10,000 stations take seconds. An existing
CA in the folder is reused, so certificates made later chain to the same trust.

Layout (``fleet certs --out DIR``)::

    DIR/ca.pem  DIR/ca.key                    the test CA (trust it in the CSMS and the scenario)
    DIR/csms.pem  DIR/csms.key                the CSMS's certificate: 127.0.0.1 and localhost
    DIR/stations/<id>.pem  <id>.key           one per station: security.certs_dir
    DIR/stations/expired/<id>.pem  <id>.key   expired ones, for security.negative
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet.errors import ENCRYPTED_KEY

ORGANIZATION: Final = "fleet"
CA_NAME: Final = "fleet test CA"
DEFAULT_DAYS: Final = 365
CSMS_HOSTS: Final = ("127.0.0.1", "localhost")
EXPIRED: Final = "expired"

Key = ec.EllipticCurvePrivateKey


@dataclass(slots=True, frozen=True)
class Authority:
    """A CA that signs: its certificate and key."""

    certificate: x509.Certificate
    key: Key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


# The order of P-256's group: a private value is 1..ORDER-1.
_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derived_key(text: str) -> Key:
    """The P-256 key ``text`` names: the same in every process (for certificates every worker
    must hold alike, never for a secret)."""
    digest = hashlib.blake2b(f"key:{text}".encode(), digest_size=32).digest()
    return ec.derive_private_key(int.from_bytes(digest) % (_ORDER - 1) + 1, ec.SECP256R1())


def derived_serial(text: str) -> int:
    """A certificate serial number ``text`` names: positive, at most 20 bytes (RFC 5280)."""
    return int.from_bytes(hashlib.blake2b(f"serial:{text}".encode(), digest_size=16).digest()) | 1


def new_authority(
    days: int = DEFAULT_DAYS,
    name: str = CA_NAME,
    *,
    issuer: Authority | None = None,
    path_length: int = 0,
    key: Key | None = None,
    serial: int | None = None,
) -> Authority:
    """A CA: a self-signed root, or one ``issuer`` signs (a sub-CA); ``path_length`` CAs may
    stand below it. ``key`` and ``serial``: given rather than drawn (the same CA each time)."""
    key = key or new_key()
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name) if issuer is None else issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key if issuer is None else issuer.key, hashes.SHA256())
    )
    return Authority(certificate, key)


def issue(
    authority: Authority,
    common_name: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    server_hosts: Sequence[str] = (),
    days: int = DEFAULT_DAYS,
    expired: bool = False,
    serial: int | None = None,
) -> x509.Certificate:
    """A certificate for ``common_name`` signed by ``authority``: a server certificate for
    ``server_hosts`` (IP addresses or DNS names), else a client one. ``expired``: valid only
    in the past (for negative tests)."""
    now = _now()
    if expired:
        start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(authority.certificate.subject)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server_hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in server_hosts]),
            critical=False,
        )
    return builder.sign(authority.key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def sign_request(
    authority: Authority, csr: x509.CertificateSigningRequest, days: int = DEFAULT_DAYS
) -> x509.Certificate:
    """Sign a station's CSR (SignCertificate): its CN and public key, the CA's signature."""
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError("only ECDSA keys are signed")
    return issue(authority, common_name, public_key, days=days)


# --- PEM files -----------------------------------------------------------------------------------


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_pair(folder: Path, name: str, certificate: x509.Certificate, key: Key) -> None:
    """``name``.pem and ``name``.key in ``folder``; the key readable by its owner only."""
    (folder / f"{name}.pem").write_bytes(certificate_pem(certificate))
    key_path = folder / f"{name}.key"
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_pem(key))


def load_authority(folder: Path) -> Authority | None:
    """The CA in ``folder`` (ca.pem, ca.key), or None when there is none."""
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if not (cert_path.exists() and key_path.exists()):
        return None
    return read_authority(cert_path, key_path)


def read_authority(cert_path: Path, key_path: Path) -> Authority:
    """A CA from its PEM certificate and key; OSError or ValueError when they are not one."""
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except TypeError:  # cryptography's word for a key with a password
        raise ValueError(f"{key_path}: {ENCRYPTED_KEY}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: not an ECDSA key")
    return Authority(certificate, key)


@dataclass(slots=True)
class Made:
    """What ``make_certificates`` wrote."""

    folder: Path
    ca_reused: bool
    stations: int
    expired: int


def make_certificates(
    out: Path,
    station_ids: Iterable[str],
    expired_ids: Iterable[str] = (),
    csms_hosts: Sequence[str] = CSMS_HOSTS,
    days: int = DEFAULT_DAYS,
) -> Made:
    """The CA (reused if ``out`` has one), the CSMS certificate and the stations' certificates
    (valid ``days``), plus expired ones for ``expired_ids``."""
    stations = out / "stations"
    stations.mkdir(parents=True, exist_ok=True)
    authority = load_authority(out)
    reused = authority is not None
    if authority is None:
        authority = new_authority(days)
        write_pair(out, "ca", authority.certificate, authority.key)
    key = new_key()
    server = issue(authority, csms_hosts[0], key.public_key(), server_hosts=csms_hosts, days=days)
    write_pair(out, "csms", server, key)
    count = 0
    for station_id in station_ids:
        key = new_key()
        write_pair(stations, station_id, issue(authority, station_id, key.public_key()), key)
        count += 1
    expired = 0
    for station_id in expired_ids:
        if expired == 0:
            (stations / EXPIRED).mkdir(exist_ok=True)
        key = new_key()
        certificate = issue(authority, station_id, key.public_key(), expired=True)
        write_pair(stations / EXPIRED, station_id, certificate, key)
        expired += 1
    return Made(out, reused, count, expired)

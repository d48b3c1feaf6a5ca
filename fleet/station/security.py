"""What a station presents when it connects (OCPP security profiles 1-3): its Basic-auth
credentials, the TLS context it trusts the CSMS by (with its client certificate for profile 3),
the URL, and the misbehaviour it shows on purpose (``security.negative``).

TLS contexts are built once per distinct configuration and shared: loading a CA bundle costs
milliseconds and ~100 KB, which 10,000 stations must not pay each. A profile-3 station's context
holds its own certificate, so it is one per station, made on its first connect. Passwords never
leave this module except inside the Authorization header.
"""

from __future__ import annotations

import base64
import binascii
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import orjson

from fleet.errors import ENCRYPTED_KEY, ConnectionFailed
from fleet.scenario_security import Security

logger = logging.getLogger("fleet.station")

WRONG_SUFFIX: Final = b"-not-my-password"
_TLS_VERSIONS: Final = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}
_warned: set[str] = set()  # warnings given once per process


@dataclass(slots=True, frozen=True)
class Access:
    """How one connect is made: where, with which Authorization header and TLS context, and
    the misbehaviour it shows (a ``NEGATIVE_ROWS`` key), if any."""

    url: str
    authorization: str | None = None
    tls: ssl.SSLContext | None = None
    negative: str | None = None
    client_certificate: bool = False  # presented in the TLS handshake (profile 3)


def basic_authorization(user: str, password: bytes) -> str:
    """An HTTP Basic Authorization header value. The password is bytes: a 1.6 AuthorizationKey
    is hex-encoded binary, not necessarily text."""
    token = base64.b64encode(user.encode() + b":" + password).decode("ascii")
    return f"Basic {token}"


def authorization_key(value: str) -> bytes | None:
    """The password a 1.6 ChangeConfiguration AuthorizationKey sets (Security Whitepaper: the
    key is sent hex-encoded, 16-20 bytes once decoded), or None when it is not one."""
    try:
        key = binascii.unhexlify(value.strip())
    except (binascii.Error, ValueError):
        return None
    return key if 16 <= len(key) <= 20 else None


def basic_auth_password(value: str) -> bytes | None:
    """The password a 2.0.1 SecurityCtrlr.BasicAuthPassword sets (passwordString, at most 40
    characters; A00 asks for at least 16), or None when it is not one."""
    return value.encode() if 16 <= len(value) <= 40 else None


def access_for(
    security: Security,
    url: str,
    station_id: str,
    negative: str | None = None,
    password: bytes | None = None,
    certificate: tuple[str, str] | None = None,
    profile: int | None = None,
) -> Access:
    """The Access of one connect of ``station_id`` to ``url``. ``password``: the one the CSMS
    set (AuthorizationKey, BasicAuthPassword) in place of the scenario's; ``certificate``: the
    one it signed (CertificateSigned), in place of certs_dir's; ``negative``: the misbehaviour
    the station shows; ``profile``: the security profile of the network profile it connects
    with (2.0.1 SetNetworkProfile), in place of the scenario's."""
    if profile is None:
        profile = security.profile
    if negative == "downgrade":
        profile = security.negative.downgrade_to
        url = security.negative.downgrade_url or _downgraded(url, profile)
    if password is None:
        given = security.password_for(station_id)
        password = None if given is None else given.encode()
    authorization = None
    if profile in (1, 2) or (negative == "downgrade" and password is not None):
        secret = (password or b"") + (WRONG_SUFFIX if negative == "wrong_password" else b"")
        authorization = basic_authorization(station_id, secret)
    tls = None
    if url.startswith("wss://"):
        presented = None
        if profile == 3:
            presented = certificate if certificate is not None and negative is None else None
            presented = presented or _certificate(security, station_id, negative)
        try:
            tls = client_context(security, presented)
        except (OSError, ssl.SSLError, ValueError) as exc:
            shown = presented[0] if presented else security.ca_file
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ConnectionFailed(f"TLS: cannot load {shown}: {reason}") from None
    return Access(url, authorization, tls, negative, tls is not None and profile == 3)


def _downgraded(url: str, profile: int) -> str:
    if profile == 2:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="ws"))


def _certificate(security: Security, station_id: str, negative: str | None) -> tuple[str, str]:
    folder = Path(security.certs_dir or ".")
    name = station_id
    if negative == "foreign_certificate":
        name = _neighbour(folder, station_id)
    elif negative == "expired_certificate":
        folder = folder / "expired"
    return str(folder / f"{name}.pem"), str(folder / f"{name}.key")


def _neighbour(folder: Path, station_id: str) -> str:
    """Another station's certificate in ``folder`` (the first in name order that is not ours)."""
    for path in sorted(folder.glob("*.pem")):
        if path.stem != station_id and path.with_suffix(".key").exists():
            return path.stem
    return station_id


def refuse_password() -> bytes:
    """``password`` for ssl's load_cert_chain: a key with a password is refused with a reason,
    never asked for on the terminal (OpenSSL's prompt would hold a run, or a CSMS, waiting)."""
    raise ValueError(ENCRYPTED_KEY)


def client_context(
    security: Security, certificate: tuple[str, str] | None = None
) -> ssl.SSLContext:
    """The TLS context for wss://: verification on (unless ``insecure``), the scenario's CA
    bundle or the system's, TLS >= ``tls_min``, OpenSSL's default ciphers; with
    ``certificate`` (PEM certificate and key files) presented to the CSMS. Cached."""
    key = (security.ca_file, security.insecure, security.tls_min, certificate)
    context = _contexts.get(key)
    if context is None:
        context = _contexts[key] = _new_context(security, certificate)
    return context


def _new_context(security: Security, certificate: tuple[str, str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=security.ca_file)
    context.minimum_version = _TLS_VERSIONS[security.tls_min]
    if security.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _warn_once(
            "insecure",
            "security.insecure: the CSMS's TLS certificate is NOT verified; anyone between "
            "the stations and the CSMS can read and change their traffic",
        )
    elif certificate is not None and security.ca_file is None:
        _warn_once(
            "system CAs",
            "security.ca_file is not set: each profile-3 station's TLS context holds its own "
            "copy of the system's CA bundle (~0.8 MB per station); set ca_file to the CA that "
            "signed the CSMS's certificate",
        )
    if certificate is not None:
        context.load_cert_chain(*certificate, password=refuse_password)
    return context


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def default_context() -> ssl.SSLContext:
    """The context for wss:// without a security section: the system's CAs, verified."""
    return client_context(Security())


def forget_contexts() -> None:
    """Drop cached contexts and given warnings (tests that change files or trust between runs)."""
    _contexts.clear()
    _warned.clear()


# Frames that carry a password the CSMS sets (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword).
_SECRET_MARKS: Final = ("AuthorizationKey", "BasicAuthPassword")
HIDDEN: Final = "***"


def redacted(frame: str) -> str:
    """``frame`` fit for a trace: the value of a password the CSMS sets replaced by ***."""
    if not any(mark in frame for mark in _SECRET_MARKS):
        return frame
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return HIDDEN  # cannot tell the secret from the rest: show none of it
    if not isinstance(message, list) or len(message) < 4 or not isinstance(message[3], dict):
        return frame
    payload = message[3]
    if payload.get("key") == "AuthorizationKey" and "value" in payload:
        payload["value"] = HIDDEN
    for item in payload.get("setVariableData") or ():
        if isinstance(item, dict) and (item.get("variable") or {}).get("name") in _SECRET_MARKS:
            item["attributeValue"] = HIDDEN
    return orjson.dumps(message).decode()


def tooling_context(security: Security, url: str, station_id: str) -> ssl.SSLContext | None:
    """The TLS context to ask a wss:// embedded CSMS over HTTPS (its ledger): the one
    ``station_id`` connects with; None for ws://."""
    if not url.startswith("wss://"):
        return None
    try:
        return access_for(security, url, station_id).tls
    except ConnectionFailed:
        return None

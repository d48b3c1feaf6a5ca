"""Who the embedded CSMS lets in: OCPP security profiles 1-3 as a CSMS checks them.

* Profile 3 (``client_ca``): the TLS handshake itself refuses a certificate the CA did not sign
  or that has expired; a certificate whose CN is not the station id in the URL is refused with
  HTTP 403 (the check a CSMS that "accepts any CA-signed certificate" forgets).
* Profiles 1/2 (``passwords``): HTTP Basic auth whose user is the station id and whose password
  is the station's (a template with ``{id}``, a CSV file, or what the CSMS itself set later with
  AuthorizationKey / BasicAuthPassword); otherwise HTTP 401. With ``require_password`` a
  connection without credentials is refused too.

Every refusal is counted by reason (``refused``); passwords are never logged.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hmac
import http
import ssl
from pathlib import Path
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from fleet.scenario_security import read_passwords
from fleet.station.security import authorization_key, basic_auth_password, refuse_password


def server_context(cert_file: str, key_file: str, client_ca: str | None = None) -> ssl.SSLContext:
    """The CSMS's TLS context: TLS >= 1.2, OpenSSL's default ciphers; with ``client_ca`` a
    client certificate signed by it is required (profile 3)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file, password=refuse_password)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return context


class Passwords:
    """The password each station must present: from a template, a CSV file (``station
    id,password`` lines), and what the CSMS set on a station since."""

    def __init__(self, template: str | None = None, file: str | None = None) -> None:
        self.template = template
        self.table: dict[str, bytes] = {}
        if file is not None:
            self.table = {k: v.encode() for k, v in read_passwords(Path(file)).items()}

    def expected(self, station_id: str) -> bytes | None:
        known = self.table.get(station_id)
        if known is None and self.template is not None:
            known = self.template.format(id=station_id).encode()
        return known

    def changed(self, station_id: str, password: bytes) -> None:
        self.table[station_id] = password


class Door:
    """The checks made on each websocket request, before the upgrade."""

    def __init__(
        self,
        passwords: Passwords | None = None,
        require_password: bool = False,
        check_identity: bool = False,
    ) -> None:
        self.passwords = passwords
        self.require_password = require_password
        self.check_identity = check_identity  # profile 3: certificate CN = station id
        self.refused: collections.Counter[str] = collections.Counter()
        self.let_in = 0
        self.serials: dict[str, str] = {}  # profile 3: the certificate each station came with

    def check(
        self, station_id: str, headers: Headers, peer: dict[str, Any] | None
    ) -> Response | None:
        """None to let the station in, else the refusal to send."""
        if self.check_identity:
            common_name = _common_name(peer)
            if peer and common_name == station_id:
                self.serials[station_id] = str(peer.get("serialNumber", ""))
            if common_name != station_id:
                return self._refuse(
                    http.HTTPStatus.FORBIDDEN,
                    "certificate for another identity" if common_name else "no certificate",
                )
        if self.passwords is not None or self.require_password:
            problem = self._password_problem(station_id, headers.get("Authorization"))
            if problem is not None:
                return self._refuse(http.HTTPStatus.UNAUTHORIZED, problem)
        self.let_in += 1
        return None

    def _password_problem(self, station_id: str, header: str | None) -> str | None:
        if header is None:
            return "no credentials" if self.require_password else None
        scheme, _, token = header.partition(" ")
        try:
            user, _, password = base64.b64decode(token, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return "malformed credentials"
        if scheme.lower() != "basic":
            return "not Basic auth"
        if user != station_id.encode():
            return "user is not the station id"
        expected = None if self.passwords is None else self.passwords.expected(station_id)
        if expected is None or not hmac.compare_digest(password, expected):
            return "wrong password"
        return None

    def _refuse(self, status: http.HTTPStatus, reason: str) -> Response:
        self.refused[reason] += 1
        headers = Headers([("Content-Type", "text/plain")])
        if status is http.HTTPStatus.UNAUTHORIZED:
            headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
        body = f"{reason}\n".encode()
        headers["Content-Length"] = str(len(body))
        return Response(status.value, status.phrase, headers, body)

    def answered(self, station_id: str, request: Any, answer: Any) -> None:
        """A call the CSMS sent was answered: a password the station accepted is the one it
        must present from its next connect on."""
        if self.passwords is None:
            return
        name = type(request).__name__
        if name == "ChangeConfiguration" and request.key == "AuthorizationKey":
            if getattr(answer, "status", None) == "Accepted":
                password = authorization_key(request.value)
                if password is not None:
                    self.passwords.changed(station_id, password)
        elif name == "SetVariables":
            results = getattr(answer, "set_variable_result", None) or []
            for item, result in zip(request.set_variable_data, results, strict=False):
                accepted = result.get("attribute_status") == "Accepted"
                if accepted and item["variable"]["name"] == "BasicAuthPassword":
                    password = basic_auth_password(item["attribute_value"])
                    if password is not None:
                        self.passwords.changed(station_id, password)

    def to_json(self) -> dict[str, Any]:
        return {"let_in": self.let_in, "refused": dict(self.refused)}


def request_station(request: Request) -> str:
    return request.path.rstrip("/").rsplit("/", 1)[-1]


def _common_name(peer: dict[str, Any] | None) -> str | None:
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None

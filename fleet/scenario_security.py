"""Scenario section ``security``: how stations prove who they are (OCPP security profiles 1-3)
and whom they trust, plus switches that make chosen stations misbehave on purpose.

==========  ====================================================================================
profile     what a station does
==========  ====================================================================================
0           as the URL says: ws:// or wss://, a user:password in the URL shared by every station
1           HTTP Basic auth (user = station id, password per station) over ws://
2           TLS (the CSMS's certificate verified) + HTTP Basic auth, wss://
3           mutual TLS: a client certificate per station (CN = station id), no password
==========  ====================================================================================

Passwords come from ``password`` (a template with ``{id}``), ``passwords_file`` (CSV lines
``station id,password``) or the environment variable ``FLEET_STATION_PASSWORD`` (a template; it
keeps a secret out of the file). They are never printed: the model holds them as secrets and
``repr`` shows ``**********``. Relative paths are relative to the scenario file.

``negative``: the share of stations (0-1) or the station ids that present a wrong password, a
certificate for another identity, an expired certificate, or a lower profile than the CSMS
requires. Their connects are counted apart (Locust ``connect (wrong password)`` etc.): the CSMS
letting one in is the failure, being refused is the expected outcome.
"""

from __future__ import annotations

import hashlib
import ssl
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator

from fleet.scenario_csms import Csms
from fleet.scenario_fields import FieldProblem, Section, resolved

ENV_PASSWORD: Final = "FLEET_STATION_PASSWORD"
NEGATIVE_KINDS: Final = (
    "wrong_password",
    "foreign_certificate",
    "expired_certificate",
    "downgrade",
)
# 1.6 AuthorizationKey / 2.0.1 BasicAuthPassword bounds are the CSMS's business; a scenario's
# password only has to fit an HTTP header.
_MAX_PASSWORD: Final = 200


Pick = float | tuple[str, ...]


def picked(pick: Pick, seed: int, kind: str, station_id: str) -> bool:
    """Whether ``pick`` (a share of stations, or station ids) takes ``station_id``: the same
    stations every run (a hash of seed, kind and id), so ``fleet certs`` can prepare for them."""
    if isinstance(pick, tuple):
        return station_id in pick
    if pick <= 0:
        return False
    digest = hashlib.blake2b(f"{seed}:{kind}:{station_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < pick


class Negative(Section):
    wrong_password: Pick = 0.0
    foreign_certificate: Pick = 0.0  # another station's certificate (profile 3)
    expired_certificate: Pick = 0.0  # <certs_dir>/expired/<id>.pem, made by ``fleet certs``
    downgrade: Pick = 0.0  # connect with ``downgrade_to`` instead of the scenario's profile
    downgrade_to: Literal[0, 1, 2] = 1
    # Where downgraded stations connect (default: the CSMS URL, ws:// for profiles 0/1).
    downgrade_url: str | None = None

    @field_validator(*NEGATIVE_KINDS, mode="before")
    @classmethod
    def _pick(cls, value: Any) -> Pick:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            if not all(isinstance(v, str) for v in value):
                raise FieldProblem("must be a share of stations (0-1) or a list of station ids")
            return tuple(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise FieldProblem("must be a share of stations (0-1) or a list of station ids")
        return float(value)

    @field_validator("downgrade_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("ws://", "wss://")):
            raise FieldProblem("must be a ws:// or wss:// URL")
        return None if url is None else url.rstrip("/")

    def kind_for(self, seed: int, station_id: str) -> str | None:
        """The misbehaviour ``station_id`` shows (the first that picks it), or None."""
        for kind in NEGATIVE_KINDS:
            if picked(getattr(self, kind), seed, kind, station_id):
                return kind
        return None

    def any(self) -> bool:
        return any(getattr(self, kind) for kind in NEGATIVE_KINDS)


class Security(Section):
    profile: Literal[0, 1, 2, 3] = 0
    password: SecretStr | None = None  # a template: "{id}-secret"
    passwords_file: str | None = None  # CSV lines "station id,password"
    ca_file: str | None = None  # PEM CA bundle for wss:// (default: the system's CAs)
    certs_dir: str | None = None  # profile 3: <station id>.pem and <station id>.key
    tls_min: Literal["1.2", "1.3"] = "1.2"  # the lowest TLS version offered
    # Accept any server certificate: for a CSMS with a self-signed one, never in production.
    insecure: bool = False
    # SecurityEventNotification after a failed login, an untrusted CSMS certificate or changed
    # security parameters (default: with profiles 1-3, as a station that implements them does).
    events: bool | None = None
    negative: Negative = Negative()
    _passwords: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("password", mode="before")
    @classmethod
    def _template(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None:
            return None
        if not isinstance(text, str) or not text:
            raise FieldProblem("must be a non-empty text, e.g. '{id}-secret'", got="(hidden)")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            text.format(id="x")
        except (ValueError, IndexError, KeyError):
            fields = {"?"}
        if not fields <= {"id"}:
            raise FieldProblem("may use only the field {id}", got="(hidden)")
        if len(text) > _MAX_PASSWORD:
            raise FieldProblem(f"must be at most {_MAX_PASSWORD} characters", got="(hidden)")
        return text

    @field_validator("passwords_file", "ca_file", "certs_dir")
    @classmethod
    def _path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        path = resolved(value, info)
        want_dir = info.field_name == "certs_dir"
        if want_dir and not (info.context or {}).get("files", True):
            return str(path)  # fleet certs is about to make it
        if want_dir and not path.is_dir():
            raise FieldProblem("is not a folder", got=str(path))
        if not want_dir and not path.is_file():
            raise FieldProblem("is not a readable file", got=str(path))
        if info.field_name == "ca_file":
            try:
                ssl.create_default_context(cafile=str(path))
            except (ssl.SSLError, OSError) as exc:
                raise FieldProblem(f"is not a PEM CA bundle ({exc})", got=str(path)) from None
        return str(path)

    @model_validator(mode="after")
    def _consistent(self) -> Security:
        if self.password is not None and self.passwords_file is not None:
            raise FieldProblem("give password or passwords_file, not both", at=("password",))
        if self.profile in (1, 2) and self.password is None and self.passwords_file is None:
            raise FieldProblem(
                f"profile {self.profile} sends HTTP Basic auth: give password (a template with "
                f"{{id}}), passwords_file, or the environment variable {ENV_PASSWORD}",
                at=("password",),
            )
        if self.profile == 3 and self.certs_dir is None:
            raise FieldProblem(
                "profile 3 (mutual TLS) needs a folder of station certificates "
                "(fleet certs makes one)",
                at=("certs_dir",),
            )
        if self.insecure and self.ca_file is not None:
            raise FieldProblem("insecure ignores ca_file: give one or the other", at=("insecure",))
        if self.passwords_file is not None:
            try:
                self._passwords = read_passwords(Path(self.passwords_file))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise FieldProblem(
                    str(exc), at=("passwords_file",), got=self.passwords_file
                ) from None
        return self

    @property
    def reports_events(self) -> bool:
        return self.events if self.events is not None else self.profile > 0

    def password_for(self, station_id: str) -> str | None:
        """The station's Basic-auth password from the scenario (None: it sends none)."""
        if self.password is not None:
            return self.password.get_secret_value().format(id=station_id)
        if self.passwords_file is not None:
            return self._passwords.get(station_id)
        return None

    def missing_password(self, ids: list[str]) -> str | None:
        """The first of ``ids`` the passwords file has no line for."""
        if self.passwords_file is None:
            return None
        return next((i for i in ids if i not in self._passwords), None)

    def missing_certificate(self, ids: list[str]) -> str | None:
        """The first of ``ids`` without both files in certs_dir."""
        if self.certs_dir is None or self.profile != 3:
            return None
        folder = Path(self.certs_dir)
        present = {p.name for p in folder.iterdir()}
        for station_id in ids:
            if f"{station_id}.pem" not in present or f"{station_id}.key" not in present:
                return station_id
        return None


def check_security(
    security: Security, csms: Csms, station_ids: Callable[[], list[str]], files: bool
) -> None:
    """What the section asks of the rest of the scenario: the URL scheme each profile needs,
    no shared password in the URL beside per-station ones, a password and (``files``) a
    certificate for every station. Raises FieldProblem with the field's full path."""
    profile = security.profile
    for url in csms.urls():
        secure = url.startswith("wss://")
        if profile in (2, 3) and not secure:
            raise FieldProblem(
                f"must be wss:// for security profile {profile}",
                at=("csms", "url"),
                got=csms.shown(),
            )
        if profile == 1 and secure:
            raise FieldProblem(
                "profile 1 is Basic auth without TLS (ws://); wss:// with a password is profile 2",
                at=("security", "profile"),
                got=profile,
            )
        if profile and "@" in url.split("/")[2]:
            raise FieldProblem(
                "must not hold credentials when security.profile is set (stations send their own)",
                at=("csms", "url"),
                got=csms.shown(),
            )
    if security.passwords_file is None and profile != 3:
        return
    ids = station_ids()
    if (station := security.missing_password(ids)) is not None:
        raise FieldProblem(
            f"has no password for {station}",
            at=("security", "passwords_file"),
            got=security.passwords_file,
        )
    if files and (station := security.missing_certificate(ids)) is not None:
        raise FieldProblem(
            f"has no {station}.pem and {station}.key (fleet certs --scenario makes them)",
            at=("security", "certs_dir"),
            got=security.certs_dir,
        )


def read_passwords(path: Path) -> dict[str, str]:
    """``station id,password`` lines (the password is the rest of the line, commas and all;
    ``#`` lines and blank ones are skipped). Raises ValueError naming the bad line."""
    passwords: dict[str, str] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            station_id, comma, password = line.partition(",")
            if not comma or not station_id.strip() or not password:
                raise ValueError(f"line {number}: expected 'station id,password'")
            passwords[station_id.strip()] = password
    return passwords

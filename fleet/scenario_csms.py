"""The ``csms`` section: where stations connect (one URL, or one per OCPP version), how they
talk to it (timeouts, schema checks, message ids) and from which local addresses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import field_validator

from fleet.scenario_fields import FieldProblem, PositiveFloat, Section, comma_list
from fleet.wire import VERSIONS


class Csms(Section):
    """Where the stations connect; ws://host/path, a station connects to <url>/<station id>.

    ``url`` is one URL for every station, or one per OCPP version (a CSMS may serve 1.6 and
    2.0.1 on different endpoints): ``{"1.6": "ws://host:8092/", "2.0.1": "ws://host:8081/"}``,
    written ``1.6=ws://host:8092/,2.0.1=ws://host:8081/`` in a flag or environment variable.
    """

    url: str | dict[str, str] = "ws://127.0.0.1:9000/ocpp"
    call_timeout_s: PositiveFloat = 30.0
    check_schemas: bool = True
    # What a CSMS message that breaks the OCPP schema does: "report" counts it as a violation
    # (CSMS conformance section) and the station goes on when it can use the message; "fail"
    # makes every violation a failure, as a strict station would.
    on_violation: Literal["report", "fail"] = "report"
    # Ids of the CALLs stations send: "uuid" (random, what the ocpp library and most stations
    # send) or "counter" ("1", "2", ... per station: legal, cheaper, but a CSMS that pairs
    # answers by id alone mixes up stations that count alike).
    message_ids: Literal["uuid", "counter"] = "uuid"
    # Local addresses to connect from, round-robin by station: one source address reaches one
    # CSMS address:port through ~28,000 ephemeral ports at most.
    source_addresses: tuple[str, ...] = ()

    @field_validator("source_addresses", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> tuple[str, ...]:
        value = comma_list(value)
        if not isinstance(value, list | tuple):
            raise FieldProblem("must be a list of IP addresses")
        for address in value:
            try:
                ipaddress.ip_address(str(address))
            except ValueError:
                raise FieldProblem("must be IP addresses", got=address) from None
        return tuple(str(a) for a in value)

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, url: Any) -> str | dict[str, str]:
        if isinstance(url, str) and _PER_VERSION.match(url):
            url = _per_version_urls(url)
        if isinstance(url, str):
            return _checked_url(url)
        if not isinstance(url, Mapping) or not url:
            raise FieldProblem("must be a ws:// URL, or a mapping of OCPP version to URL")
        urls: dict[str, str] = {}
        for version, one in url.items():
            version = str(version)
            if version not in VERSIONS:
                raise FieldProblem(
                    f"is not an OCPP version; expected one of {', '.join(VERSIONS)}",
                    at=(version,),
                    got=version,
                )
            if not isinstance(one, str):
                raise FieldProblem("must be a ws:// or wss:// URL", at=(version,), got=one)
            try:
                urls[version] = _checked_url(one)
            except FieldProblem as exc:
                raise FieldProblem(str(exc), at=(version,), got=exc.got) from None
        return urls

    def url_for(self, version: str) -> str:
        """The URL stations of OCPP ``version`` connect to."""
        if isinstance(self.url, str):
            return self.url
        return self.url[version]

    def urls(self) -> list[str]:
        """Every URL the fleet connects to (one, or one per version)."""
        return [self.url] if isinstance(self.url, str) else list(self.url.values())

    def shown(self) -> str:
        """The URL(s) fit to print (passwords replaced by ***)."""
        if isinstance(self.url, str):
            return shown_url(self.url)
        return ", ".join(f"{v}={shown_url(u)}" for v, u in self.url.items())


# "1.6=ws://a/,2.0.1=ws://b/": the per-version form of csms.url for flags and the environment.
_PER_VERSION: Final = re.compile(r"^\s*[0-9.]+\s*=")


def _per_version_urls(text: str) -> dict[str, str]:
    urls = {}
    for part in text.split(","):
        version, _, url = part.partition("=")
        urls[version.strip()] = url.strip()
    return urls


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise FieldProblem("must be a ws:// or wss:// URL with a host", got=shown_url(url))
    try:
        parts.port  # noqa: B018 -- urllib checks the port only when it is read
    except ValueError:
        raise FieldProblem("must have a port of 0-65535", got=shown_url(url)) from None
    if parts.query or parts.fragment:
        raise FieldProblem(
            "must not have a query or fragment (the station id is appended)",
            got=shown_url(url),
        )
    return url.rstrip("/")


def shown_url(url: str) -> str:
    """``url`` fit to print: a password in it (HTTP Basic auth, OCPP security profile 1) is
    replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not even splittable ("ws://[::1"): hide what could be a password
        return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))

"""Asking the embedded CSMS (``fleet csms``) for its transaction ledger at the end of a run, to
prove nothing was lost (``metrics.reconcile``). Only CSMSs on a loopback address are asked, and
only fleet's own answers ``GET /ledger`` as expected: a real CSMS is never sent anything but
OCPP. Synchronous (urllib): ``fleet run`` calls it in a thread, Locust (gevent) directly."""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson


def http_base(url: str) -> str | None:
    """http(s)://host:port of a loopback ws(s):// URL, else None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        return None
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def fetch_ledgers(
    urls: Iterable[str], context: ssl.SSLContext | None = None
) -> list[dict[str, Any]] | None:
    """The transactions part of each CSMS's ledger, or None when any of them is not fleet's
    embedded CSMS on a loopback address (then nothing is compared). ``context``: for https://,
    the stations' own TLS context (their CA, and a station's certificate for profile 3)."""
    bases = {http_base(url) for url in urls}
    if not bases or None in bases:
        return None
    ledgers = []
    for base in sorted(b for b in bases if b is not None):
        try:
            answer = ledger_of(base, context)
        except (OSError, ValueError):
            return None  # not the embedded CSMS (or gone)
        transactions = answer.get("transactions") if isinstance(answer, dict) else None
        if not isinstance(transactions, dict):
            return None
        ledgers.append(transactions)
    return ledgers


def ledger_of(base: str, context: ssl.SSLContext | None = None) -> Any:
    """The whole of ``GET <base>/ledger`` (base: http(s)://host:port); raises OSError or
    ValueError when nothing, or no JSON, comes back."""
    with urllib.request.urlopen(f"{base}/ledger", timeout=10, context=context) as response:
        return orjson.loads(response.read())

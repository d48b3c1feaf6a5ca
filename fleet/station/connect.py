"""Opening a station's websocket: TCP (and TLS), the handshake, and every way it can fail.

``connect()`` returns an open ``WebsocketTransport`` or raises ConnectionFailed with a one-line
reason a user can act on: refused, no handshake in time, a certificate not trusted, the CSMS
refusing the subprotocol, no free local port. Websocket and OS errors become fleet's here, at one
seam; credentials in the URL are never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http
import resource
import socket
import ssl
from typing import Final

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from fleet.errors import CSMS_UNTRUSTED, LOGIN_REFUSED, ConnectionFailed, SubprotocolRefused
from fleet.scenario_csms import shown_url
from fleet.station.security import Access, default_context
from fleet.station.sources import POOLS
from fleet.station.transport import MAX_SIZE, WebsocketTransport
from fleet.station.watch import Tracer
from fleet.wire import SUBPROTOCOLS


async def connect(
    url: str,
    station_id: str,
    version: str,
    open_timeout_s: float,
    source_address: str | None = None,
    trace: Tracer | None = None,
    access: Access | None = None,
) -> WebsocketTransport:
    """Open ``<url>/<station_id>`` asking for the version's subprotocol; raise ConnectionFailed
    with a one-line reason a user can act on (never showing credentials). ``trace`` is told every
    frame of the connection (``watch.tracer``: logged, kept for the console). ``access``: the
    Authorization header (Basic auth, profiles 1/2) and TLS context (default: the system's
    CAs, verified) the station connects with."""
    subprotocol = SUBPROTOCOLS[version]
    try:
        uri = parse_uri(f"{url}/{station_id}")
    except (InvalidURI, ValueError) as exc:  # ValueError: urllib's, e.g. a port over 65535
        reason = exc.msg if isinstance(exc, InvalidURI) else exc  # InvalidURI's text has it all
        raise ConnectionFailed(f"invalid CSMS URL {shown_url(url)}: {reason}") from None
    where = f"{uri.host}:{uri.port}"
    loop = asyncio.get_running_loop()
    ws = WebsocketTransport(
        ClientProtocol(uri, subprotocols=[Subprotocol(subprotocol)], max_size=MAX_SIZE), loop
    )
    ws.authorization = None if access is None else access.authorization
    certificate = access is not None and access.client_certificate
    try:
        async with asyncio.timeout(open_timeout_s):
            await _open(ws, uri, source_address, None if access is None else access.tls)
            await ws.opened()
    except asyncio.CancelledError:
        _abandon(ws)  # the station was stopped while connecting: leave no socket behind
        raise
    except TimeoutError:
        _abandon(ws)
        raise ConnectionFailed(
            f"no websocket handshake from {where} within {open_timeout_s:g} s"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise ConnectionFailed(
            f"TLS: certificate of {where} not trusted: {exc.verify_message}", CSMS_UNTRUSTED
        ) from None
    except ssl.SSLError as exc:
        _abandon(ws)
        raise tls_failure(exc, where) from None
    except ConnectionRefusedError:
        raise ConnectionFailed(f"connection refused by {where} (is the CSMS running?)") from None
    except ConnectionResetError as exc:
        if not uri.secure:
            raise ConnectionFailed(_os_error(exc, where, source_address)) from None
        hint = " (did it refuse our certificate?)" if certificate else ""
        raise ConnectionFailed(
            f"TLS: {where} closed the connection during the TLS handshake{hint}",
            LOGIN_REFUSED if certificate else None,
        ) from None
    except OSError as exc:
        raise ConnectionFailed(_os_error(exc, where, source_address)) from None
    _check_handshake(ws, subprotocol, where, certificate)
    if trace is not None:
        ws.trace = trace
        trace("connected to", f"{where} ({subprotocol})")
    return ws


async def _open(
    ws: WebsocketTransport,
    uri: WebSocketURI,
    source_address: str | None,
    tls: ssl.SSLContext | None,
) -> None:
    context = (tls or default_context()) if uri.secure else None  # verifies by default
    source = source_address or POOLS.address(uri.host, uri.port)
    while True:
        try:
            if source is None:
                await ws.loop.create_connection(
                    lambda: ws,
                    uri.host,
                    uri.port,
                    ssl=context,
                    server_hostname=uri.host if context else None,
                )
            else:
                sock = await _connected_from(ws.loop, source, uri.host, uri.port)
                await ws.loop.create_connection(
                    lambda: ws,
                    sock=sock,
                    ssl=context,
                    server_hostname=uri.host if context else None,
                )
            return
        except OSError as exc:
            # Out of ports towards a loopback CSMS: go on from the next 127.0.0.x (sources.py).
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.EADDRINUSE) or source_address:
                raise
            source = POOLS.exhausted(uri.host, uri.port, source)
            if source is None:
                raise


IP_BIND_ADDRESS_NO_PORT: Final = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux


async def _connected_from(
    loop: asyncio.AbstractEventLoop, source: str, host: str, port: int
) -> socket.socket:
    """A TCP socket connected from ``source`` to host:port. Bound with IP_BIND_ADDRESS_NO_PORT,
    so the kernel picks the local port at connect time, unique per destination: a plain
    bind(source, 0) takes a port for every destination at once, and 28,000 stations bound so
    leave the machine no port to connect anywhere else from that range."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(errno.EADDRNOTAVAIL, f"no {family.name} address for {host}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # not Linux: a plain bind
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


# TLS alerts a CSMS sends about our certificate (OpenSSL's reason names), in a user's words.
_CERTIFICATE_ALERTS: Final = {
    "SSLV3_ALERT_BAD_CERTIFICATE": "bad certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "certificate expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "certificate revoked",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "certificate unknown",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "unsupported certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "unknown CA",
    "TLSV1_ALERT_ACCESS_DENIED": "access denied",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "certificate required",
}


def tls_failure(exc: ssl.SSLError, where: str) -> ConnectionFailed:
    """A failed TLS handshake in one line: the CSMS refusing our certificate, or another
    failure (protocol version, ciphers) with OpenSSL's reason."""
    reason = exc.reason or str(exc)
    alert = _CERTIFICATE_ALERTS.get(reason)
    if alert is not None:
        return ConnectionFailed(f"TLS: CSMS refused our certificate ({alert})", LOGIN_REFUSED)
    if reason.startswith(("SSLV3_ALERT", "TLSV1_ALERT", "TLSV13_ALERT")):
        words = reason.split("_ALERT_", 1)[1].replace("_", " ").lower()
        return ConnectionFailed(f"TLS: {where} ended the handshake ({words})")
    return ConnectionFailed(
        f"TLS handshake with {where} failed: {reason.replace('_', ' ').lower()}"
    )


def _abandon(ws: WebsocketTransport) -> None:
    if ws.transport is not None:
        ws.transport.abort()


def _check_handshake(
    ws: WebsocketTransport, subprotocol: str, where: str, client_certificate: bool
) -> None:
    protocol = ws.protocol
    failure = protocol.handshake_exc
    if failure is None and protocol.state is not State.OPEN:
        raise ConnectionFailed(f"{where} closed the connection during the websocket handshake")
    if failure is not None:
        _abandon(ws)
        if isinstance(failure, InvalidStatus):
            raise _refusal(failure.response, subprotocol)
        if client_certificate and isinstance(failure, InvalidMessage):
            # TLS 1.3 checks a client certificate after the client's handshake is done; a CSMS
            # that drops the connection without an alert (Python's asyncio does) ends here.
            raise ConnectionFailed(
                f"TLS: {where} closed the connection after the TLS handshake without an answer "
                "(did it refuse our certificate?)",
                LOGIN_REFUSED,
            )
        if isinstance(failure, InvalidHandshake) and "subprotocol" in str(failure):
            raise SubprotocolRefused(f"CSMS did not accept subprotocol {subprotocol} ({failure})")
        raise ConnectionFailed(f"websocket handshake failed: {failure}")
    if protocol.subprotocol != subprotocol:
        protocol.send_close(1002, "subprotocol required")
        ws._flush()
        _abandon(ws)
        raise SubprotocolRefused(f"CSMS did not accept subprotocol {subprotocol}")


def _refusal(response: Response, subprotocol: str) -> ConnectionFailed:
    status = response.status_code
    body = response.body.decode("utf-8", "replace").strip() if response.body else ""
    if "subprotocol" in body.lower():
        return SubprotocolRefused(f"CSMS did not accept subprotocol {subprotocol} (HTTP {status})")
    phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else ""
    refused = LOGIN_REFUSED if status in (401, 403) else None
    return ConnectionFailed(f"CSMS refused the websocket: HTTP {status} {phrase}".rstrip(), refused)


def _os_error(exc: OSError, where: str, source_address: str | None) -> str:
    if exc.errno == errno.EMFILE:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return (
            f"too many open files: this process may open {limit} (ulimit -n); run fewer "
            "stations per process"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        on = f" on {source_address}" if source_address else ""
        return (
            f"no free local port{on} towards {where}: spread stations over more source "
            "addresses (csms.source_addresses, --source-addresses)"
        )
    return f"cannot connect to {where}: {exc.strerror or exc}"

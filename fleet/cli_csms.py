"""The ``fleet csms`` command: the embedded reference CSMS's options (its faults and its ledger
file among them) and its start. Kept apart from ``cli.py``, which has the fleet's commands; the
CSMS itself is imported only when the command runs."""

from __future__ import annotations

import argparse
import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvloop

from fleet.errors import FleetError, UsageError

if TYPE_CHECKING:
    from fleet.certs import Authority
    from fleet.csms.door import Door


def add_csms_parser(sub: Any) -> None:
    """Add ``csms`` to the ``fleet`` command's subparsers."""
    csms = sub.add_parser("csms", help="serve the embedded reference CSMS")
    csms.add_argument("--host", default="127.0.0.1")
    csms.add_argument("--port", type=_port, default=9000, help="0 picks a free port (printed)")
    csms.add_argument(
        "--boot-status", choices=("Accepted", "Pending", "Rejected"), default="Accepted"
    )
    csms.add_argument(
        "--interval",
        type=int,
        default=300,
        metavar="SECONDS",
        help="interval sent in BootNotification answers (default 300)",
    )
    csms.add_argument(
        "--accept-after",
        type=float,
        metavar="SECONDS",
        help="accept a Pending/Rejected station on its first boot this long after its first",
    )
    csms.add_argument(
        "--ocpp-versions",
        default="1.6,2.0.1",
        metavar="LIST",
        help="subprotocols offered, e.g. 1.6 (refuses 2.0.1 stations)",
    )
    csms.add_argument(
        "--error-on",
        action="append",
        default=[],
        metavar="ACTION",
        help="answer this action with CallError InternalError (repeatable)",
    )
    csms.add_argument(
        "--ledger-file",
        default=None,
        metavar="PATH",
        help="keep the transaction ledger in this file (appended as messages come): a CSMS "
        "restarted on the same file goes on with the ledger it had",
    )
    csms.add_argument(
        "--silent-on",
        action="append",
        default=[],
        metavar="ACTION",
        help="never answer this action: the station's CALL times out (repeatable)",
    )
    csms.add_argument(
        "--slow-on",
        action="append",
        default=[],
        metavar="ACTION=MS",
        help="answer this action MS milliseconds after it arrives, e.g. Heartbeat=147: a slow "
        "CSMS, to see latencies and gates read it exactly (repeatable)",
    )
    csms.add_argument(
        "--hang-up-on",
        action="append",
        default=[],
        metavar="ACTION",
        help="close a station's connection instead of answering this action, the first time "
        "each station sends it (a CSMS failing mid-request; repeatable)",
    )
    csms.add_argument(
        "--accept-tags",
        default="",
        metavar="PATTERNS",
        help="authorise only idTags/idTokens matching these comma-separated shell patterns "
        "(e.g. 'TAG-*'); others are Invalid (default: every tag)",
    )
    csms.add_argument(
        "--reject-tags",
        default="",
        metavar="PATTERNS",
        help="answer Invalid for idTags/idTokens matching these patterns (e.g. 'UNKNOWN-*', "
        "the tags a scenario's sessions.id_tags.unknown_share draws)",
    )
    csms.add_argument(
        "--schedule-ev-needs",
        action="store_true",
        help="answer an ISO 15118 EV's NotifyEVChargingNeeds (2.0.1) Accepted and send a "
        "TxProfile that delivers its energy by its departure (load levelling); default Rejected",
    )
    csms.add_argument(
        "--start-plugged",
        type=float,
        default=None,
        metavar="SECONDS",
        help="act as the drivers' app: send a remote start (idTag APP) for each EV plugged in "
        "without a badge (1.6 Preparing, 2.0.1 a transaction the cable Started) this many "
        "seconds after (for sessions.start: plug_then_remote); default: never",
    )
    csms.add_argument(
        "--revoke-contracts",
        default="",
        metavar="PATTERNS",
        help="answer a Plug & Charge Authorize for contracts (eMAIDs) matching these patterns "
        "with certificateStatus CertificateRevoked (e.g. 'DEFLTC00000000*')",
    )
    csms.add_argument(
        "--revoke-v2g",
        default="",
        metavar="PATTERNS",
        help="answer GetCertificateStatus (ISO 15118, M06) for the V2G certificate of stations "
        "whose id matches these patterns with an OCSP response saying revoked (e.g. 'CP-0001*')",
    )
    tls = csms.add_argument_group("security profiles (wss://, Basic auth, client certificates)")
    tls.add_argument("--tls-cert", metavar="PEM", help="serve wss:// with this certificate")
    tls.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    tls.add_argument(
        "--client-ca",
        metavar="PEM",
        help="profile 3: require a client certificate signed by this CA, whose CN is the "
        "station id",
    )
    tls.add_argument(
        "--password",
        metavar="TEMPLATE",
        help="profiles 1/2: the password each station must send, '{id}' replaced by its id "
        "(e.g. '{id}-secret'); wrong credentials get HTTP 401",
    )
    tls.add_argument(
        "--passwords-file", metavar="CSV", help="lines 'station id,password' (as --password)"
    )
    tls.add_argument(
        "--signing-ca",
        metavar="PEM",
        help="sign stations' SignCertificate requests with this CA (e.g. fleet certs' ca.pem; "
        "needs --signing-key): CertificateSigned follows",
    )
    tls.add_argument("--signing-key", metavar="PEM", help="the signing CA's private key")
    tls.add_argument(
        "--require-password",
        action="store_true",
        help="refuse stations that send no Basic-auth credentials (HTTP 401)",
    )
    csms.add_argument(
        "--naive-time",
        action="store_true",
        help="send currentTime without a UTC offset (as datetime.utcnow().isoformat() gives): "
        "breaks the OCPP schema, to see how a fleet reports a CSMS that does",
    )


def cmd_csms(args: argparse.Namespace) -> int:
    from fleet.csms import Csms, TagPolicy, serve_forever
    from fleet.wire import VERSIONS

    versions = [v.strip() for v in args.ocpp_versions.split(",") if v.strip()]
    unknown = [v for v in versions if v not in VERSIONS]
    if unknown or not versions:
        raise UsageError(f"--ocpp-versions: expected 1.6 and/or 2.0.1, got {args.ocpp_versions!r}")
    if args.interval < 0:
        raise UsageError(f"--interval: must be >= 0, got {args.interval}")
    tls, door = _security(args)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("fleet.csms").setLevel(logging.INFO)  # one line per station event
    csms = Csms(
        args.boot_status,
        args.interval,
        args.accept_after,
        versions,
        error_on=args.error_on,
        hang_up_on=args.hang_up_on,
        silent_on=args.silent_on,
        slow_on=_delays(args.slow_on),
        ledger_file=args.ledger_file,
        naive_time=args.naive_time,
        schedule_ev_needs=args.schedule_ev_needs,
        start_plugged_after_s=args.start_plugged,
        revoke_v2g=args.revoke_v2g.split(","),
        tags=TagPolicy(
            args.accept_tags.split(","),
            args.reject_tags.split(","),
            args.revoke_contracts.split(","),
        ),
        tls=tls,
        door=door,
        signer=_signer(args),
    )
    try:
        uvloop.run(serve_forever(csms, args.host, args.port))
    except OSError as exc:
        raise FleetError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    except KeyboardInterrupt:
        pass
    return 0


def _port(text: str) -> int:
    """A TCP port, 0-65535 (the socket layer would take 99999 as 34463, silently)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {port}")
    return port


def _signer(args: argparse.Namespace) -> Authority | None:
    from fleet.certs import read_authority

    if bool(args.signing_ca) != bool(args.signing_key):
        raise UsageError("--signing-ca and --signing-key go together")
    if not args.signing_ca:
        return None
    try:
        return read_authority(Path(args.signing_ca), Path(args.signing_key))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot load the signing CA: {reason}") from None


def _delays(texts: list[str]) -> dict[str, float]:
    """--slow-on ACTION=MS, repeated: {action: ms}."""
    delays = {}
    for text in texts:
        action, _, ms = text.partition("=")
        try:
            delay = float(ms)
        except ValueError:
            delay = -1.0
        if not action.strip() or not 0 <= delay <= 600_000:
            raise UsageError(f"--slow-on {text!r}: expected ACTION=MS, e.g. Heartbeat=147")
        delays[action.strip()] = delay
    return delays


def _security(args: argparse.Namespace) -> tuple[ssl.SSLContext | None, Door | None]:
    """The TLS context and the door (``fleet.csms.door``) the options ask for."""
    from fleet.csms.door import Door, Passwords, server_context

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        raise UsageError("--client-ca needs --tls-cert and --tls-key (profile 3 is TLS)")
    if args.password and args.passwords_file:
        raise UsageError("give --password or --passwords-file, not both")
    tls = None
    if args.tls_cert:
        try:
            tls = server_context(args.tls_cert, args.tls_key, args.client_ca)
        except (OSError, ssl.SSLError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise UsageError(f"cannot load the TLS certificate, key or CA: {reason}") from None
    passwords = None
    if args.password or args.passwords_file:
        try:
            passwords = Passwords(args.password, args.passwords_file)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UsageError(f"--passwords-file: {getattr(exc, 'strerror', None) or exc}") from None
    door = None
    if passwords is not None or args.require_password or args.client_ca:
        door = Door(passwords, args.require_password, check_identity=bool(args.client_ca))
    return tls, door

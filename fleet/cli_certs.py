"""The ``fleet certs`` command: a test CA, the embedded CSMS's certificate and one certificate
per station of a scenario (``fleet.certs``), for security profiles 2 and 3 on loopback."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fleet.errors import UsageError


def add_certs_parser(sub: Any) -> None:
    """Add ``certs`` to the ``fleet`` command's subparsers."""
    certs = sub.add_parser(
        "certs",
        help="make a test CA, a CSMS certificate and one certificate per station (profile 3)",
    )
    certs.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    certs.add_argument(
        "--stations",
        type=int,
        default=None,
        metavar="N",
        help="how many stations (default: the scenario's stations.count, else 10)",
    )
    certs.add_argument(
        "--scenario",
        default=None,
        metavar="FILE",
        help="take station ids from this scenario's stations.id_pattern, and make expired "
        "certificates for the stations its security.negative.expired_certificate picks",
    )
    certs.add_argument(
        "--csms-host",
        action="append",
        default=None,
        metavar="HOST",
        help="an IP address or DNS name the CSMS certificate is valid for (repeatable; "
        "default 127.0.0.1 and localhost)",
    )
    certs.add_argument("--days", type=int, default=365, help="validity (default 365)")


def cmd_certs(args: argparse.Namespace) -> int:
    from fleet.certs import CSMS_HOSTS, make_certificates
    from fleet.scenario import Scenario, load_scenario

    if args.stations is not None and not 1 <= args.stations <= 1_000_000:
        raise UsageError(f"--stations: must be 1 to 1000000, got {args.stations}")
    if args.days < 1:
        raise UsageError(f"--days: must be at least 1, got {args.days}")
    scenario = Scenario() if args.scenario is None else load_scenario(args.scenario, files=False)
    count = args.stations or (scenario.stations.count if args.scenario else 10)
    ids = [scenario.station_id(index) for index in range(1, count + 1)]
    negative = scenario.security.negative
    expired = [i for i in ids if negative.kind_for(scenario.seed, i) == "expired_certificate"]
    started = time.perf_counter()
    try:
        made = make_certificates(
            Path(args.out), ids, expired, tuple(args.csms_host or CSMS_HOSTS), args.days
        )
    except (OSError, ValueError) as exc:  # the folder's CA (reused) is not one, or unwritable
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"--out {args.out}: {reason}") from None
    seconds = time.perf_counter() - started
    ca = "reused" if made.ca_reused else "new"
    extra = f", {made.expired} expired" if made.expired else ""
    print(
        f"fleet certs: {made.folder}/ca.pem ({ca} CA), csms.pem, {made.stations} station "
        f"certificates in {made.folder}/stations{extra} ({seconds:.1f} s)"
    )
    return 0

"""Which local address a connect goes out from, when the scenario names none.

One (source address, destination address and port) pair carries as many connections as the
ephemeral port range has ports (28,232 here: 32768-60999). Past that the kernel refuses a
connect with EADDRNOTAVAIL. For a CSMS on a loopback address every 127.x.y.z is a source
address of this machine, so a station that hits the limit goes on from the next one
(127.0.0.2, 127.0.0.3, ...), and so does every connect after it. For other destinations only
the operator knows the machine's addresses: ``csms.source_addresses`` / ``--source-addresses``
(the error says so). Pure: the connect code reports what happened.
"""

from __future__ import annotations

import ipaddress
from typing import Final

FIRST_SPARE: Final = 2  # 127.0.0.1 is what the kernel picks by itself
LAST_SPARE: Final = 254


def spreadable(host: str) -> bool:
    """An IPv4 loopback destination (or localhost): 127.0.0.x sources reach it."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return address.version == 4 and address.is_loopback


class SourcePools:
    """Per destination (host, port): the spare loopback source address in use (None: the
    kernel's own choice), moved on each time one runs out of ports."""

    def __init__(self) -> None:
        self._current: dict[tuple[str, int], int] = {}  # destination -> spare number in use

    def address(self, host: str, port: int) -> str | None:
        """The source address a new connect to host:port should use (None: let the kernel
        choose)."""
        spare = self._current.get((host, port))
        return None if spare is None else f"127.0.0.{spare}"

    def exhausted(self, host: str, port: int, address: str | None) -> str | None:
        """``address`` ran out of ports towards host:port: the next one to try, or None when
        the destination is not on loopback or every spare is used up."""
        if not spreadable(host):
            return None
        used = self._current.get((host, port))
        if address != self.address(host, port):
            return self.address(host, port)  # another connect moved on already: follow it
        spare = FIRST_SPARE if used is None else used + 1
        if spare > LAST_SPARE:
            return None
        self._current[host, port] = spare
        return f"127.0.0.{spare}"


POOLS = SourcePools()  # this process's

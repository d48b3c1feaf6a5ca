"""Spreading connects over loopback source addresses when one runs out of ports (pure)."""

from __future__ import annotations

import socket

from fleet.station.connect import IP_BIND_ADDRESS_NO_PORT, connect
from fleet.station.sources import LAST_SPARE, SourcePools, spreadable
from tests.conftest import csms_running, wait_until


def test_a_loopback_destination_moves_on_to_the_next_spare_address() -> None:
    pools = SourcePools()
    assert pools.address("127.0.0.1", 9000) is None  # the kernel's choice first
    assert pools.exhausted("127.0.0.1", 9000, None) == "127.0.0.2"
    assert pools.address("127.0.0.1", 9000) == "127.0.0.2"  # every later connect too
    # A connect that failed on the old address follows the move, not a further one.
    assert pools.exhausted("127.0.0.1", 9000, None) == "127.0.0.2"
    assert pools.exhausted("127.0.0.1", 9000, "127.0.0.2") == "127.0.0.3"
    # Another destination (port) has its own ports: it starts over.
    assert pools.address("127.0.0.1", 9001) is None
    assert pools.address("127.0.0.1", 9000) == "127.0.0.3"


def test_other_destinations_are_never_spread_and_the_pool_ends() -> None:
    pools = SourcePools()
    assert pools.exhausted("10.1.2.3", 9000, None) is None
    assert pools.exhausted("csms.example", 443, None) is None
    address = pools.exhausted("localhost", 9000, None)
    while address is not None:
        last, address = address, pools.exhausted("localhost", 9000, address)
    assert last == f"127.0.0.{LAST_SPARE}"
    assert spreadable("127.5.6.7") and not spreadable("::1") and not spreadable("192.168.0.1")


async def test_a_source_address_takes_its_port_at_connect_time() -> None:
    """A connect from a named source address reaches the CSMS from that address, its socket
    bound with IP_BIND_ADDRESS_NO_PORT: the port is picked per destination, so stations bound
    to 127.0.0.2 do not use up that address's ports for every other destination."""
    async with csms_running() as csms:
        transport = await connect(csms.url, "CP-1", "1.6", 5, source_address="127.0.0.2")
        try:
            assert transport.transport is not None
            sock = transport.transport.get_extra_info("socket")
            assert sock.getsockname()[0] == "127.0.0.2"
            assert sock.getsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT) == 1
            await wait_until(lambda: "CP-1" in csms.connections)
            assert csms.ledger["CP-1"].peers == {"127.0.0.2"}
        finally:
            await transport.close(1000, "done")

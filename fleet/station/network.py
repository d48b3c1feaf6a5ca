"""2.0.1 network connection profiles (B09 SetNetworkProfile, B10 migrate to a new profile, A05
upgrade the security profile): which profiles a station takes, and which one it connects with.
Pure: the station keeps the profiles and counts failed connects; this decides.

Slot 0 is the scenario's own connection unless the CSMS set a profile for it. After a reboot
the station connects with the first slot of NetworkConfigurationPriority that has a profile;
after NetworkProfileConnectionAttempts failed connects with one, it moves on to the next
(and round again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

SLOTS: Final = 4  # configuration slots 0-3


@dataclass(slots=True, frozen=True)
class NetworkProfile:
    url: str  # the CSMS's URL, the station id appended when connecting
    security_profile: int


def profile_of(
    slot: int, data: dict[str, Any], current_profile: int
) -> tuple[NetworkProfile | None, str | None]:
    """The profile a SetNetworkProfile's connectionData (snake_case keys) describes for
    ``slot``, or why the station refuses it: a slot it does not have, another OCPP version or
    transport, a lower security profile than the one it connects with now (A05: never
    downgraded), or a URL its security profile cannot use (profiles 0-1 over ws://, 2-3 over
    wss://)."""
    if not 0 <= slot < SLOTS:
        return None, f"no configuration slot {slot}"
    if data.get("ocpp_version") != "OCPP20" or data.get("ocpp_transport") != "JSON":
        return None, "not OCPP 2.0.1 over JSON"
    wanted = data.get("security_profile")
    if not isinstance(wanted, int) or not 0 <= wanted <= 3:
        return None, f"security profile {wanted!r} does not exist"
    if wanted < current_profile:
        return None, f"security profile {wanted} is a downgrade from {current_profile}"
    url = str(data.get("ocpp_csms_url", ""))
    scheme = "wss://" if wanted >= 2 else "ws://"
    if not url.startswith(scheme):
        return None, f"security profile {wanted} connects to {scheme} URLs"
    try:
        parts = urlsplit(url)
        usable = parts.hostname is not None and (parts.port or 0) >= 0  # reading port checks it
    except ValueError:  # a port over 65535, a broken IPv6 address
        usable = False
    if not usable:
        return None, "not a URL a station can connect to"
    return NetworkProfile(url, wanted), None


def priority(value: str | None) -> list[int]:
    """NetworkConfigurationPriority's slots, in order ("1,0" -> [1, 0])."""
    slots = []
    for item in (value or "0").split(","):
        item = item.strip()
        if item.isdigit():
            slots.append(int(item))
    return slots or [0]


def choose(
    order: list[int], profiles: dict[int, NetworkProfile], failures: int, attempts: int
) -> int | None:
    """The slot to connect with (None: the scenario's connection): the first of ``order``
    with a profile (slot 0 always has one: the scenario's), moved on by one for every
    ``attempts`` failed connects."""
    usable = [slot for slot in order if slot in profiles or slot == 0]
    if not usable:
        return None
    slot = usable[(failures // max(attempts, 1)) % len(usable)]
    return slot if slot in profiles else None

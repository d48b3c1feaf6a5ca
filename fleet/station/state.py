"""Where a station is in its life: what the progress line, the Fleet tab and the summary count."""

from __future__ import annotations

import enum
from typing import Final


class State(enum.Enum):
    OFFLINE = "offline"  # no websocket (not started yet, or between reconnects)
    CONNECTING = "connecting"  # TCP + websocket handshake under way
    BOOTING = "booting"  # connected, BootNotification not answered yet
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


CONNECTED_STATES: Final = frozenset({State.BOOTING, State.PENDING, State.ACCEPTED, State.REJECTED})


class Ending(enum.Enum):
    """Why ``Engine.run`` returned: decides whether the session reconnects, and how fast."""

    LOST = "lost"  # the CSMS or the network ended the connection: back off, reconnect
    REBOOT = "reboot"  # the station reboots (Reset): reconnect at once and boot again
    STOPPED = "stopped"  # we were asked to stop: do not reconnect

"""One exception family: every error a user can see is a FleetError whose str() is one line.

The CLI prints ``str(err)`` and exits; tracebacks are shown only with ``--debug``. Foreign
exceptions (websockets, ocpp, OS) are translated into these at one seam each, never caught
all over the code.
"""

from __future__ import annotations


class FleetError(Exception):
    """Base of every error fleet reports to a user."""


class ScenarioError(FleetError):
    """A scenario file is unreadable or invalid; names the file and the field path."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(where + message)


class UsageError(FleetError):
    """A command-line option is invalid (exit code 2)."""


# What a refused connect means for security (``ConnectionFailed.security``): the CSMS turned
# down the station's credentials or certificate, or the station did not trust the CSMS's.
LOGIN_REFUSED = "login refused"
CSMS_UNTRUSTED = "CSMS certificate not trusted"
# A private key with a password: refused (OpenSSL would prompt a terminal for it).
ENCRYPTED_KEY = "the key has a password; fleet takes keys without one"


class ConnectionFailed(FleetError):
    """A station could not open or keep its websocket. ``reason`` is the one-line summary;
    ``security``: LOGIN_REFUSED or CSMS_UNTRUSTED when the failure is one of those."""

    def __init__(self, reason: str, security: str | None = None) -> None:
        self.reason = reason
        self.security = security
        super().__init__(reason)


class SubprotocolRefused(ConnectionFailed):
    """The CSMS did not accept the OCPP subprotocol the station asked for."""


class CallFailed(FleetError):
    """An outgoing CALL got no usable answer. ``reason`` goes into the failure list."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class CallTimeout(CallFailed):
    """No CALLRESULT/CALLERROR arrived within the scenario's call timeout."""


class CallErrorReceived(CallFailed):
    """The CSMS answered with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        self.code = code
        self.description = description
        super().__init__(f"CallError {code}: {description}" if description else f"CallError {code}")


class InvalidResponse(CallFailed):
    """The CSMS answered with a payload that violates the action's JSON schema."""


class ConnectionLost(CallFailed):
    """The websocket closed while the CALL was outstanding."""


class OutboxFull(CallFailed):
    """The station queued more CALLs than its outbox holds (the CSMS is not answering)."""

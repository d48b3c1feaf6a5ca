"""``@on(Action)`` handler tables and answers, shared by the stations and the embedded CSMS.

The ``ocpp`` library builds a route map for every ChargePoint instance by introspecting all of its
methods, and inspects each handler's signature again for every message. Both sides of fleet hold
thousands of connections, so the table is built once per class here, and answers go from the
library's call_result dataclasses to camelCase payloads with the library's own helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp import exceptions
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.routing import create_route_map


@dataclass(slots=True, frozen=True)
class Route:
    on: Callable[..., Any]
    skip_validation: bool


def route_table(cls: type) -> dict[str, Route]:
    """Action -> its ``@on`` handler (unbound) for a ChargePoint subclass."""
    return {
        action: Route(handlers["_on_action"], handlers.get("_skip_schema_validation", False))
        for action, handlers in create_route_map(cls).items()
        if "_on_action" in handlers
    }


def to_payload(result: Any) -> dict[str, Any]:
    """An ``ocpp`` call_result dataclass (or a dict) as a camelCase JSON payload."""
    if isinstance(result, dict):
        return result
    payload: dict[str, Any] = snake_to_camel_case(remove_nones(serialize_as_dict(result)))
    return payload


def _error_classes() -> dict[str, type[exceptions.OCPPError]]:
    found: dict[str, type[exceptions.OCPPError]] = {}
    pending = list(exceptions.OCPPError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        code = getattr(cls, "code", None)
        if isinstance(code, str):
            found.setdefault(code, cls)
    return found


_ERRORS = _error_classes()


def ocpp_error(code: str, description: str) -> exceptions.OCPPError:
    """The ``ocpp`` library's exception for a CallError code (GenericError if it has none)."""
    return _ERRORS.get(code, exceptions.GenericError)(description=description)

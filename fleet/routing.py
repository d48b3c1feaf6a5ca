"""``@on(Action)`` handler tables and answers, shared by the stations and the embedded CSMS.

The ``ocpp`` library builds a route map for every ChargePoint instance by introspecting all of its
methods, and inspects each handler's signature again for every message. Both sides of fleet hold
thousands of connections, so the table is built once per class here, and answers go from the
library's call_result dataclasses to camelCase payloads with the library's own helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ocpp import exceptions
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.routing import create_route_map

from fleet import wire


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
    """The ``ocpp`` library's exception for a CallError code (a GenericError carrying the code
    if the library has no class for it)."""
    cls = _ERRORS.get(code)
    if cls is not None:
        return cls(description=description)
    error = exceptions.GenericError(description=description)
    error.code = code
    return error


class Routed:
    """Mixin for ``ocpp`` ChargePoint subclasses answering CALLs with their ``@on`` handlers:
    the route table is built once per class, when the class is defined. Subclasses set
    ``known_actions`` (every action of their OCPP version)."""

    routes: ClassVar[dict[str, Route]] = {}
    known_actions: ClassVar[frozenset[str]] = frozenset()
    _ocpp_version: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.routes = route_table(cls)

    def answer_call(self, action: str, payload: Any, check_request: bool) -> dict[str, Any]:
        """Run the handler for a CALL and return the CALLRESULT payload. Raises the ``ocpp``
        library's OCPPError to answer with: NotImplemented (an action of the version without
        a handler), NotSupported (not an action of the version), or whatever the handler
        raised; or ``wire.SchemaViolation`` for a request that breaks its schema (answered with
        the violation's ``code``; the caller also reports it)."""
        route = self.routes.get(action)
        if route is None:
            code = "NotImplemented" if action in self.known_actions else "NotSupported"
            raise ocpp_error(code, f"{action} is not supported")
        if check_request and not route.skip_validation:
            wire.validate(self._ocpp_version, action, "request", payload)
        return to_payload(route.on(self, **camel_to_snake_case(payload)))

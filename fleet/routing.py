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


def route_table(cls: type, known_actions: frozenset[str] = frozenset()) -> dict[str, Route]:
    """Action -> its ``@on`` handler (unbound) for a class with ``@on`` methods.

    Raises TypeError for what fleet's router would otherwise drop without a word: ``@after``
    hooks (fleet runs follow-ups with ``then()``), a handler for an action its OCPP version does
    not have (when ``known_actions`` is given), and an override that lost its base's ``@on``.
    """
    table = {}
    for action, handlers in create_route_map(cls).items():
        if "_after_action" in handlers:
            hook = handlers["_after_action"].__name__
            raise TypeError(
                f"{cls.__qualname__}.{hook}: @after({action}) hooks are not run by fleet; "
                "call self.then(coroutine_function) from the @on handler instead"
            )
        if known_actions and action not in known_actions:
            raise TypeError(
                f"{cls.__qualname__}.{handlers['_on_action'].__name__}: @on({action!r}): "
                "not an action of this OCPP version"
            )
        skip = handlers.get("_skip_schema_validation", False)
        table[action] = Route(handlers["_on_action"], skip)
    for base in cls.__mro__[1:]:
        for action, route in getattr(base, "routes", {}).items():
            name = route.on.__name__
            mine = getattr(cls, name, None)
            if mine is not None and getattr(mine, "_on_action", None) is None:
                raise TypeError(
                    f"{cls.__qualname__}.{name} overrides the @on({action}) handler without "
                    f"@on({action}): decorate it, or {action} is no longer answered"
                )
    return table


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

    __slots__ = ()  # stations keep theirs in slots (``calls.CallSlot``)
    routes: ClassVar[dict[str, Route]] = {}
    known_actions: ClassVar[frozenset[str]] = frozenset()
    _ocpp_version: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.routes = route_table(cls, cls.known_actions)

    def dispatch(self, action: str, payload: Any, check_request: bool) -> Any:
        """Run the handler for a CALL and return what it returned (an ``ocpp`` call_result, a
        dict, or an awaitable of one for an async handler). Raises the ``ocpp`` library's
        OCPPError to answer with: NotImplemented (an action of the version without a
        handler), NotSupported (not an action of the version), or whatever the handler
        raised; or ``wire.SchemaViolation`` for a request that breaks its schema (answered with
        the violation's ``code``; the caller also reports it)."""
        route = self.routes.get(action)
        if route is None:
            code = "NotImplemented" if action in self.known_actions else "NotSupported"
            raise ocpp_error(code, f"{action} is not supported")
        if check_request and not route.skip_validation:
            wire.validate(self._ocpp_version, action, "request", payload)
        return route.on(self, **camel_to_snake_case(payload))

    def answer_call(self, action: str, payload: Any, check_request: bool) -> dict[str, Any]:
        """``dispatch()`` for synchronous handlers: the CALLRESULT payload."""
        return to_payload(self.dispatch(action, payload, check_request))

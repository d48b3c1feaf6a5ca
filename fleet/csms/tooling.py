"""The embedded CSMS's loopback tooling over plain HTTP, on its websocket port: health, the
ledgers, a call to one station, a campaign to many (the endpoints ``server``'s docstring lists).
A request for any other path is not this module's: the websocket handshake goes on."""

from __future__ import annotations

import http
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.datastructures import Headers
from websockets.http11 import Response

from fleet.routing import to_payload
from fleet.wire import VERSIONS, SchemaViolation, validate

if TYPE_CHECKING:
    from fleet.csms.server import Csms


async def answer(csms: Csms, path: str) -> Response | None:
    """The tooling endpoint's answer, or None when ``path`` is not one (a station connecting)."""
    if path.startswith("/call/"):
        return await _call(csms, path)
    if path.startswith("/campaign/"):
        return await _campaign(csms, path)
    if path == "/campaigns":
        return _json_response(http.HTTPStatus.OK, [c.to_json() for c in csms.campaigns])
    if path == "/health":
        return _json_response(http.HTTPStatus.OK, {"ok": True, "stations": len(csms.ledger)})
    if path == "/ledger":
        return _json_response(http.HTTPStatus.OK, csms.ledger_json())
    return None


async def _call(csms: Csms, target: str) -> Response:
    parts = urlsplit(target)
    _, _, station_id, action = [*parts.path.split("/"), "", ""][:4]
    query = parse_qs(parts.query)
    central = csms.connections.get(station_id)
    if central is None:
        return _json_response(http.HTTPStatus.NOT_FOUND, {"ok": False, "error": "not connected"})
    module = call16 if central._ocpp_version == "1.6" else call201
    shape = getattr(module, action, None)
    try:
        payload = orjson.loads(query.get("payload", ["{}"])[0])
        request = shape(**camel_to_snake_case(payload))  # type: ignore[misc]
        answer = await csms.call(station_id, request)
    except OCPPError as exc:
        body = {"ok": False, "error": f"{exc.code}: {exc.description}"}
        return _json_response(http.HTTPStatus.OK, body)
    except (TypeError, ValueError, orjson.JSONDecodeError, TimeoutError) as exc:
        body = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return _json_response(http.HTTPStatus.BAD_REQUEST, body)
    return _json_response(http.HTTPStatus.OK, {"ok": True, "response": to_payload(answer)})


async def _campaign(csms: Csms, target: str) -> Response:
    parts = urlsplit(target)
    action = parts.path.split("/")[2] if parts.path.count("/") >= 2 else ""
    query = parse_qs(parts.query)
    try:
        payload = orjson.loads(query.get("payload", ["{}"])[0])
        timeout_s = float(query.get("timeout_s", ["10"])[0])
        requests = _requests(action, payload, query.get("version", VERSIONS))
    except (TypeError, ValueError, orjson.JSONDecodeError) as exc:
        body = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return _json_response(http.HTTPStatus.BAD_REQUEST, body)
    pattern = query.get("stations", [None])[0]
    campaign = await csms.campaign(action, requests, pattern, timeout_s)
    return _json_response(http.HTTPStatus.OK, {"ok": True, **campaign.to_json()})


def _requests(
    action: str, payload: dict[str, Any], versions: Sequence[str] = VERSIONS
) -> dict[str, Any]:
    """The call in each version that has it and whose schema the payload meets: version -> an
    ``ocpp`` call dataclass (stations of other versions are skipped). A payload no version can
    take is refused before anything is sent."""
    requests, problems = {}, []
    for version, module in (("1.6", call16), ("2.0.1", call201)):
        shape = getattr(module, action, None)
        if shape is None or version not in versions:
            continue
        try:
            request = shape(**camel_to_snake_case(payload))
            validate(version, action, "request", to_payload(request))
        except (TypeError, SchemaViolation) as exc:
            problems.append(f"OCPP {version}: {exc}")
            continue
        requests[version] = request
    if not requests:
        raise ValueError("; ".join(problems) or f"no OCPP version has the action {action!r}")
    return requests


def _json_response(status: http.HTTPStatus, body: Any) -> Response:
    data = orjson.dumps(body)
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status.value, status.phrase, headers, data)

"""Plug & Charge authorisation on the wire (2.0.1 C07; 1.6 through DataTransfer, as the OCA's
"Using ISO 15118 Plug & Charge with OCPP 1.6" carries 2.0.1's messages): the Authorize a
station sends for an EV's contract, and what the CSMS's answer says.

Both versions' contract Authorizes share one statistics row of their own, ``ROW`` (1.6's
DataTransfer too: it is the same request): a CSMS checks a contract with an OCSP request or a
chain validation, so its latency is not a tag lookup's and is read apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson

from fleet.station.behaviour import format_time

if TYPE_CHECKING:
    from fleet.scenario_charging import Evse, PlugAndCharge
    from fleet.station.calls import Judge
    from fleet.station.contracts import Contract
    from fleet.station.generator import Demand
    from fleet.station.intents import Send
    from fleet.station.smart_charging import Profile
    from fleet.station.transaction import Shapes, TxSettings

VENDOR_ID: Final = "org.openchargealliance.iso15118pnc"
ROW: Final = "Authorize(PnC)"
MAX_HASH_DATA: Final = 4  # 2.0.1 iso15118CertificateHashData: 1-4 entries


def authorize_request(contract: Contract, central: bool) -> dict[str, Any]:
    """2.0.1 AuthorizeRequest for a contract: its chain for the CSMS to validate (``central``),
    or the OCSP request data of a chain the station validated itself."""
    request: dict[str, Any] = {"idToken": {"idToken": contract.emaid, "type": "eMAID"}}
    if central:
        request["certificate"] = contract.chain
    else:
        request["iso15118CertificateHashData"] = list(contract.hash_data[:MAX_HASH_DATA])
    return request


def data_transfer(contract: Contract, central: bool) -> dict[str, Any]:
    """1.6 DataTransfer carrying the 2.0.1 AuthorizeRequest as its JSON text."""
    return wrapped("Authorize", authorize_request(contract, central))


def wrapped(message_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """1.6 DataTransfer carrying a 2.0.1 request (``message_id`` its action) as JSON text."""
    return {"vendorId": VENDOR_ID, "messageId": message_id, "data": orjson.dumps(request).decode()}


def inner(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    """The 2.0.1 answer a 1.6 DataTransfer answer carries: its data as a JSON object, when
    the CSMS took the request (status Accepted); else None."""
    if answer is None or answer.get("status") != "Accepted":
        return None
    try:
        carried = orjson.loads(answer.get("data") or "")
    except orjson.JSONDecodeError:
        return None
    return carried if type(carried) is dict else None


def judged16(what: str, judge: Judge, answer: dict[str, Any]) -> str | None:
    """``judge`` (of a 2.0.1 answer) applied to what a 1.6 DataTransfer answer carries; the
    DataTransfer itself must be taken and carry a JSON object (``what``: the request)."""
    status = answer.get("status")
    if status != "Accepted":
        return f"DataTransfer {status}: the CSMS did not take the {what}"
    carried = inner(answer)
    if carried is None:
        return f"DataTransfer data holds no {what} answer"
    return judge(carried)


def unwrapped(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    """The 2.0.1 AuthorizeResponse a 1.6 DataTransfer answer carries, when the CSMS took the
    request (status Accepted) and its data is one; else None (the driver is not authorised)."""
    carried = inner(answer)
    info = None if carried is None else carried.get("idTokenInfo")
    if type(info) is not dict or type(info.get("status")) is not str:
        return None
    return carried


def refusal(answer: dict[str, Any]) -> str | None:
    """Why a contract's Authorize answer is a failure: the CSMS found the chain wanting
    (certificateStatus other than Accepted). A token refused with a good chain is the CSMS's
    word on the driver, as a refused tag is, and no failure."""
    status = answer.get("certificateStatus")
    if status is None or status == "Accepted":
        return None
    return f"certificateStatus {status}"


def refusal16(answer: dict[str, Any]) -> str | None:
    """``refusal`` for 1.6: the DataTransfer must be taken and carry an AuthorizeResponse."""
    status = answer.get("status")
    if status != "Accepted":
        return f"DataTransfer {status}: the CSMS did not take the Plug & Charge Authorize"
    inner = unwrapped(answer)
    if inner is None:
        return "DataTransfer data holds no AuthorizeResponse (idTokenInfo.status)"
    return refusal(inner)


def takes_contracts(settings: TxSettings, validation: str) -> bool:
    """Whether the station lets an EV authorise with its contract: Plug & Charge enabled
    (ISO15118PnCEnabled) and, when it cannot validate the chain itself (``validation``
    central), allowed to hand it to the CSMS (CentralContractValidationAllowed). If not, the
    driver badges instead."""
    return settings.pnc and (validation == "local" or settings.pnc_central)


def offline_verdict(settings: TxSettings, validation: str, tag: str, contract: bool) -> str:
    """Whether a driver may charge while the station cannot ask the CSMS: a contract the
    station validates itself (ContractValidationOffline, ``validation`` local) may; anything
    else goes by the offline rules for tags."""
    if contract and settings.pnc_offline and validation == "local":
        return "Accepted"
    return settings.offline_verdict(tag)


def needs(
    shapes: Shapes,
    config: PlugAndCharge,
    connector: int,
    demand: Demand | None,
    evse: Evse,
    departure_s: float,
) -> list[Send]:
    """What an EV says once its contract let it charge: its charging needs (2.0.1 with
    ``charging_needs``), nothing for a driver's tag."""
    if demand is None or not demand.contract or not config.charging_needs:
        return []
    told = shapes.charging_needs(connector, demand, evse, departure_s)
    return [] if told is None else [told]


def ev_schedule(profile: Profile, demand: Demand, evse: Evse, now_s: float) -> dict[str, Any]:
    """2.0.1 NotifyEVChargingSchedule (K15; K16 when the CSMS sets another): the schedule an
    ISO 15118 EV chooses under the TxProfile the CSMS set, each of its periods within what the
    EV takes (in the profile's unit), from the profile's start (now for a relative one)."""
    most_w = demand.ev_max_kw * 1000
    per_amp = evse.voltage_v * (1 if evse.current == "DC" else evse.phases)
    most = most_w if profile.unit == "W" else most_w / per_amp
    periods = []
    for period in profile.periods:
        chosen: dict[str, Any] = {
            "startPeriod": period.start_s,
            "limit": round(min(period.limit, most), 1),
        }
        if period.phases is not None:
            chosen["numberPhases"] = period.phases
        periods.append(chosen)
    shown = profile.shown.get("chargingSchedule")
    schedule_id = shown[0].get("id", profile.id) if shown else profile.id
    schedule: dict[str, Any] = {
        "id": schedule_id,
        "chargingRateUnit": profile.unit,
        "chargingSchedulePeriod": periods,
    }
    if profile.duration_s is not None:
        schedule["duration"] = int(profile.duration_s)
    time_base = now_s if profile.start_at is None else profile.start_at
    return {
        "timeBase": format_time(time_base),
        "evseId": profile.connector,
        "chargingSchedule": schedule,
    }

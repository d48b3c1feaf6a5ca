"""Meter readings as OCPP sampled values: which measurand reads what, in which unit. Shared by
both versions (1.6 writes values as strings, 2.0.1 as numbers)."""

from __future__ import annotations

from typing import Any, Final

from fleet.station.behaviour import format_time
from fleet.station.meter import Reading

_CONTEXTS: Final = {"MeterValueClock": "Sample.Clock", "Trigger": "Trigger"}


def context_for(trigger: str) -> str:
    """The readings' context for why they are sent (a 2.0.1 triggerReason; 1.6 uses the same
    words internally): clock-aligned, triggered by the CSMS, else periodic."""
    return _CONTEXTS.get(trigger, "Sample.Periodic")


# Per measurand: the Reading field it shows, its decimals, its unit and where it is measured.
_SPECS: Final = {
    "Energy.Active.Import.Register": ("energy_wh", 1, "Wh", "Outlet"),
    "Power.Active.Import": ("power_w", 1, "W", "Outlet"),
    "Current.Import": ("current_a", 2, "A", "Outlet"),
    "Voltage": ("voltage_v", 1, "V", "Outlet"),
    "SoC": ("soc_percent", 1, "Percent", "EV"),
}

# What a reading costs is mostly showing numbers: round() and a float format were ~0.55 µs per
# sampled value, five per MeterValues, every few seconds per connector of a charging fleet.
# Values are rounded half up with integer arithmetic and each text is kept: voltage, current,
# power and state of charge repeat from reading to reading and from station to station.
_SCALES: Final = (1, 10, 100)
_TEXTS: Final[tuple[dict[int, str], ...]] = ({}, {}, {})  # per decimals: scaled value -> text
_TEXTS_KEPT: Final = 4096


def shown(value: float, digits: int) -> str:
    """``value`` as a meter displays it with up to ``digits`` (0-2) decimals: rounded half up,
    trailing zeros dropped, never an exponent ("230.4", "31.8", "22080")."""
    if value < 0:
        positive = shown(-value, digits)
        return positive if positive == "0" else "-" + positive
    scaled = int(value * _SCALES[digits] + 0.5)
    texts = _TEXTS[digits]
    text = texts.get(scaled)
    if text is None:
        if len(texts) >= _TEXTS_KEPT:
            texts.clear()
        whole, part = divmod(scaled, _SCALES[digits])
        text = f"{whole}.{part:0{digits}d}".rstrip("0") if part else str(whole)
        texts[scaled] = text
    return text


def rounded(value: float, digits: int) -> float:
    """``value`` rounded half up to ``digits`` (0-2) decimals, as ``shown`` rounds it."""
    if value < 0:
        return -rounded(-value, digits)
    scale = _SCALES[digits]
    return int(value * scale + 0.5) / scale


class _Unit(dict[str, str]):
    """A 2.0.1 unitOfMeasure, one for each unit, shared by every sampled value showing it:
    copying it into each of five values a reading was ~4.1 k instructions of a
    TransactionEvent's ~185 k (bench 16). Read-only, so that a payload changed in place cannot
    change another's: a value's unit is replaced, not edited."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a sampled value's unitOfMeasure is shared: replace it, do not edit it")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse


# For one measurand list and context: (Reading index, decimals, their scale, the kept texts,
# the sampled value's other keys) per measurand, worked out once instead of per sampled value.
# Copying the keys and setting the value costs half what writing the five keys does.
_Plan = tuple[tuple[int, int, int, dict[int, str], dict[str, Any]], ...]
_PLANS: dict[tuple[tuple[str, ...], str, bool], _Plan] = {}
_PLANS_KEPT: Final = 64  # lists come from the scenario and ChangeConfiguration
_UNITS: dict[str, _Unit] = {}


def _plan(measurands: tuple[str, ...], context: str, v201: bool) -> _Plan:
    if len(_PLANS) >= _PLANS_KEPT:
        _PLANS.clear()
    plan = []
    for measurand in measurands:
        field, digits, unit, location = _SPECS[measurand]
        keys: dict[str, Any] = {
            "value": None,
            "context": context,
            "measurand": measurand,
            "location": location,
        }
        if v201:
            keys["unitOfMeasure"] = _UNITS.setdefault(unit, _Unit(unit=unit))
        else:
            keys["unit"] = unit
        scale = 0 if unit == "Wh" and not v201 else _SCALES[digits]  # 0: a 1.6 register
        plan.append((Reading._fields.index(field), digits, scale, _TEXTS[digits], keys))
    _PLANS[measurands, context, v201] = result = tuple(plan)
    return result


def sampled(
    reading: Reading, measurands: tuple[str, ...], context: str, v201: bool
) -> list[dict[str, Any]]:
    """SampledValue items: 1.6 writes the value as a string (the energy register always with
    one decimal, as a register shows it) and the unit flat, 2.0.1 a number and a
    unitOfMeasure."""
    items: list[dict[str, Any]] = meter_value(reading, measurands, context, "", v201)[
        "sampledValue"
    ]
    return items


def meter_value(
    reading: Reading, measurands: tuple[str, ...], context: str, stamp: str, v201: bool
) -> dict[str, Any]:
    """One MeterValue item: when it was read (``stamp``: the message's own timestamp text,
    formatted once for both), and its sampled values (as ``sampled`` describes them; made
    here, not there: one call fewer per reading)."""
    plan = _PLANS.get((measurands, context, v201)) or _plan(measurands, context, v201)
    items = []
    # rounded() and shown() written out for values >= 0: five calls per reading cost 0.4 µs.
    if v201:
        for index, digits, scale, _, keys in plan:
            item = keys.copy()
            value = reading[index]
            item["value"] = (
                int(value * scale + 0.5) / scale if value >= 0 else rounded(value, digits)
            )
            items.append(item)
        return {"timestamp": stamp, "sampledValue": items}
    for index, digits, scale, texts, keys in plan:
        item = keys.copy()
        value = reading[index]
        if not scale:
            item["value"] = f"{value:.1f}"
        else:
            text = texts.get(int(value * scale + 0.5)) if value >= 0 else None
            item["value"] = shown(value, digits) if text is None else text
        items.append(item)
    return {"timestamp": stamp, "sampledValue": items}


def ending_values(
    series: list[tuple[float, Reading, str, tuple[str, ...]]] | None,
    reading: Reading,
    measurands: tuple[str, ...],
    stamp: str,
    v201: bool,
) -> list[dict[str, Any]]:
    """A transaction's last meter values: the readings it kept (``Tx.series``: none unless
    sessions.end_series or 2.0.1's TxEndedInterval asked for them), then its end reading."""
    values = [
        meter_value(kept, shown_as, context, format_time(at_s), v201)
        for at_s, kept, context, shown_as in series or ()
    ]
    values.append(meter_value(reading, measurands, "Transaction.End", stamp, v201))
    return values

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


# Per measurand: the Reading field it shows, its rounding, its unit and where it is measured.
_SPECS: Final = {
    "Energy.Active.Import.Register": ("energy_wh", 1, "Wh", "Outlet"),
    "Power.Active.Import": ("power_w", 1, "W", "Outlet"),
    "Current.Import": ("current_a", 2, "A", "Outlet"),
    "Voltage": ("voltage_v", 1, "V", "Outlet"),
    "SoC": ("soc_percent", 1, "Percent", "EV"),
}


def sampled(
    reading: Reading, measurands: tuple[str, ...], context: str, v201: bool
) -> list[dict[str, Any]]:
    """SampledValue items, each measurand rounded as a meter shows it: 1.6 writes the value as
    a string and the unit flat, 2.0.1 a number and a unitOfMeasure."""
    items = []
    for measurand in measurands:
        field, digits, unit, location = _SPECS[measurand]
        value = round(getattr(reading, field), digits)
        item: dict[str, Any] = {
            "value": value,
            "context": context,
            "measurand": measurand,
            "location": location,
        }
        if v201:
            item["unitOfMeasure"] = {"unit": unit}
        else:
            item["value"] = f"{value:.1f}" if unit == "Wh" else f"{value:g}"
            item["unit"] = unit
        items.append(item)
    return items


def meter_value(
    reading: Reading, measurands: tuple[str, ...], context: str, now_s: float, v201: bool
) -> dict[str, Any]:
    """One MeterValue item: when it was read, and its sampled values."""
    return {
        "timestamp": format_time(now_s),
        "sampledValue": sampled(reading, measurands, context, v201),
    }

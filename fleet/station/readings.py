"""Meter readings as OCPP sampled values: which measurand reads what, in which unit. Shared by
both versions (1.6 writes values as strings, 2.0.1 as numbers)."""

from __future__ import annotations

from typing import Any, Final

from fleet.station.meter import Reading

UNITS: Final = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
    "SoC": "Percent",
}


_CONTEXTS: Final = {"MeterValueClock": "Sample.Clock", "Trigger": "Trigger"}


def context_for(trigger: str) -> str:
    """The readings' context for why they are sent (a 2.0.1 triggerReason; 1.6 uses the same
    words internally): clock-aligned, triggered by the CSMS, else periodic."""
    return _CONTEXTS.get(trigger, "Sample.Periodic")


def values(reading: Reading, measurands: tuple[str, ...]) -> list[tuple[str, float, str]]:
    """(measurand, value, unit) for each configured measurand, rounded as a meter shows them."""
    table = {
        "Energy.Active.Import.Register": round(reading.energy_wh, 1),
        "Power.Active.Import": round(reading.power_w, 1),
        "Current.Import": round(reading.current_a, 2),
        "Voltage": round(reading.voltage_v, 1),
        "SoC": round(reading.soc_percent, 1),
    }
    return [(m, table[m], UNITS[m]) for m in measurands]


def sampled(
    reading: Reading, measurands: tuple[str, ...], context: str, v201: bool
) -> list[dict[str, Any]]:
    """SampledValue items: 1.6 writes the value as a string and the unit flat, 2.0.1 a number
    and a unitOfMeasure."""
    items = []
    for measurand, value, unit in values(reading, measurands):
        item: dict[str, Any] = {
            "value": value,
            "context": context,
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
        }
        if v201:
            item["unitOfMeasure"] = {"unit": unit}
        else:
            item["value"] = f"{value:.1f}" if unit == "Wh" else f"{value:g}"
            item["unit"] = unit
        items.append(item)
    return items

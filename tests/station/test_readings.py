"""How a reading is shown, and that making readings leaves the session generator alone."""

from __future__ import annotations

import math
import os
import random
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

import orjson
import pytest

from fleet.scenario_charging import Evse, Sessions
from fleet.station.generator import SessionGenerator
from fleet.station.meter import Meter, Reading
from fleet.station.readings import rounded, sampled, shown

T0 = 1_790_000_000.0


def _reference(value: float, digits: int) -> str:
    """Half up on the exact binary value, trailing zeros dropped, no exponent."""
    text = format(Decimal(value).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text == "-0" else text


def test_shown_rounds_half_up_and_drops_trailing_zeros() -> None:
    seed = int.from_bytes(os.urandom(8))
    rng = random.Random(seed)
    checked = 0
    for _ in range(20_000):
        digits = rng.choice([0, 1, 2])
        value = rng.uniform(0, 10 ** rng.randint(0, 7)) * rng.choice([1, -1])
        scaled = abs(value) * 10**digits
        if abs(scaled - math.floor(scaled) - 0.5) < 1e-6:
            continue  # a tie within float error: either neighbour is a fair display
        assert shown(value, digits) == _reference(value, digits), f"seed {seed}: {value!r}"
        checked += 1
    assert checked > 19_000


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (230.44, 1, "230.4"),
        (31.8, 2, "31.8"),
        (31.899, 2, "31.9"),
        (22080.0, 1, "22080"),
        (1_234_567.25, 1, "1234567.3"),  # never "1.23457e+06"
        (0.004, 2, "0"),
        (-1.26, 1, "-1.3"),
        (-0.004, 2, "0"),
    ],
)
def test_shown_examples(value: float, digits: int, text: str) -> None:
    assert shown(value, digits) == text


def test_a_register_always_shows_one_decimal_in_16() -> None:
    meter = Meter(Evse(), SessionGenerator.for_connector(Sessions(), "CP-1", 1).rng)
    meter.register_wh = 1200.0
    items = sampled(meter.read(T0), ("Energy.Active.Import.Register", "Voltage"), "Trigger", False)
    assert items[0]["value"] == "1200.0"
    assert items[0]["unit"] == "Wh"
    v201 = sampled(meter.read(T0), ("Voltage",), "Trigger", True)
    assert isinstance(v201[0]["value"], float)
    assert v201[0]["unitOfMeasure"] == {"unit": "V"}


# Each measurand's Reading field and decimals, as a meter shows them.
_SHOWN = {
    "Energy.Active.Import.Register": ("energy_wh", 1),
    "Power.Active.Import": ("power_w", 1),
    "Current.Import": ("current_a", 2),
    "Voltage": ("voltage_v", 1),
    "SoC": ("soc_percent", 1),
}


def test_sampled_values_show_every_field_as_shown_and_rounded_do() -> None:
    """sampled() writes shown() and rounded() out for speed, and keeps texts it made: whatever
    the readings and their order, every value reads as those functions give it."""
    seed = int.from_bytes(os.urandom(8))
    rng = random.Random(seed)
    measurands = tuple(_SHOWN)
    for _ in range(5_000):
        reading = Reading(*(rng.uniform(-50, 10 ** rng.randint(0, 7)) for _ in _SHOWN))
        v16 = sampled(reading, measurands, "Sample.Periodic", False)
        v201 = sampled(reading, measurands, "Sample.Clock", True)
        for measurand, item, item201 in zip(measurands, v16, v201, strict=True):
            field, digits = _SHOWN[measurand]
            value = getattr(reading, field)
            register = measurand.startswith("Energy")
            expected = f"{value:.1f}" if register else shown(value, digits)
            assert item["value"] == expected, f"seed {seed}: {measurand} {value!r}"
            assert item201["value"] == rounded(value, digits), f"seed {seed}: {value!r}"
            assert (item["context"], item201["context"]) == ("Sample.Periodic", "Sample.Clock")


def test_every_payload_holds_its_own_sampled_values() -> None:
    """Items are copied from a kept template: changing one payload (the offline queue marks
    them) must not reach another reading's. A 2.0.1 unitOfMeasure is shared between them and
    refuses to be edited in place; replaced, it is that payload's alone."""
    reading = Reading(1200.0, 7360.0, 32.0, 230.0, 50.0)
    for v201 in (False, True):
        first = sampled(reading, ("Voltage",), "Trigger", v201)
        first[0]["value"] = "changed"
        if v201:
            with pytest.raises(TypeError, match="shared"):
                first[0]["unitOfMeasure"]["multiplier"] = 3
            unit = first[0]["unitOfMeasure"]
            edits = [partial(unit.update, multiplier=3), partial(unit.setdefault, "multiplier", 3)]
            for edit in [*edits, partial(unit.pop, "unit"), unit.clear, unit.popitem]:
                with pytest.raises(TypeError, match="shared"):
                    edit()
            with pytest.raises(TypeError, match="shared"):
                del unit["unit"]
            assert unit == {"unit": "V"}
            first[0]["unitOfMeasure"] = {"unit": "kV", "multiplier": 3}
        again = sampled(reading, ("Voltage",), "Trigger", v201)
        assert again[0]["value"] in ("230", 230.0)
        assert again[0].get("unitOfMeasure", {"unit": "V"}) == {"unit": "V"}
        assert first[0]["value"] == "changed"  # nor the next reading this one
    assert orjson.loads(orjson.dumps(again)) == again  # serialised as the dict it is


def _sessions(readings_between: int) -> list[tuple[float, float]]:
    """Three sessions' (arrival, energy need) while the meter reads ``readings_between`` times
    between them."""
    gen = SessionGenerator.for_connector(Sessions(arrivals_per_hour=2), "CP-1", 1)
    meter = Meter(Evse(), gen.rng)
    out = []
    at = T0
    for _ in range(3):
        arrival = gen.next_arrival(at)
        assert arrival is not None
        demand = gen.demand()
        meter.plug(demand, arrival)
        for n in range(readings_between):
            meter.read(arrival + n)
        out.append((arrival, demand.battery_kwh))
        at = arrival + 3600
        meter.unplug(at)
    return out


def test_readings_do_not_move_the_session_generator() -> None:
    assert _sessions(0) == _sessions(1) == _sessions(37)


def test_voltage_noise_is_seeded_per_connector_and_varies() -> None:
    def voltages(station: str) -> list[float]:
        gen = SessionGenerator.for_connector(Sessions(), station, 1)
        meter = Meter(Evse(), gen.rng)
        meter.plug(gen.demand(), T0)
        return [meter.read(T0 + n).voltage_v for n in range(50)]

    first = voltages("CP-1")
    assert first == voltages("CP-1")
    assert first != voltages("CP-2")
    assert len(set(first)) > 40
    nominal = Evse().voltage_v
    assert all(abs(v / nominal - 1) <= 0.005 for v in first)

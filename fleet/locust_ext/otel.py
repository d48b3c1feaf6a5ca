"""fleet's OpenTelemetry instruments in a Locust run: Locust's own ``--otel`` sets up the SDK
from the standard OTEL_* variables; fleet's instruments (``fleet.metrics.otel``) join its meter
provider in every process that runs stations (the workers, or the local runner; not the master,
whose merged figures would count every worker's twice). Each process exports its own figures;
the collector adds them up, as it does Locust's."""

from __future__ import annotations

import logging
from typing import Any, Final

import gevent
from locust.env import Environment
from locust.runners import MasterRunner

from fleet.locust_ext.state import FleetState
from fleet.metrics.otel import FleetInstruments

logger = logging.getLogger("fleet.otel")
PUMP_EVERY_S: Final = 1.0


def start(environment: Environment) -> FleetInstruments | None:
    """fleet's instruments on Locust's meter provider, pumped every PUMP_EVERY_S, when the run
    has ``--otel`` and a metrics exporter; else None (with one line saying why)."""
    options = environment.parsed_options
    if not getattr(options, "otel", False) or isinstance(environment.runner, MasterRunner):
        return None
    try:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError:
        logger.warning("--otel: the OpenTelemetry SDK is not installed: pip install 'fleet[otel]'")
        return None
    provider = metrics.get_meter_provider()
    if not isinstance(provider, MeterProvider):
        logger.warning(
            "--otel: no OpenTelemetry metrics exporter is configured (OTEL_METRICS_EXPORTER): "
            "fleet's instruments are off"
        )
        return None
    state = FleetState.of(environment)
    instruments = FleetInstruments(
        provider.get_meter("fleet"),
        lambda: (state.stats(environment), state.table(environment)),
    )
    gevent.spawn(_pump_forever, instruments)
    environment._fleet_otel = instruments  # type: ignore[attr-defined]
    return instruments


def pump(environment: Environment) -> None:
    """Record what is left (a test's end, the process's): the SDK exports it at exit."""
    instruments: Any = getattr(environment, "_fleet_otel", None)
    if instruments is not None:
        instruments.pump()


def _pump_forever(instruments: FleetInstruments) -> None:
    while True:
        gevent.sleep(PUMP_EVERY_S)
        try:
            instruments.pump()
        except Exception:  # the figures must not stop the run
            logger.exception("fleet: OpenTelemetry pump failed")

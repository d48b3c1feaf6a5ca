"""`fleet run --otel`: a meter provider made from the standard OpenTelemetry variables, for
fleet's instruments (``fleet.metrics.otel``). Under Locust, Locust's own ``--otel`` makes the
provider and fleet's instruments join it.

    OTEL_METRICS_EXPORTER        otlp (default), console, none; comma-separated
    OTEL_EXPORTER_OTLP_PROTOCOL  http/protobuf (default) or grpc (needs the grpc exporter)
    OTEL_EXPORTER_OTLP_ENDPOINT  and the other OTEL_EXPORTER_OTLP_* variables: read by the
                                 exporter itself; OTEL_METRIC_EXPORT_INTERVAL by its reader
    OTEL_SERVICE_NAME            default "fleet"; OTEL_RESOURCE_ATTRIBUTES as usual
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import Any

from fleet.errors import UsageError

INSTALL_HINT = "pip install 'fleet[otel]'"


def meter_provider_from_env() -> Any:
    """An SDK MeterProvider with a periodic reader per configured exporter."""
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        raise UsageError(f"--otel needs the OpenTelemetry SDK: {INSTALL_HINT}") from None
    readers = []
    for name in os.environ.get("OTEL_METRICS_EXPORTER", "otlp").split(","):
        name = name.strip().lower()
        if name in ("", "none"):
            continue
        if name == "console":
            exporter: Any = ConsoleMetricExporter()
        elif name == "otlp":
            exporter = _otlp_exporter()
        else:
            raise UsageError(
                f"OTEL_METRICS_EXPORTER: unknown exporter {name!r} (otlp, console or none)"
            )
        readers.append(PeriodicExportingMetricReader(exporter))
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", "fleet"),
            "service.version": version("fleet"),
        }
    )
    return MeterProvider(resource=resource, metric_readers=readers)


def _otlp_exporter() -> Any:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    try:
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        elif protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[no-redef]
                OTLPMetricExporter,
            )
        else:
            raise UsageError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported "
                "(http/protobuf or grpc)"
            )
    except ImportError:
        raise UsageError(
            f"--otel: the OTLP {protocol} exporter is not installed: {INSTALL_HINT}"
            + (" and opentelemetry-exporter-otlp-proto-grpc" if protocol == "grpc" else "")
        ) from None
    return OTLPMetricExporter()

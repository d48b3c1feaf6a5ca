"""The embedded reference CSMS (``fleet csms``): the server (``server``), its answers per OCPP
version (``central``), who may charge (``tags``) and what it records (``records``,
``transactions``)."""

from fleet.csms.records import Captured, StationRecord
from fleet.csms.server import Csms, running_csms, serve_forever
from fleet.csms.tags import TagPolicy

__all__ = ["Captured", "Csms", "StationRecord", "TagPolicy", "running_csms", "serve_forever"]

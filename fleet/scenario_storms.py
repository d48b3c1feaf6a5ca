"""Scenario section for storms: the moments that break a CSMS, on demand. Each storm starts
``at_s`` seconds after the run (``fleet run``) or the test (Locust) started; the stations carry
it out themselves (closing their socket, going silent, rebooting), so no proxy is needed.

=================  ==========================================================================
kind               what happens
=================  ==========================================================================
boot_storm         every station boots at once (the ramp is ignored)
csms_restart       every station loses its connection at ``at_s`` and reconnects per policy
blackout           ``share`` of the stations drop and stay offline ``duration_s``, then return
                   with their queues
flapping           ``share`` of the stations drop every ``every_s`` for ``down_s`` each, for
                   ``duration_s``
rolling_restart    ``share`` of the stations reboot in ``waves`` waves ``every_s`` apart (a
                   firmware campaign): sessions end, BootNotification reason FirmwareUpdate
peak_hour          session arrivals x ``factor`` for ``duration_s``
cert_renewal       ``share`` of the stations ask the CSMS to sign a new certificate at once
                   (SignCertificate, then CertificateSigned used from the next connect)
=================  ==========================================================================

``silent``: a drop leaves the socket open and silent (a half-open connection the CSMS must find
by its pings) instead of ending TCP; the station gives it up when it comes back.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from fleet.scenario_fields import PositiveFloat, Section

Kind = Literal[
    "boot_storm",
    "csms_restart",
    "blackout",
    "flapping",
    "rolling_restart",
    "peak_hour",
    "cert_renewal",
]


class Storm(Section):
    kind: Kind
    at_s: float = Field(60.0, ge=0)  # after the run (or Locust test) started
    share: float = Field(1.0, gt=0, le=1)  # stations affected (not csms_restart, peak_hour)
    duration_s: PositiveFloat = 300.0  # blackout, flapping, peak_hour
    every_s: PositiveFloat = 30.0  # flapping: a drop every; rolling_restart: a wave every
    down_s: float = Field(5.0, ge=0)  # flapping: offline each time
    waves: int = Field(5, ge=1, le=1000)  # rolling_restart
    factor: float = Field(3.0, ge=1, le=100)  # peak_hour: arrivals x factor
    silent: bool = False  # drops go silent (half-open) instead of closing TCP

    @property
    def ends_s(self) -> float:
        """When the storm is over (after the run started)."""
        if self.kind in ("blackout", "flapping", "peak_hour"):
            return self.at_s + self.duration_s
        if self.kind == "rolling_restart":
            return self.at_s + self.every_s * (self.waves - 1)
        return self.at_s


# `fleet run --storm NAME` and the Locust shapes: each storm with values that show it in a few
# minutes (a scenario's own storms section says exactly what it wants).
PRESETS: Final[dict[str, Storm]] = {
    "boot-storm": Storm(kind="boot_storm", at_s=0),
    "csms-restart": Storm(kind="csms_restart", at_s=60),
    "blackout": Storm(kind="blackout", at_s=60, share=0.3, duration_s=300),
    "flapping": Storm(kind="flapping", at_s=30, share=0.1, every_s=20, down_s=5, duration_s=300),
    "rolling-restart": Storm(kind="rolling_restart", at_s=30, every_s=30, waves=5),
    "peak-hour": Storm(kind="peak_hour", at_s=60, duration_s=600, factor=3),
    "cert-renewal": Storm(kind="cert_renewal", at_s=30),
}

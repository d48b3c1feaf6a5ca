"""A station's configuration, shared by OCPP 1.6 and 2.0.1: what it reports for each key
(GetConfiguration, GetVariables), the rules a change goes through (``settings``) and where an
accepted change takes effect (heartbeats, pings, the chargers, the next reboot, the next
connect). 2.0.1 variables that mean a 1.6 key come here under that key (``device_model``).
"""

from __future__ import annotations

from fleet.station.life import Life
from fleet.station.security import authorization_key
from fleet.station.settings import (
    AUTHORIZATION_KEY,
    HEARTBEAT_INTERVAL,
    OFFLINE,
    RECONNECT,
    SECURITY_PROFILE,
    SETTINGS,
    TX_SETTINGS,
    WS_PING_INTERVAL,
    ChangeResult,
    check_change,
    tx_defaults,
)


class Configured(Life):
    """A station's configuration keys over its life (``Station`` adds the answers)."""

    __slots__ = ()

    def get_setting(self, key: str) -> str | None:
        """A configuration value as the station reports it, or None for an unknown key."""
        if key == HEARTBEAT_INTERVAL:
            return str(round(self.heartbeat_s))
        if key == "NumberOfConnectors":
            return str(self.scenario.stations.connectors)
        if key == SECURITY_PROFILE and self.version == "1.6":
            return str(self.security_profile())
        setting = SETTINGS.get(key)
        if setting is None or setting.version not in (None, self.version):
            return None
        if key in TX_SETTINGS and key not in self.settings:
            default = tx_defaults(self.scenario.sessions).get(key)
            if default is not None:
                return default
        if key in RECONNECT and key not in self.settings:
            return f"{getattr(self.scenario.reconnect, RECONNECT[key]):g}"
        if key == WS_PING_INTERVAL and key not in self.settings:
            return str(self.scenario.heartbeat.ws_ping_s)
        if key in OFFLINE and key not in self.settings:
            value = getattr(self.scenario.offline, OFFLINE[key])
            return ("true" if value else "false") if isinstance(value, bool) else str(value)
        return self.settings.get(key, setting.default)

    def change_setting(self, key: str, value: str, action: str) -> str:
        """Apply a configuration change if the scenario lets ``action`` accept it; the result."""
        chosen = self.status_for(action)
        if chosen != "Accepted":
            return chosen
        if key == AUTHORIZATION_KEY and self.version == "1.6":
            return self.set_password(authorization_key(value))
        if key == SECURITY_PROFILE and self.version == "1.6":
            return ChangeResult.REJECTED  # the profile is the scenario's (shown read-only)
        if self.get_setting(key) is None:
            return ChangeResult.NOT_SUPPORTED
        result, normalised = check_change(key, value)
        if normalised is None:
            return result
        if result == ChangeResult.REBOOT_REQUIRED:  # stored now, applied when it reboots
            if self.after_reboot is None:
                self.after_reboot = {}
            self.after_reboot[key] = normalised
            return result
        if key == HEARTBEAT_INTERVAL:
            self.heartbeat_s = float(normalised)
            self.wake()
        else:
            self.settings[key] = normalised
            if key in TX_SETTINGS and self.charging is not None:
                self.charging.configure()
            elif key == WS_PING_INTERVAL:
                self.replan_pings(float(normalised))
        return result

    def ping_every_s(self) -> float:
        return float(self.get_setting(WS_PING_INTERVAL) or 0)

    def set_password(self, password: bytes | None) -> str:
        """The CSMS set the Basic-auth password (1.6 AuthorizationKey, 2.0.1
        SecurityCtrlr.BasicAuthPassword): used from the next connect on; None: not a valid one."""
        if password is None:
            return ChangeResult.REJECTED
        self.password = password
        return ChangeResult.ACCEPTED

    def security_profile(self) -> int:
        """The security profile the station connects with (1.6 SecurityProfile, 2.0.1
        SecurityCtrlr.SecurityProfile): its network profile's (2.0.1 SetNetworkProfile), else
        the scenario's, or what its CSMS URL amounts to."""
        if self.network_profile is not None:
            return self.network_profile
        if self.scenario.security.profile:
            return self.scenario.security.profile
        url = self.scenario.csms.url_for(self.version)
        secure, basic = url.startswith("wss://"), "@" in url.split("/")[2]
        return 2 if secure else (1 if basic else 0)

    def network_target(self, url: str) -> tuple[str, int | None]:
        """Where the next connect goes and its security profile (None: the scenario's): ``url``
        unless a 2.0.1 network profile says otherwise."""
        return url, None

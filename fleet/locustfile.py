"""The ready-made locustfile: every user is a station of the --scenario fleet.

    locust -f fleet/locustfile.py --scenario scenarios/default.yaml --host ws://127.0.0.1:9000/ocpp

From an installed fleet, ``fleet locustfile`` prints this file's path.
"""

from fleet.users import ChargePointUser


class Station(ChargePointUser):
    """A station of the fleet given by --scenario."""

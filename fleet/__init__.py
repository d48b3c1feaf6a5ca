"""fleet: an OCPP 1.6 / 2.0.1 charging-station fleet simulator for load-testing a CSMS.

Entry points: the `fleet` command (fleet.cli), `fleet.users.ChargePointUser` for Locust, and
`fleet.scenario.load_scenario`. This module imports nothing, so `import fleet` never pulls in
Locust's gevent monkey-patching.
"""

__version__ = "0.1.0"

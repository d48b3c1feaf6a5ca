# Every user is a station of the --scenario fleet (fleet's ready-made locustfile).
from fleet.locustfile import Station  # noqa: F401

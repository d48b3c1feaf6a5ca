"""What fleet measures and how it is summed up.

Two kinds of numbers leave a station (``sample.Sink``): *wire exchanges* (an OCPP CALL the station
sent and its answer, a websocket connect), which are what Locust counts as requests, and fleet's
*own statistics* (``stats.FleetStats``): derived timings (boot→accepted), the stations' handling
of CSMS calls, heartbeat drift, missed beats, event-loop lag, CSMS violations, and which samples
fleet's own stalls delayed (``health.LoopHealth``).
"""

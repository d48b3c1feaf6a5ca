"""fleet inside Locust: the bridge between Locust's gevent side and the stations' event loop,
fleet's options and listeners, the Fleet tab, the report additions. ``fleet.users`` imports it,
so every locustfile with a ChargePointUser gets all of it.

(Not named ``fleet/locust``: Locust puts a locustfile's directory on ``sys.path`` while importing
it, and a package called ``locust`` there would shadow Locust itself.)
"""

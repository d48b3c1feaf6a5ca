"""fleet's console in a Locust run: one station looked at and driven by hand from the web UI
(or ``curl``), on whichever process runs it (``fleet.station.console`` is the station side).

    GET  /fleet/stations/<id>           what the station is doing now
    POST /fleet/stations/<id>/<verb>    plug, stop, unplug, fault, clear, reboot, drop
                                        (arguments as form fields or a JSON object:
                                        connector, id_tag, error_code, down_s)

A station runs on one process: here in a single-process run, on one of the workers under a
master. The master asks every worker (Locust's custom messages) and takes the one answer that
found it; a worker without it says so, so an unknown id is answered as soon as all have.
"""

from __future__ import annotations

import itertools
from typing import Any, Final

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from fleet.locust_ext.bridge import current_bridge

ASK: Final = "fleet_console"
ANSWER: Final = "fleet_console_answer"
WAIT_S: Final = 5.0  # the station's loop, then (distributed) a message each way

_asks = itertools.count(1)
# On the master: per question under way, where the answer goes and how many workers are to
# answer.
_pending: dict[int, list[Any]] = {}


def ask(
    environment: Environment, station_id: str, verb: str | None, args: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body for a console request (gevent side)."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        answer = _ask_workers(runner, station_id, verb, args)
    else:
        answer = _ask_here(station_id, verb, args)
    if answer is TimeoutError:
        return 504, {"error": f"no answer about {station_id} within {WAIT_S:g} s"}
    if answer is None:
        return 404, {"error": f"no station {station_id} runs in this test now"}
    return (400 if "error" in answer else 200), answer


def _ask_here(station_id: str, verb: str | None, args: dict[str, Any]) -> Any:
    bridge = current_bridge()
    if bridge is None:  # no station has started in this process yet
        return None
    return _within(bridge.console(station_id, verb, args))


def _within(result: gevent.event.AsyncResult) -> Any:
    """The result, or TimeoutError when none came within WAIT_S (``wait`` returns the value,
    which may be None: ready() says whether it came)."""
    result.wait(WAIT_S)
    return result.get() if result.ready() else TimeoutError


def _ask_workers(
    runner: MasterRunner, station_id: str, verb: str | None, args: dict[str, Any]
) -> Any:
    workers = [w.id for w in runner.clients.values() if w.state != STATE_MISSING]
    if not workers:
        return None
    number = next(_asks)
    result = gevent.event.AsyncResult()
    _pending[number] = [result, len(workers)]
    question = {"ask": number, "station": station_id, "verb": verb, "args": args}
    try:
        for worker in workers:
            runner.send_message(ASK, question, client_id=worker)
        return _within(result)
    finally:
        _pending.pop(number, None)


def _answered(msg: Any, **_: Any) -> None:
    """On the master: a worker's answer (None: the station is not there)."""
    entry = _pending.get(msg.data["ask"])
    if entry is None:  # asked too long ago
        return
    result, waiting = entry
    if msg.data["answer"] is not None:
        result.set(msg.data["answer"])
    elif waiting <= 1:
        result.set(None)
    else:
        entry[1] = waiting - 1


def _on_worker(environment: Environment, msg: Any, **_: Any) -> None:
    """On a worker: look for the station here and answer the master, found or not."""
    data = msg.data
    answer = _ask_here(data["station"], data["verb"], data["args"])
    if answer is TimeoutError:
        return  # the master times out on its own
    runner = environment.runner
    assert runner is not None
    runner.send_message(ANSWER, {"ask": data["ask"], "answer": answer})


def register(environment: Environment) -> None:
    """Locust's init: the messages between master and workers."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(ANSWER, _answered)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(
            ASK, lambda msg, **_: gevent.spawn(_on_worker, environment, msg), concurrent=False
        )

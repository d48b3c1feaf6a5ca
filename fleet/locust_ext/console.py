"""fleet's console in a Locust run: stations found, looked at and driven by hand from the web
UI (or ``curl``), on whichever process runs them (``fleet.station.console`` is the station side).

    GET  /fleet/stations?state=offline  the stations in a state (or charging, faulted): how
                                        many, and the first ids (``limit``, 100 by default)
    GET  /fleet/stations/<id>           what the station is doing now
    POST /fleet/stations/<id>/<verb>    plug, stop, unplug, fault, clear, reboot, drop, watch,
                                        unwatch (arguments as form fields or a JSON object:
                                        connector, id_tag, error_code, down_s)

A station runs on one process: here in a single-process run, on one of the workers under a
master. The master asks every worker (Locust's custom messages): about one station it takes
the answer of the worker that has it (a worker without it says so, so an unknown id is answered
as soon as all have); a search adds up every worker's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Final

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from fleet.locust_ext.bridge import current_bridge

ASK: Final = "fleet_console"
ANSWER: Final = "fleet_console_answer"
WAIT_S: Final = 5.0  # the stations' loop, then (distributed) a message each way
LIST_LIMIT: Final = 100
LIST_MAX: Final = 1000


@dataclass
class _Question:
    """On the master: a question out to the workers."""

    result: gevent.event.AsyncResult
    waiting: int  # workers yet to answer
    found_ends: bool  # about one station: the worker that has it answers for all
    answers: list[Any] = field(default_factory=list)


_numbers = itertools.count(1)
_questions: dict[int, _Question] = {}


def ask(
    environment: Environment, station_id: str, verb: str | None, args: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body for a request about one station (gevent side)."""
    question = {"station": station_id, "verb": verb, "args": args}
    answer = _asked(environment, question, found_ends=True)
    if answer is TimeoutError:
        return 504, {"error": f"no answer about {station_id} within {WAIT_S:g} s"}
    if answer is None:
        return 404, {"error": f"no station {station_id} runs in this test now"}
    return (400 if "error" in answer else 200), answer


def find(environment: Environment, which: str, limit: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body for a search: the stations ``which`` names, on every process."""
    try:
        count = int(limit) if limit not in (None, "") else LIST_LIMIT
    except (TypeError, ValueError):
        return 400, {"error": f"limit: expected a number, got {limit!r}"}
    count = min(max(count, 1), LIST_MAX)
    answer = _asked(environment, {"find": which, "limit": count}, found_ends=False)
    if answer is TimeoutError:
        return 504, {"error": f"no answer within {WAIT_S:g} s"}
    answer = answer or {"count": 0, "ids": []}  # no station has started anywhere yet
    return (400 if "error" in answer else 200), {"state": which, **answer}


def _asked(environment: Environment, question: dict[str, Any], found_ends: bool) -> Any:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return _ask_workers(runner, question, found_ends)
    return _answer_here(question)


def _answer_here(question: dict[str, Any]) -> Any:
    """This process's answer: None when its stations have nothing to say (none here, or no
    bridge yet), TimeoutError when the loop did not answer in time."""
    bridge = current_bridge()
    if bridge is None:  # no station has started in this process yet
        return None
    if "find" in question:
        return _within(bridge.console_find(question["find"], question["limit"]))
    return _within(bridge.console(question["station"], question["verb"], question["args"]))


def _within(result: gevent.event.AsyncResult) -> Any:
    """The result, or TimeoutError when none came within WAIT_S (``wait`` returns the value,
    which may be None: ready() says whether it came)."""
    result.wait(WAIT_S)
    return result.get() if result.ready() else TimeoutError


def _ask_workers(runner: MasterRunner, question: dict[str, Any], found_ends: bool) -> Any:
    workers = [w.id for w in runner.clients.values() if w.state != STATE_MISSING]
    if not workers:
        return None
    number = next(_numbers)
    pending = _questions[number] = _Question(gevent.event.AsyncResult(), len(workers), found_ends)
    try:
        for worker in workers:
            runner.send_message(ASK, {"ask": number, **question}, client_id=worker)
        answer = _within(pending.result)
        if answer is TimeoutError and not found_ends and pending.answers:
            return _added(pending.answers, question["limit"])  # the workers that answered
        return answer
    finally:
        _questions.pop(number, None)


def _answered(msg: Any, **_: Any) -> None:
    """On the master: a worker's answer (None: the station is not there, or it has none)."""
    pending = _questions.get(msg.data["ask"])
    if pending is None:  # asked too long ago
        return
    answer = msg.data["answer"]
    pending.waiting -= 1
    if pending.found_ends:
        if answer is not None:
            pending.result.set(answer)
        elif pending.waiting <= 0:
            pending.result.set(None)
        return
    if answer is not None:
        pending.answers.append(answer)
    if pending.waiting <= 0:
        pending.result.set(_added(pending.answers, msg.data["limit"]))


def _added(answers: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """Every worker's search as one: counts added, ids merged in order."""
    for answer in answers:
        if "error" in answer:
            return answer  # the same for every worker: the request was wrong
    ids = sorted(i for answer in answers for i in answer["ids"])
    return {"count": sum(answer["count"] for answer in answers), "ids": ids[:limit]}


def _on_worker(environment: Environment, msg: Any, **_: Any) -> None:
    """On a worker: answer the master, found or not."""
    data = msg.data
    answer = _answer_here(data)
    if answer is TimeoutError:
        return  # the master times out on its own
    runner = environment.runner
    assert runner is not None
    runner.send_message(ANSWER, {"ask": data["ask"], "answer": answer, "limit": data.get("limit")})


def register(environment: Environment) -> None:
    """Locust's init: the messages between master and workers."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(ANSWER, _answered)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(ASK, lambda msg, **_: gevent.spawn(_on_worker, environment, msg))

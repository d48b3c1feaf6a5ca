"""The web UI: the Fleet tab (live, summed over workers; after a stop, the counts at the stop),
its data endpoints, the fleet section of the HTML report, and refusing a bad scenario typed
into the start form with its one-line error instead of a run stuck at SPAWNING.

The tab is Locust's own extended tab (a table of stations per state and version) plus a panel
the page fetches from ``/fleet/panel``: the same server-side fragment the HTML report carries
(``fleet.locust_ext.html``), so tab and report say the same thing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

import orjson
from locust.env import Environment
from locust.runners import STATE_STOPPED, STATE_STOPPING

from fleet.errors import FleetError
from fleet.locust_ext import console_page, html
from fleet.locust_ext.state import FleetState, station_counts
from fleet.locust_ext.summary import evaluate_gates, summary_json
from fleet.metrics import charts
from fleet.slo import SloResult
from fleet.station.state import State
from fleet.wire import VERSIONS

PANEL_SCRIPT: Final = """
<script>
(function () {
  // fleet: the Fleet tab's panel, rendered by the server (/fleet/panel), refreshed every 2 s.
  var ID = "fleet-panel";
  function tab() { return new URLSearchParams(window.location.search).get("tab"); }
  function place(box) {
    var tables = document.querySelectorAll(".MuiTableContainer-root");
    // Below the console box (console_page.py) when it is there, else below the tab's table.
    var anchor = document.getElementById("fleet-console") ||
      (tables.length ? tables[tables.length - 1] : null);
    if (anchor && anchor.parentNode && box.previousSibling !== anchor) {
      anchor.parentNode.insertBefore(box, anchor.nextSibling);
    }
  }
  function refresh() {
    var box = document.getElementById(ID);
    if (tab() !== "fleet") { if (box) { box.remove(); } return; }
    if (!box) { box = document.createElement("div"); box.id = ID; }
    place(box);
    fetch("fleet/panel").then(function (r) { return r.text(); })
      .then(function (text) { box.innerHTML = text; place(box); })
      .catch(function () {});
  }
  setInterval(refresh, 2000);
  window.addEventListener("popstate", refresh);
  document.addEventListener("click", function () { setTimeout(refresh, 100); });
  refresh();
})();
</script>
"""


def _stopped(environment: Environment) -> bool:
    runner = environment.runner
    return runner is not None and runner.state in (STATE_STOPPED, STATE_STOPPING)


def chart_point(environment: Environment, state: FleetState) -> dict[str, Any]:
    """One point of the Fleet tab's charts, now (``fleet.metrics.charts``)."""
    stats, table = state.stats(environment), state.table(environment)
    return charts.point(time.time(), stats, table, state.windows)


def panel(environment: Environment) -> str:
    state = FleetState.of(environment)
    stopped = _stopped(environment)
    live = _live_gates(environment, state, stopped)
    data = summary_json(environment, live, final=stopped)
    history = list(state.history)
    caption = (
        "As the test stopped (stations are counted before their connections closed)."
        if stopped
        else "Live; summed over all workers."
    )
    # Stations per version are the tab's own table, just above the panel.
    return html.fleet_section(
        data,
        history,
        live=None if stopped else live,
        final=state.results if stopped else None,
        caption=caption,
    )


def _live_gates(environment: Environment, state: FleetState, stopped: bool) -> list[SloResult]:
    """The gates over the run so far; none in a capacity search, whose gates are its steps'
    (the whole run would mix steps of different loads)."""
    if state.capacity is not None:
        return []
    return evaluate_gates(environment, final=stopped)


def report_section(environment: Environment, data: dict[str, Any]) -> str:
    state = FleetState.of(environment)
    return html.fleet_section(
        data,
        list(state.history),
        final=state.results,
        versions=state.table(environment, final=True),
        caption="fleet's figures for this run (stations counted as the test stopped).",
        report=True,
    )


def add_to_report_file(path: str, environment: Environment, data: dict[str, Any]) -> None:
    """Add the fleet section to the HTML report Locust wrote (before it fired ``quitting``)."""
    target = Path(path)
    if target.exists():
        page = target.read_text(encoding="utf-8")
        section = report_section(environment, data)
        target.write_text(html.inject(page, section), encoding="utf-8")


def _state_rows(table: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for state in State:
        row: dict[str, Any] = {"state": state.value}
        for version in VERSIONS:
            row[f"ocpp{version}"] = table[version][state.value]
        row["total"] = sum(table[v][state.value] for v in VERSIONS)
        rows.append(row)
    return rows


def _check_start_form(environment: Environment, form: Any) -> str | None:
    """The one-line error for a start form whose scenario (or trace) cannot be used, else None.
    Checked before Locust spawns anything: a bad file must not leave a run stuck at SPAWNING."""
    from fleet.users import ChargePointUser, scenario_for

    options = environment.parsed_options
    overrides = {
        "scenario": form.get("scenario", getattr(options, "scenario", "")),
        "host": form.get("host") or environment.host,
        "trace": form.get("fleet_trace", getattr(options, "fleet_trace", "")),
    }
    try:
        scenarios = [
            scenario_for(user_class, environment, **overrides)
            for user_class in environment.user_classes
            if issubclass(user_class, ChargePointUser)
        ]
    except FleetError as exc:
        return str(exc)
    return _ids_problem(environment, scenarios, form.get("user_count"))


def _ids_problem(environment: Environment, scenarios: list[Any], count: Any) -> str | None:
    """More users than a scenario's ids_file has ids for (on the workers connected now)."""
    from fleet.users import ids_problem

    try:
        users = int(count)
    except (TypeError, ValueError):
        return None  # Locust's own form check answers that
    workers = max(len(getattr(environment.runner, "clients", {}) or {}), 1)
    problem = ids_problem(environment, scenarios, users, workers)
    return None if problem is None else f"Number of users {users}: {problem}"


def extend(environment: Environment) -> None:
    from flask import Response, jsonify, request

    web_ui = environment.web_ui
    assert web_ui is not None and web_ui.app is not None
    app = web_ui.app
    state = FleetState.of(environment)
    auth = web_ui.auth_required_if_enabled  # --web-login guards fleet's pages as Locust's

    @app.route("/fleet/state")
    @auth
    def fleet_state() -> Any:
        stopped = _stopped(environment)
        table = state.table(environment, final=stopped)
        live = _live_gates(environment, state, stopped)
        data = summary_json(environment, live, final=stopped)
        data["versions"] = table
        data["stations"] = station_counts(table)
        data["slo_final"] = [r.to_json() for r in state.results] if state.results else None
        data["history"] = list(state.history)
        data["stopped"] = stopped
        return Response(orjson.dumps(data), mimetype="application/json")

    @app.route("/fleet/history")
    @auth
    def fleet_history() -> Any:
        """The charts' points: one per CHART_EVERY_S while a test runs, percentiles in ms over
        the last ``window_s`` seconds, from fleet's own histograms."""
        body = {"window_s": charts.WINDOW_S, "points": list(state.history)}
        return Response(orjson.dumps(body), mimetype="application/json")

    @app.route("/fleet/panel")
    @auth
    def fleet_panel() -> Any:
        return Response(panel(environment), mimetype="text/html")

    console_page.extend(environment, app, auth)

    @app.before_request
    def refuse_bad_scenario() -> Any:
        if request.path != "/swarm" or request.method != "POST":
            return None
        problem = _check_start_form(environment, request.form)
        if problem is None:
            return None
        return jsonify({"success": False, "message": problem, "host": environment.host})

    @app.after_request
    def add_fleet(response: Any) -> Any:
        path = request.path
        if path == "/stats/requests" and response.is_json:
            body = response.get_json()
            extended = [s for s in body.get("extended_stats", []) if s.get("key") != "fleet"]
            table = state.table(environment, final=_stopped(environment))
            extended.append({"key": "fleet", "data": _state_rows(table)})
            body["extended_stats"] = extended
            response.set_data(orjson.dumps(body))
        elif path == "/stats/report" and response.mimetype == "text/html":
            data = summary_json(environment, state.results or [], final=True)
            page = response.get_data(as_text=True)
            response.set_data(html.inject(page, report_section(environment, data)))
        elif path == "/" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(html.inject(page, PANEL_SCRIPT + console_page.SCRIPT))
        return response

    web_ui.template_args["extended_tabs"] = [{"title": "Fleet", "key": "fleet"}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": "fleet",
            "structure": [
                {"key": "state", "title": "Station state"},
                *({"key": f"ocpp{v}", "title": f"OCPP {v}"} for v in VERSIONS),
                {"key": "total", "title": "Total"},
            ],
        }
    ]

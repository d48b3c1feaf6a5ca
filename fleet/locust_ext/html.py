"""fleet's part of what a person sees: one HTML fragment, rendered on the server, that the Fleet
tab shows live and the Locust HTML report carries at its end (the same renderer for both, so the
report says what the tab said). Plain HTML and inline SVG: no script, no external asset, and
every text from a CSMS is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any, Final

from fleet.locust_ext.svg import charts
from fleet.metrics.sample import CHARGING, DELIVERY_EVENTS, MISSED_CAUSES
from fleet.slo import SloResult, parse_slo

STYLE: Final = """
<style>
.fleet{font-family:system-ui,sans-serif;font-size:14px;color:inherit;padding:8px 0}
.fleet h2{font-size:18px;margin:18px 0 6px}.fleet h3{font-size:15px;margin:14px 0 4px}
.fleet table{border-collapse:collapse;margin:4px 0 10px}
.fleet th,.fleet td{border-bottom:1px solid #8884;padding:3px 10px;text-align:right}
.fleet th:first-child,.fleet td:first-child,.fleet .left td,.fleet .left th{text-align:left}
.fleet .ok{color:#2e7d32}.fleet .bad{color:#c62828;font-weight:600}
.fleet .warn{color:#c62828;font-weight:600;margin:4px 0}
.fleet .note{color:#888;font-size:12px}.fleet code{font-size:12px;word-break:break-all}
.fleet .tiles{display:flex;gap:12px;flex-wrap:wrap;margin:6px 0}
.fleet .tile{border:1px solid #8886;border-radius:6px;padding:6px 12px;min-width:90px}
.fleet .tile b{display:block;font-size:20px}
.fleet.report{max-width:1180px;margin:40px auto;padding:0 24px}
.fleet.report>h2{font-size:36px;font-weight:400;margin:0 0 8px}
</style>"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _ms(value: float | None) -> str:
    """Up to 3 significant digits shown whole: 147 ms as 147, 0.412 ms as 0.412."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False, css: str = ""
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell if raw else _e(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    kind = f" class='{css}'" if css else ""
    return f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sessions(block: dict[str, Any]) -> str:
    """Charging sessions per OCPP version: the stations charging now, sessions started and
    completed, energy delivered."""
    rows = [
        (f"OCPP {version}" if version != "total" else "total", r["charging"], r["started"],
         r["completed"], f"{r['energy_kwh']:,.1f}", r["faults"])
        for version, r in block.items()
    ]  # fmt: skip
    headers = (
        "version",
        "stations charging",
        "started",
        "completed",
        "energy kWh",
        "connector faults",
    )
    return "<h3>Charging sessions</h3>" + _table(headers, rows)


def _gates(results: Sequence[SloResult]) -> str:
    rows = []
    for result in results:
        measured = "no data" if result.value is None else result.slo.describe(result.value)
        verdict = (
            "<span class='ok'>passed</span>" if result.ok else "<span class='bad'>FAILED</span>"
        )
        rows.append((_e(result.slo.text), _e(measured), verdict))
    return _table(("gate", "measured", "verdict"), rows, raw=True)


def _answers(answers: dict[str, Any]) -> str:
    """The CSMS's commands (campaigns included) and how the stations answered them."""
    head = (
        "<h3>Commands from the CSMS</h3><p class='note'>Every CSMS-initiated call the stations "
        "got, how they answered (statuses, CallErrors, calls left unanswered by the scenario) "
        "and how long they took to answer.</p>"
    )
    if not answers:
        return head + "<p>none</p>"
    rows = [
        (_e(action), r["count"],
         " · ".join(f"{n} {_e(outcome)}" for outcome, n in r["outcomes"].items()),
         _ms(r["p50_ms"]), _ms(r["p99_ms"]))
        for action, r in answers.items()
    ]  # fmt: skip
    return head + _table(
        ("action", "calls", "answers", "handled p50 ms", "handled p99 ms"), rows, True, "left"
    )


def _delivery(delivery: dict[str, Any]) -> str:
    """Transaction messages that could not go at once, and what became of them."""
    head = (
        "<h3>Transaction messages: delivered, queued, retried or lost</h3><p class='note'>"
        "Messages made while a station was offline wait in its queue and are replayed in order "
        "once it is "
        "accepted again; a message the CSMS did not process is retried per the station's "
        "settings. Given up, dropped and still queued messages never reached the CSMS.</p>"
    )
    if not delivery:
        return head + "<p>none</p>"
    rows = [(_e(row), *(events[e] for e in DELIVERY_EVENTS)) for row, events in delivery.items()]
    return head + _table(("message", *DELIVERY_EVENTS), rows, True, "left")


def _reconnects(block: dict[str, Any] | None) -> str:
    """The spread of reconnects: lost connection to the next acceptance, per station."""
    head = (
        "<h3>Reconnects: lost connection to accepted again</h3><p class='note'>How long each "
        "station took, from losing an accepted connection (a CSMS restart, a storm, a network "
        "drop) to its next acceptance, under its reconnect policy.</p>"
    )
    if block is None:
        return head + "<p>none</p>"
    labels = list(block["buckets"])
    row = [block["count"], _ms(block["p50_ms"]), _ms(block["p99_ms"]), *block["buckets"].values()]
    return head + _table(("stations", "p50 ms", "p99 ms", *labels), [row])


def _security(block: dict[str, Any] | None, refused: dict[str, list[str]]) -> str:
    """Who could not connect, and the negative connects (``security.negative``) the CSMS let
    in: a CSMS team expects 0."""
    out = [
        "<h3>Connects refused, and negative connects let in</h3><p class='note'>Stations that "
        "could not connect, per reason (the first 10 of each). Negative connects: stations "
        "presenting a wrong password, another station's or an expired certificate, or a lower "
        "security profile on purpose; the CSMS should refuse every one.</p>"
    ]
    if refused:
        failed = [(_e(reason), _e(", ".join(ids))) for reason, ids in refused.items()]
        out.append(_table(("could not connect", "stations"), failed, True, "left"))
    if block is not None:
        verdict = "ok" if block["let_in"] == 0 else "bad"
        rows = [
            (_e(kind.replace("_", " ")), r["attempts"], f"<span class='{verdict}'>{r['let_in']}"
             "</span>")
            for kind, r in block["negative"].items()
        ]  # fmt: skip
        out.append(_table(("negative connect", "attempts", "let in"), rows, True))
    if not refused and block is None:
        out.append("<p>none</p>")
    return "".join(out)


def _capacity(search: dict[str, Any], live: bool) -> str:
    """The capacity search's steps, each judged on its own window; while it runs, the step
    under way with its window so far; once over (or stopped), its verdict."""
    head = (
        "<h3>Capacity search</h3><p class='note'>Steps of "
        f"{search['step']} stations; each step's stations start, settle for "
        f"{search['settle_s']:g} s, then its own window of {search['hold_s']:g} s is judged on "
        "the SLO gates. Fleet's loop lag and tainted share beside each: a step broken while "
        "fleet lagged is the simulator's limit, not the CSMS's.</p>"
    )
    rows = [_step_row(step, _verdict(step)) for step in search["steps"]]
    running = search["running"]
    if live and running is not None:
        so_far = running["so_far"]
        if so_far is not None:
            seconds = f"{so_far['window_s']:.0f} of {search['hold_s']:g} s"
            rows.append(_step_row(so_far, f"measuring ({seconds})"))
        else:
            rows.append((running["stations"], "–", "starting and settling", "", "–", "–"))
    table = _table(
        ("stations", "msg/s", "verdict", "gates (measured)", "loop lag p99 ms", "tainted"),
        rows,
        True,
    )
    verdict = "" if live and running is not None else f"<p><b>{_e(search['verdict'])}</b></p>"
    return head + verdict + table


def _verdict(step: dict[str, Any]) -> str:
    if step["held"]:
        return "<span class='ok'>held</span>"
    if step["simulator"]:
        return f"<span class='bad'>SIMULATOR-BOUND</span> ({_e(step['simulator'])})"
    return "<span class='bad'>BROKE</span>"


def _step_row(step: dict[str, Any], verdict: str) -> tuple[Any, ...]:
    rate = step["messages"] / step["window_s"] if step["window_s"] > 0 else 0.0
    gates = "; ".join(_step_gate(gate) for gate in step["gates"])
    lag = step["loop_lag_p99_ms"]
    return (step["stations"], f"{rate:,.1f}", verdict, gates, _ms(lag), f"{step['tainted_pct']} %")


def _step_gate(gate: dict[str, Any]) -> str:
    """A gate and its figure in the step's window, in red when it failed."""
    value = gate["value"]
    measured = "no data" if value is None else parse_slo(gate["slo"]).describe(value)
    text = f"{_e(gate['slo'])}: {_e(measured)}"
    return text if gate["ok"] else f"<span class='bad'>{text}</span>"


def fleet_section(
    data: dict[str, Any],
    history: Sequence[dict[str, Any]],
    live: Sequence[SloResult] | None = None,
    final: Sequence[SloResult] | None = None,
    versions: dict[str, dict[str, int]] | None = None,
    caption: str = "",
    report: bool = False,
) -> str:
    """The whole fragment from a summary (``summary.summary_json``'s shape); ``report``: laid
    out as a section of Locust's HTML report (its margins, its heading size)."""
    kind = "fleet report" if report else "fleet"
    out = [STYLE, f"<div class='{kind}' id='fleet-section'>", "<h2>fleet</h2>"]
    if caption:
        out.append(f"<p class='note'>{_e(caption)}</p>")
    for line in data.get("untrusted", ()):
        out.append(f"<p class='warn'>Not to be trusted: {_e(line)}</p>")
    if data.get("saturated"):
        out.append(
            "<p class='warn'>The simulator saturated: latencies include fleet's own delay.</p>"
        )
    s = data["stations"]
    share = f"{100 * s['accepted'] / s['total']:.1f} %" if s["total"] else "–"
    conformance = data["conformance"]
    missed = sum(row["total"] for row in data["missed"].values())
    tiles = [
        ("stations", s["total"]), ("accepted", s["accepted"]), ("accepted share", share),
        ("pending", s["pending"]), ("rejected", s["rejected"]), ("offline", s["offline"]),
        ("missed beats", missed), ("CSMS violations", conformance["violations"]),
    ]  # fmt: skip
    out.append(
        "<div class='tiles'>"
        + "".join(f"<div class='tile'>{_e(k)}<b>{_e(v)}</b></div>" for k, v in tiles)
        + "</div>"
    )
    if versions:
        states = [key for key in next(iter(versions.values())) if key != CHARGING]
        rows = [
            (f"OCPP {version}", *(counts[s] for s in states), sum(counts[s] for s in states))
            for version, counts in versions.items()
        ]
        out.append(_table(("version", *states, "total"), rows))
    out.append(_sessions(data["sessions"]))
    if data.get("capacity"):
        out.append(_capacity(data["capacity"], live=live is not None))
    if live:
        out.append("<h3>SLO gates, live</h3>" + _gates(live))
    if final:
        out.append("<h3>SLO gates when the test stopped</h3>" + _gates(final))
    out.append(
        "<h3>fleet's own statistics</h3><p class='note'>Not requests: derived timings, the "
        "stations' handling of CSMS calls, drift, loop lag. Tainted: samples that overlapped "
        "fleet's own event-loop stalls.</p>"
    )
    rows = [
        (name, r["count"], r["failures"], _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"]),
         _ms(r["max_ms"]), r["tainted"])
        for name, r in data["fleet"].items()
    ]  # fmt: skip
    out.append(
        _table(
            ("row", "count", "failures", "p50 ms", "p95 ms", "p99 ms", "max ms", "tainted"), rows
        )
    )
    rows = [
        (name, r["count"], r["failures"], _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"]),
         _ms(r["max_ms"]), r["tainted"], f"{r['tainted_pct']:.2f} %")
        for name, r in data["actions"].items()
    ]  # fmt: skip
    headers = ("action", "count", "failures", "p50 ms", "p95 ms", "p99 ms", "max ms", "tainted")
    out.append(
        "<h3>Wire exchanges, fleet's exact percentiles</h3><p class='note'>The requests of "
        "Locust's table, timed by fleet's own histograms (3 significant digits, where Locust "
        "keeps 2). Tainted: round trips that overlapped fleet's own event-loop stalls.</p>"
        + _table((*headers, "tainted share"), rows)
    )
    out.append("<h3>Missed beats</h3>")
    if data["missed"]:
        rows = [
            (action, r["total"], *(r[c] for c in MISSED_CAUSES), r["stations"])
            for action, r in data["missed"].items()
        ]
        out.append(
            _table(
                ("action", "missed", "offline", "previous CALL out", "fleet stall", "stations"),
                rows,
            )
        )
    else:
        out.append("<p>none</p>")
    out.append(_answers(data.get("answers", {})))
    out.append(_delivery(data.get("delivery", {})))
    out.append(_reconnects(data.get("reconnects")))
    out.append(_security(data.get("security"), data.get("connect_failures", {})))
    out.append(
        f"<h3>CSMS conformance</h3><p>{conformance['violations']} violations "
        f"(csms.on_violation: {_e(conformance['on_violation'])})</p>"
    )
    if conformance["rows"]:
        rows = [
            (_e(r["direction"]), _e(r["action"]), _e(r["field"]), _e(r["rule"]),
             _e(r["wanted"]), r["count"], f"<code>{_e(r['example'])}</code>")
            for r in conformance["rows"][:50]
        ]  # fmt: skip
        out.append(
            _table(
                ("where", "action", "field", "rule", "wanted", "count", "example"),
                rows,
                True,
                "left",
            )
        )
    out.append(charts(history))
    out.append("</div>")
    return "".join(out)


def inject(page: str, section: str) -> str:
    """``page`` (Locust's HTML report) with the fleet section before ``</body>``."""
    marker = page.rfind("</body>")
    if marker < 0:
        return page + section
    return page[:marker] + section + page[marker:]

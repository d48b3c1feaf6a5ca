"""The console on the Fleet tab and its endpoints (``fleet.locust_ext.console`` finds the
station; ``fleet.station.console`` looks at it and acts).

The box is the page's own, not part of the panel the tab refreshes from the server: what a
person types into it must survive the panel's refresh every 2 s. Everything shown comes from
``/fleet/stations/<id>`` and is set as text, never as HTML.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from locust.env import Environment

from fleet.locust_ext import console
from fleet.station.console import FINDABLE

SCRIPT: Final = """
<script>
(function () {
  // fleet: the console box of the Fleet tab (one station, looked at and driven by hand).
  var ID = "fleet-console", shown = null;
  var FINDS = __FINDABLE__;
  function tab() { return new URLSearchParams(window.location.search).get("tab"); }
  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    for (var key in (attrs || {})) { node.setAttribute(key, attrs[key]); }
    return node;
  }
  function field(name, label, size) {
    var span = el("label", label + " ");
    span.appendChild(el("input", null, {name: name, size: size}));
    span.style.marginRight = "8px";
    return span;
  }
  function build() {
    var box = el("div", null, {id: ID, "class": "fleet"});
    box.appendChild(el("h3", "One station"));
    box.appendChild(el("p", "Look at one station and act as a person at it would, while the " +
      "fleet runs: the station sends what a real one sends.", {"class": "note"}));
    var form = el("form");
    form.appendChild(field("station", "Station id", 14));
    form.appendChild(el("button", "Show", {type: "submit", name: "show"}));
    form.appendChild(el("span", "  "));
    form.appendChild(field("connector", "connector", 3));
    form.appendChild(field("id_tag", "idTag", 12));
    function buttons(list) {
      list.forEach(function (b) {
        form.appendChild(el("button", b[1], {type: "button", "data-verb": b[0]}));
      });
    }
    buttons([["plug", "Plug in"], ["stop", "Stop (badge)"], ["unplug", "Unplug"]]);
    form.appendChild(field("error_code", " error code", 12));
    buttons([["fault", "Fault"], ["clear", "Clear fault"], ["reboot", "Reboot"]]);
    form.appendChild(field("down_s", " off for (s)", 3));
    form.appendChild(el("button", "Drop connection", {type: "button", "data-verb": "drop"}));
    box.appendChild(form);
    var finder = el("form", null, {"class": "finder"});
    finder.appendChild(el("span", "Find stations "));
    var which = el("select", null, {name: "state"});
    FINDS.forEach(function (f) { which.appendChild(el("option", f, {value: f})); });
    finder.appendChild(which);
    finder.appendChild(el("button", "List", {type: "submit"}));
    finder.appendChild(el("span", "", {"class": "found"}));
    finder.addEventListener("submit", function (e) {
      e.preventDefault();
      fetch("fleet/stations?state=" + encodeURIComponent(which.value))
        .then(function (r) { return r.json(); }).then(function (body) { list(body, form); })
        .catch(function () { say("no answer from the web UI", true); });
    });
    box.appendChild(finder);
    box.appendChild(el("p", "", {"class": "said"}));
    box.appendChild(el("div", "", {"class": "view"}));
    form.addEventListener("submit", function (e) {
      // Show watches the station (its frames kept) and lets go of the one shown before.
      e.preventDefault();
      var wanted = form.station.value.trim();
      if (shown && shown !== wanted) { fetch(url() + "/unwatch", {method: "POST"}); }
      shown = wanted;
      if (shown) { handle(fetch(url() + "/watch", {method: "POST"})); }
    });
    form.addEventListener("click", function (e) {
      var verb = e.target.getAttribute && e.target.getAttribute("data-verb");
      if (verb) { shown = form.station.value.trim(); act(verb, form); }
    });
    return box;
  }
  function list(body, form) {
    var found = document.querySelector("#" + ID + " .found");
    found.textContent = "";
    if (body.error) { say(body.error, true); return; }
    found.appendChild(el("span", " " + body.count + " " + body.state +
      (body.count > body.ids.length ? " (the first " + body.ids.length + ")" : "") + ": "));
    body.ids.forEach(function (id) {
      var pick = el("button", id, {type: "button"});
      pick.addEventListener("click", function () {
        form.station.value = id; form.requestSubmit();
      });
      found.appendChild(pick);
    });
  }
  function url() { return "fleet/stations/" + encodeURIComponent(shown); }
  function say(text, bad) {
    var p = document.querySelector("#" + ID + " .said");
    if (p) { p.textContent = text; p.className = "said " + (bad ? "bad" : "ok"); }
  }
  function show(body) {
    var view = document.querySelector("#" + ID + " .view");
    if (!view) { return; }
    view.textContent = "";
    var s = body.station;
    if (!s) { return; }
    var facts = [["Station", s.id], ["OCPP", s.version], ["State", s.state],
      ["Connected", s.connected ? "yes" : "no"], ["Heartbeat (s)", s.heartbeat_s],
      ["CALL in flight", s.call_in_flight || "–"], ["CALLs waiting", s.calls_waiting],
      ["Transaction messages queued", s.tx_messages_queued], ["Firmware", s.firmware]];
    var table = el("table", null, {"class": "left"});
    facts.forEach(function (f) {
      var tr = el("tr"); tr.appendChild(el("th", f[0])); tr.appendChild(el("td", f[1]));
      table.appendChild(tr);
    });
    view.appendChild(table);
    var heads = ["Connector", "Status", "Session", "idTag", "Transaction", "kW", "SoC %",
                 "kWh this session", "Sessions done"];
    var conns = el("table");
    var tr = el("tr");
    heads.forEach(function (h) { tr.appendChild(el("th", h)); });
    conns.appendChild(tr);
    s.connectors.forEach(function (c) {
      var row = el("tr");
      var status = c.status + (c.error_code ? " (" + c.error_code + ")" : "");
      [c.id, status, c.phase, c.id_tag, c.transaction_id,
       c.power_w === undefined ? null : (c.power_w / 1000).toFixed(1), c.soc_percent,
       c.session_wh === undefined ? null : (c.session_wh / 1000).toFixed(2),
       c.sessions_completed].forEach(function (v) {
        row.appendChild(el("td", v === undefined || v === null ? "–" : v));
      });
      conns.appendChild(row);
    });
    view.appendChild(conns);
    if (s.frames) {
      view.appendChild(el("h3", "Its last frames (> sent, < received)"));
      var frames = el("table", null, {"class": "left"});
      s.frames.slice().reverse().forEach(function (f) {
        var row = el("tr");
        row.appendChild(el("td", f.at.slice(11, 23)));
        row.appendChild(el("td", f.what));
        var text = el("td"); text.appendChild(el("code", f.text)); row.appendChild(text);
        frames.appendChild(row);
      });
      view.appendChild(frames);
    }
  }
  function handle(promise) {
    return promise.then(function (r) { return r.json(); }).then(function (body) {
      if (body.error) { say(body.error, true); } else if (body.done) { say(body.done, false); }
      show(body);
    }).catch(function () { say("no answer from the web UI", true); });
  }
  function look() { if (shown) { handle(fetch(url())); } }
  function act(verb, form) {
    var args = {};
    ["connector", "id_tag", "error_code", "down_s"].forEach(function (n) {
      if (form[n].value.trim()) { args[n] = form[n].value.trim(); }
    });
    handle(fetch(url() + "/" + verb, {method: "POST", headers: {"Content-Type":
      "application/json"}, body: JSON.stringify(args)}));
  }
  function refresh() {
    var box = document.getElementById(ID);
    if (tab() !== "fleet") { if (box) { box.remove(); } return; }
    if (!box) { box = build(); }
    var tables = document.querySelectorAll(".MuiTableContainer-root");
    var anchor = tables.length ? tables[tables.length - 1] : null;
    if (anchor && anchor.parentNode && box.previousSibling !== anchor) {
      anchor.parentNode.insertBefore(box, anchor.nextSibling);
    }
  }
  setInterval(refresh, 500);
  setInterval(look, 2000);
  refresh();
})();
</script>
""".replace("__FINDABLE__", orjson.dumps(FINDABLE).decode())


def extend(environment: Environment, app: Any, auth: Any) -> None:
    """The console's endpoints on Locust's web UI (``auth``: its login check, when enabled)."""
    from flask import Response, request

    def reply(status: int, body: dict[str, Any]) -> Any:
        return Response(orjson.dumps(body), status=status, mimetype="application/json")

    @app.route("/fleet/stations", methods=["GET"])
    @auth
    def fleet_stations() -> Any:
        which = request.args.get("state", "")
        return reply(*console.find(environment, which, request.args.get("limit")))

    @app.route("/fleet/stations/<station_id>", methods=["GET"])
    @auth
    def fleet_station(station_id: str) -> Any:
        return reply(*console.ask(environment, station_id, None, {}))

    @app.route("/fleet/stations/<station_id>/<verb>", methods=["POST"])
    @auth
    def fleet_station_act(station_id: str, verb: str) -> Any:
        args = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if not isinstance(args, dict):
            return reply(400, {"error": "arguments: a JSON object or form fields"})
        return reply(*console.ask(environment, station_id, verb, args))

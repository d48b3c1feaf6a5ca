"""The websocket layer as a CSMS sees it: keepalive pings, fragmented messages, HTTP Basic
credentials, TLS verification. Real servers on 127.0.0.1."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from fleet.station.security import forget_contexts
from fleet.station.state import State
from tests.conftest import fleet_running, make_scenario, wait_until
from tests.station.test_misbehaving_csms import boot_answer, raw_csms, serve_calls


def answer_all(message: list[Any]) -> str:
    if message[2] == "BootNotification":
        return boot_answer(message[1], interval=1)
    if message[2] == "Heartbeat":
        return orjson.dumps([3, message[1], {"currentTime": "2030-01-01T00:00:00Z"}]).decode()
    return orjson.dumps([3, message[1], {}]).decode()


async def test_csms_keepalive_pings_are_answered_and_the_connection_stays_up() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await serve_calls(ws, answer_all)

    server = await websockets.serve(
        handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"], ping_interval=0.1, ping_timeout=0.3
    )
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
    try:
        async with fleet_running(make_scenario(heartbeat={"min_s": 1}), url) as fleet:
            await wait_until(lambda: fleet.summary.rows.get("Heartbeat") is not None, 4)
            await wait_until(lambda: fleet.summary.rows["Heartbeat"].count >= 2, 4)
    finally:
        server.close()
        await server.wait_closed()
    # Without pongs websockets' server closes after 0.3 s with 1011; the station would reconnect.
    assert connections == 1
    assert fleet.summary.failures == []


async def test_a_fragmented_answer_is_reassembled() -> None:
    async def handler(ws: ServerConnection) -> None:
        raw = await ws.recv()
        message = orjson.loads(raw)
        answer = boot_answer(message[1])
        await ws.send([answer[:10], answer[10:30], answer[30:]])  # one message, three frames
        await serve_calls(ws, answer_all)

    async with raw_csms(handler) as url, fleet_running(make_scenario(), url) as fleet:
        await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
    assert fleet.summary.rows["BootNotification"].failures == 0


async def test_url_credentials_go_as_basic_auth_and_never_into_reports() -> None:
    seen: dict[str, str | None] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen["authorization"] = ws.request.headers.get("Authorization")
        seen["user-agent"] = ws.request.headers.get("User-Agent")
        await serve_calls(ws, answer_all)

    async with raw_csms(handler) as url:
        with_secret = url.replace("ws://", "ws://CP-00001:s3cret@")
        async with fleet_running(make_scenario(), with_secret) as fleet:
            await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
    assert seen["authorization"] == "Basic " + base64.b64encode(b"CP-00001:s3cret").decode()
    assert (seen["user-agent"] or "").startswith("fleet/")

    # A CSMS that is not there: the failure names host and port, not the password.
    closed = url.rsplit(":", 1)[0].replace("ws://", "ws://CP-00001:s3cret@") + ":9/ocpp"
    async with fleet_running(make_scenario(), closed) as fleet:
        await wait_until(lambda: fleet.summary.failure_count >= 1)
    reason = fleet.summary.failures[0]["reason"]
    assert "127.0.0.1:9" in reason and "s3cret" not in reason


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_is_verified_by_default(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def handler(ws: ServerConnection) -> None:
        await serve_calls(ws, answer_all)

    server = await websockets.serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"], ssl=context)
    url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
    try:
        # A certificate nobody vouches for: refused, with the reason.
        async with fleet_running(make_scenario(), url) as fleet:
            await wait_until(lambda: fleet.summary.failure_count >= 1)
        reason = fleet.summary.failures[0]["reason"]
        assert reason.startswith("TLS: certificate of 127.0.0.1:") and "not trusted" in reason
        assert fleet.stations[0].state is not State.ACCEPTED

        # Trusted through the usual OpenSSL variable: the station connects and boots.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        forget_contexts()  # contexts are built once per process; this one must see the variable
        async with fleet_running(make_scenario(), url) as fleet:
            await wait_until(lambda: fleet.stations[0].state is State.ACCEPTED)
        assert fleet.summary.failures == []
    finally:
        server.close()
        await server.wait_closed()


async def test_a_restarted_csms_gets_every_station_back() -> None:
    """A CSMS restart under load: every station sees the close, counts it once, reconnects with
    back-off and boots again; nothing else fails."""
    from fleet.csms import Csms

    count = 200
    first = Csms(interval_s=300)
    url = await first.start("127.0.0.1", 0)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    scenario = make_scenario(stations={"count": count, "ocpp": {"1.6": 1, "2.0.1": 1}})
    second = Csms(interval_s=300)
    try:
        async with fleet_running(scenario, url) as fleet:
            await wait_until(lambda: all(s.state is State.ACCEPTED for s in fleet.stations), 20)
            # Their StatusNotifications answered too: one still out when the CSMS goes is
            # rightly a failure of its own, which this test is not about.
            reports = sum(len(s.all_connectors()) for s in fleet.stations)
            summary = fleet.summary
            await wait_until(lambda: "StatusNotification" in summary.rows, 20)
            await wait_until(lambda: summary.rows["StatusNotification"].count == reports, 20)
            await first.stop()  # websockets' server closes every connection with 1001
            await wait_until(lambda: all(s.state is not State.ACCEPTED for s in fleet.stations))
            await second.start("127.0.0.1", port)
            await wait_until(lambda: all(s.state is State.ACCEPTED for s in fleet.stations), 20)
    finally:
        await first.stop()
        await second.stop()
    assert fleet.summary.stats.timings["connection lost"].failures == count
    assert fleet.summary.rows["BootNotification"].count == 2 * count
    assert fleet.summary.rows["BootNotification"].failures == 0
    reasons = {(f["action"], f["reason"]) for f in fleet.summary.failures}
    assert {r for r in reasons if not r[1].startswith("connection refused by 127.0.0.1:")} == {
        ("connection lost", "CSMS closed the connection (code 1001)")
    }
    assert len(second.ledger) == count


@pytest.mark.parametrize("length", [0, 5, 125, 126, 1000, 65535, 65536, 70000])
def test_the_direct_send_path_writes_what_websockets_would(
    length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    import websockets.frames
    from websockets.frames import Frame, Opcode

    from fleet.station.frames import text_frame

    payload, mask = secrets.token_bytes(length), secrets.token_bytes(4)
    monkeypatch.setattr(websockets.frames.secrets, "token_bytes", lambda n: mask)
    assert text_frame(payload, mask) == Frame(Opcode.TEXT, payload).serialize(mask=True)


def test_mask_keys_are_fresh_random_bytes_block_after_block() -> None:
    from fleet.station.frames import MaskKeys

    keys = MaskKeys()
    taken = [keys.take() for _ in range(3 * MaskKeys.BLOCK // 4)]  # three blocks' worth
    assert all(len(key) == 4 for key in taken)
    assert len(set(taken)) > 0.99 * len(taken)  # 32-bit keys: collisions are rare

"""deploy/kubernetes: parsed, checked against what the official Locust operator's CRD and
Kubernetes accept, and each container's command run here as the cluster would run it: the
ConfigMap's files written where they are mounted, the Secret's value in its variable, service
names and in-pod paths mapped to this machine, against an embedded CSMS on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from fleet.scenario import load_scenario
from tests.test_cli import csms_process, ledger
from tests.test_deploy import free_port, scrape_accepted

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
# spec properties of LocustTest (locust.io/v1) in locustio/k8s-operator's CRD
# (charts/locust-operator/crds/locusttest.yaml); its env items have name and value only.
OPERATOR_SPEC = {
    "annotations", "labels", "image", "imagePullPolicy", "imagePullSecrets", "workers", "args",
    "env", "master", "worker", "locustfile", "metrics",
}  # fmt: skip
OPERATOR_MOUNT = "/home/locust"  # where the operator mounts the locustfile ConfigMap


def documents(name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """{(kind, name): document} of one manifest file."""
    docs = [d for d in yaml.safe_load_all((KUBE / name).read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


SCENARIO_MAP = documents("scenario.yaml")["ConfigMap", "fleet-scenario"]


def test_the_scenario_configmap_holds_a_valid_scenario_and_the_locustfile(tmp_path: Path) -> None:
    data = SCENARIO_MAP["data"]
    assert data["locustfile.py"] == (KUBE / "locustfile.py").read_text()
    path = tmp_path / "scenario.yaml"
    path.write_text(data["scenario.yaml"])
    scenario = load_scenario(str(path))
    assert scenario.sessions.arrivals_per_hour > 0 and scenario.heartbeat.interval_s == 300


def test_the_locusttest_uses_only_what_the_operator_knows() -> None:
    (test,) = documents("operator.yaml").values()
    assert (test["apiVersion"], test["kind"]) == ("locust.io/v1", "LocustTest")
    spec = test["spec"]
    assert set(spec) <= OPERATOR_SPEC, set(spec) - OPERATOR_SPEC
    assert spec["workers"] >= 1 and isinstance(spec["args"], str)
    assert spec["locustfile"] == {"configMap": {"name": "fleet-scenario"}}
    assert all(set(item) <= {"name", "value"} for item in spec["env"])
    for part in ("master", "worker"):
        assert set(spec[part]) <= {"labels", "annotations", "resources"}
    args = shlex.split(spec["args"])
    assert f"{OPERATOR_MOUNT}/locustfile.py" in args and f"{OPERATOR_MOUNT}/scenario.yaml" in args
    assert spec["master"]["annotations"]["prometheus.io/port"] == option(args, "--prometheus-port")


def test_the_plain_manifests_wire_secret_configmap_service_and_workers() -> None:
    docs = documents("plain.yaml")
    secret = docs["Secret", "fleet-csms"]
    service = docs["Service", "fleet-master"]
    master = docs["Deployment", "fleet-master"]["spec"]["template"]
    worker = docs["Deployment", "fleet-worker"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= master["metadata"]["labels"].items()
    (container,) = master["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in ports
    assert str(ports["metrics"]) == option(container["command"], "--prometheus-port")
    assert master["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    assert option(worker["spec"]["containers"][0]["command"], "--master-host") == "fleet-master"
    for template in (master, worker):
        (box,) = template["spec"]["containers"]
        env = {e["name"]: e for e in box["env"]}
        ref = env["FLEET_CSMS_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "fleet-csms" and ref["key"] in secret["stringData"]
        (volume,) = template["spec"]["volumes"]
        assert volume["configMap"]["name"] == "fleet-scenario"
        (mount,) = box["volumeMounts"]
        assert env["FLEET_SCENARIO"]["value"] == f"{mount['mountPath']}/scenario.yaml"


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def with_option(args: list[str], name: str, value: str) -> list[str]:
    args = list(args)
    if name in args:
        args[args.index(name) + 1] = value
    else:
        args += [name, value]
    return args


def mounted(tmp_path: Path) -> Path:
    """The ConfigMap's files, as a mount shows them."""
    folder = tmp_path / "mount"
    folder.mkdir()
    for key, text in SCENARIO_MAP["data"].items():
        (folder / key).write_text(text)
    return folder


def shim(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has `fleet` (this checkout, this interpreter) first, as the
    image has it, and no LOCUST_/FLEET_ variables from outside."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fleet = bin_dir / "fleet"
    fleet.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m fleet "$@"\n')
    fleet.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "FLEET_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_pair(
    master: list[str], worker: list[str], env: dict[str, str], metrics_port: int
) -> tuple[subprocess.CompletedProcess[str], float]:
    bind = free_port()
    env = {**env, "LOCUST_MASTER_BIND_PORT": str(bind), "LOCUST_MASTER_NODE_PORT": str(bind)}
    master_process = subprocess.Popen(
        master, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    worker_process = subprocess.Popen(
        worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        accepted = scrape_accepted(metrics_port)
        output, _ = master_process.communicate(timeout=90)
    finally:
        for process in (worker_process, master_process):
            process.terminate()
            process.wait(timeout=20)
    return subprocess.CompletedProcess(master, master_process.returncode, output, ""), accepted


def test_the_locusttest_runs_as_the_operator_starts_its_pods(tmp_path: Path) -> None:
    (test,) = documents("operator.yaml").values()
    spec = test["spec"]
    folder, summary, metrics_port = mounted(tmp_path), tmp_path / "summary.json", free_port()
    args = [
        part.replace(OPERATOR_MOUNT, str(folder)).replace("/tmp/summary.json", str(summary))
        for part in shlex.split(spec["args"])
    ]
    # The run's size and length, small enough here; everything else as written.
    for name, value in (("-u", "6"), ("-r", "6"), ("-t", "5s"), ("--expect-workers", "1")):
        args = with_option(args, name, value)
    args = with_option(args, "--prometheus-port", str(metrics_port))
    args = with_option(args, "--prometheus-host", "127.0.0.1")
    env = shim(tmp_path)
    with csms_process("--interval", "2") as url:
        env.update({item["name"]: item.get("value", "") for item in spec["env"]})
        env["FLEET_CSMS_URL"] = url
        # What the operator's pods run: the image's entry point with these arguments.
        master = ["sh", str(ENTRYPOINT), "--master", *args]
        worker = ["sh", str(ENTRYPOINT), "--worker", "--master-host", "127.0.0.1", *args]
        result, accepted = run_pair(master, worker, env, metrics_port)
        seen = ledger(url)
    assert result.returncode == 0, result.stdout[-3000:]
    assert accepted == 6
    assert "SLO passed: accepted >= 99%" in result.stdout
    assert len(seen) == 6 and all(station.startswith("K8S-") for station in seen)
    assert json.loads(summary.read_text())["stations"]["accepted"] == 6


def test_the_plain_manifests_run_as_their_containers_would(tmp_path: Path) -> None:
    docs = documents("plain.yaml")
    folder, summary, metrics_port = mounted(tmp_path), tmp_path / "summary.json", free_port()
    env = shim(tmp_path)

    def command(deployment: str) -> tuple[list[str], dict[str, str]]:
        template = docs["Deployment", deployment]["spec"]["template"]
        (box,) = template["spec"]["containers"]
        (mount,) = box["volumeMounts"]
        local = {
            mount["mountPath"]: str(folder),
            "/tmp/summary.json": str(summary),
            "0.0.0.0": "127.0.0.1",
            "fleet-master": "127.0.0.1",
        }
        parts = []
        for part in box["command"]:
            for inside, outside in local.items():
                part = part.replace(inside, outside)
            parts.append(part)
        variables = {}
        for item in box["env"]:
            value = item.get("value")
            if value is None:  # the Secret's value: this test's CSMS
                value = url
            for inside, outside in local.items():
                value = value.replace(inside, outside)
            variables[item["name"]] = value
        return parts, variables

    with csms_process("--interval", "2") as url:
        master, master_env = command("fleet-master")
        worker, worker_env = command("fleet-worker")
        assert master_env == worker_env
        master = with_option(master, "--prometheus-port", str(metrics_port))
        master = with_option(master, "--prometheus-host", "127.0.0.1")
        env.update(master_env)
        env.update(
            LOCUST_HEADLESS="true", LOCUST_USERS="6", LOCUST_SPAWN_RATE="6",
            LOCUST_RUN_TIME="5s", LOCUST_EXPECT_WORKERS="1",
            LOCUST_WEB_PORT=str(free_port()),
        )  # fmt: skip
        result, accepted = run_pair(master, worker, env, metrics_port)
        seen = ledger(url)
    assert result.returncode == 0, result.stdout[-3000:]
    assert accepted == 6 and len(seen) == 6
    assert json.loads(summary.read_text())["stations"]["accepted"] == 6

"""Distributed search on KerasTuner's chief/worker engine, over loopback, in separate processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import synthetic_arrays


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "mnistopt", *args], env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout=240) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture()
def cluster(tmp_path):
    data = tmp_path / "digits.npz"
    np.savez(data, **synthetic_arrays(2000, 200, seed=4))
    port = free_port()
    common = ["search", "--budget", "3000", "--data", str(data), "--out", str(tmp_path / "out"), "--tuner",
              "random", "--max-trials", "6", "--max-epochs", "2", "--oracle", f"127.0.0.1:{port}", "-q"]
    return common, tmp_path


@pytest.mark.slow
def test_chief_and_two_workers_run_every_trial_once_and_merge_one_result(cluster):
    common, tmp = cluster
    chief = start([*common, "--distributed", "chief"], tmp / "chief.log")
    workers = [start([*common, "--distributed", "worker", "--worker-id", name], tmp / f"{name}.log")
               for name in ("w1", "w2")]
    assert [finish(p) for p in (chief, *workers)] == [0, 0, 0], (tmp / "chief.log").read_text()[-2000:]
    ran = {}
    for name in ("w1", "w2"):
        line = [x for x in (tmp / f"{name}.log").read_text().splitlines() if x.startswith("worker ran")][0]
        ran[name] = line.split(": ", 1)[1].split(";")[0].split(", ")
    assert ran["w1"] and ran["w2"]  # both workers took trials
    assert not set(ran["w1"]) & set(ran["w2"])  # none ran twice
    result = json.loads((tmp / "out" / "result.json").read_text())
    ids = [r["trial_id"] for r in result["records"]]
    assert sorted(ids) == sorted(ran["w1"] + ran["w2"]) == [str(i) for i in range(6)]
    assert all(r["status"] == "completed" for r in result["records"])
    assert sum(r["selected"] for r in result["records"]) == 1  # the chief selected one model
    assert (tmp / "out" / "models" / "budget-3000.keras").is_file()


@pytest.mark.slow
def test_a_worker_killed_mid_trial_does_not_hang_the_chief(cluster):
    common, tmp = cluster
    chief = start([*common, "--distributed", "chief", "--trial-timeout", "8"], tmp / "chief.log")
    doomed = start([*common, "--distributed", "worker", "--worker-id", "w1"], tmp / "w1.log")
    project = tmp / "out" / "tuner" / "budget-3000"
    deadline = time.time() + 120
    while time.time() < deadline and not list(project.glob("trial_*/trial.json")):
        time.sleep(0.05)
    assert doomed.poll() is None, (tmp / "w1.log").read_text()[-2000:]
    doomed.send_signal(signal.SIGKILL)  # mid-trial: the chief has handed it trial 0
    doomed.wait()
    survivor = start([*common, "--distributed", "worker", "--worker-id", "w2"], tmp / "w2.log")
    assert finish(survivor) == 0
    assert finish(chief, timeout=120) == 0, (tmp / "chief.log").read_text()[-2000:]
    records = {r["trial_id"]: r for r in json.loads((tmp / "out" / "result.json").read_text())["records"]}
    assert sorted(records) == [str(i) for i in range(6)]
    assert records["0"]["status"] == "failed" and "lost" in records["0"]["reason"]
    assert all(records[str(i)]["status"] == "completed" for i in range(1, 6))


GHOST = """
import sys, time
import grpc
from keras_tuner.src import protos
stub = protos.get_service_grpc().OracleStub(grpc.insecure_channel("127.0.0.1:" + sys.argv[1]))
service = protos.get_service()
trial = stub.CreateTrial(service.CreateTrialRequest(tuner_id="ghost"), wait_for_ready=True).trial
trial.status = protos.get_proto().TrialStatus.FAILED  # ends its trial as a failed one, as a worker may
stub.EndTrial(service.EndTrialRequest(trial=trial))
print("idle", trial.trial_id, flush=True)
time.sleep(600)  # between trials: it never asks for another
"""


@pytest.mark.slow
def test_a_worker_killed_between_trials_does_not_hang_the_chief(cluster):
    """A worker (a bare gRPC client of the chief, so the moment is exact) takes a trial, ends it and
    is SIGKILLed before asking for the next: KerasTuner's chief would wait for it forever."""
    from mnistopt._tuner import WORKER_IDLE_TIMEOUT

    common, tmp = cluster
    port = common[common.index("--oracle") + 1].rsplit(":", 1)[1]
    chief = start([*common, "--distributed", "chief"], tmp / "chief.log")
    ghost = subprocess.Popen([sys.executable, "-c", GHOST, port], stdout=subprocess.PIPE, text=True)
    line = ghost.stdout.readline().split()  # blocks until the chief has served it
    assert line[0] == "idle", line
    ghost.send_signal(signal.SIGKILL)
    ghost.wait()
    killed = time.monotonic()
    worker = start([*common, "--distributed", "worker", "--worker-id", "w1"], tmp / "w1.log")
    assert finish(worker) == 0, (tmp / "w1.log").read_text()[-2000:]
    assert finish(chief, timeout=WORKER_IDLE_TIMEOUT + 90) == 0, (tmp / "chief.log").read_text()[-2000:]
    waited = time.monotonic() - killed
    result = json.loads((tmp / "out" / "result.json").read_text())
    records = {r["trial_id"]: r for r in result["records"]}
    assert sorted(records) == [str(i) for i in range(6)]  # every trial accounted for, once
    assert records[line[1]]["status"] == "failed"  # the ghost's own trial
    assert all(r["status"] == "completed" for t, r in records.items() if t != line[1])
    assert sum(r["selected"] for r in result["records"]) == 1
    info = result["distributed"]["3000"]
    assert "ghost" in info["gone_workers"] and info["lost_trials"] == {}
    assert 0 <= info["exit_lag_s"] <= WORKER_IDLE_TIMEOUT + 25  # the chief's exit is bounded, and reported
    assert waited < WORKER_IDLE_TIMEOUT + 90

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


def worker_ran(log) -> list[str]:
    """The trials a worker's log says it ran, as BUDGET/TRIAL."""
    line = [x for x in log.read_text().splitlines() if x.startswith("worker ran")][0]
    return line.split(": ", 1)[1].split(";")[0].split(", ")


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
    ran = {name: worker_ran(tmp / f"{name}.log") for name in ("w1", "w2")}
    assert ran["w1"] and ran["w2"]  # both workers took trials
    assert not set(ran["w1"]) & set(ran["w2"])  # none ran twice
    result = json.loads((tmp / "out" / "result.json").read_text())
    ids = [f"3000/{r['trial_id']}" for r in result["records"]]
    assert sorted(ids) == sorted(ran["w1"] + ran["w2"]) == [f"3000/{i}" for i in range(6)]
    assert all(r["status"] == "completed" for r in result["records"])
    assert sum(r["selected"] for r in result["records"]) == 1  # the chief selected one model
    assert (tmp / "out" / "models" / "budget-3000.keras").is_file()


@pytest.mark.slow
def test_a_trial_whose_worker_is_killed_mid_trial_is_run_again_by_another(cluster):
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
    assert all(r["status"] == "completed" for r in records.values())  # trial 0 too: queued again, not lost
    assert sorted(worker_ran(tmp / "w2.log")) == [f"3000/{i}" for i in range(6)]  # w1 left no trial ended
    result = json.loads((tmp / "out" / "result.json").read_text())
    assert list(result["distributed"]["3000"]["lost_trials"]) == ["0"]
    assert "queued again" in result["distributed"]["3000"]["lost_trials"]["0"]


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


IDLE_WORKER = """
import sys, time
from mnistopt import _tuner
from mnistopt.cli import main

ended = _tuner.BudgetTuner.on_trial_end

def on_trial_end(self, trial):  # a real worker that ends its first trial, then stops before asking again
    ended(self, trial)
    print("idle", self.hypermodel.space.budget, trial.trial_id, file=sys.__stdout__, flush=True)  # past mnistopt's capture
    time.sleep(600)

_tuner.BudgetTuner.on_trial_end = on_trial_end
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_one_chief_serves_two_budgets_to_two_workers_one_killed_idle_one_joining_late(cluster):
    """#19's must-show: chief + 2 workers, 2 budgets; worker w1 runs a trial, ends it and is SIGKILLed
    while idle between trials; w2 joins after that: every trial completed once, the chief exits 0 and
    one result.json holds both budgets' selected models."""
    from mnistopt._tuner import WORKER_IDLE_TIMEOUT

    common, tmp = cluster
    common[common.index("--budget") + 1:common.index("--budget") + 2] = ["3000", "6000"]
    common[common.index("--max-trials") + 1] = "4"
    chief = start([*common, "--distributed", "chief"], tmp / "chief.log")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    doomed = subprocess.Popen([sys.executable, "-c", IDLE_WORKER, *common, "--distributed", "worker",
                               "--worker-id", "w1"], env=env, stdout=subprocess.PIPE, text=True)
    line = doomed.stdout.readline().split()  # blocks until w1 has ended its first trial at the chief
    assert line[:2] == ["idle", "3000"], line
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    late = start([*common, "--distributed", "worker", "--worker-id", "w2"], tmp / "w2.log")
    assert finish(late) == 0, (tmp / "w2.log").read_text()[-2000:]
    assert finish(chief, timeout=WORKER_IDLE_TIMEOUT + 90) == 0, (tmp / "chief.log").read_text()[-2000:]
    result = json.loads((tmp / "out" / "result.json").read_text())
    keys = sorted(f"{r['budget']}/{r['trial_id']}" for r in result["records"])
    assert keys == sorted(f"{b}/{i}" for b in (3000, 6000) for i in range(4))  # every trial, once
    assert all(r["status"] == "completed" for r in result["records"])
    assert sorted(worker_ran(tmp / "w2.log") + [f"3000/{line[2]}"]) == keys  # w1's one trial, w2 the rest
    assert sorted(int(b) for b in result["selected"]) == [3000, 6000]
    assert sum(r["selected"] for r in result["records"]) == 2
    for budget in (3000, 6000):
        assert (tmp / "out" / "models" / f"budget-{budget}.keras").is_file()
    info = result["distributed"]
    assert "w1" in info["3000"]["gone_workers"] and info["6000"]["gone_workers"] == {}
    assert info["3000"]["port"] + 1 == info["6000"]["port"]
    # the chief stops once it has forgotten w1 (silent since its kill, before the last trial ended)
    assert 0 <= info["6000"]["exit_lag_s"] <= WORKER_IDLE_TIMEOUT + 5


def _oracle(tmp_path, max_trials=3):
    import keras_tuner as kt

    from mnistopt._tuner import make_oracle
    from mnistopt.options import Tuner

    oracle = make_oracle(Tuner.RANDOM, max_trials, 2, 0, 3)
    oracle._set_project_dir(str(tmp_path), "p")
    hp = kt.HyperParameters()
    hp.Int("units", 1, 100)
    oracle.update_space(hp)
    return oracle


def test_watchdog_queues_a_silent_workers_trial_again_once_then_fails_it(tmp_path):
    """The chief's watchdog on a real KerasTuner oracle, its clock driven by hand: a trial whose worker
    goes silent is handed to the next worker; lost twice, it is ended as failed."""
    from keras_tuner.engine.trial import TrialStatus

    from mnistopt._tuner import LostTrialWatchdog

    oracle = _oracle(tmp_path)
    watchdog = LostTrialWatchdog(oracle, timeout=10, idle_timeout=1000)
    first = oracle.create_trial("a")
    now = watchdog.contact["a"]
    watchdog.check(now + 5)
    assert oracle.ongoing_trials["a"].trial_id == first.trial_id  # 5 s of silence: still a's
    oracle.get_trial(first.trial_id)  # a's heartbeat
    watchdog.check(watchdog.contact["a"] + 9)
    assert "a" in oracle.ongoing_trials
    watchdog.check(watchdog.contact["a"] + 11)
    assert "a" not in oracle.ongoing_trials and "a" not in oracle.tuner_ids
    assert "queued again" in watchdog.lost[first.trial_id]
    again = oracle.create_trial("b")
    assert again.trial_id == first.trial_id and again.status == TrialStatus.RUNNING  # b runs it
    watchdog.check(watchdog.contact["b"] + 11)  # b dies too: the trial is failed, not queued a third time
    assert oracle.trials[first.trial_id].status == TrialStatus.FAILED
    assert "lost before" in watchdog.lost[first.trial_id] and oracle._retry_queue == []


def test_a_worker_is_told_to_wait_not_stop_while_another_still_runs_a_trial(tmp_path):
    from keras_tuner.engine.trial import TrialStatus

    from mnistopt._tuner import LostTrialWatchdog

    oracle = _oracle(tmp_path, max_trials=2)
    watchdog = LostTrialWatchdog(oracle, timeout=10, idle_timeout=1000)
    t0, t1 = oracle.create_trial("a"), oracle.create_trial("b")
    t1.status = TrialStatus.COMPLETED
    oracle.update_trial(t1.trial_id, {"val_accuracy": 0.5})
    oracle.end_trial(t1)
    assert oracle.create_trial("b").status == TrialStatus.IDLE  # no new trial, but a's may be lost
    assert "b" in oracle.tuner_ids
    watchdog.check(watchdog.contact["a"] + 11)  # a is lost: b gets its trial
    assert oracle.create_trial("b").trial_id == t0.trial_id
    done = oracle.ongoing_trials["b"]
    done.status = TrialStatus.COMPLETED
    oracle.update_trial(done.trial_id, {"val_accuracy": 0.6})
    oracle.end_trial(done)
    assert oracle.create_trial("b").status == TrialStatus.STOPPED  # nothing left anywhere: stop

"""Faults of `podium train` (issue 10): bad numbers, concurrent campaigns, signals, kills, failing ranks, exposure.

Real components only: the real CLI in-process or in a real subprocess, real signals, the real launcher and ranks.
The subprocess campaigns run this file as a script (`python test_faults_training.py train ...`), which registers
`test-slow-resnet` (the scripted ResNet-50, 20 ms per epoch: about 0.8 s a run) before calling `podium.cli.main`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import weakref
from dataclasses import replace
from pathlib import Path

import pytest

from podium.cli import main
from podium.workloads import WORKLOADS
from podium.workloads.scripted import Curve, ScriptedProgram, scripted

SLOW = "test-slow-resnet"
EPOCH_S = 0.02         # one epoch of the slow workload: a run converges in 35 to 39 epochs
HERE = Path(__file__)


def _resnet(program=None):
    w = WORKLOADS.get("scripted-resnet50")
    return replace(w, program=program or scripted(Curve(0.05, 0.7620, 35.0, jitter=0.04)))


def _register_slow() -> None:
    if SLOW not in WORKLOADS.names():
        WORKLOADS.register(SLOW)(lambda: _resnet(scripted(Curve(0.05, 0.7620, 35.0, jitter=0.04),
                                                          seconds_per_block=EPOCH_S)))


class _SwallowedInterruptProgram(ScriptedProgram):
    """Run 2, block 2: a real SIGINT is delivered inside a weakref callback, as it often is inside torch's; the
    handler's KeyboardInterrupt is swallowed ("Exception ignored in ...") and the block goes on."""

    def train(self, samples: int) -> float:
        loss = super().train(samples)
        if self.spec.run_index == 1 and self._block == 2:
            class Buffer:
                pass

            buffer = Buffer()
            ref = weakref.ref(buffer, lambda _: signal.raise_signal(signal.SIGINT))
            del buffer, ref
        return loss


@pytest.fixture(autouse=True)
def _forget_signals():
    """A signal received by one in-process test must not stop the next one's campaign."""
    yield
    try:
        from podium.core import signals
    except ImportError:    # today's main has no podium.core.signals
        return
    signals.reset()


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> Path:
    """An output folder holding a finished campaign of scripted-resnet50: the previous results."""
    out = tmp_path_factory.mktemp("previous")
    assert main(["train", "scripted-resnet50", "--runs", "3", "--seed", "1", "--out", str(out), "--no-check"]) == 0
    return out


def _copy_of(previous: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(previous, out)
    return out


def _snapshot(out: Path) -> dict[str, bytes]:
    """The previous campaign's files: result logs, campaign.json, system description."""
    files = [*(out / "results").rglob("*.txt"), *(out / "podium").rglob("campaign.json"), *(out / "systems").glob("*")]
    return {str(f.relative_to(out)): f.read_bytes() for f in files}


def _partial_record(out: Path) -> dict:
    records = list((out / ".podium" / "partial").glob("*/podium/cpu/resnet/campaign.json"))
    assert len(records) == 1, records
    return json.loads(records[0].read_text())


def _slow_campaign(out: Path, *extra: str, runs: int = 4) -> subprocess.Popen[str]:
    argv = [sys.executable, str(HERE), "train", SLOW, "--runs", str(runs), "--seed", "7", "--out", str(out),
            "--no-check", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(p: subprocess.Popen[str], text: str, timeout_s: float = 60) -> str:
    """stdout of `p` up to the first line containing `text`."""
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            raise AssertionError(f"ended before {text!r}: {''.join(seen)}{p.stderr.read()}")
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} within {timeout_s} s")


def _wait_for_log(p: subprocess.Popen[str], out: Path, index: int, text: str, timeout_s: float = 60) -> None:
    """Until the staged log of run `index` (under <out>/.podium/staging/) holds `text`."""
    deadline = time.monotonic() + timeout_s
    while not any(text in log.read_text() for log in (out / ".podium" / "staging").glob(f"*/new/result_{index}.txt")):
        assert p.poll() is None, f"ended before {text!r} was in the log of run {index + 1}"
        assert time.monotonic() < deadline, f"no {text!r} in the log of run {index + 1} within {timeout_s} s"
        time.sleep(0.01)


# -- 1. numbers validated before anything runs ---------------------------------------------------------------

BAD_OPTIONS = [
    (["--runs", "0"], "--runs"),
    (["--runs", "-1"], "--runs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--threads", "0"], "--threads"),
    (["--nproc", "0"], "--nproc"),
    (["--nnodes", "0"], "--nnodes"),
    (["--node-rank", "1"], "--node-rank"),
    (["--node-rank", "-1"], "--node-rank"),
    (["--seed", "-1"], "--seed"),
    (["--rdzv-endpoint", "node0"], "--rdzv-endpoint"),
    (["--rdzv-endpoint", "node0:70000"], "--rdzv-endpoint"),
    (["--set", "lars_opt_base_learning_rate=NaN"], "lars_opt_base_learning_rate"),
    (["--set", "lars_opt_base_learning_rate=Infinity"], "lars_opt_base_learning_rate"),
    (["--set", "lars_opt_base_learning_rate=fast"], "lars_opt_base_learning_rate"),
]


@pytest.mark.parametrize("bad, named", BAD_OPTIONS, ids=[" ".join(b) for b, _ in BAD_OPTIONS])
def test_impossible_number_is_refused_in_one_line_before_anything_is_deleted(bad, named, previous, tmp_path,
                                                                              capsys):
    """Fault: `--runs 0` ran 5 runs, `--runs -1` wiped the previous results and ran nothing, other impossible
    numbers (batch 0, seed -1, port 70000, a NaN learning rate) were ignored or failed inside every run."""
    out = _copy_of(previous, tmp_path)
    before = _snapshot(out)
    try:
        code = main(["train", "scripted-resnet50", "--runs", "3", "--out", str(out), "--no-check", *bad])
    except SystemExit as e:      # refused by an argument type: argparse's usage, then its error line
        code = e.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error: " in line]
    assert code == 2, err
    assert len(errors) == 1 and named in errors[0] and err.endswith(errors[0] + "\n"), err
    assert _snapshot(out) == before


# -- 2. one campaign per output folder; previous results replaced only by a finished campaign --------------

def test_a_second_concurrent_train_into_the_same_out_is_refused_naming_the_pid(tmp_path, capsys):
    """Fault: two `podium train` into one --out deleted and overwrote each other's result files."""
    out = tmp_path / "out"
    first = _slow_campaign(out)
    try:
        _wait_for(first, "run 1/4")
        code = main(["train", "scripted-resnet50", "--runs", "3", "--out", str(out), "--no-check"])
        err = capsys.readouterr().err
    finally:
        first.send_signal(signal.SIGTERM)
        _finish(first, 60)
    assert code == 2 and err.count("\n") == 1, err
    assert "is in use by another Podium run" in err and f"PID {first.pid}" in err


def test_a_campaign_that_raises_keeps_the_previous_results_and_its_own_files(previous, tmp_path):
    """Fault: an unexpected error mid-campaign left the previous results deleted and the new ones half written."""

    class Failing:
        def run_started(self, index, total, seed):
            pass

        def evaluated(self, index, evaluation):
            pass

        def run_finished(self, record):
            if record.index == 1:
                raise RuntimeError("observer failed")

    from podium.training.campaign import Campaign, CampaignConfig

    out = _copy_of(previous, tmp_path)
    before = _snapshot(out)
    config = CampaignConfig(runs=3, seed=5, out=out, check_compliance=False, save_models=False)
    with pytest.raises(RuntimeError, match="observer failed"):
        Campaign(_resnet(), config, Failing()).run()
    assert _snapshot(out) == before
    kept = sorted(p.name for p in (out / ".podium" / "partial").glob("*/results/cpu/resnet/*"))
    assert kept == ["result_0.txt", "result_1.txt"]


def test_kill_9_mid_campaign_leaves_the_previous_results_and_the_next_run_keeps_its_files(previous, tmp_path,
                                                                                        capsys):
    """Fault: the result files were deleted when a campaign started, so a killed campaign lost the previous ones."""
    out = _copy_of(previous, tmp_path)
    before = _snapshot(out)
    p = _slow_campaign(out)
    _wait_for(p, "run 2/4")
    p.kill()
    _finish(p, 30)
    assert _snapshot(out) == before
    assert main(["train", "scripted-resnet50", "--runs", "3", "--seed", "9", "--out", str(out), "--no-check"]) == 0
    assert "was killed; its files are kept in" in capsys.readouterr().err
    assert list((out / ".podium" / "partial").glob("*/results/cpu/resnet/result_0.txt"))
    assert _snapshot(out) != before    # the finished campaign replaced them


# -- 3. signals -------------------------------------------------------------------------------------------------

@pytest.mark.realtime   # SIGTERM once run 2 of 4 logged run_start (a run takes ~0.8 s): it lands in run 2 or later
def test_sigterm_exits_143_with_the_record_marked_aborted_and_the_previous_results_intact(previous, tmp_path):
    """Fault: SIGTERM (sent by `timeout` and schedulers) killed `podium train` at once, with no campaign.json."""
    out = _copy_of(previous, tmp_path)
    before = _snapshot(out)
    p = _slow_campaign(out)
    _wait_for(p, "run 2/4")                      # run 1 converged, run 2 started
    _wait_for_log(p, out, 1, '"key": "run_start"')  # and its clock runs
    p.send_signal(signal.SIGTERM)
    _, err = _finish(p, 60)
    assert p.returncode == 143, err
    assert "terminated (SIGTERM) during run" in err and "previous results" in err
    assert _snapshot(out) == before
    record = _partial_record(out)
    assert record["status"] == "aborted" and record["stop_signal"] == "SIGTERM" and record["interrupted"]
    assert record["runs"][0]["status"] == "success"
    assert record["runs"][-1]["reason"] == "terminated (SIGTERM)"
    last_log = Path(record["runs"][-1]["log_path"])
    assert last_log.exists() and '"status": "aborted"' in last_log.read_text().splitlines()[-1]


@pytest.mark.realtime   # as above: SIGINT once run 2 of 4 started
def test_ctrl_c_exits_130_with_the_record_marked_aborted(previous, tmp_path):
    """Fault: Ctrl-C wrote the aborted record over the previous results (which were deleted at the start)."""
    out = _copy_of(previous, tmp_path)
    before = _snapshot(out)
    p = _slow_campaign(out)
    _wait_for(p, "run 2/4")
    p.send_signal(signal.SIGINT)
    _, err = _finish(p, 60)
    assert p.returncode == 130, err
    assert "interrupted (Ctrl-C) during run" in err
    assert _snapshot(out) == before
    assert _partial_record(out)["stop_signal"] == "SIGINT"


def _swallowed(monkeypatch) -> list[BaseException]:
    """What Python reports as "Exception ignored" (sys.unraisablehook) during the test."""
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))
    return seen


def test_an_interrupt_swallowed_by_a_weakref_callback_still_stops_the_campaign(tmp_path, capsys, monkeypatch):
    """Fault: Ctrl-C raised inside a weakref callback was printed as "Exception ignored" and the campaign ran on
    to exit 0 (2 of 6 tries)."""
    name = "test-swallowed-interrupt"
    if name not in WORKLOADS.names():
        WORKLOADS.register(name)(lambda: _resnet(lambda w, spec: _SwallowedInterruptProgram(
            w, spec, Curve(0.05, 0.7620, 35.0, jitter=0.04))))
    swallowed = _swallowed(monkeypatch)
    code = main(["train", name, "--runs", "3", "--seed", "2", "--out", str(tmp_path), "--no-check"])
    captured = capsys.readouterr()
    assert len(swallowed) == 1 and isinstance(swallowed[0], KeyboardInterrupt)   # swallowed where raised
    assert code == 130, captured.err
    assert "interrupted (Ctrl-C) during run 2/3" in captured.err
    assert not (tmp_path / "results").exists()


def test_a_stop_swallowed_in_a_digits_training_step_ends_the_block_at_the_next_step(monkeypatch):
    """Fault: the digits training loop ran a whole block after a swallowed Ctrl-C (no check between steps)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from podium.core import signals
    from podium.workloads.base import Division, RunSpec

    workload = WORKLOADS.get("digits")
    spec = RunSpec(seed=1, hyperparameters=workload.recipe.resolve({}, Division.CLOSED), per_rank_batch_size=32)
    program = workload.program(workload, spec)
    program.build()
    program.load_data()
    swallowed = _swallowed(monkeypatch)
    with signals.handled():
        class Buffer:
            pass

        buffer = Buffer()
        ref = weakref.ref(buffer, lambda _: signal.raise_signal(signal.SIGTERM))
        del buffer, ref                          # swallowed: "Exception ignored in ..."
        with pytest.raises(signals.Interrupted):
            program.train(workload.train_samples)
    assert len(swallowed) == 1 and isinstance(swallowed[0], KeyboardInterrupt)
    assert program.step == 0                     # stopped before its first step, not after the epoch


# -- 4, 5. two ranks: one line for a failing rank, exit 1 for no valid score, loopback only, SIGTERM ----------

def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc)."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*"):
            try:
                pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        i += 1
    return pids


def _listening(pids: list[int], ports: bool = False) -> list:
    """Addresses (or (address, port) pairs) the processes listen on, TCP v4 and v6, from /proc/net/tcp*."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:      # 0A: LISTEN
                address, port = cols[1].split(":")
                raw = bytes.fromhex(address)
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # words are little-endian
                ip = socket.inet_ntop(family, raw)
                found.append((ip, int(port, 16)) if ports else ip)
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _finish(p: subprocess.Popen[str], timeout_s: float, tree: list[int] = ()) -> tuple[str, str]:
    """communicate(), killing the process tree (ranks included; `tree` is one seen earlier, in case its root is
    gone) if it has not ended in `timeout_s`."""
    try:
        return p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _reap([*_tree(p.pid), *tree])
        try:
            os.killpg(p.pid, signal.SIGKILL)    # what outlived its parent in the session's process group
        except OSError:
            pass
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            err = "(its output is held open by a process outside its tree)"
        raise AssertionError(f"still running after {timeout_s} s: {err}") from None


def _ranks(out: Path, *extra: str, nproc: str = "2") -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "podium", "train", *extra, "--nproc", nproc, "--out", str(out), "--no-check",
            "--no-models"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.realtime   # samples the listening sockets once both ranks train; SIGTERM then (no time bound)
def test_two_ranks_listen_on_loopback_only_and_sigterm_exits_143_with_the_record_aborted(tmp_path):
    """Faults: `--nproc 2` made torch's rendezvous store listen on every interface, unauthenticated; SIGTERM
    to the launcher left no campaign.json."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    p = _ranks(tmp_path, "digits", "--seed", "3")
    tree: list[int] = []
    try:
        _wait_for(p, "run 1/5")                      # both ranks joined: store and gloo pairs are up
        tree = _tree(p.pid)
        addresses = _listening(tree)
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = _finish(p, 120, tree)
    assert addresses and all(_is_loopback(a) for a in addresses), addresses
    assert p.returncode == 143, err
    record = json.loads(next((tmp_path / ".podium" / "partial").glob("*/podium/cpu/digits/campaign.json"))
                        .read_text())
    assert record["status"] == "aborted" and record["stop_signal"] == "SIGTERM"
    assert "Traceback" not in err


def test_ranks_stop_with_their_record_when_the_launcher_is_killed(tmp_path):
    """Fault: kill -9 of the launcher left its ranks training on, unsupervised (and holding the output folder)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    p = _ranks(tmp_path, "digits", "--seed", "3")
    ranks: list[int] = []
    try:
        _wait_for(p, "run 1/5")
        ranks = _tree(p.pid)[1:]
        p.kill()
        deadline = time.monotonic() + 60     # the ranks' own signal grace is 60 s
        while any(_running(pid) for pid in ranks):
            assert time.monotonic() < deadline, "the ranks still run 60 s after their launcher was killed"
            time.sleep(0.1)
    finally:
        _finish(p, 10, ranks)
        _reap(ranks)
    record = json.loads(next((tmp_path / ".podium" / "partial").glob("*/podium/cpu/digits/campaign.json"))
                        .read_text())
    assert record["status"] == "aborted" and record["stop_signal"] == "SIGTERM"


def _reap(pids: list[int]) -> None:
    """SIGKILL what still runs of a process tree whose root is gone (a failing test must not leave ranks)."""
    for pid in filter(_running, pids):
        os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Alive and not a zombie (Linux /proc)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0].lower()
    except (OSError, IndexError):
        return False


def test_multi_node_listens_on_the_named_endpoint_only(tmp_path):
    """Fault: the multi-node rendezvous store listened on every interface, whatever --rdzv-endpoint named."""
    pytest.importorskip("torch")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def node(rank: int) -> subprocess.Popen[str]:
        return _ranks(tmp_path / f"node{rank}", "scripted-resnet50", "--runs", "3", "--seed", "4", "--nnodes", "2",
                      "--node-rank", str(rank), "--rdzv-endpoint", f"127.0.0.1:{port}", nproc="1")

    nodes = [node(0)]
    try:
        deadline = time.monotonic() + 60      # node 0's rank waits for node 1's: the store is up meanwhile
        listening = []
        while port not in {p for _, p in listening}:
            assert time.monotonic() < deadline and nodes[0].poll() is None, listening
            time.sleep(0.2)
            listening = _listening(_tree(nodes[0].pid), ports=True)
        nodes.append(node(1))
    finally:
        done = [_finish(n, 120) for n in nodes]
    assert ("127.0.0.1", port) in listening and all(_is_loopback(a) for a, _ in listening), listening
    assert [n.returncode for n in nodes] == [0, 0], done
    assert len(list((tmp_path / "node0" / "results" / "cpu" / "resnet").glob("result_*.txt"))) == 3
    assert not (tmp_path / "node1" / "results").exists()           # only rank 0 writes


def test_two_ranks_with_no_valid_score_exit_1_without_a_traceback(tmp_path):
    """Fault: `--nproc 2` with no valid score ended in torchrun's ChildFailedError traceback."""
    pytest.importorskip("torch")
    p = _ranks(tmp_path, "scripted-resnet50", "--runs", "1", "--seed", "4")
    out, err = _finish(p, 180)
    assert p.returncode == 1, err
    assert "Traceback" not in err and "ChildFailedError" not in err, err
    assert out.count("no valid score (1 runs") == 1                   # rank 0 alone reports
    assert (tmp_path / "results" / "cpu" / "resnet" / "result_0.txt").exists()


def test_a_failing_rank_is_named_in_one_line(tmp_path):
    """Fault: a rank's error ended in torchrun's ChildFailedError traceback, not saying which rank or why."""
    pytest.importorskip("torch")
    from podium.core import outdir

    with outdir.exclusive(tmp_path):                # another campaign holds the folder: rank 0 must refuse
        p = _ranks(tmp_path, "scripted-resnet50", "--runs", "3", "--seed", "4")
        _, err = _finish(p, 180)
    assert p.returncode == 2, err
    lines = [line for line in err.splitlines() if line.startswith("podium:")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"podium: error: rank 0 of 2 failed (exit 2): {tmp_path} is in use by another "
                               f"Podium run (PID {os.getpid()} "), err
    assert "Traceback" not in err


# -- 6. --org ------------------------------------------------------------------------------------------------

def test_org_names_the_submitter_so_that_the_built_package_passes_check(tmp_path, capsys):
    """Fault: `podium train` had no --org: the logs said submission_org "Podium" and a package built with
    `--org ACME` failed `podium check`."""
    out, pkg = tmp_path / "out", tmp_path / "pkg"
    assert main(["train", "scripted-resnet50", "--seed", "3", "--out", str(out), "--org", "ACME", "--no-check"]) == 0
    assert json.loads((out / "systems" / "cpu.json").read_text())["submitter"] == "ACME"
    log = (out / "results" / "cpu" / "resnet" / "result_0.txt").read_text()
    assert '"key": "submission_org", "value": "ACME"' in log
    assert main(["submission", "build", str(out), "--org", "ACME", "--division", "closed", "--out", str(pkg)]) == 0
    capsys.readouterr()
    assert main(["check", str(pkg)]) == 0, capsys.readouterr().out


if __name__ == "__main__":     # the subprocess campaigns of this module
    _register_slow()
    sys.exit(main(sys.argv[1:]))

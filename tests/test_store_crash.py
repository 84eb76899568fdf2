"""Campaign store under kill -9: committed data survive exactly, commits are all-or-nothing.

A child process commits in a tight loop (printing each commit number once ``commit()`` has
returned) and is killed with SIGKILL at random moments, also while it packs. Every commit's
content is a pure function of its number, so the parent can check everything it finds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from jffs_driver.store import CampaignStore

UNITS = {"length": "angstrom", "time": "fs", "velocity": "angstrom/fs"}

#: Shared by the writer child and the checking parent: the records of commit number n.
RECORDS = textwrap.dedent(
    """
    import numpy as np
    from jffs_driver.state import Snapshot
    from jffs_driver.store import (BasinSegmentRecord, ConfigRecord, ConfigRef, StageRecord,
                                   TrialRecord)

    def make_commit(n, natoms_max=2000):
        rng = np.random.default_rng(n)
        natoms = int(rng.integers(1, natoms_max))
        configs = []
        for k in range(1 + (n % 4 == 0)):
            snap = Snapshot(rng.normal(size=(natoms, 3)) * 20, rng.normal(size=(natoms, 3)),
                            rng.integers(-3, 3, size=(natoms, 3)),
                            np.array([[0, 0, -5.0], [40, 40, 5.0], [0, 0, 0]]) + n,
                            step=10 * n, time=0.5 * n, extras={"q": rng.normal(size=natoms)})
            configs.append(ConfigRecord(("trial" if k == 0 else "pilot", 0, n), n + 0.5, snap))
        trials = [TrialRecord(stage=0, index=n, kind="trial", parent_config=ConfigRef(0),
                              parent_key=("basin", 0, n), seed=n, outcome="success",
                              steps=int(rng.integers(1, 10**6)), lambda_end=rng.normal(),
                              lambda_max=rng.normal(), landing_config=ConfigRef(len(configs) - 1),
                              wall_s=rng.random(), trace=rng.normal(size=n % 50),
                              check_interval=5)]
        basin = ([BasinSegmentRecord(run=0, segment=n, seed=n, start_key=("initial", 0, 0),
                                     steps=n, event="budget", armed_start=True, armed_end=False,
                                     lambda_end=-1.0)] if n % 3 == 0 else [])
        stages = [StageRecord(n, n, n + 1, "adaptive", rng.normal(size=3), f"n={n}")] if n % 10 == 0 else []
        return dict(trials=trials, basin=basin, stages=stages, configs=configs)
    """
)

WRITER = RECORDS + textwrap.dedent(
    """
    import sys
    from jffs_driver.store import CampaignStore
    path, threshold, limit, natoms_max, pack_at_end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
    store = CampaignStore.open(path, "a", pack_threshold=threshold)
    n = store.n_commits
    print("ready", n, flush=True)
    while n < limit:
        n += 1
        store.commit(**make_commit(n, natoms_max))
        print(n, flush=True)
    if pack_at_end:
        print("packing", flush=True)
        store.compact()
        print("packed", flush=True)
    """
)

_ns: dict = {}
exec(RECORDS, _ns)
make_commit = _ns["make_commit"]


def create(path) -> None:
    CampaignStore.create(path, config_toml="", config={}, config_hash="h", versions={},
                         units=UNITS).close()


def start_writer(path, threshold=4, limit=10**9, natoms_max=2000, pack_at_end=False):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(threshold), str(limit), str(natoms_max),
         "1" if pack_at_end else "0"],
        stdout=subprocess.PIPE, text=True)


def check_commits(store: CampaignStore, numbers, natoms_max=2000, states=True) -> None:
    """Every record of the given commits is present and exactly as generated."""
    table = store.trial_table()
    by_index = {int(i): row for i, row in zip(table["index"], table)}
    trials = {t.index: t for t in store.trials(stage=0, kind="trial")}
    basin = {b.segment: b for b in store.basin_segments()}
    stages = {s.stage: s for s in store.stages()}
    for n in numbers:
        want = make_commit(n, natoms_max)
        ids = [store.config_id(c.key) for c in want["configs"]]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        t = want["trials"][0]
        expect = t.__class__(**{**t.__dict__, "parent_config": ids[0], "landing_config": ids[-1]})
        assert trials[n].same_as(expect), n
        assert int(by_index[n]["commit"]) == n
        if want["basin"]:
            assert basin[n].same_as(want["basin"][0])
        if want["stages"]:
            assert stages[n].same_as(want["stages"][0])
        if states:
            for cid, c in zip(ids, want["configs"]):
                got = store.config(cid)
                assert got.key == c.key and got.lam == c.lam and got.snapshot.same_as(c.snapshot)


PER_ROUND, BIG = 8, 40000


def kill_and_collect(child, delay):
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    out = child.communicate()[0].split()
    return [int(x) for x in out if x.isdigit()], out


def kill_after_commits(child, commits: int) -> list[int]:
    """Kill ``child`` as soon as it has reported ``commits`` more commits; all numbers it reported.

    Waiting for the writer's own reports instead of a fixed time makes every round commit
    something on any machine; the kill then lands wherever the writer is in its next commit
    (or a pack), which the scheduling of the two processes makes random.
    """
    logged: list[int] = []
    while len(logged) < commits:
        line = child.stdout.readline()
        if not line:  # the writer ended on its own: a failure the checks below report
            break
        logged.append(int(line))
    child.send_signal(signal.SIGKILL)
    rest = child.communicate()[0].split()
    return logged + [int(x) for x in rest if x.isdigit()]


def test_random_sigkill_never_corrupts_committed_data(tmp_path):
    path = tmp_path / "crash.jffs"
    create(path)
    rng = random.Random(20240531)
    logged_max = 0
    checked = 0
    waited = 0
    for _ in range(30):
        child = start_writer(path, threshold=4)
        first = child.stdout.readline().split()
        assert first[0] == "ready" and int(first[1]) >= logged_max
        commits = rng.randint(1, 3)  # 1..3 commits, so kills fall at different pack phases
        waited += commits
        logged = kill_after_commits(child, commits)
        assert child.returncode == -signal.SIGKILL
        with CampaignStore.open(path, "r") as store:
            m = store.n_commits
            top = max(logged, default=logged_max)
            # Everything reported as committed is there; at most the in-flight one more.
            assert top <= m <= top + 1, (logged[-3:], m)
            assert sorted(store.trial_table()["commit"].tolist()) == list(range(1, m + 1))
            check_commits(store, range(checked + 1, m + 1))
            checked = logged_max = m
    with CampaignStore.open(path, "a") as store:  # recovery + a full final check
        assert store.n_commits == checked and checked >= waited > 30
        check_commits(store, range(1, checked + 1))
        assert os.listdir(path / "packs")  # packing happened (and was killed at times)
        assert store.verify() == store.n_configs


def test_sigkill_during_packing(tmp_path):
    """Kill the writer at a random moment of compact() (timed from one unkilled pack)."""
    path = tmp_path / "pack.jffs"
    create(path)
    rng = random.Random(7)
    done = 0
    duration = None
    for attempt in range(6):
        child = start_writer(path, threshold=10**9, limit=done + PER_ROUND, natoms_max=BIG,
                             pack_at_end=True)
        lines = []
        while True:
            line = child.stdout.readline().strip()
            lines.append(line)
            if line in ("packing", ""):
                break
        t0 = time.perf_counter()
        if duration is None:  # first round: measure how long a pack takes, do not kill
            assert child.stdout.readline().strip() == "packed"
            duration = time.perf_counter() - t0
            child.wait()
        else:
            kill_and_collect(child, rng.uniform(0.0, duration))
        done += PER_ROUND
        with CampaignStore.open(path, "r") as store:
            assert store.n_commits == done
            check_commits(store, range(done - PER_ROUND + 1, done + 1), natoms_max=BIG)
    with CampaignStore.open(path, "a") as store:
        assert not [n for n in os.listdir(path / "packs") if n.startswith(".tmp")]
        check_commits(store, range(1, done + 1), natoms_max=BIG, states=False)
        store.compact()
        assert os.listdir(path / "segments") == []
        check_commits(store, range(1, done + 1), natoms_max=BIG)


#: How many commits the reader test waits for, and how many times the reader opens the store.
READER_COMMITS, READER_OPENS = 12, 12


def test_reader_sees_only_complete_commits_while_writer_runs(tmp_path):
    path = tmp_path / "live.jffs"
    create(path)
    child = start_writer(path, threshold=3, limit=10**9, natoms_max=500)
    try:
        assert child.stdout.readline().startswith("ready")
        last = 0
        opened = 0
        with CampaignStore.open(path, "r") as long_lived:
            # Until the writer has committed (and packed, every 3 commits) several times while
            # this reader kept opening: counted events, not a fixed time, on any machine.
            while last < READER_COMMITS or opened < READER_OPENS:
                assert child.poll() is None, "the writer died"
                with CampaignStore.open(path, "r") as store:
                    m = store.n_commits
                    assert m >= last
                    assert sorted(store.trial_table()["commit"].tolist()) == list(range(1, m + 1))
                    if m:  # newest and a random older commit, states included
                        check_commits(store, sorted({m, random.randint(1, m)}), natoms_max=500)
                    last, opened = m, opened + 1
                long_lived.refresh()  # a long-lived handle follows packing and deletions
                assert long_lived.n_commits >= m
                if long_lived.n_configs:
                    long_lived.snapshot(random.randrange(long_lived.n_configs))
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert last >= READER_COMMITS and opened >= READER_OPENS


SIGTERM_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from jffs_driver.store import CampaignStore, TrialRecord
    import jffs_driver.store.store as mod
    real = mod.write_bytes_atomically
    def write(path, data):
        os.kill(os.getpid(), signal.SIGTERM)  # default action: terminate -- but not yet
        real(path, data)
    mod.write_bytes_atomically = write
    store = CampaignStore.open(sys.argv[1], "a")
    store.commit(trials=[TrialRecord(0, 0, "trial", -1, ("basin", 0, 0), 1, "failure", 5, 0.0, 0.1)])
    print("not reached", flush=True)
    """
)


def test_sigterm_during_commit_terminates_after_it(tmp_path):
    path = tmp_path / "term.jffs"
    create(path)
    proc = subprocess.run([sys.executable, "-c", SIGTERM_CHILD, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGTERM and "not reached" not in proc.stdout
    with CampaignStore.open(path) as store:
        assert store.n_commits == 1 and store.trials()[0].steps == 5

"""The real coordinator at cluster scale: 1,024 simulated engine groups, up to 10^6 trials, one store.

Issue 14 item 6. The campaign loop, scheduler, ordered committer and HDF5 store are the real
ones (:func:`jffs_driver.campaign.run_campaign`). Only the engine groups are simulated: a
:class:`SimulatedClusterExecutor` with ``groups`` slots runs each task at once on a toy-chain
engine in this process (the trial's *outcome* is real, so successes, landing states and traces
reach the store) and gives it a *duration* drawn from a seeded heavy-tailed distribution
(lognormal, mean 60 s, sigma 1.5, capped at 100x the mean like a ``max_trial_steps`` timeout;
or Pareto), a stand-in for trials of a 10^4-atom membrane. A simulated clock (seconds) decides
when results come back:

* the coordinator's own work delays everything: between two polls the clock advances by the
  real wall time the coordinator spent (planning, committing, fsync, progress, and the
  pickling of tasks and results that an MPI coordinator does), not counting the executor's own
  bookkeeping and the toy engine's compute, which are measured and subtracted;
* a poll with no result due jumps the clock to the earliest completion (the coordinator waits);
* a poll returns every result whose completion time has passed.

Figures (simulated seconds unless stated):

* utilisation: busy group-time / (groups x makespan), makespan from the first dispatch to the
  last result; the idle time is split into dispatch latency and waiting for work (a stage
  cannot start before all trials of the previous one are in: with a heavy tail the last
  stragglers of each stage idle the other groups; that is the algorithm's barrier, not the
  coordinator's delay);
* dispatch latency: from the moment a group could have been given a task (its result came in,
  or, if the coordinator had no work for it then, the poll after which it had) to the submit of
  its next task: mean, p50, p99, max. ``free_to_submit`` is the plain time from a group
  becoming free to its next submit (barrier waits included);
* per bucket of committed trials (one stage: 10^4 in quick mode, 10^5 in full mode): store
  commit cost per trial and per commit (real ms in :meth:`CampaignStore.commit`, packing
  included), coordinator CPU and wall time per trial (real ms, engine and executor bookkeeping
  excluded, store commits included), configurations stored, data files in the store, and the
  dispatch latency. ``growth_last_over_first`` is the per-trial coordinator wall time of the
  last bucket over that of the first: near 1 means no step grows with the number of records
  or segments. (Later stages of this campaign succeed more often, so they store more
  configurations per trial: the commit cost per trial rises with them, not with the store's size;
  ``commit_ms_per_commit`` and ``configs`` show it.)
* where the coordinator's time goes, per bucket: packing (merging 256 loose segments into a pack
  inside a commit), Python's garbage collector outside commits, rebuilds of the organised state
  from all records (``CampaignState.from_records``, at each stage close and milestone), and the
  rest; the most finished results held in memory but not yet durable (the committer's
  out-of-order buffer and queued records); each pack (segments, trials, configurations, bytes,
  seconds); and every coordinator iteration longer than 2 s (stalls: no dispatch meanwhile).

The campaign: toy chain (``tests/data/toy_chain.toml``'s 7 kT barrier), 1,024 basin runs of two
x 1,000 steps (segments also end at each lambda_0 crossing: about 45,000 of them), fixed
milestones giving 10 stages, each closed at exactly ``max_trials`` trials (``target_successes =
0``), so the store ends with 10 x max_trials trials. ``commit_interval_s`` (default 2 s) is
measured on the simulated clock (the committer's clock is redirected to it inside this
process), as it would be on the cluster. Trials are committed in index order, so with this tail
the committed prefix advances in jumps (a straggler holds back every later result) and a
commit carries thousands of trials; with 0 (the configuration default) every committed trial
is its own commit, about 17 ms (one segment file and its fsync) on this machine, which makes
10^6 trials take many hours here.

This benchmark found ``Scheduler._running_rate`` (the progress lines' running rate) quadratic:
after every committed trial it recounted every closed stage (``len(StageState.counted)`` copied
the list, ``StageState.successes`` scanned it), so a trial of stage k cost O(trials of stages <
k): 10 stages x 3,000 trials went from 0.61 to 18.6 ms of coordinator time per trial (first to
last stage). Commit 20c4ea9 caches each closed stage's counts; the same run now gives 0.74 and
0.82 ms.

Usage::

    nice -n 10 python benchmarks/coordinator_scale.py --quick   # 10^5 trials (about 5 min)
    nice -n 10 python benchmarks/coordinator_scale.py           # 10^6 trials (about 30 min)

The last lines are ``groups=``, ``trials=``, ``utilisation=``, ``dispatch_latency_p99_s=``,
``commit_ms_per_trial_first=``, ``commit_ms_per_trial_last=``, ``coordinator_ms_per_trial_first=``,
``coordinator_ms_per_trial_last=`` and ``growth_last_over_first=``. The JSON goes to
``benchmarks/results/coordinator_scale_MODE.json`` (rewritten after every bucket, with
``"partial": true`` until the run ends).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import heapq
import json
import math
import os
import pickle
import shutil
import sys
import tempfile
import time
import types
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jffs_driver.campaign import run_campaign
from jffs_driver.config import parse_config
from jffs_driver.ffs.tasks import BasinTask
from jffs_driver.parallel.executor import Executor, execute
from jffs_driver.progress import Progress
from jffs_driver.scheduling import committer as committer_module
from jffs_driver.store import CampaignStore

RESULTS_DIR = REPO / "benchmarks" / "results"
#: Fixed milestones between lambda_0 = 6 and lambda_b = 20 (sites): 10 stages.
MILESTONES = (7, 8, 9, 10, 11, 12, 13, 14, 16)


# ------------------------------------------------------------------ durations
@dataclasses.dataclass(frozen=True)
class Durations:
    """Seeded heavy-tailed task durations (simulated seconds).

    Attributes
    ----------
    kind
        ``'lognormal'`` (mean ``mean_s``, log-sd ``sigma``) or ``'pareto'`` (mean ``mean_s``,
        tail index ``alpha`` > 1).
    mean_s
        Mean trial duration before the cap (s).
    sigma, alpha
        Shape of the tail.
    cap_factor
        Durations are capped at ``cap_factor * mean_s`` (a ``max_trial_steps`` timeout).
    basin_segment_s
        Duration of a full basin segment (s; shorter segments scale with their steps).
    """

    kind: str = "lognormal"
    mean_s: float = 60.0
    sigma: float = 1.5
    alpha: float = 1.5
    cap_factor: float = 100.0
    basin_segment_s: float = 60.0

    def sampler(self, seed: int) -> Callable[[], float]:
        """A function drawing one trial duration per call (blocks of draws for speed)."""
        rng = np.random.default_rng(seed)
        block: list[float] = []
        cap = self.cap_factor * self.mean_s

        def refill() -> None:
            if self.kind == "lognormal":
                mu = math.log(self.mean_s) - 0.5 * self.sigma**2
                x = rng.lognormal(mu, self.sigma, 65536)
            else:
                xm = self.mean_s * (self.alpha - 1.0) / self.alpha
                x = xm * (1.0 + rng.pareto(self.alpha, 65536))
            block.extend(np.minimum(x, cap)[::-1].tolist())

        def draw() -> float:
            if not block:
                refill()
            return block.pop()
        return draw


# ------------------------------------------------------------------- executor
class SimulatedClusterExecutor(Executor):
    """``groups`` simulated engine groups on a simulated clock (see module docstring).

    Parameters
    ----------
    make_engine
        The model's engine factory (one engine in this process computes every outcome).
    groups
        Number of engine groups (slots; one task in flight per group, like ``prefetch = 1``).
    durations
        Duration model.
    seed
        Seed of the duration draws.
    retries
        Engine retries (``engine.retries``).
    """

    def __init__(self, make_engine: Callable[..., Any], groups: int, durations: Durations, seed: int,
                 retries: int) -> None:
        self.groups = int(groups)
        self.retries = retries
        self._engine = make_engine(None)
        self._draw = durations.sampler(seed)
        self._durations = durations
        self._free: deque[int] = deque(range(self.groups))  # oldest free first
        self._free_at = [0.0] * self.groups  # when the group's last task ended
        self._avail_at = [0.0] * self.groups  # when the coordinator could first give it work
        self._heap: list[tuple[float, int, int, Any, Any]] = []  # (end, seq, slot, task, blob)
        self._seq = 0
        # Simulated clock: sim = base + real time since base_real - excluded real time.
        self._sim_base = 0.0
        self._real_base = time.perf_counter()
        self._excluded = 0.0
        self.excluded_wall = 0.0  # executor + engine real time, in all
        self.excluded_cpu = 0.0
        self.engine_wall = 0.0
        self.busy = 0.0  # simulated group-seconds of all tasks
        self.first_submit: float | None = None
        self.last_return = 0.0
        self.tasks = 0
        # per submit: (dispatch latency, free_to_submit, committed trials at the time)
        self.latency: list[float] = []
        self.free_to_submit: list[float] = []
        self.latency_trials: list[int] = []
        self.committed_trials = 0  # kept up to date by the commit probe
        self.stalls: list[dict[str, Any]] = []
        self._last_batch = 0

    # -- clock
    def now(self) -> float:
        """Simulated time now (s)."""
        return self._sim_base + (time.perf_counter() - self._real_base - self._excluded)

    def _exclude(self, wall0: float, cpu0: float) -> None:
        dw = time.perf_counter() - wall0
        self._excluded += dw
        self.excluded_wall += dw
        self.excluded_cpu += time.process_time() - cpu0

    # -- Executor interface
    def free_slots(self) -> int:
        return len(self._free)

    def in_flight(self) -> int:
        return len(self._heap)

    def submit(self, task: Any) -> None:
        t_submit = self.now()
        blob = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)  # MPIExecutor's isend: coordinator work
        wall0, cpu0 = time.perf_counter(), time.process_time()
        slot = self._free.popleft()
        self.latency.append(t_submit - self._avail_at[slot])
        self.free_to_submit.append(t_submit - self._free_at[slot])
        self.latency_trials.append(self.committed_trials)
        if self.first_submit is None:
            self.first_submit = t_submit
        w = pickle.loads(blob)  # the worker's side, not the coordinator's
        e0 = time.perf_counter()
        result = execute(self._engine, w, self.retries)
        self.engine_wall += time.perf_counter() - e0
        if isinstance(task, BasinTask):
            seg = self._durations.basin_segment_s
            duration = seg * task.max_steps / max(self._basin_steps, 1)
        else:
            duration = self._draw()
        light = dataclasses.replace(result, task=None, wall_s=duration)
        reply = pickle.dumps(light, protocol=pickle.HIGHEST_PROTOCOL)
        heapq.heappush(self._heap, (t_submit + duration, self._seq, slot, task, reply))
        self._seq += 1
        self.busy += duration
        self.tasks += 1
        self._exclude(wall0, cpu0)

    def poll(self) -> list[Any]:
        if not self._heap:
            return []
        sim = self.now()
        spent = sim - self._sim_base  # the coordinator's real time since the last poll returned
        if spent > self.STALL_S:
            self.stalls.append({"coordinator_s": spent, "committed_trials": self.committed_trials,
                                "sim_s": sim, "results_before": self._last_batch})
        wall0, cpu0 = time.perf_counter(), time.process_time()
        starved = list(self._free)  # free at a poll: the coordinator had no work for them
        sim = max(sim, self._heap[0][0])  # nothing due: wait for the earliest completion
        done = []
        while self._heap and self._heap[0][0] <= sim:
            end, _, slot, task, reply = heapq.heappop(self._heap)
            self._free.append(slot)
            self._free_at[slot] = end
            self._avail_at[slot] = end
            done.append((task, reply))
        for slot in starved:
            self._avail_at[slot] = sim
        self.last_return = sim
        self._last_batch = len(done)
        self._exclude(wall0, cpu0)
        self._sim_base, self._real_base, self._excluded = sim, time.perf_counter(), 0.0
        # The MPI coordinator unpickles each result and re-attaches its task: coordinator work.
        return [dataclasses.replace(pickle.loads(reply), task=task) for task, reply in done]

    def close(self) -> None:
        self._engine.close()

    _basin_steps = 1  # set by the benchmark: steps of a full basin segment
    #: A coordinator iteration (poll to poll) longer than this (real s) is recorded as a stall.
    STALL_S = 2.0


# ------------------------------------------------------------------- probes
class GcTimer:
    """Time Python's cyclic garbage collector per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.max_pause = [0.0, 0.0, 0.0]
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        g = int(info["generation"])
        dt = time.perf_counter() - self._t0
        self.count[g] += 1
        self.seconds[g] += dt
        self.max_pause[g] = max(self.max_pause[g], dt)


class Buckets:
    """Per-bucket costs, cut when the committed trials pass each multiple of ``size``."""

    def __init__(self, size: int, executor: SimulatedClusterExecutor, on_bucket: Callable[[], None],
                 gc_timer: GcTimer) -> None:
        self.size = int(size)
        self.gc_timer = gc_timer
        self.rebuild_s = 0.0  # CampaignState.from_records: the organised state rebuilt from all records
        self.rebuilds = 0
        self.gc_in_commit_s = 0.0
        self.ex = executor
        self.on_bucket = on_bucket
        self.commit_s = 0.0
        self.commits = 0
        self.trials = 0
        self.configs = 0
        self.files = 0
        self.pack_s = 0.0
        self.packs: list[dict[str, Any]] = []
        self.held = 0  # finished results held in memory (out-of-order buffer + queued records)
        self.held_max = 0  # ... their maximum since the last bucket
        self.rows: list[dict[str, Any]] = []
        self.basin: dict[str, Any] | None = None
        self._mark = self._snapshot()

    def _snapshot(self) -> dict[str, float]:
        ex = self.ex
        return {"cpu": time.process_time() - ex.excluded_cpu, "wall": time.perf_counter() - ex.excluded_wall,
                "commit_s": self.commit_s, "commits": self.commits, "trials": self.trials, "configs": self.configs,
                "pack_s": self.pack_s, "gc_s": sum(self.gc_timer.seconds) - self.gc_in_commit_s, "rebuild_s": self.rebuild_s,
                "rebuilds": self.rebuilds, "sim": ex.now(),
                "lat": len(ex.latency)}

    def _row(self, start: dict[str, float], end: dict[str, float]) -> dict[str, Any]:
        n = end["trials"] - start["trials"]
        tasks = int(end["lat"] - start["lat"])
        lat = np.asarray(self.ex.latency[int(start["lat"]):int(end["lat"])])

        def per(x: float, k: float) -> float | None:
            return 1e3 * x / k if k else None
        return {
            "trials_from": int(start["trials"]), "trials_to": int(end["trials"]),
            "commits": int(end["commits"] - start["commits"]),
            "commit_s": end["commit_s"] - start["commit_s"],
            "configs": int(end["configs"] - start["configs"]),
            "coordinator_cpu_s": end["cpu"] - start["cpu"],
            "coordinator_wall_s": end["wall"] - start["wall"],
            "tasks_submitted": tasks,
            "commit_ms_per_trial": per(end["commit_s"] - start["commit_s"], n),
            "pack_s": end["pack_s"] - start["pack_s"],
            "commit_ms_per_trial_without_packing": per(end["commit_s"] - start["commit_s"]
                                                       - (end["pack_s"] - start["pack_s"]), n),
            "coordinator_wall_ms_per_trial_without_packing": per(end["wall"] - start["wall"]
                                                                 - (end["pack_s"] - start["pack_s"]), n),
            "gc_s": end["gc_s"] - start["gc_s"],
            "state_rebuild_s": end["rebuild_s"] - start["rebuild_s"],
            "state_rebuilds": int(end["rebuilds"] - start["rebuilds"]),
            "coordinator_wall_ms_per_trial_rest": per(
                end["wall"] - start["wall"] - (end["commit_s"] - start["commit_s"]) - (end["gc_s"] - start["gc_s"])
                - (end["rebuild_s"] - start["rebuild_s"]), n),
            "finished_results_held_max": self.held_max,
            "commit_ms_per_commit": per(end["commit_s"] - start["commit_s"], end["commits"] - start["commits"]),
            "coordinator_cpu_ms_per_trial": per(end["cpu"] - start["cpu"], n),
            "coordinator_wall_ms_per_trial": per(end["wall"] - start["wall"], n),
            "coordinator_wall_ms_per_task": per(end["wall"] - start["wall"], tasks),
            "store_files": self.files,
            "sim_span_s": end["sim"] - start["sim"],
            "latency_mean_s": float(lat.mean()) if lat.size else None,
            "latency_p99_s": float(np.percentile(lat, 99)) if lat.size else None,
        }

    def before_commit(self, trials: int) -> None:
        if trials and self.basin is None:  # the first trial commit ends the basin phase
            end = self._snapshot()
            self.basin = self._row(self._mark, end)
            self._mark = end
            self.held_max = self.held

    def after_commit(self, seconds: float, trials: int, configs: int, files: int) -> None:
        self.commit_s += seconds
        self.commits += 1
        self.configs += configs
        self.trials += trials
        self.files = files
        self.ex.committed_trials = self.trials
        if self.basin is not None and self.trials >= (len(self.rows) + 1) * self.size:
            end = self._snapshot()
            self.rows.append(self._row(self._mark, end))
            self._mark = end
            self.held_max = self.held
            self.on_bucket()

    def close(self) -> None:
        """The last, incomplete bucket (if any trial is in it)."""
        end = self._snapshot()
        if end["trials"] > self._mark["trials"]:
            self.rows.append(self._row(self._mark, end))
            self.held_max = self.held
        self._mark = end


def install_commit_probe(buckets: Buckets) -> Callable[[], None]:
    """Time every :meth:`CampaignStore.commit` and its packing, and count the finished results
    the committer holds in memory (not yet durable); returns the function that removes the probes."""
    from jffs_driver.campaign_state import CampaignState
    from jffs_driver.scheduling.committer import OrderedCommitter

    original = CampaignStore.commit
    original_pack = CampaignStore._pack
    original_accept = OrderedCommitter.accept
    original_rebuild = CampaignState.__dict__["from_records"]

    def rebuild(cls: Any, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original_rebuild.__func__(cls, *a, **k)
        finally:
            buckets.rebuild_s += time.perf_counter() - t0
            buckets.rebuilds += 1

    def pack(self: CampaignStore) -> None:
        segs = self._catalog.segments()
        t0 = time.perf_counter()
        original_pack(self)
        dt = time.perf_counter() - t0
        buckets.pack_s += dt
        buckets.packs.append({"seconds": dt, "segments": len(segs), "trials": int(sum(d.trials.size for d in segs)),
                              "configs": int(sum(d.n_configs for d in segs)),
                              "bytes": int(sum(d.path.stat().st_size for d in self._catalog.files[-1:])),
                              "committed_trials_before": buckets.trials})

    def accept(self: Any, result: Any) -> None:
        original_accept(self, result)
        buckets.held = len(self.buffer) + len(self.pending["trials"]) + len(self.pending["basin"])
        buckets.held_max = max(buckets.held_max, buckets.held)

    def timed(self: CampaignStore, trials: Any = (), basin: Any = (), stages: Any = (), configs: Any = ()) -> Any:
        buckets.before_commit(len(trials))
        g0 = sum(buckets.gc_timer.seconds)
        t0 = time.perf_counter()
        info = original(self, trials=trials, basin=basin, stages=stages, configs=configs)
        buckets.gc_in_commit_s += sum(buckets.gc_timer.seconds) - g0
        buckets.after_commit(time.perf_counter() - t0, len(trials), len(configs), len(self._catalog.files))
        return info

    CampaignStore.commit = timed  # type: ignore[method-assign]
    CampaignStore._pack = pack  # type: ignore[method-assign]
    OrderedCommitter.accept = accept  # type: ignore[method-assign]
    CampaignState.from_records = classmethod(rebuild)  # type: ignore[method-assign,assignment]

    def remove() -> None:
        CampaignStore.commit = original  # type: ignore[method-assign]
        CampaignStore._pack = original_pack  # type: ignore[method-assign]
        OrderedCommitter.accept = original_accept  # type: ignore[method-assign]
        CampaignState.from_records = original_rebuild  # type: ignore[method-assign]
    return remove


# ------------------------------------------------------------------- campaign
def campaign_config(max_trials: int, runs: int, commit_interval_s: float, seed: int) -> tuple[Any, str]:
    """The benchmark campaign (toy chain, fixed milestones, stages closed at ``max_trials``)."""
    milestones = ", ".join(str(m) for m in MILESTONES)
    text = f"""# benchmarks/coordinator_scale.py: 10 stages of exactly {max_trials} trials each
[campaign]
name = "coordinator-scale"
seed = {seed}

[model]
type = "toy-chain"
potential = "7*((z-15)/12)^2*((z-15)^2/144-2)+7"  # kT; wells at 3 and 27, top at 15
n_sites = 31
start_site = 3

[interfaces]
lambda_a = 5
lambda_0 = 6
lambda_b = 20
mode = "fixed"
milestones = [{milestones}]

[basin]
runs = {runs}
steps_per_run = 2000
segment_steps = 1000

[stages]
target_successes = 0
max_trials = {max_trials}

[engine]
check_interval = 1
commit_interval_s = {commit_interval_s!r}
"""
    import tomllib

    return parse_config(tomllib.loads(text), source="coordinator_scale"), text


def percentiles(x: list[float]) -> dict[str, float]:
    a = np.asarray(x, dtype=float)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max())}


def run(args: argparse.Namespace) -> dict[str, Any]:
    config, text = campaign_config(args.max_trials, args.runs, args.commit_interval_s, args.seed)
    from jffs_driver.models import make_model

    model = make_model(config.model, config.interfaces, config.engine, with_exact=False)
    durations = Durations(kind=args.dist, mean_s=args.mean_s, sigma=args.sigma, alpha=args.alpha,
                          cap_factor=args.cap_factor, basin_segment_s=args.basin_segment_s)
    ex = SimulatedClusterExecutor(model.make_engine, args.groups, durations, args.seed, config.engine.retries)
    ex._basin_steps = config.basin.segment_steps
    root = Path(args.store_dir) if args.store_dir else Path(tempfile.mkdtemp(prefix="coordinator_scale_"))
    store = root / "campaign.jffs"
    loads: list[list[float]] = [list(os.getloadavg())]
    gc_timer = GcTimer()
    out: dict[str, Any] = {}

    def on_bucket() -> None:
        loads.append(list(os.getloadavg()))
        r = buckets.rows[-1]
        print(f"  bucket {len(buckets.rows):3d}: trials {r['trials_to']:>9,}  commit {r['commit_ms_per_trial']:.3f} ms/trial  "
              f"coordinator {r['coordinator_wall_ms_per_trial']:.3f} ms/trial wall, "
              f"{r['coordinator_cpu_ms_per_trial']:.3f} ms CPU; {r['store_files']} files", flush=True)
        if args.json_every_bucket:
            out.update(summarise(args, ex, buckets, loads, wall=time.perf_counter() - t0, partial=True, gc_timer=gc_timer))
            write_json(args, out)

    buckets = Buckets(args.bucket, ex, on_bucket, gc_timer)
    remove = install_commit_probe(buckets)
    gc.callbacks.append(gc_timer)
    # commit_interval_s is seconds of the cluster's clock: the simulated one.
    committer_module.time = types.SimpleNamespace(monotonic=ex.now)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    try:
        outcome = run_campaign(config, text, store_path=store, executor=ex, install_signal_handlers=False,
                               progress=Progress(interval=args.progress_s))
    finally:
        remove()
        gc.callbacks.remove(gc_timer)
        committer_module.time = time  # type: ignore[attr-defined]
    wall = time.perf_counter() - t0
    buckets.close()
    loads.append(list(os.getloadavg()))
    out = summarise(args, ex, buckets, loads, wall=wall, partial=False, gc_timer=gc_timer)
    out["complete"] = outcome.complete
    out["store_bytes"] = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    if not args.keep_store:
        shutil.rmtree(root, ignore_errors=True)
    else:
        out["store"] = str(store)
    return out


def summarise(args: argparse.Namespace, ex: SimulatedClusterExecutor, buckets: Buckets, loads: list[list[float]],
              wall: float, partial: bool, gc_timer: GcTimer) -> dict[str, Any]:
    first_submit = ex.first_submit or 0.0
    makespan = ex.last_return - first_submit
    busy_possible = args.groups * makespan
    lat = percentiles(ex.latency)
    free = percentiles(ex.free_to_submit)
    rows = buckets.rows
    first, last = (rows[0], rows[-1]) if rows else ({}, {})
    ratio = (last["coordinator_wall_ms_per_trial"] / first["coordinator_wall_ms_per_trial"]) if rows else None
    return {
        "benchmark": "coordinator_scale", "mode": args.mode, "partial": partial,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cores": os.cpu_count(), "load_average_samples": loads,
        "groups": args.groups, "tasks": ex.tasks, "trials_committed": buckets.trials,
        "commits": buckets.commits, "store_files_at_end": buckets.files,
        "max_trials_per_stage": args.max_trials, "stages": len(MILESTONES) + 1, "basin_runs": args.runs,
        "commit_interval_s": args.commit_interval_s,
        "durations": dataclasses.asdict(Durations(args.dist, args.mean_s, args.sigma, args.alpha, args.cap_factor,
                                                  args.basin_segment_s)),
        "makespan_sim_s": makespan, "busy_group_s": ex.busy, "utilisation": ex.busy / busy_possible if busy_possible else None,
        "idle_dispatch_latency_group_s": float(np.sum(ex.latency)),
        "idle_waiting_for_work_group_s": float(np.sum(ex.free_to_submit) - np.sum(ex.latency)),
        "dispatch_latency_s": lat, "free_to_submit_s": free,
        "bucket_trials": args.bucket, "basin_phase": buckets.basin, "buckets": rows, "packs": buckets.packs,
        "finished_results_held_max": max([r["finished_results_held_max"] for r in rows], default=None),
        "commit_ms_per_trial_first": first.get("commit_ms_per_trial"),
        "commit_ms_per_trial_last": last.get("commit_ms_per_trial"),
        "coordinator_ms_per_trial_first": first.get("coordinator_wall_ms_per_trial"),
        "coordinator_ms_per_trial_last": last.get("coordinator_wall_ms_per_trial"),
        "coordinator_cpu_ms_per_trial_first": first.get("coordinator_cpu_ms_per_trial"),
        "coordinator_cpu_ms_per_trial_last": last.get("coordinator_cpu_ms_per_trial"),
        "growth_last_over_first": ratio,
        "growth_without_packing": (last["coordinator_wall_ms_per_trial_without_packing"]
                                   / first["coordinator_wall_ms_per_trial_without_packing"]) if rows else None,
        "coordinator_stalls": ex.stalls,
        "gc": {"collections": gc_timer.count, "seconds": gc_timer.seconds, "max_pause_s": gc_timer.max_pause},
        "real_wall_s": wall, "engine_wall_s": ex.engine_wall, "executor_excluded_wall_s": ex.excluded_wall,
        "note": ("Real run_campaign/Scheduler/OrderedCommitter/CampaignStore; engine groups simulated "
                 "(toy-chain outcomes, durations drawn as stated, simulated clock advanced by the coordinator's "
                 "real time minus toy-engine and executor bookkeeping). 'coordinator_*_ms_per_trial' are real "
                 "milliseconds per committed trial in each bucket (store commits included); utilisation and "
                 "latencies in simulated seconds. Measured on a shared, loaded machine (see load averages); "
                 "MPI message costs beyond pickling are not modelled, nor the MPIExecutor's own per-group loops."),
    }


def write_json(args: argparse.Namespace, out: dict[str, Any]) -> None:
    path = args.out or RESULTS_DIR / f"coordinator_scale_{args.mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")
    tmp.replace(path)


def report(out: dict[str, Any]) -> None:
    g = out["groups"]
    print(f"\n{g} groups, {out['trials_committed']:,} trials in {out['stages']} stages, {out['commits']:,} commits, "
          f"{out['store_files_at_end']} store files at the end; real wall {out['real_wall_s']:.0f} s "
          f"(toy engine {out['engine_wall_s']:.0f} s, excluded); load average samples "
          f"{[round(x[0], 2) for x in out['load_average_samples']]}")
    d = out["durations"]
    print(f"task durations: {d['kind']} mean {d['mean_s']:g} s (sigma {d['sigma']:g}, cap {d['cap_factor']:g}x); "
          f"basin segment {d['basin_segment_s']:g} s; commit_interval_s {out['commit_interval_s']:g} (simulated)")
    mk = out["makespan_sim_s"]
    print(f"makespan {mk:,.0f} s simulated ({mk / 3600:.1f} h); busy {out['busy_group_s']:,.0f} group-s; "
          f"utilisation {100 * out['utilisation']:.2f} %")
    total = g * mk
    print(f"  idle: dispatch latency {100 * out['idle_dispatch_latency_group_s'] / total:.4f} % of group-time, "
          f"waiting for work (stage barriers, campaign tail) "
          f"{100 * out['idle_waiting_for_work_group_s'] / total:.2f} %")
    for name, key in (("dispatch latency", "dispatch_latency_s"), ("free -> next submit", "free_to_submit_s")):
        s = out[key]
        print(f"{name:>20} (s): mean {s['mean']:.4g}  p50 {s['p50']:.4g}  p99 {s['p99']:.4g}  max {s['max']:.4g}")
    b = out["basin_phase"]
    if b:
        print(f"basin phase: {b['tasks_submitted']:,} segments dispatched, {b['commits']:,} commits, "
              f"{b['commit_ms_per_commit'] or 0:.2f} ms per commit; coordinator {b['coordinator_wall_s']:.2f} s wall "
              f"({b['coordinator_wall_ms_per_task'] or 0:.3f} ms per segment), {b['coordinator_cpu_s']:.2f} s CPU; "
              f"{b['sim_span_s']:,.0f} s simulated")
    cols = (("trials", "(committed)", 21), ("commits", "", 7), ("configs", "", 7), ("ms per", "commit", 7),
            ("commit", "ms/trial", 8), ("packing", "s", 7), ("commit", "no pack", 8), ("coord", "CPU ms", 7),
            ("coord", "wall ms", 7), ("gc", "s", 5), ("rebuild", "s", 7), ("rest", "ms", 6), ("files", "", 5), ("held", "max", 6), ("lat", "mean s", 7), ("lat", "p99 s", 7))
    print("\n" + " | ".join(f"{a:>{w}}" for a, _, w in cols))
    print(" | ".join(f"{b:>{w}}" for _, b, w in cols))
    for r in out["buckets"]:
        print(f"{r['trials_from']:>9,}-{r['trials_to']:>11,} | {r['commits']:>7} | {r['configs']:>7} | "
              f"{r['commit_ms_per_commit']:>7.1f} | {r['commit_ms_per_trial']:>8.3f} | {r['pack_s']:>7.1f} | "
              f"{r['commit_ms_per_trial_without_packing']:>8.3f} | {r['coordinator_cpu_ms_per_trial']:>7.3f} | "
              f"{r['coordinator_wall_ms_per_trial']:>7.3f} | {r['gc_s']:>5.1f} | {r['state_rebuild_s']:>7.2f} | "
              f"{r['coordinator_wall_ms_per_trial_rest']:>6.3f} | {r['store_files']:>5} | {r['finished_results_held_max']:>6} | "
              f"{r['latency_mean_s'] or 0:>7.3f} | {r['latency_p99_s'] or 0:>7.3f}")
    print("(per trial: real ms per committed trial; commit: CampaignStore.commit incl. packing; gc: Python's garbage "
          "collector outside commits; rebuild: CampaignState.from_records; rest: coordinator wall minus commit, gc and rebuild; held: "
          "finished results in memory, not yet durable; lat: dispatch latency, simulated s)")
    for p in out["packs"]:
        print(f"pack: {p['segments']} segments, {p['trials']:,} trials, {p['configs']:,} configs, "
              f"{p['bytes'] / 1e6:,.0f} MB in {p['seconds']:.1f} s "
              f"({1e3 * p['seconds'] / max(p['configs'], 1):.3f} ms per config), after {p['committed_trials_before']:,} trials")
    for st in out["coordinator_stalls"][:20]:
        print(f"stall: coordinator busy {st['coordinator_s']:.1f} s between two polls after {st['committed_trials']:,} "
              f"committed trials (previous poll returned {st['results_before']} results)")
    gc_ = out["gc"]
    print(f"garbage collector: {gc_['collections']} collections (generations 0/1/2), "
          f"{[round(x, 1) for x in gc_['seconds']]} s, longest pause {[round(x, 2) for x in gc_['max_pause_s']]} s")
    last, first = out["buckets"][-1], out["buckets"][0]
    print(f"\nper-trial coordinator wall time, last bucket / first: {out['growth_last_over_first']:.3f} "
          f"(without packing {out['growth_without_packing']:.3f}; CPU "
          f"{last['coordinator_cpu_ms_per_trial'] / first['coordinator_cpu_ms_per_trial']:.3f}; commit "
          f"{last['commit_ms_per_trial'] / first['commit_ms_per_trial']:.3f}, without packing "
          f"{last['commit_ms_per_trial_without_packing'] / first['commit_ms_per_trial_without_packing']:.3f}; "
          f"configs per trial {last['configs'] / first['configs']:.3f}; rest "
          f"{last['coordinator_wall_ms_per_trial_rest'] / first['coordinator_wall_ms_per_trial_rest']:.3f})")
    print(f"groups={g}")
    print(f"trials={out['trials_committed']}")
    print(f"utilisation={out['utilisation']:.5f}")
    print(f"dispatch_latency_p99_s={out['dispatch_latency_s']['p99']:.6g}")
    print(f"commit_ms_per_trial_first={out['commit_ms_per_trial_first']:.4f}")
    print(f"commit_ms_per_trial_last={out['commit_ms_per_trial_last']:.4f}")
    print(f"coordinator_ms_per_trial_first={out['coordinator_ms_per_trial_first']:.4f}")
    print(f"coordinator_ms_per_trial_last={out['coordinator_ms_per_trial_last']:.4f}")
    print(f"growth_last_over_first={out['growth_last_over_first']:.4f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 stages x 10^4 trials (else 10 x 10^5)")
    ap.add_argument("--groups", type=int, default=1024, help="simulated engine groups")
    ap.add_argument("--max-trials", type=int, default=None, help="trials per stage (default 10^4 quick, 10^5 full)")
    ap.add_argument("--bucket", type=int, default=None, help="committed trials per bucket (default: max_trials)")
    ap.add_argument("--runs", type=int, default=1024, help="basin runs")
    ap.add_argument("--commit-interval-s", type=float, default=2.0,
                    help="[engine] commit_interval_s (simulated s; 0: one commit per result, ~17 ms each here)")
    ap.add_argument("--dist", choices=["lognormal", "pareto"], default="lognormal")
    ap.add_argument("--mean-s", type=float, default=60.0, help="mean trial duration (simulated s)")
    ap.add_argument("--sigma", type=float, default=1.5, help="lognormal log-sd")
    ap.add_argument("--alpha", type=float, default=1.5, help="Pareto tail index")
    ap.add_argument("--cap-factor", type=float, default=100.0, help="durations capped at this x mean")
    ap.add_argument("--basin-segment-s", type=float, default=60.0, help="duration of a basin segment (simulated s)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--progress-s", type=float, default=30.0, help="seconds between progress lines")
    ap.add_argument("--store-dir", default=None, help="where the store goes (default: a temporary folder)")
    ap.add_argument("--keep-store", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/coordinator_scale_MODE.json)")
    ap.add_argument("--no-json-every-bucket", dest="json_every_bucket", action="store_false",
                    help="write the JSON only at the end")
    args = ap.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    if args.max_trials is None:
        args.max_trials = 10_000 if args.quick else 100_000
    if args.bucket is None:
        args.bucket = args.max_trials
    print(f"coordinator_scale ({args.mode}): {args.groups} groups, {len(MILESTONES) + 1} stages x {args.max_trials:,} "
          f"trials, buckets of {args.bucket:,}; cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}"
, flush=True)
    out = run(args)
    write_json(args, out)
    report(out)


if __name__ == "__main__":
    main()

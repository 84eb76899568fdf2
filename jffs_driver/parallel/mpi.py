"""MPI execution: engine groups on sub-communicators, one coordinating rank, dynamic dispatch.

This is the only module of jffs_driver that imports :mod:`mpi4py`, and it does so lazily:
importing it is cheap, so ``jffs run`` can decide from the environment
(:func:`mpi_launch_detected`) whether it was started by ``mpiexec``/``srun`` at all.

Layout (:class:`Layout`, split once by :meth:`MPIWorld.split`): world rank 0 is the
*coordinator*; it runs the campaign loop and is the only rank that opens the store. Ranks
1..N-1 form ``(N - 1) / ranks_per_trial`` *engine groups* of consecutive ranks; each group owns
one engine (one LAMMPS instance) on its sub-communicator. The group's first rank (the
*leader*) talks to the coordinator and forwards each task to the other members, which run it
with it (a multi-rank LAMMPS run) and discard their copy of the result.

Protocol (pickled messages on a duplicate of ``COMM_WORLD``): the coordinator sends
``TASK`` to a leader (at most ``prefetch`` per group in flight, chosen dynamically: the least
loaded group gets the next task); the leader answers ``RESULT``. ``STOP`` ends a worker's
loop; any rank may send ``ERROR`` (a task or setup failed) or ``STOP_REQUEST`` (it received
SIGTERM/SIGUSR1) to the coordinator.

Busy polling: MPICH spins a core inside blocking calls. Every wait here is an
``Iprobe``/``Test`` loop that spins for 100 us and then sleeps, 20 us doubling to 2 ms
(:class:`Backoff`), so the coordinator and idle workers cost almost no CPU and two engine
groups on two cores run nearly twice as fast as one (``benchmarks/scaling.py``). A worker
finishes sending a result before it starts the next task, because a large message cannot
progress while the sender sits inside LAMMPS; results travel without their task (and start
state), which the coordinator still holds and re-attaches.

Failures never hang the job: an exception on any rank is reported to the coordinator with
rank, stage and trial; the coordinator journals it, closes the store and aborts the world
with the error's exit code (:meth:`MPIWorld.abort`). If the coordinator does not react within
:data:`ABORT_GRACE_S`, the failing rank aborts the world itself.

Fault injection (testing hook, documented in ``docs/parallel.md``): the environment variable
``JFFS_INJECT_FAULT="rank=R,kind=K,stage=S,index=I"`` (any subset of the keys; ``kind`` is
``trial``, ``pilot`` or ``basin``; for basin tasks ``run`` and ``segment``) makes world rank
``R`` raise :class:`InjectedFault` instead of running a matching task.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NoReturn, Optional

from ..engine.devices import SERIAL_PLACEMENT, EnginePlacement
from ..errors import UsageError
from .executor import Executor, execute
from .faults import (  # noqa: F401 - re-exported: the MPI layer's public names
    FAULT_VARIABLE, InjectedFault, WorkerError, _fault_matches, error_report, parse_fault,
    remote_error, task_context, task_label,
)
from .signals import StopFlag, StopSignals

TAG_TASK = 11
TAG_RESULT = 12
TAG_ERROR = 13
TAG_STOP = 14
TAG_STOP_REQUEST = 15

#: Automatic prefetch: (mean task seconds below, tasks queued per group); longer tasks go
#: one at a time (best balance). Deep queues hide the round trip of tiny tasks.
AUTO_PREFETCH = ((1e-3, 16), (1e-2, 4))

#: Seconds a failing rank waits for the coordinator to abort the job before aborting it itself.
ABORT_GRACE_S = 30.0

#: Environment variables that MPI launchers set to the world size (checked before importing
#: mpi4py): MPICH hydra and Slurm's PMI2 (PMI_SIZE), Open MPI, PMIx.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")

#: ``JFFS_MPI=1`` forces the MPI path, ``JFFS_MPI=0`` the serial one.
FORCE_VARIABLE = "JFFS_MPI"


def mpi_launch_detected(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether this process was started as one rank of a multi-rank MPI world.

    Reads only the environment (no mpi4py import), so the serial path stays free of MPI.
    """
    env = os.environ if environ is None else environ
    forced = env.get(FORCE_VARIABLE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    for key in SIZE_VARIABLES:
        try:
            if int(env.get(key, "1")) > 1:
                return True
        except ValueError:
            continue
    return False


# ---------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """Which world rank does what (see module docstring).

    Attributes
    ----------
    world_size
        Number of ranks in ``COMM_WORLD``.
    ranks_per_trial
        Ranks per engine group.
    """

    world_size: int
    ranks_per_trial: int

    @property
    def n_groups(self) -> int:
        """Number of engine groups."""
        return (self.world_size - 1) // self.ranks_per_trial

    def group_of(self, rank: int) -> int:
        """Engine group of a world rank (-1 for the coordinator)."""
        return -1 if rank == 0 else (rank - 1) // self.ranks_per_trial

    def leader(self, group: int) -> int:
        """World rank of a group's leader."""
        return 1 + group * self.ranks_per_trial


def make_layout(world_size: int, ranks_per_trial: int) -> Layout:
    """Check that ``world_size`` ranks make 1 coordinator + whole groups; return the layout."""
    rpt = int(ranks_per_trial)
    if world_size < 2 or (world_size - 1) % rpt:
        sizes = ", ".join(str(1 + k * rpt) for k in (1, 2, 4, 8))
        raise UsageError(
            f"an MPI run needs 1 coordinating rank plus whole engine groups of "
            f"parallel.ranks_per_trial = {rpt} ranks, but the world has {world_size} rank(s); "
            f"start it with mpiexec -n N where N = 1 + groups * {rpt} (e.g. {sizes})",
            world_size=world_size, ranks_per_trial=rpt)
    return Layout(world_size, rpt)


class Backoff:
    """Wait schedule for polling loops: spin for ``spin_s``, then sleep 20 us doubling to 2 ms.

    The short spin keeps the round trip of back-to-back tiny tasks in the tens of
    microseconds; the sleeps keep a rank that waits longer (for a trial to end) off the CPU.
    """

    def __init__(self, spin_s: float = 1e-4, first_s: float = 2e-5, longest_s: float = 2e-3) -> None:
        self.spin_s = spin_s
        self.first_s = first_s
        self.longest_s = longest_s
        self.reset()

    def reset(self) -> None:
        """Start again from spinning (call when something arrived)."""
        self._spin_end = time.perf_counter() + self.spin_s
        self._delay = self.first_s

    def wait(self) -> None:
        """Return after a spin or a sleep a little longer than the last one."""
        if time.perf_counter() < self._spin_end:
            return
        time.sleep(self._delay)
        self._delay = min(self._delay * 2.0, self.longest_s)


# ----------------------------------------------------------------------- world
class MPIWorld:
    """This rank's view of the split world.

    Attributes
    ----------
    comm
        Duplicate of ``COMM_WORLD`` used for coordinator <-> leader messages.
    rank
        World rank.
    layout
        The :class:`Layout`.
    group
        Communicator of this rank's engine group (``None`` on the coordinator); engines run on it.
    group_comm
        Duplicate of ``group`` for leader -> member messages (``None`` on the coordinator).
    """

    def __init__(self, mpi: Any, comm: Any, layout: Layout, group: Any, group_comm: Any,
                 placement: EnginePlacement = SERIAL_PLACEMENT) -> None:
        self.MPI = mpi
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.layout = layout
        self.group = group
        self.group_comm = group_comm
        #: Where this rank's engine group runs (node-local group index for the GPU rule).
        self.placement = placement

    @classmethod
    def split(cls, ranks_per_trial: int) -> "MPIWorld":
        """Initialise MPI, check the layout and split the world once (collective).

        Raises
        ------
        UsageError
            When the world size does not fit ``ranks_per_trial`` (on every rank alike).
        """
        from .._mpilib import ensure_mpi_library  # noqa: PLC0415

        from mpi4py import MPI  # noqa: PLC0415

        ensure_mpi_library()
        world = MPI.COMM_WORLD
        try:
            layout = make_layout(world.Get_size(), ranks_per_trial)
        except UsageError as exc:
            exc.context["rank"] = world.Get_rank()
            raise
        comm = world.Dup()
        rank = comm.Get_rank()
        color = MPI.UNDEFINED if rank == 0 else layout.group_of(rank)
        group = comm.Split(color, rank)
        placement = _placement(MPI, comm, layout)
        if group == MPI.COMM_NULL:
            return cls(MPI, comm, layout, None, None, placement)
        return cls(MPI, comm, layout, group, group.Dup(), placement)

    @property
    def is_coordinator(self) -> bool:
        """Whether this is world rank 0."""
        return self.rank == 0

    @property
    def group_index(self) -> int:
        """This rank's engine group (-1 on the coordinator)."""
        return self.layout.group_of(self.rank)

    @property
    def is_leader(self) -> bool:
        """Whether this rank leads its engine group."""
        return self.group_comm is not None and self.group_comm.Get_rank() == 0

    @property
    def local_comm(self) -> Any:
        """A one-rank communicator (for LAMMPS instances the coordinator needs, e.g. versions)."""
        return self.MPI.COMM_SELF

    def abort(self, code: int, message: str = "") -> NoReturn:
        """Print ``message`` and end every rank of the job with exit code ``code``."""
        if message:
            sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
        # Abort on COMM_WORLD itself: MPICH's launcher then reliably exits with ``code``
        # (aborting a duplicate communicator can end with the SIGKILL of another rank).
        self.MPI.COMM_WORLD.Abort(int(code))
        os._exit(int(code))  # pragma: no cover - Abort does not return


# ------------------------------------------------------------------ executor
class MPIExecutor(Executor):
    """Coordinator side: hands tasks to engine groups and collects results.

    Parameters
    ----------
    world
        The split world (this must be the coordinator).
    prefetch
        Tasks in flight per group. 1 balances long trials best; more hides the round trip of
        very short tasks. 0 (automatic): 1 while tasks take 10 ms or more on average, deeper
        for shorter ones (:data:`AUTO_PREFETCH`).
    stop
        Stop flag; a ``STOP_REQUEST`` from a worker sets it, and :meth:`poll` returns early
        when it becomes set so the caller can react.
    poll_timeout_s
        :meth:`poll` returns (possibly empty) at least this often.
    """

    def __init__(self, world: MPIWorld, prefetch: int = 0, stop: Optional[StopFlag] = None,
                 poll_timeout_s: float = 0.25) -> None:
        if not world.is_coordinator:
            raise ValueError("MPIExecutor runs on world rank 0 only")
        self.world = world
        self.comm = world.comm
        self.auto = int(prefetch) <= 0
        self.prefetch = 1 if self.auto else int(prefetch)
        self._mean_task_s: Optional[float] = None
        self.stop = stop if stop is not None else StopFlag()
        self.poll_timeout_s = poll_timeout_s
        n = world.layout.n_groups
        self._load = [0] * n
        self._sent: list[deque[Any]] = [deque() for _ in range(n)]
        self._sends: list[Any] = []
        self._status = world.MPI.Status()
        #: Tasks still running when :meth:`close` was called (the caller must abort the job).
        self.abandoned = 0
        self.dispatched = [0] * n

    @property
    def local_comm(self) -> Any:
        """One-rank communicator for LAMMPS instances on the coordinator."""
        return self.world.local_comm

    def free_slots(self) -> int:
        # Automatic prefetch can shrink below what is already queued: never negative.
        return max(len(self._load) * self.prefetch - self.in_flight(), 0)

    def in_flight(self) -> int:
        return sum(self._load)

    def submit(self, task: Any) -> None:
        group = min(range(len(self._load)), key=lambda g: (self._load[g], g))
        dest = self.world.layout.leader(group)
        self._sends.append(self.comm.isend(task, dest=dest, tag=TAG_TASK))
        self._sent[group].append(task)
        self._load[group] += 1
        self.dispatched[group] += 1

    def _progress_sends(self) -> None:
        if self._sends:
            self._sends = [r for r in self._sends if not r.Test()]

    def poll(self) -> list[Any]:
        """Results that arrived; waits (sleeping) up to ``poll_timeout_s`` for the first one.

        Returns an empty list when nothing runs, when the timeout passed, or when the stop
        flag became set while waiting. Raises the error a worker reported.
        """
        results: list[Any] = []
        was_stopped = bool(self.stop)
        end = time.monotonic() + self.poll_timeout_s
        backoff = Backoff()
        comm, status, any_source, any_tag = self.comm, self._status, self.world.MPI.ANY_SOURCE, self.world.MPI.ANY_TAG
        while True:
            self._progress_sends()
            while comm.iprobe(source=any_source, tag=any_tag, status=status):
                source, tag = status.Get_source(), status.Get_tag()
                msg = comm.recv(source=source, tag=tag)
                if tag == TAG_RESULT:
                    # Groups run their tasks in order; the result comes back without its task
                    # (and start state), which is re-attached here.
                    group = self.world.layout.group_of(source)
                    self._load[group] -= 1
                    results.append(dataclasses.replace(msg, task=self._sent[group].popleft()))
                    self._note_duration(float(msg.wall_s))
                elif tag == TAG_ERROR:
                    raise remote_error(msg)
                elif tag == TAG_STOP_REQUEST:
                    self.stop.set(f"{msg['signal']} received by rank {msg['rank']}")
            if results or self.in_flight() == 0:
                return results
            if (bool(self.stop) and not was_stopped) or time.monotonic() >= end:
                return results
            backoff.wait()

    def _note_duration(self, seconds: float) -> None:
        mean = seconds if self._mean_task_s is None else 0.9 * self._mean_task_s + 0.1 * seconds
        self._mean_task_s = mean
        if self.auto:
            self.prefetch = next((depth for limit, depth in AUTO_PREFETCH if mean < limit), 1)

    def close(self) -> None:
        """Stop the workers, or record that tasks were abandoned (see :attr:`abandoned`)."""
        if self.in_flight():
            # Workers are inside tasks and cannot be interrupted; the caller aborts the job
            # once the store is closed.
            self.abandoned = self.in_flight()
            return
        sends = [self.comm.isend(None, dest=self.world.layout.leader(g), tag=TAG_STOP)
                 for g in range(self.world.layout.n_groups)]
        _wait_all(sends + self._sends, timeout_s=ABORT_GRACE_S)
        self._sends = []


def _wait_all(requests: list[Any], timeout_s: float) -> bool:
    backoff = Backoff()
    end = time.monotonic() + timeout_s
    pending = list(requests)
    while pending:
        pending = [r for r in pending if not r.Test()]
        if pending:
            if time.monotonic() > end:
                return False
            backoff.wait()
    return True


# -------------------------------------------------------------- remote errors
# --------------------------------------------------------------------- workers
def _placement(mpi: Any, comm: Any, layout: Layout) -> EnginePlacement:
    """This rank's :class:`EnginePlacement` (collective over ``comm``).

    The engine groups with ranks on this node (the ranks that share memory with this one)
    are numbered in group order; the coordinator (rank 0) belongs to none.
    """
    rank = int(comm.Get_rank())
    node = comm.Split_type(mpi.COMM_TYPE_SHARED, key=rank)
    try:
        mine = layout.group_of(rank) if rank > 0 else -1
        local = sorted({int(g) for g in node.allgather(mine) if g >= 0})
    finally:
        node.Free()
    name = str(mpi.Get_processor_name())
    if mine < 0:
        return EnginePlacement(group=-1, local_group=0, groups_on_node=len(local), node=name)
    return EnginePlacement(group=mine, local_group=local.index(mine), groups_on_node=len(local), node=name)


def serve(world: MPIWorld, make_engine: Callable[..., Any], retries: int,
          stop: Optional[StopFlag] = None) -> None:
    """Worker ranks: build the group's engine and run tasks until the coordinator says stop.

    Returns normally after ``STOP``. Any exception is reported to the coordinator, which ends
    the whole job (this function then never returns). SIGTERM/SIGUSR1 received here (or
    already recorded in ``stop``) are forwarded to the coordinator as a stop request.
    """
    if world.is_coordinator:
        raise ValueError("serve() runs on worker ranks only")
    stop = stop if stop is not None else StopFlag()
    forwarder = _StopForwarder(world)
    if stop.reason:
        forwarder.note(stop.reason)
    fault = parse_fault(os.environ.get(FAULT_VARIABLE))
    with StopSignals(stop, on_signal=forwarder.note):
        engine = None
        try:
            engine = make_engine(world.group, world.placement)
            if world.is_leader:
                _leader_loop(world, engine, retries, fault, forwarder)
            else:
                _member_loop(world, engine, retries, fault, forwarder)
        except BaseException as exc:  # noqa: BLE001 - engine set-up or protocol: reported, job ends
            _fail(world, exc, None)
        if engine is not None:
            engine.close()


class _StopForwarder:
    """Tells the coordinator once that this rank received a stop signal."""

    def __init__(self, world: MPIWorld) -> None:
        self.world = world
        self.pending: Optional[str] = None
        self.sent: Optional[Any] = None

    def note(self, signame: str) -> None:
        self.pending = self.pending or signame

    def flush(self) -> None:
        if self.pending and self.sent is None:
            self.sent = self.world.comm.isend({"rank": self.world.rank, "signal": self.pending},
                                              dest=0, tag=TAG_STOP_REQUEST)


def _run_task(world: MPIWorld, engine: Any, task: Any, retries: int, fault: Optional[dict[str, str]]) -> Any:
    try:
        if _fault_matches(fault, world.rank, task):
            raise InjectedFault(f"fault injected by {FAULT_VARIABLE}={os.environ.get(FAULT_VARIABLE)}")
        return execute(engine, task, retries)
    except BaseException as exc:  # noqa: BLE001 - reported, then the job ends
        _fail(world, exc, task)


def _leader_loop(world: MPIWorld, engine: Any, retries: int, fault: Optional[dict[str, str]],
                 forwarder: _StopForwarder) -> None:
    comm, gcomm = world.comm, world.group_comm
    members = range(1, gcomm.Get_size())
    status = world.MPI.Status()
    queue: deque[Any] = deque()
    stopping = False
    while True:
        backoff = Backoff()
        while True:
            forwarder.flush()
            while comm.iprobe(source=0, tag=world.MPI.ANY_TAG, status=status):
                tag = status.Get_tag()
                msg = comm.recv(source=0, tag=tag)
                if tag == TAG_TASK:
                    queue.append(msg)
                elif tag == TAG_STOP:
                    stopping = True
            if queue or stopping:
                break
            backoff.wait()
        if not queue:
            break
        task = queue.popleft()
        sends = [gcomm.isend(task, dest=m, tag=TAG_TASK) for m in members]
        result = _run_task(world, engine, task, retries, fault)
        # Finish every send before the next task: a large message does not progress while
        # this rank is inside LAMMPS.
        light = dataclasses.replace(result, task=None)  # the coordinator still has the task
        _wait_all(sends + [comm.isend(light, dest=0, tag=TAG_RESULT)], timeout_s=float("inf"))
    _wait_all([gcomm.isend(None, dest=m, tag=TAG_STOP) for m in members], timeout_s=float("inf"))


def _member_loop(world: MPIWorld, engine: Any, retries: int, fault: Optional[dict[str, str]],
                 forwarder: _StopForwarder) -> None:
    gcomm = world.group_comm
    status = world.MPI.Status()
    while True:
        backoff = Backoff()
        while not gcomm.iprobe(source=0, tag=world.MPI.ANY_TAG, status=status):
            forwarder.flush()
            backoff.wait()
        tag = status.Get_tag()
        msg = gcomm.recv(source=0, tag=tag)
        if tag == TAG_STOP:
            return
        _run_task(world, engine, msg, retries, fault)


def _fail(world: MPIWorld, exc: BaseException, task: Any) -> NoReturn:
    """Report an exception to the coordinator and wait for it to end the job."""
    report = error_report(exc, world.rank, world.group_index, task)
    request = world.comm.isend(report, dest=0, tag=TAG_ERROR)
    # The coordinator journals the failure, closes the store and aborts the world. If it
    # cannot (it is itself stuck), end the job from here.
    end = time.monotonic() + ABORT_GRACE_S
    _wait_all([request], timeout_s=ABORT_GRACE_S)
    while time.monotonic() < end:
        time.sleep(0.05)
    err = remote_error(report)
    world.abort(err.exit_code, f"jffs: error (rank {world.rank}; the coordinator did not end the job): {err}")

"""Running a study: build, equilibrate and run the campaign of every box, resumably.

Every step is skipped when its output is already there (a build whose ``build.toml`` matches
the planned one, an equilibrated replica, a complete campaign), so ``jffs study STUDY.toml``
can be run again after any interruption and continues where it stopped. Campaigns run as
``[mpiexec -n RANKS] python -m jffs_driver run BOX/campaign.toml`` subprocesses (one LAMMPS
world each); their exit code 75 (stopped on request) stops the study with 75 too.

Seeds: the build of box i uses ``derive_seed(study seed, "study-build", i)`` and its campaign
``derive_seed(study seed, "study-campaign", i)``, so a study is reproducible from its file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import ConfigError, ConfigProblem, JffsError
from ..ffs.seeds import derive_seed
from .config import BoxSpec, StudyConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Echo = Callable[[str], None]

#: Exit code of ``jffs run`` when it stopped early on request (resubmit).
EXIT_RESUBMIT = 75


class StudyStopped(JffsError):
    """A campaign of the study stopped early on request; run the same command again."""

    exit_code = EXIT_RESUBMIT


@dataclass(frozen=True)
class BoxPlan:
    """What the study will build and run for one box.

    Attributes
    ----------
    box
        The box specification.
    index
        Position in the study file (seeds derive from it).
    build
        The ``jffs build --config`` mapping of this box (fluid counts scaled with the area).
    lx_nm, ly_nm
        Lateral box, nm.
    counts
        Water feed / filtrate and salt units.
    """

    box: BoxSpec
    index: int
    build: dict[str, Any]
    lx_nm: float
    ly_nm: float
    counts: dict[str, int]


def plan_boxes(cfg: StudyConfig) -> list[BoxPlan]:
    """Resolve every box's build parameters (validated by the builder's own resolver).

    The first box's fluid counts (from ``[build]``) define the water and salt per lateral area;
    other boxes scale them with their area (rounded), so every box has the same pore, the same
    salt concentration and the same compartment heights.
    """
    from ..system.presets import resolve  # noqa: PLC0415

    base_over = {k: v for k, v in cfg.build.items()}
    try:
        base = resolve(None, base_over, source=str(cfg.path))
    except ConfigError as exc:
        raise ConfigError([ConfigProblem(f"build.{p.key}", p.value, p.expected) for p in exc.problems]
                          or str(exc), source=str(cfg.path)) from exc
    base_area = base.box.lx_A * base.box.ly_A
    plans = []
    for i, box in enumerate(cfg.boxes):
        over = json.loads(json.dumps(base_over))  # deep copy of plain TOML data
        if box.preset is not None:
            over["preset"] = box.preset
            for sec in ("box", "fluid"):  # a preset brings its own box and contents
                over.pop(sec, None)
        box_over = dict(over.get("box", {}))
        for key in ("nx_cells", "ny_cells", "lx_nm", "ly_nm"):
            value = getattr(box, key)
            if value is not None:
                box_over[key] = value
                if key in ("lx_nm", "ly_nm"):
                    box_over.pop(key.replace("l", "n", 1).replace("_nm", "_cells"), None)
        if box_over:
            over["box"] = box_over
        where = f"box[{i}] ({box.name})"
        try:
            sized = resolve(None, over, source=where)
        except ConfigError as exc:
            raise ConfigError([ConfigProblem(f"{where}.{p.key}", p.value, p.expected) for p in exc.problems]
                              or str(exc), source=str(cfg.path)) from exc
        if box.preset is None and (box.nx_cells or box.ny_cells or box.lx_nm or box.ly_nm):
            ratio = sized.box.lx_A * sized.box.ly_A / base_area
            fluid = dict(over.get("fluid", {}))
            fluid["water_feed"] = round(base.fluid.water_feed * ratio)
            fluid["water_filtrate"] = round(base.fluid.water_filtrate * ratio)
            fluid["salt_units"] = max(1, round(base.fluid.salt_units * ratio))
            if base.fluid.co_salt_units:  # a mixture keeps its composition; the pore (and its COO-) stays one
                fluid["co_salt_units"] = max(1, round(base.fluid.co_salt_units * ratio))
            over["fluid"] = fluid
            sized = resolve(None, over, source=where)
        over["seed"] = derive_seed(cfg.seed, "study-build", i) % 2**31
        plans.append(BoxPlan(box=box, index=i, build=over, lx_nm=sized.box.lx_A / 10.0, ly_nm=sized.box.ly_A / 10.0,
                             counts={"water_feed": sized.fluid.water_feed, "water_filtrate": sized.fluid.water_filtrate,
                                     "salt_units": sized.fluid.salt_units}))
    return plans


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def dump_toml(data: dict[str, Any]) -> str:
    """Plain TOML for nested tables of scalars and lists (what builds and campaigns use)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items() if not isinstance(vv, dict))
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    lines.append(f"\n[{k}.{kk}]")
                    lines.extend(f"{a} = {_toml_value(b)}" for a, b in vv.items())
    return "\n".join(lines) + "\n"


def campaign_mapping(cfg: StudyConfig, plan: BoxPlan) -> dict[str, Any]:
    """The campaign of one box: the template with name, seed, store and system set."""
    raw = tomllib.loads(cfg.template.read_text(encoding="utf-8"))
    raw.setdefault("campaign", {})
    raw["campaign"].update({"name": f"{cfg.name}-{plan.box.name}",
                            "seed": derive_seed(cfg.seed, "study-campaign", plan.index),
                            "store": "campaign.jffs"})
    raw.setdefault("model", {})
    raw["model"]["type"] = "membrane"
    raw["model"]["system"] = "system"
    if plan.box.leader is not None:
        raw["model"]["leader"] = plan.box.leader
    return raw


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it; True if written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def _replica_done(system: Path, index: int) -> bool:
    return (system / "replicas" / f"rep_{index:03d}" / "equilibrated.data").is_file()


def _built(system: Path, build_text: str, stamp: Path) -> bool:
    return (system / "metadata.json").is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == build_text


def prepare_box(cfg: StudyConfig, plan: BoxPlan, echo: Echo) -> Path:
    """Build and equilibrate one box (skipping what is done); returns its campaign file."""
    from ..system.builder import build_system  # noqa: PLC0415
    from ..system.equilibrate import equilibrate  # noqa: PLC0415

    bdir = cfg.box_dir(plan.box)
    system = bdir / "system"
    build_text = dump_toml(plan.build)
    stamp = bdir / "build.toml"
    if not _built(system, build_text, stamp):
        echo(f"[{plan.box.name}] building {plan.lx_nm:.3f} x {plan.ly_nm:.3f} nm "
             f"({plan.counts['water_feed']}/{plan.counts['water_filtrate']} waters, {plan.counts['salt_units']} salt formula units)")
        if system.exists():  # a build from another plan: its replicas are stale too
            shutil.rmtree(system)
        bdir.mkdir(parents=True, exist_ok=True)
        build_system(system, config=plan.build, overwrite=True)
        write_if_changed(stamp, build_text)
    args = ["-sf", "omp", "-pk", "omp", str(cfg.omp)] if cfg.omp > 0 else []
    for i in range(cfg.replicas):
        if _replica_done(system, i):
            continue
        echo(f"[{plan.box.name}] equilibrating replica {i + 1}/{cfg.replicas}")
        equilibrate(system, replicas=1, first=i, fixed_ps=cfg.fixed_ps, moving_ps=cfg.moving_ps, lammps_args=args)
    camp = campaign_mapping(cfg, plan)
    camp["model"]["replicas"] = cfg.replicas
    path = bdir / "campaign.toml"
    write_if_changed(path, "# Written by jffs study from " + str(cfg.path) + "; edit the study, not this file.\n"
                     + dump_toml(camp))
    return path


def run_command(cfg: StudyConfig, campaign: Path) -> list[str]:
    """The command line that runs one box's campaign."""
    cmd = [sys.executable, "-m", "jffs_driver", "run", str(campaign)]
    if cfg.ranks > 1:
        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        if mpiexec is None:
            raise ConfigError([ConfigProblem("run.ranks", cfg.ranks, "1, or install an mpiexec (pip install mpich)")],
                              source=str(cfg.path))
        cmd = [mpiexec, "-n", str(cfg.ranks), *cmd]
    return cmd


def run_box(cfg: StudyConfig, plan: BoxPlan, campaign: Path, echo: Echo) -> None:
    """Run (or continue) one box's campaign to completion."""
    echo(f"[{plan.box.name}] campaign: {' '.join(run_command(cfg, campaign)[-3:])}")
    proc = subprocess.run(run_command(cfg, campaign), cwd=campaign.parent)
    if proc.returncode == EXIT_RESUBMIT:
        raise StudyStopped(f"box {plan.box.name}: the campaign stopped on request; run the same "
                           "`jffs study` command again to continue")
    if proc.returncode != 0:
        err = JffsError(f"box {plan.box.name}: `jffs run {campaign}` exited with {proc.returncode} "
                        f"(see its messages above; `jffs status {campaign.parent / 'campaign.jffs'}`)")
        err.exit_code = proc.returncode if 0 < proc.returncode < 128 else 5
        raise err


def box_status(cfg: StudyConfig, plan: BoxPlan) -> dict[str, Any]:
    """Where one box stands (never starts LAMMPS)."""
    bdir = cfg.box_dir(plan.box)
    system = bdir / "system"
    built = _built(system, dump_toml(plan.build), bdir / "build.toml")
    done = sum(_replica_done(system, i) for i in range(cfg.replicas)) if built else 0
    out: dict[str, Any] = {"box": plan.box.name, "lx_nm": plan.lx_nm, "ly_nm": plan.ly_nm, "built": built,
                           "replicas": f"{done}/{cfg.replicas}", "campaign": "not started"}
    store = bdir / "campaign.jffs"
    if (store / "campaign.h5").is_file():
        from ..results import load_state  # noqa: PLC0415
        from ..store import CampaignStore  # noqa: PLC0415

        with CampaignStore.open(store, mode="r") as st:
            state, _ = load_state(st)
        closed = sum(s.closing is not None for s in state.stages)
        out["campaign"] = ("complete" if state.complete else "stalled" if state.stalled else
                           f"basin {state.basin_steps}/{cfg_steps(state)} steps" if not state.basin_done else
                           f"{closed} stage(s) closed")
        out["complete"] = state.complete
    return out


def cfg_steps(state: Any) -> int:
    """Total basin steps a campaign plans."""
    return state.config.basin.runs * state.config.basin.steps_per_run


def run_study(cfg: StudyConfig, echo: Echo, only: Optional[str] = None, prepare_only: bool = False) -> list[Path]:
    """Prepare and run every box (or the one named ``only``); returns the campaign files."""
    plans = plan_boxes(cfg)
    if only is not None:
        plans = [p for p in plans if p.box.name == only]
        if not plans:
            raise ConfigError([ConfigProblem("--box", only, "one of " + ", ".join(b.name for b in cfg.boxes))])
    campaigns = []
    failed: list[tuple[str, JffsError]] = []
    for plan in plans:
        camp = prepare_box(cfg, plan, echo)
        campaigns.append(camp)
        if prepare_only:
            continue
        try:
            run_box(cfg, plan, camp, echo)
        except StudyStopped:
            raise  # a stop request ends the whole study at once
        except JffsError as exc:  # one box that cannot progress does not hold up the others
            echo(f"[{plan.box.name}] {exc}")
            failed.append((plan.box.name, exc))
    if failed:
        names = ", ".join(n for n, _ in failed)
        err = JffsError(f"the campaign of {len(failed)} box(es) did not complete: {names} (reasons above; "
                        f"`jffs study {cfg.path} --status`); the others ran. Fix the campaign template and run "
                        "the study again, or write the report of what there is with --report-only")
        err.exit_code = failed[0][1].exit_code
        raise err
    return campaigns

"""The study file: one pore chemistry, several box sizes, one campaign template.

``STUDY.toml`` (paths relative to its folder)::

    [study]
    name = "membrane-study"
    seed = 1                   # every box's build and campaign seed derive from it
    out = "study"              # work folder: boxes/NAME/{system,campaign.toml,campaign.jffs}, report/

    [build]                    # jffs build --config overrides shared by every box
    preset = "tiny"
    pore = { radius_A = 7.0 }
    pressure = { delta_p_bar = 4000.0 }

    [[box]]                    # one table per box size
    name = "small"             # the build as it is
    [[box]]
    name = "wide"
    nx_cells = 13              # or lx_nm/ly_nm (commensurate with graphene) or preset = "paper-26"
    ny_cells = 7               # water and ions scale with the lateral area (same pore, same salt)
    # leader = "Na+"           # optional per box: [model] leader of its campaign; boxes of one size
                               # with different leaders add a selectivity section to the report

    [equilibrate]
    replicas = 4
    fixed_ps = 0.2
    moving_ps = 1.0

    [campaign]
    template = "campaign.toml" # a campaign file; [campaign] name/seed/store and [model] system are set per box

    [run]
    ranks = 3                  # mpiexec -n 3 jffs run (1 coordinator + 2 engine groups); 1 = serial

    [report]
    variant = "reversible-work"
    bootstrap = 200
    induced_reference = "pooled"   # or "matched": each branch against its own basin run (jffs induced-charge)
    induced_detached = "milestones"  # or "basin" / "both": jffs induced-charge --detached-frames
    z_c_fallback_nm = -0.43        # optional: z_c for the correction where the measured one is unusable
    z_c_fallback_ci95_nm = 0.03    # its 95 % half-width (propagated)

Unknown keys are errors and every problem is listed at once (exit code 2).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import ConfigError, ConfigProblem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Keys of a [[box]] table.
BOX_KEYS = {"name", "preset", "nx_cells", "ny_cells", "lx_nm", "ly_nm", "leader"}
SECTIONS = {"study", "build", "box", "equilibrate", "campaign", "run", "report"}
VARIANTS = ("reversible-work", "paper", "as-printed")


@dataclass(frozen=True)
class BoxSpec:
    """One box size of the study.

    Attributes
    ----------
    name
        Folder name under ``boxes/`` (letters, digits, ``-`` and ``_``).
    preset
        Build preset of this box (None: the study's ``[build] preset``).
    nx_cells, ny_cells, lx_nm, ly_nm
        Lateral box (graphene cells or nm); None keeps the preset's.
    leader
        ``[model] leader`` of this box's campaign (None: the template's): boxes of one size
        with different leaders give the report's selectivity section.
    """

    name: str
    preset: Optional[str] = None
    nx_cells: Optional[int] = None
    ny_cells: Optional[int] = None
    lx_nm: Optional[float] = None
    ly_nm: Optional[float] = None
    leader: Optional[str] = None


def _leader(table: Mapping[str, Any], where: str, problems: list[ConfigProblem]) -> Optional[str]:
    """``leader`` of a [[box]] (checked against the build when the campaign starts)."""
    value = table.get("leader")
    if value is not None and (not isinstance(value, str) or not value):
        problems.append(ConfigProblem(f"{where}.leader", value, '"any", "cation", "anion" or an ion name such as "Na+"'))
        return None
    return value


@dataclass(frozen=True)
class StudyConfig:
    """A parsed and validated study file (see module docstring)."""

    path: Path
    name: str
    seed: int
    out: Path
    build: Mapping[str, Any]
    boxes: tuple[BoxSpec, ...]
    replicas: int
    fixed_ps: Optional[float]
    moving_ps: Optional[float]
    omp: int
    template: Path
    ranks: int
    variant: str
    bootstrap: int
    induced_reference: str = "pooled"
    induced_detached: str = "milestones"
    z_c_fallback_nm: Optional[float] = None
    z_c_fallback_ci95_nm: Optional[float] = None

    def box_dir(self, box: BoxSpec) -> Path:
        """Work folder of one box."""
        return self.out / "boxes" / box.name

    @property
    def report_dir(self) -> Path:
        """Folder of the study report."""
        return self.out / "report"


def _int(table: Mapping[str, Any], key: str, where: str, default: Any, lo: int, hi: int,
         problems: list[ConfigProblem]) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        problems.append(ConfigProblem(f"{where}.{key}", value, f"an integer from {lo} to {hi}"))
        return default
    return value


def _float(table: Mapping[str, Any], key: str, where: str, default: Any, lo: float, hi: float,
           problems: list[ConfigProblem]) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo < value <= hi:
        problems.append(ConfigProblem(f"{where}.{key}", value, f"a number in ({lo:g}, {hi:g}]"))
        return default
    return float(value)


def _unknown(table: Mapping[str, Any], allowed: set[str], where: str, problems: list[ConfigProblem]) -> None:
    for key in table:
        if key not in allowed:
            problems.append(ConfigProblem(f"{where}.{key}" if where else key, table[key],
                                          "no such key; allowed: " + ", ".join(sorted(allowed))))


def _name_ok(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 64 and all(c.isalnum() or c in "-_" for c in name)


def parse_study(raw: Mapping[str, Any], path: Path) -> StudyConfig:
    """Validate a study mapping (as read from ``path``) and return the frozen configuration.

    Raises
    ------
    ConfigError
        Listing every problem (key path, value, fix).
    """
    problems: list[ConfigProblem] = []
    _unknown(raw, SECTIONS, "", problems)
    tables = {}
    for sec in SECTIONS - {"box"}:
        value = raw.get(sec, {})
        if not isinstance(value, dict):
            problems.append(ConfigProblem(sec, value, "a table"))
            value = {}
        tables[sec] = value
    study, eq, camp, run, rep = (tables[k] for k in ("study", "equilibrate", "campaign", "run", "report"))
    _unknown(study, {"name", "seed", "out"}, "study", problems)
    _unknown(eq, {"replicas", "fixed_ps", "moving_ps", "omp"}, "equilibrate", problems)
    _unknown(camp, {"template"}, "campaign", problems)
    _unknown(run, {"ranks"}, "run", problems)
    _unknown(rep, {"variant", "bootstrap", "induced_reference", "induced_detached", "z_c_fallback_nm",
                   "z_c_fallback_ci95_nm"}, "report", problems)
    name = study.get("name")
    if not _name_ok(name):
        problems.append(ConfigProblem("study.name", name, "a name of 1-64 letters, digits, '-' or '_'"))
    seed = _int(study, "seed", "study", None, 0, 2**31 - 1, problems)
    if seed is None:
        problems.append(ConfigProblem("study.seed", None, "an integer seed (every box's seeds derive from it)"))
    out = study.get("out", "study")
    if not isinstance(out, str) or not out or "\n" in out:
        problems.append(ConfigProblem("study.out", out, "a folder path relative to the study file"))
        out = "study"
    boxes_raw = raw.get("box", [])
    boxes: list[BoxSpec] = []
    if not isinstance(boxes_raw, list) or not boxes_raw:
        problems.append(ConfigProblem("box", boxes_raw, "one or more [[box]] tables (two or more for the "
                                                         "thermodynamic-limit extrapolation)"))
        boxes_raw = []
    for i, b in enumerate(boxes_raw):
        where = f"box[{i}]"
        if not isinstance(b, dict):
            problems.append(ConfigProblem(where, b, "a table"))
            continue
        _unknown(b, BOX_KEYS, where, problems)
        bname = b.get("name")
        if not _name_ok(bname):
            problems.append(ConfigProblem(f"{where}.name", bname, "a name of 1-64 letters, digits, '-' or '_'"))
            bname = f"box{i}"
        preset = b.get("preset")
        if preset is not None and not isinstance(preset, str):
            problems.append(ConfigProblem(f"{where}.preset", preset, "a preset name such as 'tiny' or 'paper-26'"))
            preset = None
        spec = BoxSpec(
            name=str(bname), preset=preset,
            nx_cells=_int(b, "nx_cells", where, None, 1, 10_000, problems),
            ny_cells=_int(b, "ny_cells", where, None, 1, 10_000, problems),
            lx_nm=_float(b, "lx_nm", where, None, 0.0, 1000.0, problems),
            ly_nm=_float(b, "ly_nm", where, None, 0.0, 1000.0, problems),
            leader=_leader(b, where, problems),
        )
        if (spec.nx_cells is not None or spec.ny_cells is not None) and (spec.lx_nm is not None or spec.ly_nm is not None):
            problems.append(ConfigProblem(where, b, "give either nx_cells/ny_cells or lx_nm/ly_nm, not both"))
        boxes.append(spec)
    names = [b.name for b in boxes]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(ConfigProblem("box.name", dup, "distinct names (one folder per box)"))
    template = camp.get("template")
    base = path.parent
    if not isinstance(template, str) or not template:
        problems.append(ConfigProblem("campaign.template", template,
                                      "the path of a campaign TOML file (relative to the study file)"))
        template_path = base / "campaign.toml"
    else:
        template_path = (base / template).resolve()
        if not template_path.is_file():
            problems.append(ConfigProblem("campaign.template", template, f"an existing file ({template_path} not found)"))
    variant = rep.get("variant", "reversible-work")
    if variant not in VARIANTS:
        problems.append(ConfigProblem("report.variant", variant, "one of " + ", ".join(VARIANTS)))
    build = tables["build"]
    replicas = _int(eq, "replicas", "equilibrate", 4, 1, 10_000, problems)
    fixed_ps = _float(eq, "fixed_ps", "equilibrate", None, 0.0, 1e6, problems)
    moving_ps = _float(eq, "moving_ps", "equilibrate", None, 0.0, 1e6, problems)
    omp = _int(eq, "omp", "equilibrate", 0, 0, 1024, problems)
    ranks = _int(run, "ranks", "run", 1, 1, 100_000, problems)
    bootstrap = _int(rep, "bootstrap", "report", 200, 0, 100_000, problems)
    induced_reference = rep.get("induced_reference", "pooled")
    if induced_reference not in ("pooled", "matched"):
        problems.append(ConfigProblem("report.induced_reference", induced_reference,
                                      "'pooled' (all basin-A frames, the paper) or 'matched' (each branch "
                                      "against the basin-A frames of its own basin run)"))
    induced_detached = rep.get("induced_detached", "milestones")
    if induced_detached not in ("milestones", "basin", "both"):
        problems.append(ConfigProblem("report.induced_detached", induced_detached,
                                      "'milestones' (the paper), 'basin' (basin-run states with the ion in the "
                                      "pore) or 'both' (jffs induced-charge --detached-frames)"))
    zc_fb = rep.get("z_c_fallback_nm")
    if zc_fb is not None and not (isinstance(zc_fb, (int, float)) and not isinstance(zc_fb, bool)
                                  and math.isfinite(zc_fb) and zc_fb < 0):
        problems.append(ConfigProblem("report.z_c_fallback_nm", zc_fb, "a negative number of nm (the conductor "
                                      "lies in the feed, e.g. -0.43 from the paper's Table 2), or leave it out"))
        zc_fb = None
    zc_half = rep.get("z_c_fallback_ci95_nm")
    if zc_half is not None and not (isinstance(zc_half, (int, float)) and not isinstance(zc_half, bool)
                                    and math.isfinite(zc_half) and zc_half >= 0):
        problems.append(ConfigProblem("report.z_c_fallback_ci95_nm", zc_half, "a half-width >= 0 in nm"))
        zc_half = None
    if zc_half is not None and rep.get("z_c_fallback_nm") is None:
        problems.append(ConfigProblem("report.z_c_fallback_ci95_nm", zc_half, "only with report.z_c_fallback_nm"))
    if problems:
        raise ConfigError(problems, source=str(path))
    return StudyConfig(
        path=path.resolve(), name=str(name), seed=int(seed), out=(base / out).resolve(), build=dict(build),
        boxes=tuple(boxes), replicas=replicas, fixed_ps=fixed_ps, moving_ps=moving_ps, omp=omp,
        template=template_path, ranks=ranks, variant=str(variant), bootstrap=bootstrap,
        induced_reference=str(induced_reference), induced_detached=str(induced_detached),
        z_c_fallback_nm=None if zc_fb is None else float(zc_fb),
        z_c_fallback_ci95_nm=None if zc_half is None else float(zc_half),
    )


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"study file {p} not found; pass the path of a STUDY.toml", source=str(p)) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read study file: {exc}", source=str(p)) from exc
    return parse_study(raw, p)

"""The study report: per-box results, the finite-size correction over box sizes, figures.

For every box with a complete campaign: the rate and MFPT (`jffs results`, stop-rule-unbiased),
the raw and corrected free-energy profiles with their barriers, z_c from the induced charge,
tau and tau_inf (Eq. 6; `jffs correct`), the induced charge q1 + q2 of the first two liquid
layers (`jffs induced-charge`), and the water passage time tau_w of the basin NEMD. Over the
boxes: the Eyring-type holistic estimate of tau_inf (paper Fig. 6B) at the mean corrected
barrier. Written to ``STUDY_OUT/report/``: ``table.csv`` and ``table.json`` (a Table 3
analogue, every number with its unit and 95 % CI), ``profiles.png`` (raw and corrected
profiles of every box: Figs. 2B and 6A in small), ``induced_charge.png`` (q1 + q2 per area and
z_c against the box area: Fig. 5), ``eyring.png`` (Fig. 6B) and ``report.md`` linking them.

Units: lengths nm (lambda in A as the stores have it), times ns (tau_w also fs), barriers kT,
charge e, charge per area e/nm^2.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import JffsError, UsageError
from .config import StudyConfig
from .pipeline import BoxPlan, plan_boxes, write_if_changed

Echo = Callable[[str], None]
FS_PER_NS = 1e6

#: Columns of table.csv (unit in the name).
COLUMNS = ("box", "complete", "lx_nm", "ly_nm", "area_nm2", "mfpt_ns", "mfpt_ci95_lo_ns", "mfpt_ci95_hi_ns",
           "barrier_raw_kT", "barrier_raw_ci95_lo_kT", "barrier_raw_ci95_hi_kT",
           "barrier_corrected_kT", "barrier_corrected_ci95_lo_kT", "barrier_corrected_ci95_hi_kT",
           "z_c_nm", "z_c_ci95_lo_nm", "z_c_ci95_hi_nm", "z_c_source",
           "z_c_measured_nm", "z_c_measured_ci95_lo_nm", "z_c_measured_ci95_hi_nm",
           "q12_e", "q12_ci95_lo_e", "q12_ci95_hi_e",
           "tau_profile_ns", "tau_inf_eq6_ns", "tau_inf_eq6_ci95_lo_ns", "tau_inf_eq6_ci95_hi_ns",
           "tau_w_ns", "tau_w_ci95_lo_ns", "tau_w_ci95_hi_ns", "water_passages")


@dataclass(frozen=True)
class BoxReport:
    """Everything the report says about one box (JSON-ready ``row``, plus objects for plots)."""

    plan: BoxPlan
    row: dict[str, Any]
    correction: Any
    charge: Any
    problems: tuple[str, ...]


def _pair(x: Any) -> tuple[Optional[float], Optional[float]]:
    if x is None:
        return (None, None)
    lo, hi = list(x)[:2]
    return (_num(lo), _num(hi))


def _num(x: Any) -> Optional[float]:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _scale(x: Optional[float], f: float) -> Optional[float]:
    return None if x is None else x * f


def choose_z_c(charge: Any, fallback_nm: Optional[float], fallback_half_nm: Optional[float]
               ) -> tuple[Optional[float], Optional[float], str, str]:
    """The z_c the correction uses: ``(z_c_nm, ci95 half-width_nm, source, problem text)``.

    The measured z_c is used when it and its whole 95 % CI lie in the feed (below the pore
    entrance, where the ion detaches); otherwise, with a fallback configured
    (``[report] z_c_fallback_nm``), the fallback and its half-width are used and the problem
    text says why; without one, the measured point value (if any) goes on to the correction.
    """
    z = None if charge is None else _num(charge.z_c_nm)
    lo, hi = (None, None) if charge is None else _pair(charge.z_c_ci95_nm)
    if z is not None and lo is not None and hi is not None and hi < 0.0:
        return z, max(hi - z, z - lo), "measured", ""
    if z is None:
        reason = "z_c was not measured"
    elif lo is None or hi is None:
        reason = f"the measured z_c ({z:.3g} nm) has no 95 % CI (that of q1 + q2 includes 0)"
    else:
        reason = f"the measured z_c's 95 % CI ({lo:.3g} .. {hi:.3g} nm) does not lie in the feed"
    if fallback_nm is not None:
        half = f" +- {fallback_half_nm:g}" if fallback_half_nm else ""
        return (fallback_nm, fallback_half_nm or None, "fallback",
                f"{reason}: the correction uses the study's z_c = {fallback_nm:g}{half} nm ([report] z_c_fallback_nm)")
    return z, None if lo is None or hi is None else max(hi - z, z - lo), "measured", ""


def correct_with_measured_z_c(correct: Callable[[Optional[float], Optional[float]], Any], z_c: Optional[float],
                              half: Optional[float], problems: list[str]) -> Any:
    """Run ``correct(z_c_nm, half_width_nm)``; when z_c's interval reaches the detachment point
    (the correction refuses it: the conductor must lie in front of the detached ion), correct
    with the point value alone and add a problem saying the intervals leave z_c's uncertainty out."""
    try:
        return correct(z_c, half)
    except UsageError as exc:
        if half is None or z_c is None or exc.context.get("option") != "--z-c-ci95":
            raise
        problems.append(f"z_c's 95 % CI (about {z_c:.3g} +- {half:.3g} nm) reaches the detachment point (lambda = 0), "
                        "so it is not propagated: the corrected barrier and tau_inf intervals leave out the "
                        "uncertainty of z_c")
        return correct(z_c, None)


def box_report(cfg: StudyConfig, plan: BoxPlan, echo: Echo) -> BoxReport:
    """Analyse one box's store (results, correction with measured z_c, induced charge, water)."""
    from ..analysis.corrected_profile import correct_store  # noqa: PLC0415
    from ..analysis.induced_charge import charge_center  # noqa: PLC0415
    from ..analysis.campaign_results import full_results  # noqa: PLC0415

    bdir = cfg.box_dir(plan.box)
    store, system = bdir / "campaign.jffs", bdir / "system"
    problems: list[str] = []
    res = full_results(store, n_bootstrap=0)
    if res.get("rate") is None or not res.get("stages") or not any(s.get("closed") for s in res["stages"]):
        row = {k: None for k in COLUMNS}
        row.update({"box": plan.box.name, "complete": False, "lx_nm": plan.lx_nm, "ly_nm": plan.ly_nm,
                    "area_nm2": plan.lx_nm * plan.ly_nm})
        reason = res.get("reason") or "no stage has closed yet"
        return BoxReport(plan=plan, row=row, correction=None, charge=None,
                         problems=(f"nothing to report: {reason}; run `jffs study {cfg.path}` "
                                   f"(or see `jffs status {store}`)",))
    if not res.get("complete"):
        problems.append("campaign incomplete: MFPT, tau and barriers refer to the last closed milestone "
                        "(lower bounds of the barrier); run `jffs study` to finish it")
    unit_ns = 1.0 / FS_PER_NS if res["time_unit"] == "fs" else math.nan
    mfpt_lo, mfpt_hi = _pair(res["mfpt_ci95"])
    row: dict[str, Any] = {
        "box": plan.box.name, "complete": bool(res.get("complete")), "lx_nm": plan.lx_nm, "ly_nm": plan.ly_nm, "area_nm2": plan.lx_nm * plan.ly_nm,
        "mfpt_ns": _scale(_num(res["mfpt"]), unit_ns), "mfpt_ci95_lo_ns": _scale(mfpt_lo, unit_ns),
        "mfpt_ci95_hi_ns": _scale(mfpt_hi, unit_ns),
    }
    charge = None
    echo(f"[{plan.box.name}] induced charge and z_c ({cfg.induced_reference} basin-A reference, detached frames: "
         f"{cfg.induced_detached})")
    try:
        charge = charge_center(store, system, reference=cfg.induced_reference, detached_frames=cfg.induced_detached)
        row["q12_e"] = _num(charge.induced_first_two_e)
        row["q12_ci95_lo_e"], row["q12_ci95_hi_e"] = _pair(charge.induced_first_two_ci95_e)
        row["z_c_measured_nm"] = _num(charge.z_c_nm)
        row["z_c_measured_ci95_lo_nm"], row["z_c_measured_ci95_hi_nm"] = _pair(charge.z_c_ci95_nm)
    except JffsError as exc:
        problems.append(f"induced charge: {exc}")
    echo(f"[{plan.box.name}] profile and ideal-conductor correction ({cfg.variant})")
    corr = None
    try:
        z_c, half, source, why = choose_z_c(charge, cfg.z_c_fallback_nm, cfg.z_c_fallback_ci95_nm)
        row["z_c_source"] = source
        if why:
            problems.append(why)
        corr = correct_with_measured_z_c(
            lambda z, h: correct_store(store, z_c_nm=z, z_c_ci95_nm=h, variant=cfg.variant,
                                       n_bootstrap=cfg.bootstrap, system=system),
            z_c, half, problems)
        d = corr.to_json()
        br, bc, c = d["barrier_raw"], d["barrier_corrected"], d["correction"]
        row.update({
            "barrier_raw_kT": _num(br["height_kT"]),
            "barrier_corrected_kT": _num(bc["height_kT"]),
            "z_c_nm": _num(c["z_c_nm"]),
            "tau_profile_ns": _scale(_num(d["tau"]["value"]), unit_ns),
            "tau_inf_eq6_ns": _scale(_num(d["tau_inf"]["value"]), unit_ns),
        })
        row["barrier_raw_ci95_lo_kT"], row["barrier_raw_ci95_hi_kT"] = _pair(br["height_ci95_kT"])
        row["barrier_corrected_ci95_lo_kT"], row["barrier_corrected_ci95_hi_kT"] = _pair(bc["height_ci95_kT"])
        row["z_c_ci95_lo_nm"], row["z_c_ci95_hi_nm"] = _pair(c["z_c_ci95_nm"])
        lo, hi = _pair(d["tau_inf"]["ci95"])
        row["tau_inf_eq6_ci95_lo_ns"], row["tau_inf_eq6_ci95_hi_ns"] = _scale(lo, unit_ns), _scale(hi, unit_ns)
    except JffsError as exc:
        problems.append(f"profile/correction: {exc}")
    water = (res.get("membrane") or {}).get("water") or {}
    row["tau_w_ns"] = _num(water.get("tau_w_ns"))
    row["tau_w_ci95_lo_ns"], row["tau_w_ci95_hi_ns"] = _pair(water.get("tau_w_ns_ci95"))
    row["water_passages"] = water.get("forward")
    for key in COLUMNS:
        row.setdefault(key, None)
    return BoxReport(plan=plan, row=row, correction=corr, charge=charge, problems=tuple(problems))


def holistic(reports: list[BoxReport]) -> Optional[Any]:
    """Eyring-type tau_inf over the boxes (needs two boxes with barriers and tau)."""
    from ..correction.extrapolation import SizeRecord, thermodynamic_limit  # noqa: PLC0415

    usable = [r.row for r in reports if all(r.row.get(k) is not None for k in (
        "mfpt_ns", "mfpt_ci95_lo_ns", "mfpt_ci95_hi_ns", "barrier_raw_kT", "barrier_raw_ci95_lo_kT",
        "barrier_raw_ci95_hi_kT", "barrier_corrected_kT"))]
    if len(usable) < 2:
        return None
    records = [SizeRecord(lx_nm=r["lx_nm"], ly_nm=r["ly_nm"], tau_ns=r["mfpt_ns"],
                          tau_ci95_ns=(r["mfpt_ci95_lo_ns"], r["mfpt_ci95_hi_ns"]), barrier_kT=r["barrier_raw_kT"],
                          barrier_ci95_kT=(r["barrier_raw_ci95_lo_kT"], r["barrier_raw_ci95_hi_kT"])) for r in usable]
    corrected = [r["barrier_corrected_kT"] for r in usable]
    barrier_inf = statistics.mean(corrected)
    # Half-width: the spread of the corrected barriers over the boxes (they should agree) and
    # the mean of their own CI half-widths, combined.
    halves = [(r["barrier_corrected_ci95_hi_kT"] - r["barrier_corrected_ci95_lo_kT"]) / 2 for r in usable
              if r["barrier_corrected_ci95_hi_kT"] is not None and r["barrier_corrected_ci95_lo_kT"] is not None]
    spread = 1.96 * statistics.stdev(corrected) / math.sqrt(len(corrected)) if len(corrected) > 1 else 0.0
    half = math.hypot(spread, (statistics.mean(halves) / math.sqrt(len(halves))) if halves else 0.0)
    return thermodynamic_limit(records, barrier_inf, half)


def _fmt(x: Optional[float], spec: str = ".3g") -> str:
    return "n/a" if x is None else format(x, spec)


def _ci_text(row: dict[str, Any], key: str, spec: str = ".3g") -> str:
    base = key[:-3] if key.endswith(("_ns", "_kT", "_nm")) else key[:-2] if key.endswith("_e") else key
    suffix = key[len(base):]
    lo, hi = row.get(f"{base}_ci95_lo{suffix}"), row.get(f"{base}_ci95_hi{suffix}")
    text = _fmt(row.get(key), spec)
    if lo is not None and hi is not None:
        text += f" ({_fmt(lo, spec)} .. {_fmt(hi, spec)})"
    return text


def write_report(cfg: StudyConfig, echo: Echo) -> Path:
    """Analyse every box and write the report folder; returns the path of report.md."""
    plans = plan_boxes(cfg)
    reports = [box_report(cfg, p, echo) for p in plans]
    limit = holistic(reports)
    out = cfg.report_dir
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in reports:
        w.writerow({k: ("" if r.row[k] is None else r.row[k]) for k in COLUMNS})
    write_if_changed(out / "table.csv", buf.getvalue())
    payload: dict[str, Any] = {
        "study": cfg.name, "variant": cfg.variant, "induced_reference": cfg.induced_reference,
        "induced_detached": cfg.induced_detached,
        "units": {"length": "nm", "lambda": "A", "time": "ns", "barrier": "kT", "charge": "e"},
        "boxes": [r.row for r in reports], "problems": {r.plan.box.name: list(r.problems) for r in reports},
    }
    if limit is not None:
        payload["holistic"] = {
            "barrier_inf_kT": limit.barrier_inf_kT, "barrier_inf_ci95_halfwidth_kT": limit.barrier_inf_ci95_halfwidth_kT,
            "tau_inf_ns": limit.tau_inf_ns, "tau_inf_ci95_ns": list(limit.tau_inf_ci95_ns),
            "ln_prefactor_ns": limit.fit.ln_prefactor, "method": "Eyring-type fit with a size-independent prefactor "
                                                            "(paper Sec. III, Fig. 6B)"}
    sel = species_selectivity(cfg, reports, echo)
    if sel:
        payload["selectivity"] = sel
    write_if_changed(out / "table.json", json.dumps(payload, indent=1, allow_nan=False) + "\n")
    figures = _figures(reports, limit, out)
    write_if_changed(out / "report.md", _markdown(cfg, reports, limit, figures, sel))
    return out / "report.md"


def _figures(reports: list[BoxReport], limit: Any, out: Path) -> dict[str, str]:
    import matplotlib  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figs: dict[str, str] = {}
    with_corr = [r for r in reports if r.correction is not None]
    if with_corr:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        for i, r in enumerate(with_corr):
            c = r.correction.corrected
            color = f"C{i}"
            label = f"{r.plan.box.name} ({r.plan.lx_nm:.2f} x {r.plan.ly_nm:.2f} nm)"
            ax.plot(c.lam, c.beta_g_raw, "--", color=color, label=f"{label}, raw")
            ax.plot(c.lam, c.beta_g_corrected, "-", color=color, label=f"{label}, corrected")
            band = np.asarray(c.beta_g_corrected_ci95, dtype=float)  # (N, 2) pointwise 95 % band
            if band.shape == (len(c.lam), 2) and np.isfinite(band).any():
                ax.fill_between(c.lam, band[:, 0], band[:, 1], color=color, alpha=0.15, linewidth=0)
        ax.set_xlabel("lambda (Å)")
        ax.set_ylabel("beta G (kT)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        fig.savefig(out / "profiles.png", dpi=110)
        plt.close(fig)
        figs["profiles"] = "profiles.png"
    with_q = [r for r in reports if r.row.get("z_c_measured_nm") is not None or r.row.get("q12_e") is not None]
    if with_q:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.4))
        for i, r in enumerate(with_q):
            name = r.plan.box.name
            area = r.row["area_nm2"]
            q, lo, hi = r.row.get("q12_e"), r.row.get("q12_ci95_lo_e"), r.row.get("q12_ci95_hi_e")
            if q is not None:
                err = None if lo is None or hi is None else [[(q - lo) / area], [(hi - q) / area]]
                a1.errorbar([area], [q / area], yerr=err, fmt="o", capsize=3, color=f"C{i}",
                            label=name if err is not None else f"{name} (no CI)")
            z, zl, zh = (r.row.get("z_c_measured_nm"), r.row.get("z_c_measured_ci95_lo_nm"),
                         r.row.get("z_c_measured_ci95_hi_nm"))
            if z is not None:
                err = None if zl is None or zh is None else [[z - zl], [zh - z]]
                a2.errorbar([area], [z], yerr=err, fmt="s", capsize=3, color=f"C{i}",
                            label=name if err is not None else f"{name} (no CI)")
        a1.set_xlabel("box area (nm²)")
        a1.set_ylabel("(q1 + q2) / A (e/nm²)")
        a2.set_xlabel("box area (nm²)")
        a2.set_ylabel("z_c measured (nm)")
        a2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside the data
        fig.tight_layout()
        fig.savefig(out / "induced_charge.png", dpi=110)
        plt.close(fig)
        figs["induced_charge"] = "induced_charge.png"
    if limit is not None:
        from ..correction.plot import plot_eyring  # noqa: PLC0415

        plot_eyring(limit, out / "eyring.png")
        figs["eyring"] = "eyring.png"
    return figs


def _zc_used(row: dict[str, Any]) -> str:
    if row.get("z_c_nm") is None:
        return "n/a"
    return _ci_text(row, "z_c_nm", ".3f") + (" (fallback)" if row.get("z_c_source") == "fallback" else "")


def species_selectivity(cfg: StudyConfig, reports: list[BoxReport], echo: Echo) -> list[dict[str, Any]]:
    """Passage-time ratios between boxes of the same size whose campaigns follow different species.

    Boxes are grouped by their lateral size (nm, to 1e-6); within a group whose boxes set at
    least two different ``leader`` values, every box is compared with the group's first (raw
    MFPTs, the bootstrap and delta-method CIs of :func:`jffs_driver.analysis.selectivity.
    selectivity`, labelled by the species that arrived in B). Empty when the study follows one
    species per size.
    """
    from ..analysis.selectivity import selectivity  # noqa: PLC0415

    groups: dict[tuple[float, float], list[BoxReport]] = {}
    for r in reports:
        if r.row.get("mfpt_ns") is not None:
            groups.setdefault((round(r.plan.lx_nm, 6), round(r.plan.ly_nm, 6)), []).append(r)
    out: list[dict[str, Any]] = []
    for (lx, ly), members in groups.items():
        if len(members) < 2 or len({r.plan.box.leader for r in members}) < 2:
            continue
        stores = [cfg.box_dir(r.plan.box) / "campaign.jffs" for r in members]
        try:
            res = selectivity(stores, reference=0, n_bootstrap=cfg.bootstrap).to_json()
        except JffsError as exc:
            echo(f"selectivity {lx:.3f} x {ly:.3f} nm: {exc}")
            continue
        for r, c, ratio in zip(members[1:], res["campaigns"][1:], res["ratios"]):  # ratios skip the reference
            out.append({"lx_nm": lx, "ly_nm": ly, "box": r.plan.box.name, "reference_box": members[0].plan.box.name,
                        "leader": r.plan.box.leader, "reference_leader": members[0].plan.box.leader,
                        "species": c["label"], "reference_species": res["campaigns"][0]["label"],
                        "ratio": ratio["value"], "ci95_bootstrap": ratio["ci95_bootstrap"],
                        "ci95_delta": ratio["ci95_delta"], "what": "MFPT(box) / MFPT(reference box), raw (uncorrected)"})
    return out


def _markdown(cfg: StudyConfig, reports: list[BoxReport], limit: Any, figures: dict[str, str],
              sel: Optional[list[dict[str, Any]]] = None) -> str:
    lines = [f"# Study {cfg.name}: passage time over box sizes", "",
             f"Correction variant: {cfg.variant}; induced charge against the {cfg.induced_reference} basin-A "
             f"reference from the detached frames: {cfg.induced_detached}. Every value with its 95 % CI in "
             "parentheses. "
             "Data: [table.csv](table.csv), [table.json](table.json).", "",
             "| box | Lx x Ly (nm) | MFPT (ns) | barrier raw (kT) | barrier corrected (kT) | z_c measured (nm) | "
             "z_c used (nm) | q1+q2 (e) | tau_inf Eq. 6 (ns) | tau_w (ns) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        row = r.row
        name = row["box"] if row["complete"] else f"{row['box']} (PARTIAL)"
        lines.append(f"| {name} | {row['lx_nm']:.3f} x {row['ly_nm']:.3f} | {_ci_text(row, 'mfpt_ns')} | "
                     f"{_ci_text(row, 'barrier_raw_kT', '.2f')} | {_ci_text(row, 'barrier_corrected_kT', '.2f')} | "
                     f"{_ci_text(row, 'z_c_measured_nm', '.3f')} | {_zc_used(row)} | {_ci_text(row, 'q12_e', '.2f')} | "
                     f"{_ci_text(row, 'tau_inf_eq6_ns')} | {_ci_text(row, 'tau_w_ns')} |")
    lines.append("")
    if limit is not None:
        lo, hi = limit.tau_inf_ci95_ns
        lines += [f"Holistic estimate (Eyring-type fit, size-independent prefactor, Fig. 6B): tau_inf = "
                  f"{limit.tau_inf_ns:.3g} ns (95 % CI {lo:.3g} .. {hi:.3g} ns) at the mean corrected barrier "
                  f"{limit.barrier_inf_kT:.2f} +- {limit.barrier_inf_ci95_halfwidth_kT:.2f} kT.", ""]
    else:
        lines += ["Holistic estimate: needs two boxes with complete profiles.", ""]
    titles = {"profiles": "Raw (dashed) and corrected (solid) profiles (Figs. 2B, 6A)",
              "induced_charge": "Induced charge per area and z_c against the box area (Fig. 5)",
              "eyring": "Eyring plot (Fig. 6B)"}
    for key, name in figures.items():
        lines += [f"## {titles[key]}", "", f"![{key}]({name})", ""]
    if sel:
        lines += ["## Selectivity (passage-time ratios between species, same box size)", "",
                  "| box / reference | Lx x Ly (nm) | leader / reference | arrived in B / reference | tau ratio | "
                  "95 % CI bootstrap | 95 % CI delta |", "|---|---|---|---|---|---|---|"]
        for s in sel:
            blo, bhi = _pair(s["ci95_bootstrap"])
            dlo, dhi = _pair(s["ci95_delta"])
            lines.append(f"| {s['box']} / {s['reference_box']} | {s['lx_nm']:.3f} x {s['ly_nm']:.3f} | "
                         f"{s['leader'] or 'any'} / {s['reference_leader'] or 'any'} | "
                         f"{s['species']} / {s['reference_species']} | {_fmt(_num(s['ratio']))} | "
                         f"{_fmt(blo)} .. {_fmt(bhi)} | {_fmt(dlo)} .. {_fmt(dhi)} |")
        lines += ["", "Raw MFPTs of the campaigns (the finite-size correction scales with Z^2 and differs "
                  "between species; compare corrected values from the table above).", ""]
    notes = [f"- {r.plan.box.name}: {p}" for r in reports for p in r.problems]
    if notes:
        lines += ["## What could not be computed", "", *notes, ""]
    return "\n".join(lines)

"""Numbers the membrane-study README quotes, from the stores the study (and the streaming run) wrote.

    python compare.py            # after `jffs study STUDY.toml` (and optionally the streaming run)

Writes results/compare.json and prints it. Units: lambda in angstrom, times in fs, beta G in kT.

* Box agreement of the profiles: RMS and largest |beta G_small - beta G_wide| over the lambda
  range both boxes cover (the wide profile interpolated onto the small one's nodes), raw and
  corrected (`jffs correct --json` of each store, with the z_c the study's report used:
  results/table.json).
* Excursions beyond lambda_0: the mean time from a lambda_0 crossing to B in the basin runs
  (chains of segments that end in B, cut excursions left out) against the trials' E[excursion]
  (`anchor.excursion` of `jffs profile`: the chain of stages, prod P_j times the mean trial
  length), per store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STORES = {"small": HERE / "study/boxes/small/campaign.jffs", "wide": HERE / "study/boxes/wide/campaign.jffs",
          "small-streaming": HERE / "streaming/campaign.jffs"}


def _json(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "jffs_driver", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def basin_excursions(store: Path) -> list[float]:
    """Times (fs) from each basin lambda_0 crossing to the arrival in B (complete ones only)."""
    from jffs_driver.store import CampaignStore

    with CampaignStore.open(store, "r") as st:
        segs = sorted(st.basin_segments(histograms=False), key=lambda s: (s.run, s.segment))
        dt = float(st.header.info["model"]["timestep"])
    out, run, running = [], None, None
    for s in segs:
        if s.run != run:
            run, running = s.run, None
        if running is not None:
            running += s.steps
            if s.event.value == "reached_b":
                out.append(running * dt)
                running = None
            elif s.armed_end:  # back in A: not a passage
                running = None
        if s.event.value == "crossing":
            running = 0
    return out


def main() -> None:
    report: dict = {"units": {"lambda": "angstrom", "time": "fs", "beta_G": "kT"}}
    corr = {}
    # the z_c the study's correction used (measured, or the study's fallback): results/table.json
    table = {r["box"]: r for r in json.loads((HERE / "results/table.json").read_text())["boxes"]}
    for name in ("small", "wide"):
        zc = table[name]["z_c_nm"]
        opts = [] if zc is None else ["--z-conductor", f"{zc}nm"]
        corr[name] = _json("correct", str(STORES[name]), "--json", "--bootstrap", "0", "--out", f"/tmp/compare_{name}",
                           *opts)
        report[f"z_c_used_nm_{name}"] = zc
    lam_s, lam_w = np.array(corr["small"]["lambda"]), np.array(corr["wide"]["lambda"])
    lo, hi = max(lam_s[0], lam_w[0]), min(lam_s[-1], lam_w[-1])
    sel = (lam_s >= lo) & (lam_s <= hi)
    for kind in ("raw", "corrected"):
        gs = np.array(corr["small"][f"beta_G_{kind}"], dtype=float)
        gw = np.interp(lam_s[sel], lam_w, np.array(corr["wide"][f"beta_G_{kind}"], dtype=float))
        d = gs[sel] - gw
        d = d[np.isfinite(d)]
        report[f"profiles_{kind}"] = {"lambda_range": [float(lo), float(hi)], "nodes": int(d.size),
                                      "rms_kT": float(np.sqrt(np.mean(d ** 2))), "max_abs_kT": float(np.max(np.abs(d))),
                                      "at_end_kT": float(d[-1])}
    for name, store in STORES.items():
        if not (store / "campaign.h5").is_file():
            continue
        try:
            prof = _json("profile", str(store), "--json", "--bootstrap", "0", "--out", "/tmp/compare_profiles")
        except subprocess.CalledProcessError as exc:  # e.g. no stage closed yet
            report[name] = {"error": exc.stderr.strip().splitlines()[-1] if exc.stderr else str(exc)}
            continue
        p = prof["profiles"][0] if "profiles" in prof else prof
        exc = basin_excursions(store)
        res = _json("results", str(store), "--json", "--bootstrap", "0")
        report[name] = {
            "mfpt_fs": res["mfpt"], "mfpt_ci95_fs": res["mfpt_ci95"], "crossings": res["basin"]["crossings"],
            "p": [s["p"] for s in res["stages"]], "trials": [s["trials"] for s in res["stages"]],
            "basin_excursion_mean_fs": float(np.mean(exc)) if exc else None, "basin_excursions": len(exc),
            "trial_excursion_fs": p["anchor"]["excursion"], "inv_phi0_fs": p["anchor"]["inv_phi0"],
            "anchor": p["anchor"]["method"], "tau_lambda0_fs": p["anchor"]["tau_lambda0"],
            "tau_end_fs": p["anchor"]["tau_end"],
        }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "compare.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

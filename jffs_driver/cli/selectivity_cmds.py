"""``jffs selectivity``: passage-time ratios between campaigns, with 95 % intervals.

Thin over :func:`jffs_driver.analysis.selectivity.selectivity`. Exit codes: 0, 2 for bad
arguments or a store that is not one, 4 when a store is damaged, 6 when a store has no rate yet
or the same store is given twice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click


def _ci(pair: tuple[float, float]) -> str:
    lo, hi = pair
    return f"{lo:.4g} .. {hi:.4g}" if math.isfinite(lo) and math.isfinite(hi) else "n/a"


@click.command("selectivity")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--reference", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Which store the others are divided by: its position in the list, a count from 1 (1 = the first given).")
@click.option("--bootstrap", type=click.IntRange(0, 1_000_000), default=2000, show_default=True,
              help="Bootstrap replicates per campaign, a count (0: delta-method intervals only).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def selectivity(stores: tuple[Path, ...], reference: int, bootstrap: int, as_json: bool) -> None:
    """Passage-time ratios tau(STORE) / tau(reference) of independent campaigns.

    Each store's MFPT (as `jffs results` gives it) and the ratio to the reference store, with two
    95% intervals: bootstrap (each campaign's trial-tree replicates, paired at random across the
    independent campaigns) and delta method (log-normal, variances of ln tau added). A membrane
    campaign is labelled by the leading species of its arrivals in B (e.g. Cl-), others by their
    campaign name. Times in the stores' time unit (they must agree), ratios dimensionless.
    Example: jffs selectivity na/campaign.jffs cl/campaign.jffs --reference 2 gives tau_Na/tau_Cl.
    """
    from ..analysis.selectivity import selectivity as compute  # noqa: PLC0415
    from ..errors import UsageError  # noqa: PLC0415

    if len(stores) < 2:
        raise UsageError("give at least two campaign stores", option="STORES")
    if reference > len(stores):
        raise UsageError(f"--reference {reference}: only {len(stores)} stores are given", option="--reference")
    for s in stores:
        if not (s / "campaign.h5").is_file():
            raise UsageError(f"{s} is not a jffs store (no campaign.h5 inside); pass the store directories that "
                             "'jffs run' created", option="STORES")
    res = compute([str(s) for s in stores], reference=reference - 1, n_bootstrap=bootstrap)
    if as_json:
        click.echo(json.dumps(res.to_json(), indent=1))
        return
    unit = res.campaigns[0].time_unit
    ref = res.campaigns[res.reference]
    click.echo(f"passage times (MFPT, {unit}) and ratios to {ref.label} ({ref.store}); 95% CIs")
    for i, (c, r) in enumerate(zip(res.campaigns, res.ratios)):
        part = "" if c.complete else "  [incomplete: partial MFPT]"
        ratio = ("reference" if i == res.reference else
                 f"tau/tau_ref = {r.value:.4g} (bootstrap {_ci(r.ci95_bootstrap)}; delta {_ci(r.ci95_delta)})")
        click.echo(f"  {i + 1}. {c.label:<10} tau = {c.mfpt:.4g} {unit} (95% CI {_ci(c.mfpt_ci95)} {unit})  "
                   f"{ratio}{part}  {c.store}")

"""Render ``docs/campaign.md``, the campaign configuration reference, from the declarations in
:mod:`jffs_driver.config` (the one place where keys are declared).

Regenerate after changing a key::

    python -m jffs_driver.config_doc > docs/campaign.md

``tests/test_config_doc.py`` fails when the file is out of date.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping

from .config import MODEL_FIELDS, SECTIONS
from .schema import Field

HEADER = """\
# Campaign configuration reference

Generated from `jffs_driver/config.py` (the one place where keys are declared) by
`python -m jffs_driver.config_doc > docs/campaign.md`. Lengths are in the model's length unit
(sigma for `brownian`, site for `toy-chain`, angstrom for `units real` systems), times in its
time unit. Unknown keys are errors; every problem is reported at once (exit code 2).
"""

FOOTER = """\
## Stop rule of a stage

A stage closes at the smallest number of trials n with (successes among the first n >=
`target_successes` and n >= `min_trials`) or n = `max_trials`. Trials beyond that prefix that
were already running (parallel executors) are discarded, so the result does not depend on the
number of workers. Pilots never count as trials. P_k is estimated without bias under this rule:
(S - 1)/(n - 1) when the stage closed on its target after `min_trials`, S/n otherwise (S/n
alone would be biased upwards by about (1 - p)/S per stage); see docs/statistics.md.

## Optimal allocation and a target CI

`[stages] allocation = "optimal"` with `target_rel_ci = r` (for example 0.2: a 95 % CI of the
rate within +-20 %) replaces `target_successes`: before the first trial of each stage, the
stage's pilots (run at every stage, fixed milestones too) and the data of the stages before it
fix that stage's own success target t_k, chosen so that the remaining variance budget goes
where it costs fewest MD steps (t_k proportional to sqrt(p_k (1 - p_k)/c_k), c_k the steps per
trial). `min_trials` and `max_trials` still bound every stage. Setting `target_successes` as
well, `allocation = "optimal"` without `target_rel_ci`, or `target_rel_ci` without the optimal
allocation is a configuration error (exit 2). Each stage's P_k estimate stays unbiased because
t_k never depends on the stage's own outcomes; derivation and formulas in docs/statistics.md.
A target the flux alone cannot meet (1/N_crossings >= the target variance) stops the campaign
after the basin runs (exit 1, naming the crossings needed).

> **Experimental.** The efficiency benchmark (benchmarks/efficiency.py, docs/statistics.md)
> measured this mode at 1.4x the MD steps of the adaptive protocol for the same CI on the
> 15 kT barrier, a mean rate/exact of 0.73 +- 0.09 on the 10 kT and 15 kT models (3 standard
> errors below 1; the last stages close on 5-9 successes) and over-confident intervals on the
> rugged landscape. Use the default `allocation = "target"` for production until that is resolved.

```toml
[interfaces]
mode = "adaptive"      # or "fixed" with milestones
pilot_trials = 30      # the pilots estimate p_k and the steps per trial

[stages]
allocation = "optimal"
target_rel_ci = 0.2
max_trials = 100000
```

## Basin histograms

Every basin segment bins the lambda values the engine already takes at its check steps
(`[basin] histogram_range`, `histogram_bins`; three int64 counts per bin and segment are
stored). They let `jffs profile` continue the free-energy profile below lambda_0 down to the
bottom of basin A (docs/profile.md). The default range reaches as far below lambda_a as
lambda_b lies above it; choose a range that covers the whole well, and bins a few times finer
than the features of the profile there (`jffs profile` merges them to its grid spacing).
`histogram_bins = 0` records none; the profile then starts at lambda_0.

A store created by an earlier version, whose configuration lacks keys added since, is
continued as long as the configuration differs from it only by those keys at their defaults.

## Durability

With `commit_interval_s = 0` (default) every finished task that can be committed is committed
before the next decision; a `kill -9` loses the tasks in flight and the finished results that
wait in memory for an earlier trial of the same stage (trials are committed in index order, so
one slow trial holds back the later ones: with many engine groups and a heavy tail of trial
durations this can be most of a stage; `benchmarks/coordinator_scale.py` saw up to 99,855 held
results with 1,024 groups). A positive value batches commits (useful when trials take
milliseconds, as in the Brownian example); a kill then loses at most that many seconds of
finished work more. Everything lost is redone identically on resume (seeds derive from the
campaign seed and the trial's identity); committed data never change.
"""


def _type_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return "/".join(k.__name__ for k in kinds)


def _table(fields: Mapping[str, Field]) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, f in fields.items():
        default = "required" if f.required else repr(f.default)
        lines.append(f"| `{key}` | {_type_name(f.kind)} | {default} | {f.doc} |")
    return lines


def render() -> str:
    """The whole reference as Markdown."""
    out = [HEADER]
    for name, fields in SECTIONS.items():
        out += [f"## [{name}]", "", *_table(fields), ""]
    for mtype, fields in MODEL_FIELDS.items():
        out += [f'## [model] with type = "{mtype}"', "", *_table(fields), ""]
    out.append(FOOTER)
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - exercised by the doc test through render()
    sys.stdout.write(render())

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

## Optimal allocation: matched to the basin, or aimed at a target CI

`[stages] allocation = "optimal"` replaces `target_successes`: before the first trial of each
stage, the stage's pilots (run at every stage, fixed milestones too) fix that stage's own
success target t_k from its estimated p_k and MD steps per trial c_k, so that the MD steps go
where they reduce var(ln rate) most (trials proportional to sqrt((1 - p_k)/(p_k c_k)), the
Lagrange allocation). Two ways to size it:

- **Without `target_rel_ci`** (recommended): every stage is matched to the basin runs, which
  are already done when the stages start. Their N_0 crossings cost c_0 = basin steps/N_0 each,
  and each stage gets the variance share (1/N_0) sqrt((1 - p_k) c_k/p_k)/sqrt(c_0): the
  smallest var(ln rate) for the MD steps spent, whatever the basin length. The precision knob is
  then `[basin] steps_per_run` (or `runs`): var(ln rate) falls about as 1/N_0. `jffs results`
  reports the CI reached; `jffs results --target-rel-ci r` says how many crossings a CI of
  +-r needs (for the next campaign, scale the basin runs by needed/found crossings).
- **With `target_rel_ci = r`** (for example 0.2: a 95 % CI of the rate within +-20 %): the
  variance budget left after the flux and the closed stages is spread over this stage and
  those expected after it (the number of stages still to come is estimated). The basin is not
  resized: a basin longer than r needs is spent anyway, and a target the flux alone cannot meet
  (1/N_crossings >= the target variance) stops the campaign after the basin runs (exit 1,
  naming the crossings needed).

`min_trials` and `max_trials` still bound every stage. Setting `target_successes` as well, or
`target_rel_ci` without the optimal allocation, is a configuration error (exit 2). Each
stage's P_k estimate stays unbiased because t_k never depends on the stage's own outcomes, and
the store is the same for any number of workers and after a resume; derivation, formulas and
the measured efficiency in docs/statistics.md (matched: the same CI for half the MD steps of
the default allocation on the benchmark's landscapes). The mode allocates; it does not choose
`[engine] check_interval`: when parents are stored well past their milestone (a check interval
whose motion is a sizeable part of the milestone spacing), trials from one parent succeed
together, extra trials per parent buy little and the CI can come out too narrow; `jffs results`
names such stages (docs/statistics.md, "Where the steps go").

```toml
[interfaces]
mode = "adaptive"      # or "fixed" with milestones
pilot_trials = 30      # the pilots estimate p_k and the steps per trial

[stages]
allocation = "optimal" # matched to the basin; add target_rel_ci = 0.2 to aim at +-20 % instead
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

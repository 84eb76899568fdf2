"""A minimal valid campaign configuration (Brownian model) that config tests vary."""

from __future__ import annotations

from typing import Any

MINIMAL: dict[str, Any] = {
    "campaign": {"name": "t", "seed": 1},
    "model": {"type": "brownian", "potential": "z^2"},
    "interfaces": {"lambda_a": -1.0, "lambda_0": -0.5, "lambda_b": 1.0},
    "basin": {"steps_per_run": 1000},
}

"""Deterministic seeds: every random draw derives from the campaign seed and a stable identity.

Seeds come from :class:`numpy.random.SeedSequence` with the campaign seed as entropy and a
spawn key built from the identity of the draw (its purpose, the stage, the trial index ...),
so they do not depend on the number of workers or on completion order.
"""

from __future__ import annotations

import numpy as np

#: Purposes of random draws; their codes are part of the spawn key and must never change.
PURPOSES: dict[str, int] = {
    "trial": 1,
    "pilot": 2,
    "basin": 3,
    "parent": 4,
    "bootstrap": 5,
    "initial": 6,
    "study-build": 7,     # jffs study: Packmol seed of box i
    "study-campaign": 8,  # jffs study: campaign seed of box i
    "selectivity-bootstrap": 9,  # jffs selectivity: bootstrap of the store at position i
}

#: Largest seed LAMMPS accepts everywhere: its Marsaglia generator (fix brownian, velocity)
#: rejects seeds above 900,000,000.
LAMMPS_SEED_MAX = 900_000_000


def seed_sequence(campaign_seed: int, purpose: str, *key: int) -> np.random.SeedSequence:
    """Return the SeedSequence of one draw identified by ``purpose`` and integer ``key``."""
    if purpose not in PURPOSES:
        raise KeyError(f"unknown seed purpose {purpose!r}; known: {sorted(PURPOSES)}")
    spawn_key = (PURPOSES[purpose], *(int(k) for k in key))
    return np.random.SeedSequence(entropy=int(campaign_seed), spawn_key=spawn_key)


def derive_seed(campaign_seed: int, purpose: str, *key: int) -> int:
    """A seed in [1, 900,000,000] suitable for LAMMPS, for the draw ``(purpose, *key)``."""
    word = int(seed_sequence(campaign_seed, purpose, *key).generate_state(1, np.uint32)[0])
    return 1 + word % LAMMPS_SEED_MAX


def derive_rng(campaign_seed: int, purpose: str, *key: int) -> np.random.Generator:
    """A numpy Generator for the draw ``(purpose, *key)``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(campaign_seed, purpose, *key)))

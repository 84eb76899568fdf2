"""Ideal conductor finite-size correction and thermodynamic-limit extrapolation.

Pure formulas (numpy/scipy only, no LAMMPS, no I/O besides the CSV reader and the optional
figure) for the model of Shoemaker, Domingues & Haji-Akbari, J. Chem. Theory Comput. 18, 7142
(2022): lattice sums (:mod:`.lattice`), induced charge densities (Eqs. 3-4, :mod:`.density`),
the free-energy correction in three variants (Eq. 5, :mod:`.ideal_conductor`), the Eq. 7 bound
and a box advisor (:mod:`.advisor`), and Eq. 6 plus the Eyring-type fit
(:mod:`.extrapolation`). Lengths in nm, energies in kT, times in ns, temperature in K.
"""

from __future__ import annotations

from .advisor import BoxAdvice, advise_box, eq7_upper_bound_kT, full_model_barrier_correction_kT
from .density import induced_density_infinite, induced_density_periodic
from .extrapolation import (
    EyringFit,
    SizeExtrapolation,
    SizeRecord,
    ThermodynamicLimit,
    extrapolate_size,
    fit_eyring,
    thermodynamic_limit,
)
from .ideal_conductor import (
    VARIANTS,
    AsPrintedVariantWarning,
    CorrectionProfile,
    correction_bracket,
    correction_kT,
    free_energy_correction,
    normalize_variant,
    reversible_work_force_kT_per_nm,
)
from .lattice import (
    DEFAULT_TOL,
    LatticeSumConvergenceError,
    lattice_sum_cos,
    lattice_sum_exp,
    lattice_sum_inv_g,
)
from .size_table import parse_size_table, read_size_table

__all__ = [
    "DEFAULT_TOL",
    "VARIANTS",
    "AsPrintedVariantWarning",
    "BoxAdvice",
    "CorrectionProfile",
    "EyringFit",
    "LatticeSumConvergenceError",
    "SizeExtrapolation",
    "SizeRecord",
    "ThermodynamicLimit",
    "advise_box",
    "correction_bracket",
    "correction_kT",
    "eq7_upper_bound_kT",
    "extrapolate_size",
    "fit_eyring",
    "free_energy_correction",
    "full_model_barrier_correction_kT",
    "induced_density_infinite",
    "induced_density_periodic",
    "lattice_sum_cos",
    "lattice_sum_exp",
    "lattice_sum_inv_g",
    "normalize_variant",
    "parse_size_table",
    "read_size_table",
    "reversible_work_force_kT_per_nm",
    "thermodynamic_limit",
]

"""Units and physical constants, in one place.

Inside LAMMPS the membrane systems use ``units real``: length in angstrom (A), time in
femtoseconds (fs), energy in kcal/mol, force in kcal/mol/A, temperature in K, charge in
multiples of the elementary charge e, pressure in atm. The exactly solvable Brownian model
uses ``units lj`` (reduced units, kT = 1, time in tau). Every stored dataset carries a
``units`` attribute taken from :data:`UNIT_SYSTEMS`, and every public function says the unit
of what it returns.

At the ``jffs`` command line membrane lengths are in angstrom, like ``units real``, lambda and
the campaign files: a bare number is A, and nm is taken only with an explicit suffix
(:func:`parse_length_A`: ``-4.1`` is -4.1 A, ``-0.41nm`` is -4.1 A). The paper's nm are
printed next to A where they help (:func:`format_length_A`). Reduced-unit models (Brownian:
sigma, toy chain: site) keep their own length unit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

#: Boltzmann constant in kcal/mol/K (CODATA 2018 via R = 8.314462618 J/mol/K).
KB_KCAL_PER_MOL_K: float = 8.314462618e-3 / 4.184
#: Boltzmann constant in J/K (exact, SI 2019).
KB_J_PER_K: float = 1.380649e-23
#: Elementary charge in C (exact, SI 2019).
ELEMENTARY_CHARGE_C: float = 1.602176634e-19
#: Vacuum permittivity in F/m (CODATA 2018).
EPSILON0_F_PER_M: float = 8.8541878128e-12
#: Avogadro constant in 1/mol (exact).
AVOGADRO: float = 6.02214076e23
#: 1 atm in Pa (exact).
ATM_PA: float = 101325.0
#: 1 bar in Pa (exact).
BAR_PA: float = 1.0e5
#: 1 kcal/mol/A expressed in newtons.
KCAL_PER_MOL_A_N: float = 4184.0 / AVOGADRO / 1.0e-10
#: Force of 1 atm acting on 1 A^2, in kcal/mol/A (about 1.4584e-5).
ATM_A2_IN_KCAL_PER_MOL_A: float = ATM_PA * 1.0e-20 / KCAL_PER_MOL_A_N

FS_PER_NS: float = 1.0e6
FS_PER_PS: float = 1.0e3
A_PER_NM: float = 10.0


#: Length suffixes :func:`parse_length_A` accepts, with the number of A in one of them.
LENGTH_SUFFIXES_A: Mapping[str, float] = MappingProxyType(
    {"a": 1.0, "å": 1.0, "angstrom": 1.0, "nm": A_PER_NM})

_LENGTH = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s.+-][^\s]*)?\s*$")


def parse_length_A(text: str | float) -> float:
    """A length in A from ``text``: a bare number is A; ``'0.41nm'``, ``'4.1A'``, ``'4.1 Å'`` name their unit.

    Raises :class:`ValueError` with a message that names the accepted forms for anything else
    (an unknown suffix, text, NaN or an infinity).
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _LENGTH.match(str(text))
        unit = match.group(2).lower() if match and match.group(2) else "a"
        if match is None or unit not in LENGTH_SUFFIXES_A:
            raise ValueError(f"{str(text)!r} is not a length: give a number of A (e.g. -4.1) or a number with "
                             "the suffix nm (e.g. -0.41nm)")
        value = float(match.group(1)) * LENGTH_SUFFIXES_A[unit]
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite length")
    return value


def format_length_A(value_A: float, digits: int = 3) -> str:
    """``value_A`` as ``'-4.100 A (-0.4100 nm)'``: A first (the CLI's unit), the paper's nm after
    (one more decimal, so both carry the same precision)."""
    if not math.isfinite(value_A):
        return "n/a"
    return f"{value_A:.{digits}f} A ({value_A / A_PER_NM:.{digits + 1}f} nm)"


#: Short symbol of a stored length unit for printed headers (``lambda[A]``).
LENGTH_SYMBOLS: Mapping[str, str] = MappingProxyType(
    {"angstrom": "A", "a": "A", "å": "A", "nm": "nm", "sigma": "sigma", "site": "site"})


def length_symbol(unit: str | None) -> str:
    """Printed symbol of a stored length unit (``'angstrom'`` -> ``'A'``); unknown names pass through."""
    if not unit:
        return "length unit"
    return LENGTH_SYMBOLS.get(str(unit).lower(), str(unit))


def bar_to_atm(p_bar: float) -> float:
    """Convert a pressure from bar to atm."""
    return p_bar * BAR_PA / ATM_PA


def kT_kcal_per_mol(temperature_K: float) -> float:
    """Thermal energy kT in kcal/mol at ``temperature_K`` (K)."""
    return KB_KCAL_PER_MOL_K * temperature_K


def bjerrum_like_length_nm(temperature_K: float) -> float:
    """Return e^2 / (2 eps0 kT) in nm (349.975 nm at 300 K), the paper's alpha for Z = 1."""
    kT = KB_J_PER_K * temperature_K
    return ELEMENTARY_CHARGE_C**2 / (2.0 * EPSILON0_F_PER_M * kT) * 1.0e9


@dataclass(frozen=True)
class UnitSystem:
    """Names of the units an engine reports in (strings stored as HDF5 attributes)."""

    name: str
    length: str
    time: str
    energy: str
    velocity: str
    mass: str
    temperature: str
    force: str

    @property
    def rate(self) -> str:
        """Unit of a rate (per time)."""
        return f"1/{self.time}"


UNIT_SYSTEMS: Mapping[str, UnitSystem] = MappingProxyType(
    {
        "real": UnitSystem(
            name="real",
            length="angstrom",
            time="fs",
            energy="kcal/mol",
            velocity="angstrom/fs",
            mass="g/mol",
            temperature="K",
            force="kcal/mol/angstrom",
        ),
        "lj": UnitSystem(
            name="lj",
            length="sigma",
            time="tau",
            energy="epsilon",
            velocity="sigma/tau",
            mass="m",
            temperature="epsilon/kB",
            force="epsilon/sigma",
        ),
        # The numpy toy chain engine (jffs_driver.engine.toy): sites and steps, kT = 1.
        "toy": UnitSystem(
            name="toy",
            length="site",
            time="step",
            energy="kT",
            velocity="site/step",
            mass="1",
            temperature="kT",
            force="kT/site",
        ),
    }
)

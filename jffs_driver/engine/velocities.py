"""Maxwell-Boltzmann velocity redraw that respects rigid (SHAKE) water constraints.

Why this module exists
----------------------
``velocity mobile create T SEED`` draws 3 independent components per atom and rescales them
with a temperature whose degree-of-freedom count already excludes the SHAKE constraints. The
first SHAKE step then removes the components along the rigid bonds, and the system starts about
a third too cold (measured: 300 K -> about 205 K after one step, 0.3 ps to recover; see
``shared/notes/lammps_mpi.md``). Rescaling the naive draw fixes the mean only, not the
distribution. Here every rigid 3-site molecule instead gets a centre-of-mass velocity and a
rigid-body angular velocity drawn from their exact canonical distributions, so the new
velocities lie on the constraint manifold (``d/dt |r_ij|^2 = 0`` to round-off) and are
canonically distributed on it.

Distributions (per rigid molecule of mass ``M`` and inertia tensor ``I`` about its centre of
mass, lab frame)::

    V_cm  ~ N(0, kT / M * 1)
    omega ~ N(0, kT * I^-1)         (L = I omega ~ N(0, kT I): 3/2 kT in each principal axis)
    v_i   = V_cm + omega x (r_i - R_cm)

Free atoms (ions) get plain Maxwell-Boltzmann components ``N(0, kT / m)``. Atoms that are
neither free nor in a rigid molecule are frozen and keep their velocities.

Net momentum
------------
By default the net momentum of the mobile part is *not* removed. In the membrane systems the
mobile atoms feel external forces (frozen graphite, pistons driven by ``fix aveforce``, the
Nose-Hoover thermostat acts on them), so their total momentum is not a conserved quantity but a
canonical degree of freedom like any other; zeroing it would remove 3 degrees of freedom from
the sampled distribution and make the redrawn state slightly non-canonical. Pass
``remove_momentum=True`` for a fully periodic box without external forces (then the result is
the canonical distribution conditioned on zero momentum, and the temperature should be computed
with ``momentum_removed=True``). A uniform velocity shift keeps all rigid constraints.

Units
-----
LAMMPS ``real`` units by default: masses in g/mol, positions and box lengths in angstrom,
velocities in angstrom/fs, temperature in K, ``kB`` in kcal/mol/K, and ``mvv2e`` converts
(g/mol)(A/fs)^2 into kcal/mol (1 kcal/mol = 4.184e-4 (g/mol)(A/fs)^2). For ``units lj`` pass
``kB=1`` and ``mvv2e=1``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import UsageError
from ..units import KB_KCAL_PER_MOL_K

__all__ = [
    "MVV2E_REAL",
    "redraw_velocities",
    "keep_slab_momenta",
    "rigid_constraint_violation",
    "mobile_degrees_of_freedom",
    "kinetic_temperature",
    "minimum_image",
]

#: Kinetic-energy conversion of LAMMPS ``units real``: 1 (g/mol)(A/fs)^2 in kcal/mol
#: (= 1 / 4.184e-4 = 2390.057...; LAMMPS uses 48.88821291**2).
MVV2E_REAL: float = 1.0 / 4.184e-4

#: The three constrained pairs of a 3-site rigid molecule (O-H1, O-H2, H1-H2; SHAKE ``b``+``a``).
_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2))

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


# ---------------------------------------------------------------------------- geometry helpers
def _box_lengths(box: ArrayLike | None) -> FloatArray:
    """Periodic lengths (3,) with ``inf`` for non-periodic directions."""
    if box is None:
        return np.full(3, np.inf)
    lengths = np.asarray(box, dtype=np.float64)
    if lengths.shape != (3,):
        raise UsageError(
            f"box must be the 3 orthorhombic box lengths in angstrom (or None), got shape "
            f"{lengths.shape}; for a LAMMPS box (lo, hi, tilt) pass hi - lo"
        )
    return np.where(np.isfinite(lengths) & (lengths > 0.0), lengths, np.inf)


def minimum_image(delta: ArrayLike, box: ArrayLike | None) -> FloatArray:
    """Return ``delta`` (..., 3) wrapped to the minimum image of an orthorhombic box.

    Parameters
    ----------
    delta
        Difference vectors in angstrom.
    box
        Box lengths (3,) in angstrom; entries that are ``inf``, ``0`` or negative mark
        non-periodic directions. ``None`` means no periodicity.
    """
    d = np.asarray(delta, dtype=np.float64)
    lengths = _box_lengths(box)
    periodic = np.isfinite(lengths)
    if not np.any(periodic):
        return d.copy()
    # Non-periodic directions get period 0 and inverse 0, so they pass through unchanged.
    period = np.where(periodic, lengths, 0.0)
    inverse = np.where(periodic, 1.0 / np.where(periodic, lengths, 1.0), 0.0)
    return d - period * np.round(d * inverse)


def _molecule_geometry(
    positions: FloatArray, masses: FloatArray, molecules: IntArray, box: ArrayLike | None
) -> tuple[FloatArray, FloatArray]:
    """Unwrapped positions relative to the centre of mass (M, 3, 3) and masses (M, 3)."""
    x = positions[molecules]  # (M, 3 atoms, 3 xyz)
    # Rebuild each molecule around its first atom (O) with minimum-image bond vectors, so
    # molecules split by a periodic boundary (wrapped coordinates) come out whole.
    rel = minimum_image(x - x[:, :1, :], box)
    m = masses[molecules]  # (M, 3)
    com = np.einsum("ma,mak->mk", m, rel) / m.sum(axis=1)[:, None]
    return rel - com[:, None, :], m


def _inertia_tensors(r: FloatArray, m: FloatArray) -> FloatArray:
    """Inertia tensors (M, 3, 3) in (g/mol) A^2 of bodies with COM-relative positions ``r``."""
    r2 = np.einsum("mak,mak->ma", r, r)
    inertia = -np.einsum("ma,mak,mal->mkl", m, r, r)
    trace = np.einsum("ma,ma->m", m, r2)
    inertia[:, 0, 0] += trace
    inertia[:, 1, 1] += trace
    inertia[:, 2, 2] += trace
    return inertia


def _angular_velocities(
    rng: np.random.Generator, inertia: FloatArray, kT: float, molecules: IntArray
) -> FloatArray:
    """Draw omega (M, 3) with covariance ``kT I^-1`` for each inertia tensor (M, 3, 3).

    This is the canonical distribution of a rigid body's angular velocity: in the principal
    frame the angular momentum has ``L_k ~ N(0, kT I_k)`` and ``omega = I^-1 L``, whose
    covariance is ``I^-1 (kT I) I^-1 = kT I^-1`` in every frame. With the Cholesky factor
    ``I = C C^T``, ``omega = sqrt(kT) C^-T z`` (z standard normal) has exactly that covariance;
    the 3 x 3 factorisation and the triangular solve are written out element-wise, which is
    several times faster than a stacked ``eigh`` or ``solve`` for thousands of molecules.
    """
    i00, i11, i22 = inertia[:, 0, 0], inertia[:, 1, 1], inertia[:, 2, 2]
    i10, i20, i21 = inertia[:, 1, 0], inertia[:, 2, 0], inertia[:, 2, 1]
    with np.errstate(divide="ignore", invalid="ignore"):  # singular tensors are caught below
        c00 = np.sqrt(i00)
        c10 = i10 / c00
        c20 = i20 / c00
        c11 = np.sqrt(i11 - c10 * c10)
        c21 = (i21 - c20 * c10) / c11
        d22 = i22 - c20 * c20 - c21 * c21
    # A linear or collapsed molecule has a singular inertia tensor (d22 -> 0 or NaN).
    bad = ~(d22 > 1e-10 * (i00 + i11 + i22))
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise UsageError(
            f"rigid molecule {first} (atoms {molecules[first].tolist()}) is linear or "
            "degenerate: its inertia tensor is singular"
        )
    c22 = np.sqrt(d22)
    z = rng.standard_normal((inertia.shape[0], 3)) * np.sqrt(kT)
    w2 = z[:, 2] / c22
    w1 = (z[:, 1] - c21 * w2) / c11
    w0 = (z[:, 0] - c10 * w1 - c20 * w2) / c00
    return np.stack([w0, w1, w2], axis=1)


# ---------------------------------------------------------------------------- argument checks
def _as_index_array(selection: ArrayLike | None, n_atoms: int, name: str) -> IntArray:
    """Turn a boolean mask (N,) or an index array into a flat index array (checked range)."""
    if selection is None:
        return np.zeros(0, dtype=np.intp)
    arr = np.asarray(selection)
    if arr.dtype == bool:
        if arr.shape != (n_atoms,):
            raise UsageError(f"{name}: boolean mask must have shape ({n_atoms},), got {arr.shape}")
        return np.flatnonzero(arr).astype(np.intp)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer):
        raise UsageError(f"{name}: expected a boolean mask or integer indices, got {arr.dtype}")
    idx = arr.astype(np.intp).ravel()
    if idx.min() < 0 or idx.max() >= n_atoms:
        raise UsageError(f"{name}: indices must lie in [0, {n_atoms}), got {idx.min()}..{idx.max()}")
    return idx


def _check_inputs(
    velocities: ArrayLike,
    positions: ArrayLike,
    masses: ArrayLike,
    free_atoms: ArrayLike | None,
    rigid_molecules: ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray]:
    v = np.asarray(velocities, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)
    n = v.shape[0] if v.ndim == 2 else -1
    if v.ndim != 2 or v.shape[1] != 3:
        raise UsageError(f"velocities must have shape (N, 3), got {v.shape}")
    if x.shape != v.shape:
        raise UsageError(f"positions must have shape {v.shape} like velocities, got {x.shape}")
    if m.shape != (n,):
        raise UsageError(f"masses must have shape ({n},), got {m.shape}")
    free = _as_index_array(free_atoms, n, "free_atoms")
    if rigid_molecules is None:
        rigid = np.zeros((0, 3), dtype=np.intp)
    else:
        rigid = np.asarray(rigid_molecules)
        if rigid.size == 0:
            rigid = np.zeros((0, 3), dtype=np.intp)
        if rigid.ndim != 2 or rigid.shape[1] != 3 or not np.issubdtype(rigid.dtype, np.integer):
            raise UsageError(
                f"rigid_molecules must be an (M, 3) integer array of atom indices (O first), "
                f"got shape {rigid.shape} dtype {rigid.dtype}"
            )
        rigid = rigid.astype(np.intp)
        if rigid.size and (rigid.min() < 0 or rigid.max() >= n):
            raise UsageError(f"rigid_molecules: indices must lie in [0, {n})")
    mobile = np.concatenate([free, rigid.ravel()])
    if mobile.size and np.bincount(mobile, minlength=n).max() > 1:
        raise UsageError(
            "free_atoms and rigid_molecules overlap or repeat an atom: every mobile atom must "
            "be listed exactly once"
        )
    if mobile.size and np.any(m[mobile] <= 0.0):
        raise UsageError("masses of mobile atoms must be positive (g/mol)")
    return v, x, m, free, rigid


# ---------------------------------------------------------------------------- public API
def redraw_velocities(
    rng: np.random.Generator,
    velocities: ArrayLike,
    positions: ArrayLike,
    masses: ArrayLike,
    box: ArrayLike | None,
    temperature_K: float,
    free_atoms: ArrayLike | None,
    rigid_molecules: ArrayLike | None,
    kB: float = KB_KCAL_PER_MOL_K,
    mvv2e: float = MVV2E_REAL,
    remove_momentum: bool = False,
) -> FloatArray:
    """Draw canonical velocities for the mobile atoms, exactly on the rigid-constraint manifold.

    Parameters
    ----------
    rng
        Source of randomness (for a trial: :func:`jffs_driver.ffs.seeds.derive_rng`). Draw
        order is fixed (free atoms, then COM velocities, then angular velocities), so the same
        generator state gives the same velocities.
    velocities
        Current velocities (N, 3) in A/fs; returned unchanged for frozen atoms.
    positions
        Positions (N, 3) in A, wrapped or unwrapped (molecules are rebuilt with the minimum
        image of ``box``).
    masses
        Per-atom masses (N,) in g/mol.
    box
        Orthorhombic box lengths (3,) in A (``inf`` or ``0`` for non-periodic directions), or
        ``None``.
    temperature_K
        Target temperature in K.
    free_atoms
        Atoms that get independent Maxwell-Boltzmann components (ions): a boolean mask (N,)
        or an index array.
    rigid_molecules
        (M, 3) atom indices of rigid 3-site molecules (water: O, H1, H2), or ``None``.
    kB
        Boltzmann constant in energy units per K (default kcal/mol/K).
    mvv2e
        Energy of 1 mass unit x (velocity unit)^2 in energy units (default ``units real``).
    remove_momentum
        Subtract the mass-weighted mean velocity of the mobile atoms (see the module
        docstring for why the default is ``False``).

    Returns
    -------
    numpy.ndarray
        New velocities (N, 3) in A/fs; a new array, the input is not modified.

    Raises
    ------
    UsageError
        On inconsistent shapes, overlapping selections, non-positive masses or temperature,
        or a linear (singular inertia) rigid molecule.
    """
    v, x, m, free, rigid = _check_inputs(velocities, positions, masses, free_atoms, rigid_molecules)
    if not temperature_K > 0.0:
        raise UsageError(f"temperature_K must be positive, got {temperature_K}")
    kT = kB * float(temperature_K) / mvv2e  # in mass x velocity^2 units
    out = v.copy()

    # Free atoms: independent Gaussian components with variance kT / m.
    if free.size:
        out[free] = rng.standard_normal((free.size, 3)) * np.sqrt(kT / m[free])[:, None]

    if rigid.size:
        r, mm = _molecule_geometry(x, m, rigid, box)
        total = mm.sum(axis=1)
        v_cm = rng.standard_normal((rigid.shape[0], 3)) * np.sqrt(kT / total)[:, None]
        omega = _angular_velocities(rng, _inertia_tensors(r, mm), kT, rigid)
        out[rigid] = v_cm[:, None, :] + np.cross(omega[:, None, :], r)

    if remove_momentum:
        mobile = np.concatenate([free, rigid.ravel()])
        if mobile.size:
            p = m[mobile] @ out[mobile]
            out[mobile] -= p / m[mobile].sum()
    return out


def keep_slab_momenta(
    new_velocities: ArrayLike,
    old_velocities: ArrayLike,
    positions: ArrayLike,
    masses: ArrayLike,
    box: ArrayLike | None,
    free_atoms: ArrayLike | None,
    rigid_molecules: ArrayLike | None,
    slab: float,
) -> FloatArray:
    """Give every z slab of mobile matter back the momentum it had before a redraw.

    Why: in pressure-driven NEMD the water and ions stream through the box; a Maxwell-Boltzmann
    redraw centred on zero velocity removes that flow, and a trial then starts from a state the
    steady state never visits (it has to re-accelerate the fluid first). Here the mobile units
    (rigid molecules by their centre of mass, free atoms by their own z) are grouped in slabs
    ``floor(z / slab)``; each slab's units get one uniform velocity shift so that the slab's
    total momentum equals the old one. A uniform shift per molecule keeps the rigid
    constraints; the thermal part stays canonical conditioned on the slab momenta (3 degrees of
    freedom per slab are kept from the trajectory instead of redrawn).

    Parameters
    ----------
    new_velocities, old_velocities
        (N, 3) velocities after and before the redraw (velocity units).
    positions
        (N, 3) positions (length units); molecules are rebuilt with the minimum image of ``box``.
    masses
        (N,) masses.
    box
        Box lengths (3,) (``inf``/``0``: not periodic) or ``None``.
    free_atoms, rigid_molecules
        As for :func:`redraw_velocities`.
    slab
        Slab width along z (length units), > 0.

    Returns
    -------
    numpy.ndarray
        (N, 3) velocities: ``new_velocities`` with the shifts applied (a new array).
    """
    if not slab > 0.0:
        raise UsageError(f"slab width must be positive, got {slab}")
    v_new, x, m, free, rigid = _check_inputs(new_velocities, positions, masses, free_atoms, rigid_molecules)
    v_old = np.asarray(old_velocities, dtype=np.float64)
    if v_old.shape != v_new.shape:
        raise UsageError(f"old velocities have shape {v_old.shape}, new ones {v_new.shape}")
    # One row per unit: its atoms (padded with -1), mass and z.
    n_rigid = rigid.shape[0]
    z = np.empty(free.size + n_rigid)
    z[:free.size] = x[free, 2]
    if n_rigid:
        r, mm = _molecule_geometry(x, m, rigid, box)
        z[free.size:] = x[rigid[:, 0], 2] - r[:, 0, 2]  # O position minus its offset from the COM
    unit_mass = np.concatenate([m[free], m[rigid].sum(axis=1) if n_rigid else np.zeros(0)])
    p_old = np.concatenate([m[free, None] * v_old[free],
                            np.einsum("ma,mak->mk", m[rigid], v_old[rigid]) if n_rigid else np.zeros((0, 3))])
    p_new = np.concatenate([m[free, None] * v_new[free],
                            np.einsum("ma,mak->mk", m[rigid], v_new[rigid]) if n_rigid else np.zeros((0, 3))])
    out = v_new.copy()
    if z.size == 0:
        return out
    slab_of = np.floor(z / slab).astype(np.int64)
    _, inverse = np.unique(slab_of, return_inverse=True)
    n_slabs = int(inverse.max()) + 1
    slab_mass = np.bincount(inverse, weights=unit_mass, minlength=n_slabs)
    dp = np.stack([np.bincount(inverse, weights=(p_old - p_new)[:, k], minlength=n_slabs) for k in range(3)], axis=1)
    shift = dp / slab_mass[:, None]
    out[free] += shift[inverse[:free.size]]
    if n_rigid:
        out[rigid] += shift[inverse[free.size:]][:, None, :]
    return out


def rigid_constraint_violation(
    velocities: ArrayLike,
    positions: ArrayLike,
    molecules: ArrayLike,
    box: ArrayLike | None,
) -> float:
    """Largest ``|d/dt |r_ij|^2| = |2 r_ij . v_ij|`` over the constrained pairs, in A^2/fs.

    The pairs are O-H1, O-H2 and H1-H2 of each (M, 3) molecule (SHAKE bonds plus angle).
    ``r_ij`` uses the minimum image of ``box`` (lengths (3,) in A or ``None``). Returns 0.0
    for no molecules.
    """
    v = np.asarray(velocities, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    mol = np.asarray(molecules, dtype=np.intp).reshape(-1, 3)
    if mol.shape[0] == 0:
        return 0.0
    worst = 0.0
    for i, j in _PAIRS:
        rij = minimum_image(x[mol[:, j]] - x[mol[:, i]], box)
        vij = v[mol[:, j]] - v[mol[:, i]]
        worst = max(worst, float(np.max(np.abs(2.0 * np.einsum("mk,mk->m", rij, vij)))))
    return worst


def mobile_degrees_of_freedom(
    n_free_atoms: int, n_rigid_molecules: int, momentum_removed: bool = False
) -> int:
    """Kinetic degrees of freedom: 3 per free atom, 6 per rigid non-linear molecule.

    With ``momentum_removed`` the 3 components of the net momentum are subtracted (this is
    what LAMMPS ``compute temp`` does by default through ``extra/dof 3``).
    """
    dof = 3 * int(n_free_atoms) + 6 * int(n_rigid_molecules) - (3 if momentum_removed else 0)
    if dof <= 0:
        raise UsageError(f"no kinetic degrees of freedom left ({dof})")
    return dof


def kinetic_temperature(
    velocities: ArrayLike,
    masses: ArrayLike,
    free_atoms: ArrayLike | None,
    rigid_molecules: ArrayLike | None,
    momentum_removed: bool = False,
    kB: float = KB_KCAL_PER_MOL_K,
    mvv2e: float = MVV2E_REAL,
) -> float:
    """Kinetic temperature in K of the mobile atoms, ``2 KE / (dof kB)``.

    ``dof`` comes from :func:`mobile_degrees_of_freedom`; velocities of rigid molecules are
    assumed to satisfy the constraints (otherwise the temperature is overestimated).
    """
    v = np.asarray(velocities, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)
    free = _as_index_array(free_atoms, v.shape[0], "free_atoms")
    rigid = (
        np.zeros((0, 3), dtype=np.intp)
        if rigid_molecules is None
        else np.asarray(rigid_molecules, dtype=np.intp).reshape(-1, 3)
    )
    mobile = np.concatenate([free, rigid.ravel()])
    ke = 0.5 * mvv2e * float(np.einsum("a,ak,ak->", m[mobile], v[mobile], v[mobile]))
    dof = mobile_degrees_of_freedom(free.size, rigid.shape[0], momentum_removed)
    return 2.0 * ke / (dof * kB)

"""Density and charge profiles along z (MDAnalysis analysis classes) and the liquid-layer geometry.

Two :class:`~MDAnalysis.analysis.base.AnalysisBase` classes that work on any Universe:

* :class:`ZDensityProfile`: number density (1/nm^3) and mass density (g/cm^3) of an atom group
  in fixed z bins;
* :class:`ZChargeProfile`: net charge per z bin (e), charge density (e/nm^3) and charge per
  area (e/nm^2) of an atom group (charges from the topology).

Both read **each frame's own box** (the lateral area ``|a x b|`` of the frame's cell, so
triclinic cells and boxes that change from frame to frame are handled), keep every per-frame
value in ``results`` (``frame_*`` arrays, merged by the parallel backends), and never modify
positions: z is used as stored (no wrapping; for LAMMPS ``boundary p p f`` systems z is not
periodic). Bin edges are absolute z (A), or relative to an ``origin`` that is a number or an
AtomGroup whose mean z is taken per frame. (MDAnalysis's ``LinearDensity`` reads the box of the
first frame only, wraps positions in place and reports e*mol/cm^3, so it is not used here.)

Pure functions for the layer geometry of the paper (Shoemaker et al., JCTC 18, 7142 (2022),
Section III, Figs. 4-5, Table 2): :func:`find_valleys` (valleys of the water density away from a
surface), :func:`layer_bins` (liquid layers between the valleys, then uniform bins in the
plateau), :func:`layer_centers` (density-weighted mean distance of each layer) and
:func:`charge_center` (z_c = sum z_j q_j / sum q_j).

Units: lengths in A (angstrom), charges in e, densities as named in ``results.units``.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
from MDAnalysis.analysis.base import AnalysisBase
from MDAnalysis.analysis.results import ResultsGroup
from numpy.typing import ArrayLike

from ..errors import AnalysisError
from ..units import AVOGADRO

__all__ = ["ZChargeProfile", "ZDensityProfile", "charge_center", "find_valleys", "layer_bins",
           "layer_centers", "xy_area"]

#: 1 A^3 in nm^3.
_NM3_PER_A3 = 1.0e-3
#: 1 A^2 in nm^2.
_NM2_PER_A2 = 1.0e-2
#: 1 A^3 in cm^3.
_CM3_PER_A3 = 1.0e-24


def xy_area(dimensions: Optional[ArrayLike]) -> float:
    """Lateral area |a x b| (A^2) of a cell given as MDAnalysis ``[a, b, c, alpha, beta, gamma]``."""
    from MDAnalysis.lib.mdamath import triclinic_vectors  # noqa: PLC0415

    dims = None if dimensions is None else np.asarray(dimensions, dtype=np.float64)
    if dims is None or dims.shape != (6,) or not np.all(np.isfinite(dims)) or np.any(dims[:3] <= 0):
        raise AnalysisError("a frame has no box dimensions: the profiles need each frame's cell "
                            "(lateral area) to turn counts into densities")
    vec = triclinic_vectors(dims)
    return float(np.linalg.norm(np.cross(vec[0], vec[1])))


def _check_edges(edges: ArrayLike) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.all(np.diff(e) > 0) or not np.all(np.isfinite(e)):
        raise AnalysisError("bin edges must be at least two finite, strictly increasing z values (A)")
    return e


class _ZProfileBase(AnalysisBase):  # type: ignore[misc]
    """Shared part: bins, per-frame origin and area, parallel aggregation."""

    _analysis_algorithm_is_parallelizable = True

    @classmethod
    def get_supported_backends(cls) -> tuple[str, ...]:
        return ("serial", "multiprocessing", "dask")

    def __init__(self, atomgroup: Any, edges: ArrayLike, origin: Union[float, Any] = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(atomgroup.universe.trajectory, **kwargs)
        self._ag = atomgroup
        self._edges = _check_edges(edges)
        self._origin = origin

    def _origin_z(self) -> float:
        if isinstance(self._origin, (int, float, np.floating, np.integer)):
            return float(self._origin)
        return float(np.mean(self._origin.positions[:, 2]))

    def _z(self) -> np.ndarray:
        return self._ag.positions[:, 2] - self._origin_z()

    def _prepare(self) -> None:
        nb = self._edges.size - 1
        self.results.frame_values = np.zeros((self.n_frames, nb))
        self.results.frame_area = np.zeros(self.n_frames)

    def _get_aggregator(self) -> ResultsGroup:
        return ResultsGroup(lookup={"frame_values": ResultsGroup.ndarray_vstack,
                                    "frame_area": ResultsGroup.ndarray_hstack})

    def _store(self, values: np.ndarray) -> None:
        self.results.frame_values[self._frame_index] = values
        self.results.frame_area[self._frame_index] = xy_area(self._ts.dimensions)

    def _common_results(self) -> tuple[np.ndarray, np.ndarray]:
        e = self._edges
        width = np.diff(e)
        self.results.edges = e
        self.results.centers = 0.5 * (e[1:] + e[:-1])
        self.results.widths = width
        self.results.n_frames = int(self.results.frame_values.shape[0])
        if self.results.n_frames == 0:
            raise AnalysisError("no frame was analysed")
        return width, self.results.frame_area


class ZDensityProfile(_ZProfileBase):
    """Number and mass density of ``atomgroup`` in fixed z bins, each frame with its own box.

    Parameters
    ----------
    atomgroup
        Atoms to count (e.g. the water oxygens: one atom per molecule).
    edges
        Increasing bin edges along z (A), absolute or relative to ``origin``.
    origin
        A number (A) or an AtomGroup whose mean z is subtracted from z in every frame.
    molar_mass_g_mol
        Mass (g/mol) of what one counted atom stands for (18.015 for a water molecule counted
        by its O); ``None`` uses the atoms' own masses.

    Results (after :meth:`run`)
    ---------------------------
    ``edges``, ``centers``, ``widths`` (A); ``number_density`` (1/nm^3); ``mass_density``
    (g/cm^3); ``count`` (mean atoms per bin); ``frame_values`` (counts per frame and bin);
    ``frame_mass`` (g/mol per frame and bin); ``frame_area`` (A^2); ``units``.
    """

    def __init__(self, atomgroup: Any, edges: ArrayLike, origin: Union[float, Any] = 0.0,
                 molar_mass_g_mol: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(atomgroup, edges, origin, **kwargs)
        if molar_mass_g_mol is None:
            masses = getattr(atomgroup, "masses", None)
            if masses is None:
                raise AnalysisError("the atoms have no masses: pass molar_mass_g_mol")
            self._masses = np.asarray(masses, dtype=np.float64)
        else:
            self._masses = np.full(len(atomgroup), float(molar_mass_g_mol))

    def _prepare(self) -> None:
        super()._prepare()
        self.results.frame_mass = np.zeros_like(self.results.frame_values)

    def _get_aggregator(self) -> ResultsGroup:
        return ResultsGroup(lookup={"frame_values": ResultsGroup.ndarray_vstack,
                                    "frame_mass": ResultsGroup.ndarray_vstack,
                                    "frame_area": ResultsGroup.ndarray_hstack})

    def _single_frame(self) -> None:
        z = self._z()
        counts, _ = np.histogram(z, bins=self._edges)
        mass, _ = np.histogram(z, bins=self._edges, weights=self._masses)
        self.results.frame_mass[self._frame_index] = mass
        self._store(counts.astype(np.float64))

    def _conclude(self) -> None:
        width, area = self._common_results()
        counts = self.results.frame_values
        volume_A3 = area[:, None] * width[None, :]              # each frame's own bin volume
        self.results.count = counts.mean(axis=0)
        self.results.number_density = (counts / (volume_A3 * _NM3_PER_A3)).mean(axis=0)
        grams = self.results.frame_mass / AVOGADRO
        self.results.mass_density = (grams / (volume_A3 * _CM3_PER_A3)).mean(axis=0)
        self.results.units = {"edges": "angstrom", "centers": "angstrom", "widths": "angstrom",
                              "number_density": "1/nm^3", "mass_density": "g/cm^3", "count": "atoms",
                              "frame_area": "angstrom^2", "frame_values": "atoms", "frame_mass": "g/mol"}


class ZChargeProfile(_ZProfileBase):
    """Net charge of ``atomgroup`` in fixed z bins, each frame with its own box.

    Parameters as :class:`ZDensityProfile` (the group must have charges), plus ``compound``:
    ``'atoms'`` (default: every atom counts with its own charge in the bin of its own z) or
    ``'residues'`` (every residue, e.g. a molecule, counts with its net charge in the bin of its
    centre of mass; a neutral molecule then adds nothing anywhere, so only the free charge of
    ions is profiled, without the orientational polarisation charge of the solvent).

    Results (after :meth:`run`)
    ---------------------------
    ``edges``, ``centers``, ``widths`` (A); ``charge`` (mean net charge per bin, e);
    ``charge_density`` (e/nm^3); ``surface_charge`` (charge per lateral area, e/nm^2);
    ``frame_values`` (charge per frame and bin, e); ``frame_area`` (A^2); ``units``.
    """

    def __init__(self, atomgroup: Any, edges: ArrayLike, origin: Union[float, Any] = 0.0,
                 compound: str = "atoms", **kwargs: Any) -> None:
        super().__init__(atomgroup, edges, origin, **kwargs)
        if compound not in ("atoms", "residues"):
            raise AnalysisError(f"unknown compound {compound!r}: choose atoms or residues")
        self._compound = compound
        try:
            charges = np.asarray(atomgroup.charges, dtype=np.float64)
        except Exception as exc:  # MDAnalysis raises NoDataError (an AttributeError/ValueError)
            raise AnalysisError("the atoms have no charges in their topology") from exc
        if compound == "residues":
            charges = np.asarray(atomgroup.total_charge(compound="residues"), dtype=np.float64)
            if getattr(atomgroup, "masses", None) is None:
                raise AnalysisError("compound='residues' needs atom masses (centres of mass)")
        self._charges = charges

    def _z(self) -> np.ndarray:
        if self._compound == "atoms":
            return super()._z()
        # z of each residue's centre of mass; no wrapping (z is used as stored)
        com = self._ag.center_of_mass(compound="residues")
        return np.asarray(com)[:, 2] - self._origin_z()

    def _single_frame(self) -> None:
        q, _ = np.histogram(self._z(), bins=self._edges, weights=self._charges)
        self._store(q)

    def _conclude(self) -> None:
        width, area = self._common_results()
        q = self.results.frame_values
        self.results.charge = q.mean(axis=0)
        self.results.charge_density = (q / (area[:, None] * width[None, :] * _NM3_PER_A3)).mean(axis=0)
        self.results.surface_charge = (q / (area[:, None] * _NM2_PER_A2)).mean(axis=0)
        self.results.units = {"edges": "angstrom", "centers": "angstrom", "widths": "angstrom",
                              "charge": "e", "charge_density": "e/nm^3", "surface_charge": "e/nm^2",
                              "frame_area": "angstrom^2", "frame_values": "e"}


# --------------------------------------------------------------------------- layer geometry
def find_valleys(distance: ArrayLike, density: ArrayLike, *, search_A: float = 12.0,
                 min_prominence: float = 0.1, smooth_A: float = 0.25, max_valleys: int = 3) -> np.ndarray:
    """Valleys of a density profile that rises from a surface, nearest first.

    Parameters
    ----------
    distance
        Bin centres, increasing distance from the surface (A), equally spaced.
    density
        Density in those bins (any unit).
    search_A
        Only valleys within this distance of the surface count (A).
    min_prominence
        A valley must be deeper than this fraction of the plateau density (the median of the
        smoothed profile where it exceeds 20 % of its maximum), measured as the prominence of
        ``-density`` (:func:`scipy.signal.find_peaks`). Rejects noise.
    smooth_A
        Gaussian smoothing (standard deviation, A) applied before the search; 0 for none.
    max_valleys
        Keep at most this many (the nearest).

    Returns
    -------
    numpy.ndarray
        Distances of the valleys (A, bin centres of the smoothed minima), increasing. The empty
        region next to the surface is not a valley (an edge plateau is never a peak of -rho).
    """
    from scipy.ndimage import gaussian_filter1d  # noqa: PLC0415
    from scipy.signal import find_peaks  # noqa: PLC0415

    d = np.asarray(distance, dtype=np.float64)
    rho = np.asarray(density, dtype=np.float64)
    if d.ndim != 1 or d.shape != rho.shape or d.size < 3 or not np.all(np.diff(d) > 0):
        raise AnalysisError("find_valleys needs matching 1-D arrays of at least 3 increasing distances")
    step = float(np.median(np.diff(d)))
    smooth = gaussian_filter1d(rho, smooth_A / step, mode="nearest") if smooth_A > 0 else rho
    top = float(np.max(smooth))
    if not np.isfinite(top) or top <= 0:
        return np.zeros(0)
    plateau = float(np.median(smooth[smooth > 0.2 * top]))
    idx, _props = find_peaks(-smooth, prominence=min_prominence * plateau)
    idx = idx[d[idx] <= search_A]
    return d[np.sort(idx)][:max_valleys]


def layer_bins(valleys_A: ArrayLike, max_distance_A: float, plateau_bin_A: float = 5.0) -> np.ndarray:
    """Bin edges in distance from the surface: 0, the valleys, then uniform plateau bins.

    The liquid layers are [0, v1], [v1, v2], ...; from the last valley to ``max_distance_A``
    the bins are ``plateau_bin_A`` wide (the paper: 0.5 nm), and a last piece shorter than half
    a bin is merged into the bin before it. Returns increasing distances (A).
    """
    v = np.asarray(valleys_A, dtype=np.float64)
    if v.size and (np.any(np.diff(v) <= 0) or v[0] <= 0):
        raise AnalysisError("valleys must be positive, increasing distances from the surface (A)")
    if plateau_bin_A <= 0:
        raise AnalysisError("the plateau bin width must be positive (A)")
    last = float(v[-1]) if v.size else 0.0
    if max_distance_A <= last:
        raise AnalysisError(f"the profile range ({max_distance_A:.3g} A) ends before the last liquid-layer "
                            f"boundary ({last:.3g} A)")
    edges = [0.0, *v.tolist()]
    x = last
    while x + plateau_bin_A < max_distance_A - 1e-9:
        x += plateau_bin_A
        edges.append(x)
    if len(edges) > v.size + 1 and max_distance_A - edges[-1] < 0.5 * plateau_bin_A:
        edges[-1] = float(max_distance_A)
    else:
        edges.append(float(max_distance_A))
    return np.asarray(edges)


def layer_centers(distance: ArrayLike, density: ArrayLike, edges: ArrayLike) -> np.ndarray:
    """Density-weighted mean distance of each bin of ``edges`` from a fine profile (A).

    ``distance`` and ``density`` are the fine profile (bin centres, A); a bin without density
    gets its midpoint.
    """
    d = np.asarray(distance, dtype=np.float64)
    rho = np.asarray(density, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    out = np.empty(e.size - 1)
    for j in range(e.size - 1):
        sel = (d >= e[j]) & (d < e[j + 1])
        w = rho[sel]
        out[j] = float(np.sum(w * d[sel]) / np.sum(w)) if sel.any() and np.sum(w) > 0 else 0.5 * (e[j] + e[j + 1])
    return out


def charge_center(z: ArrayLike, q: ArrayLike) -> float:
    """z_c = sum_j z_j q_j / sum_j q_j (the paper's definition with the first two layers).

    Units follow ``z``; NaN when the total charge is 0.
    """
    zz = np.asarray(z, dtype=np.float64)
    qq = np.asarray(q, dtype=np.float64)
    total = float(np.sum(qq))
    return float(np.sum(zz * qq) / total) if total != 0 else float("nan")

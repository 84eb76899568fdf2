"""Curved directed distance of the leading ion through a cylindrical pore (numpy twin).

Definition (lengths in A, ``units real``). The pore axis is the line (xc, yc) parallel to z;
the pore has radius R; the feed side is z < z_in (entrance plane), the filtrate side
z > z_out (exit plane), L_m = z_out - z_in. For an ion at (x, y, z), with dx, dy taken with
the minimum-image convention in the periodic x and y directions,

    r   = sqrt(dx^2 + dy^2),          rho = max(r - R, 0)
    lambda_i = -sqrt(rho^2 + (z_in - z)^2)          if z <  z_in   (feed: minus the distance
                                                                     to the entrance disk)
    lambda_i = z - z_in - rho                       if z_in <= z <= z_out   (inside the pore,
                                                                     where rho = 0)
    lambda_i = L_m + sqrt(rho^2 + (z - z_out)^2)    if z >  z_out  (filtrate: L_m plus the
                                                                     distance to the exit disk)

and lambda = max_i lambda_i over all ions (the leading ion). lambda is about 0 as an ion starts
to enter, equals z - z_in inside the pore, is curved outside (the distance to the pore mouth),
and keeps growing past the exit. It is continuous everywhere an ion can physically be (the
``- rho`` term inside the slab only matters for positions within the carbon layers, where it
keeps lambda continuous at the entrance plane). The same formula is evaluated inside LAMMPS by the
atom-style variables of ``inputs/pore_lambda.lmp``, so ``fix halt`` stops trials without a
Python round trip; both implementations agree to round-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class PoreGeometry:
    """Pore geometry in A (``units real``).

    Attributes
    ----------
    xc, yc
        Pore axis position.
    radius
        Pore radius R used by the order parameter.
    z_in, z_out
        Entrance (feed side) and exit (filtrate side) planes, z_in < z_out.
    lx, ly
        Periodic box lengths in x and y (minimum image).
    """

    xc: float
    yc: float
    radius: float
    z_in: float
    z_out: float
    lx: float
    ly: float

    @property
    def length(self) -> float:
        """Membrane (pore) length L_m = z_out - z_in, A."""
        return self.z_out - self.z_in

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> "PoreGeometry":
        """Geometry from a built system's ``metadata.json`` (see docs/system.md)."""
        pore = meta["pore"]
        box = meta["box"]
        lx = float(box["lx_A"]) if "lx_A" in box else float(box["hi_A"][0]) - float(box["lo_A"][0])
        ly = float(box["ly_A"]) if "ly_A" in box else float(box["hi_A"][1]) - float(box["lo_A"][1])
        return cls(xc=float(pore["axis_xy_A"][0]), yc=float(pore["axis_xy_A"][1]),
                   radius=float(pore["radius_A"]), z_in=float(pore["z_in_A"]),
                   z_out=float(pore["z_out_A"]), lx=lx, ly=ly)

    def lammps_values(self) -> dict[str, str]:
        """Substitutions for ``inputs/pore_lambda.lmp`` (exact decimal round trip)."""
        return {"xc": repr(self.xc), "yc": repr(self.yc), "radius": repr(self.radius),
                "zin": repr(self.z_in), "zout": repr(self.z_out), "lm": repr(self.length)}


def ion_lambdas(positions: np.ndarray, geom: PoreGeometry) -> np.ndarray:
    """lambda_i of every row of ``positions`` ((n, 3), A), see module docstring."""
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    dx = pos[:, 0] - geom.xc
    dy = pos[:, 1] - geom.yc
    dx = dx - geom.lx * np.round(dx / geom.lx)
    dy = dy - geom.ly * np.round(dy / geom.ly)
    z = pos[:, 2]
    rho = np.maximum(np.sqrt(dx * dx + dy * dy) - geom.radius, 0.0)
    feed = -np.sqrt(rho * rho + (geom.z_in - z) ** 2)
    filt = geom.length + np.sqrt(rho * rho + (z - geom.z_out) ** 2)
    inside = z - geom.z_in - rho
    return np.where(z < geom.z_in, feed, np.where(z > geom.z_out, filt, inside))


def leading_ion(positions: np.ndarray, ion_index: np.ndarray, geom: PoreGeometry) -> tuple[float, int]:
    """lambda of the system and the index (into ``positions``) of the leading ion."""
    idx = np.asarray(ion_index, dtype=np.int64)
    lam = ion_lambdas(np.asarray(positions)[idx], geom)
    k = int(np.argmax(lam))
    return float(lam[k]), int(idx[k])


def filtrate_counts(positions: np.ndarray, cations: np.ndarray, anions: np.ndarray,
                    z_boundary: float) -> tuple[int, int]:
    """(p, q): numbers of cations and anions in the filtrate (z > ``z_boundary``, A)."""
    z = np.asarray(positions, dtype=np.float64)[:, 2]
    return int(np.sum(z[np.asarray(cations)] > z_boundary)), int(np.sum(z[np.asarray(anions)] > z_boundary))


def basin_label(p: int, q: int, start: tuple[int, int] = (0, 0)) -> str:
    """Basin of a state with p cations and q anions in the filtrate: 'A' (the start, F00 in the
    paper), 'B' (one ion more: F01 or F10 from F00), or 'F{p}{q}' otherwise.

    ``start`` = (p0, q0) for a build that starts with ions already in the filtrate (F01: a
    chloride passed); a state that lost one of them is 'F{p}{q}' too."""
    p0, q0 = start
    if (p, q) == (p0, q0):
        return "A"
    if p >= p0 and q >= q0 and (p - p0) + (q - q0) == 1:
        return "B"
    return f"F{p}{q}"

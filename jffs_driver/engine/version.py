"""The version of the installed LAMMPS library, asked of a short-lived instance.

Stores record the LAMMPS version; :func:`jffs_driver.campaign.versions` reads it from the
``lammps`` package metadata and asks the library (here) only when the metadata cannot say it
(a site LAMMPS without package metadata).
"""

from __future__ import annotations

from typing import Any

from .lammps_backend import LammpsHandle


def lammps_version(comm: Any = None) -> str:
    """The LAMMPS version string (for example ``'22 Jul 2025'``) of a short-lived instance on
    ``comm`` (``None``: serial; an MPI coordinator passes a one-rank communicator)."""
    handle = LammpsHandle(comm=comm)
    try:
        return handle.version_string
    finally:
        handle.close()

"""Membrane systems: graphene with chemically valid pores, pistons, water and salt.

Modules (imported on demand; none of them starts LAMMPS at import time):

- :mod:`~jffs_driver.system.graphene`: lattice, Kekule structures, pore cut, passivation;
- :mod:`~jffs_driver.system.forcefield`: force-field TOML files, Lorentz-Berthelot mixing;
- :mod:`~jffs_driver.system.presets`: Table 1 presets, ``tiny``, TOML overrides, validation;
- :mod:`~jffs_driver.system.packing`: Packmol driver;
- :mod:`~jffs_driver.system.assembly`: layer stacking, z layout, atom numbering;
- :mod:`~jffs_driver.system.lammps_data`: LAMMPS data files;
- :mod:`~jffs_driver.system.lammps_inputs`: command lists from ``inputs/membrane_*.lmp``;
- :mod:`~jffs_driver.system.builder`: ``build_system`` (the Python API of ``jffs build``);
- :mod:`~jffs_driver.system.equilibrate`: ``equilibrate`` (``jffs equilibrate``).
- :mod:`~jffs_driver.system.waterbox`: a periodic TIP3P (+ NaCl) water box for the redraw and
  velocity tests and benchmarks (Packmol, the force-field TOML's water).

Units: LAMMPS ``real`` (A, fs, kcal/mol, e, K); pressures are given in bar.
"""

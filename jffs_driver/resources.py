"""Access to the files shipped with the package (LAMMPS input templates, force fields).

In the repository they live in the top-level ``inputs/`` and ``force_fields/`` folders; the
installed package exposes them as ``jffs_driver._inputs`` and ``jffs_driver._force_fields``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template

from .errors import EnvironmentSetupError


def input_path(name: str) -> Path:
    """Return the path of the LAMMPS input template ``name`` from ``inputs/``."""
    return _path("jffs_driver._inputs", name)


def force_field_path(name: str) -> Path:
    """Return the path of the force-field file ``name`` from ``force_fields/``."""
    return _path("jffs_driver._force_fields", name)


def render_input(name: str, **values: object) -> list[str]:
    """Render the LAMMPS template ``name`` with ``$key`` substitutions into command lines.

    Blank lines and ``#`` comments are dropped so the result can be fed to
    ``lammps.commands_list``. A missing substitution is an error that names the key.
    """
    text = input_path(name).read_text()
    try:
        rendered = Template(text).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise EnvironmentSetupError(
            f"LAMMPS template {name} needs a value for ${exc.args[0]}; pass it to render_input"
        ) from exc
    lines: list[str] = []
    for raw in rendered.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _path(package: str, name: str) -> Path:
    root = resources.files(package)
    candidate = root / name
    if not candidate.is_file():
        raise EnvironmentSetupError(
            f"packaged file {name!r} not found in {package}; reinstall jffs_driver"
        )
    return Path(str(candidate))

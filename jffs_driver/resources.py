"""Access to the files shipped with the package (LAMMPS input templates, force fields).

In the repository they live in the top-level ``inputs/`` and ``force_fields/`` folders; the
installed package exposes them as ``jffs_driver._inputs`` and ``jffs_driver._force_fields``.
"""

from __future__ import annotations

import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Mapping, Optional

from .errors import EnvironmentSetupError, UsageError


def input_path(name: str) -> Path:
    """Return the path of the LAMMPS input template ``name`` from ``inputs/``."""
    return _path("jffs_driver._inputs", name)


def force_field_path(name: str) -> Path:
    """Return the path of the force-field file ``name`` from ``force_fields/``."""
    return _path("jffs_driver._force_fields", name)


class LammpsPath(str):
    """A file path already checked and double-quoted as one LAMMPS argument
    (:func:`quote_lammps_path`); :func:`render_input` substitutes it as it is."""


def lammps_path_problem(path: str | os.PathLike[str]) -> Optional[str]:
    """Why LAMMPS cannot take ``path`` as a quoted argument (``None``: it can).

    Inside double quotes LAMMPS reads spaces, ``#``, ``$``, ``&`` and single quotes literally
    (checked against LAMMPS in ``tests/test_hostile_paths.py``); a double quote would end the
    argument and a newline or other control character would end the command.
    """
    text = os.fspath(path)
    if not text:
        return "the path is empty"
    for ch in text:
        if ch == '"':
            return 'it contains a double quote (")'
        if ord(ch) < 32 or ord(ch) == 127:
            return f"it contains the control character {ch!r}"
    return None


def quote_lammps_path(path: str | os.PathLike[str], what: str = "path") -> LammpsPath:
    """``path`` as one double-quoted LAMMPS argument; :class:`UsageError` (exit 2) if impossible."""
    problem = lammps_path_problem(path)
    if problem:
        raise UsageError(f"{what} {os.fspath(path)!r} cannot be passed to LAMMPS: {problem}; rename the "
                         "file or folder (spaces, '#', '$' and single quotes are fine)")
    return LammpsPath(f'"{os.fspath(path)}"')


#: What a plain (unquoted) template value may not contain: a newline or control character
#: would end the command, '#' would start a comment, '$' a LAMMPS variable substitution, and
#: quotes would change how LAMMPS splits the arguments.
_FORBIDDEN_IN_VALUES = ('"', "'", "#", "$")

#: A placeholder of the templates in ``inputs/``: ``{{name}}``. LAMMPS itself uses ``$x``,
#: ``${name}`` and ``$(expr)``, so the templates cannot use ``$`` (``string.Template``) for
#: their own placeholders: those would swallow LAMMPS's substitutions. LAMMPS syntax has no
#: ``{{``, so every ``{{`` in a template must open a well-formed placeholder.
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")


def _template_value(template: str, key: str, value: object) -> str:
    """Check one substitution of ``render_input`` and return its text."""
    if isinstance(value, LammpsPath):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"LAMMPS template {template}: {{{{{key}}}}} = {value!r} is not a finite number")
    text = str(value)
    bad = [ch for ch in text if ch in _FORBIDDEN_IN_VALUES or ord(ch) < 32 or ord(ch) == 127]
    if bad or not text.strip():
        what = f"contains {bad[0]!r}" if bad else "is empty"
        raise UsageError(f"LAMMPS template {template}: the value of {{{{{key}}}}} ({text!r}) {what}; template "
                         "values must be single LAMMPS words or formulas without quotes, '#', '$' or line breaks "
                         "(file paths go through quote_lammps_path)")
    if text.strip().lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        raise UsageError(f"LAMMPS template {template}: {{{{{key}}}}} = {text!r} is not a finite number")
    return text


def substitute_placeholders(template: str, line: str, values: Mapping[str, str]) -> str:
    """Replace every ``{{name}}`` of one template line by ``values[name]``.

    Everything else, LAMMPS's own ``$x``, ``${name}`` and ``$(expr)`` included, passes
    through untouched; substituted text is not scanned again.

    Raises
    ------
    EnvironmentSetupError
        A placeholder has no value, or a ``{{`` does not open a well-formed placeholder (a
        broken packaged template: reinstalling is the fix, hence not a usage error).
    """
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise EnvironmentSetupError(
                f"LAMMPS template {template} needs a value for {{{{{key}}}}}; pass it to render_input")
        return values[key]

    if line.count("{{") != len(_PLACEHOLDER.findall(line)):
        raise EnvironmentSetupError(f"LAMMPS template {template}: malformed placeholder in {line!r} "
                                    "(write {{name}} with a Python identifier as name)")
    return _PLACEHOLDER.sub(one, line)


def render_input(name: str, **values: object) -> list[str]:
    """Render the LAMMPS template ``name`` with ``{{key}}`` substitutions into command lines.

    The template's own blank lines and ``#`` comments are dropped *before* substitution, so
    one template line is one command whatever the values hold; values are checked by
    :func:`_template_value` (no line breaks, ``#``, ``$`` or quotes, finite numbers) and
    paths come pre-quoted as :class:`LammpsPath`. A missing substitution is an error that
    names the key; values the template does not use are ignored. LAMMPS variables (``$x``,
    ``${name}``, ``$(expr)``) in a template reach LAMMPS as written.
    """
    text = input_path(name).read_text()
    safe = {k: _template_value(name, k, v) for k, v in values.items()}
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(substitute_placeholders(name, line, safe))
    return lines


def _path(package: str, name: str) -> Path:
    root = resources.files(package)
    candidate = root / name
    if not candidate.is_file():
        raise EnvironmentSetupError(
            f"packaged file {name!r} not found in {package}; reinstall jffs_driver"
        )
    return Path(str(candidate))

"""The paper's whole workflow over box sizes from one study file (``jffs study``).

:mod:`.config` reads and validates ``STUDY.toml``; :mod:`.pipeline` builds, equilibrates and
runs the campaign of every box, resumably; :mod:`.report` turns the finished stores into the
report folder (Table 3 analogue, Figs. 2B/5/6A/6B in small). This package sits at the top of
the layers, next to the CLI: it drives campaigns as ``jffs run`` subprocesses.
"""

from .config import BoxSpec, StudyConfig, load_study, parse_study

__all__ = ["BoxSpec", "StudyConfig", "load_study", "parse_study"]

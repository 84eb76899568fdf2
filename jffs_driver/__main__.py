"""``python -m jffs_driver`` runs the ``jffs`` command line."""

from .cli import main

main()

"""``python -m jffs_driver`` runs the ``jffs`` command line.

The stop-signal handlers are installed before anything else is imported, so a SIGTERM or
SIGUSR1 during start-up ends the process with exit code 75 instead of killing it.
"""

from .parallel.signals import install_process_handlers

install_process_handlers()

from .cli import main  # noqa: E402 - after the handlers on purpose

main()

"""``python -m jffs_driver`` runs the ``jffs`` command line.

The stop-signal handlers are installed before anything else is imported, so a SIGTERM or
SIGUSR1 during start-up ends the process with exit code 75 instead of killing it.
"""

import sys

from .errors import EXIT_STOPPED, StopRequested
from .parallel.signals import install_process_handlers

install_process_handlers()

try:
    from .cli import main  # after the handlers on purpose
except StopRequested as exc:  # a stop while the command line itself is being imported
    sys.stderr.write(f"jffs: {exc.reason}; nothing was done (exit code {EXIT_STOPPED})\n")
    sys.exit(EXIT_STOPPED)

main()

"""``python -m trustlib``: the command line (:mod:`trustlib.run.cli`, which ``--help`` describes).

SIGTERM and SIGHUP stop a command as Ctrl-C does; the process exits once its output is flushed.
"""

from __future__ import annotations

from .run.cli import leave, main

if __name__ == "__main__":
    from .run.transaction import handle_stop_signals

    handle_stop_signals()          # SIGTERM and SIGHUP stop a command as Ctrl-C does
    leave(main())

"""A run as one transaction on its results folder: lock, stage, atomic exchange.

A run takes the results folder's lock (a second run on the same folder refuses, naming it),
builds everything in a fresh stage beside the folder (same filesystem), and replaces the folder
by the stage in one atomic exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two
renames). Before any of that, :func:`check_writable` refuses a results folder the user cannot
replace and delete, so a failure never leaves a stage or half-replaced results behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from pathlib import Path

from .. import TrustlibError, paths


class RunLocked(TrustlibError):
    """Another run is writing the same results folder."""


class NotWritable(TrustlibError):
    """The results folder, or the folder holding it, cannot be replaced by this user."""


def check_writable(project: paths.RunPaths) -> None:
    """Refuse, before any work, a results folder this user could not replace and then delete:
    its parent must be writable (the stage and the lock go beside it), and so must the folder
    and every folder below it (the previous results are deleted after the exchange)."""
    target, parent = project.results, project.results.parent
    name = project.relative(project.results_name)
    if not parent.exists():
        return
    mounts = [Path(folder) for folder, _, _ in os.walk(target) if os.path.ismount(folder)] if target.is_dir() else []
    if mounts:
        where = "it is" if mounts[0] == target else f"{project.relative(mounts[0])}/ in it is"
        raise NotWritable(f"cannot replace {name}/: {where} a mount point, which a run cannot replace (it builds "
                          f"the new results beside the old and exchanges them). Mount the filesystem elsewhere and "
                          f"make {name} a symbolic link to a folder on it; nothing was run and {name}/ is unchanged")
    problems = []
    if not os.access(parent, os.W_OK | os.X_OK):
        problems.append(f"the folder holding it, {project.relative(parent) or '.'}/, is not writable")
    if target.is_dir():
        for folder, dirs, _ in os.walk(target):
            if not os.access(folder, os.W_OK | os.X_OK):
                problems.append(f"{project.relative(Path(folder))}/ is not writable")
                break
    elif target.exists():
        problems.append("it is a file, not a folder")
    for hidden in (project.stage, project.lock):
        if hidden.exists() and not os.access(hidden, os.W_OK):
            problems.append(f"{project.relative(hidden)} is left from another user's run and not writable")
    if problems:
        raise NotWritable(f"cannot replace {name}/: {'; '.join(problems)}. Make it writable by you "
                          f"(or move it away); nothing was run and {name}/ is unchanged")


@contextlib.contextmanager
def locked(project: paths.RunPaths):
    """Hold the results folder's lock for the block; refuse if another run holds it."""
    import fcntl

    project.lock.parent.mkdir(parents=True, exist_ok=True)
    with open(project.lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise RunLocked(f"another run (pid {holder}) is writing {project.relative(project.results_name)}/; "
                            "wait for it to finish, then run again") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def fresh_stage(project: paths.RunPaths) -> Path:
    """The run's stage, emptied of anything a killed run left (called holding the lock, so no
    other run is using it), with the permissions the umask gives a new folder."""
    stage = project.stage
    shutil.rmtree(stage, ignore_errors=True)
    if stage.exists():
        raise NotWritable(f"cannot clear {project.relative(stage)} left by an earlier run; remove it by hand")
    umask = os.umask(0o022)
    os.umask(umask)
    stage.mkdir(mode=0o777 & ~umask)
    return stage


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two folders (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def swap_in(stage: Path, target: Path) -> None:
    """Make ``stage`` the results folder in one step; the old results are then deleted."""
    if not target.exists():
        os.rename(stage, target)
        return
    if _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)      # the stage now holds the previous results
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"          # no atomic exchange: two renames
    os.rename(target, old)
    os.rename(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def keep_failed(project: paths.RunPaths, partial: Path) -> str:
    """Copy a failed step's partly executed notebook beside the results folder; the message part
    saying where (empty when there is none)."""
    if not partial.exists():
        return ""
    failed = project.failed / partial.name
    failed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(partial, failed)
    return f"\n  partly executed notebook: {project.relative(failed)}"


# -- signals: a run stopped by SIGINT, SIGTERM or SIGHUP -------------------------------------------------

STOPPING = ("SIGINT", "SIGTERM", "SIGHUP")   # what Ctrl-C, `timeout`/`docker stop`/a batch scheduler and a closed terminal send


class Stopped(KeyboardInterrupt):
    """A run stopped by a signal (``signum``): handled as Ctrl-C (kernels stopped, stage removed)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class StoppedAfterSwap(Stopped):
    """A signal that arrived once the new results were in place: the run is kept (``results``
    names the folder)."""

    def __init__(self, signum: int, results: str):
        super().__init__(signum)
        self.results = results


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def handle_stop_signals() -> None:
    """Make SIGTERM and SIGHUP stop a command as Ctrl-C does (call once, in the main thread)."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), _raise_stopped)


@contextlib.contextmanager
def signals_held():
    """Hold the stopping signals while the block runs (the exchange and the record that it was
    made): one that arrives meanwhile is noted and raised as :class:`Stopped` when the block
    ends, so the run knows whether its results were swapped in when it was stopped. (A signal
    mask would not do: Python runs its handlers in the main thread whichever thread received the
    signal.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = {}
    for name in STOPPING:
        num = getattr(signal, name)
        old[num] = signal.signal(num, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for num, handler in old.items():
            signal.signal(num, handler)
        if pending:
            raise Stopped(pending[0])

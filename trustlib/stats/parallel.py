"""Where the Monte Carlo check and the multiverse run their independent tasks.

``backend="joblib"`` (the default) runs them in local worker processes (``n_jobs``;
1 = in this process). ``backend="dask"`` sends them to a Dask cluster at ``scheduler`` (an
address such as ``tcp://10.0.0.5:8786``) through joblib's Dask backend; it needs the optional
extra, ``pip install .[dask]``. Every task seeds itself and results come back in task order,
so both backends give identical results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Iterable

from joblib import Parallel, parallel_config

BACKENDS = ("joblib", "dask")


@dataclass(frozen=True)
class Compute:
    """Where a run's independent tasks run, built once from its parameters (:meth:`of`):
    ``n_jobs`` local joblib workers (1 = in this process, -1 = every core), or, with
    ``backend="dask"``, the Dask cluster at ``scheduler``."""

    n_jobs: int = 1
    backend: str = "joblib"
    scheduler: str | None = None

    @classmethod
    def of(cls, values: Mapping) -> "Compute":
        """The compute settings among ``values`` (a run's parameters, or a notebook's:
        ``n_jobs``, ``backend``, ``dask_scheduler``; those absent keep the local defaults)."""
        return cls(n_jobs=values.get("n_jobs", cls.n_jobs), backend=values.get("backend", cls.backend),
                   scheduler=values.get("dask_scheduler", cls.scheduler))


def run(tasks: Iterable, compute: Compute = Compute()) -> list:
    """Results of joblib ``delayed`` tasks, in task order, where ``compute`` says."""
    backend, scheduler = compute.backend, compute.scheduler
    if backend == "joblib":
        return Parallel(n_jobs=compute.n_jobs)(tasks)
    if backend != "dask":
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if not scheduler:
        raise ValueError("backend 'dask' needs the scheduler's address (parameter dask_scheduler)")
    try:
        from dask.distributed import Client
    except ImportError:
        raise ValueError("backend 'dask' needs the optional extra: pip install .[dask]") from None
    with contextlib.closing(Client(scheduler)), parallel_config(backend="dask"):
        return Parallel(n_jobs=-1)(tasks)

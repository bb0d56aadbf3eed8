"""Where the Monte Carlo check and the multiverse run their independent tasks.

``backend="joblib"`` (the default) runs them in local worker processes (``n_jobs``;
1 = in this process). ``backend="dask"`` sends them to a Dask cluster at ``scheduler`` (an
address such as ``tcp://10.0.0.5:8786``) through joblib's Dask backend; it needs the optional
extra, ``pip install .[dask]``. Every task seeds itself and results come back in task order,
so both backends give identical results.
"""

from __future__ import annotations

import contextlib
from typing import Iterable

from joblib import Parallel, parallel_config

BACKENDS = ("joblib", "dask")


def run(tasks: Iterable, n_jobs: int = 1, backend: str = "joblib", scheduler: str | None = None) -> list:
    """Results of joblib ``delayed`` tasks, in task order, on the chosen backend."""
    if backend == "joblib":
        return Parallel(n_jobs=n_jobs)(tasks)
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

"""Benchmark (`make bench`): how long the pieces take, reported together as ratios.

* full reproduction: `make clean all` (every notebook runs, two at a time), median of three;
* its floor: starting the notebooks' kernels and importing what notebook 06 imports, two at a
  time, as the runner does (a run cannot be faster than this), timed in turn with the full runs;
* no-op: `make all` again with nothing changed;
* set-up: a fresh environment in a temporary folder, the lock installed with pip and with uv
  (the two ways `make env` can bootstrap; both with their download caches as they are);
* one adjusted GLMM fit next to one GEE fit on the shipped analysis table (median of repeats),
  and, where Rscript with lme4 is installed, next to one lme4 ``glmer`` fit of the same model
  (median of repeats inside one R process, so R's start-up is not counted);
* Monte Carlo throughput (replicates per second) on 1 core and on all cores;
* the multiverse (notebook 06's grid) in total.

Times depend on the machine; the ratios are what to compare between machines.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from trustlib import contract, models, params, paths, pipeline, robustness, simulation  # noqa: E402


def clock(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make(*args: str) -> None:
    subprocess.run(["make", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


GLMER_TIMING = """
suppressPackageStartupMessages(library(lme4))
d <- read.csv("{file}")
f <- high_high ~ quality + age + female + internal_medicine + apc + (1 | clinic_id)
t <- replicate(15, system.time(glmer(f, data = d, family = binomial, nAGQ = {nagq}))[["elapsed"]])
cat(median(t))
"""


def glmer_seconds(nagq: int) -> float | None:
    """Median seconds of one lme4 glmer fit of the adjusted quality model, or None without R."""
    try:
        out = subprocess.run(["Rscript", "-e", GLMER_TIMING.format(file=paths.analysis_table("synthetic"),
                                                                   nagq=nagq)],
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return float(out.stdout.strip())


FLOOR_CELL = "import pandas\nimport trustlib.contract, trustlib.figures, trustlib.robustness"   # notebook 06's imports


def kernel_floor() -> float:
    """Seconds to execute one one-cell notebook per analysis notebook that only import the notebooks' libraries,
    two at a time through papermill (kernel start-up and imports: what every run pays)."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    import nbformat
    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(FLOOR_CELL)]
        src = Path(tmp) / "floor.ipynb"
        nbformat.write(nb, src)

        def one(i):
            pm.execute_notebook(str(src), str(Path(tmp) / f"out{i}.ipynb"), kernel_name="trustlib",
                                language="python", progress_bar=False)

        def all_seven():
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(one, range(len(pipeline.ANALYSIS))))

        return clock(all_seven)


def setup_seconds(tool: str) -> float:
    """Seconds to create a fresh venv in a temporary folder and install requirements.lock with
    ``tool`` (``pip``, or ``uv`` installed from PyPI into the venv first, as the Makefile does)."""
    import tempfile

    uv_version = next(line.split(":=")[1].strip() for line in (ROOT / "Makefile").read_text().splitlines()
                      if line.startswith("UV_VERSION"))
    with tempfile.TemporaryDirectory() as tmp:
        py = Path(tmp) / "bin" / "python"
        pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

        def install():
            subprocess.run([sys.executable, "-m", "venv", tmp], **quiet)
            if tool == "uv":
                subprocess.run(pip + [f"uv=={uv_version}"], **quiet)
                subprocess.run([str(Path(tmp) / "bin" / "uv"), "pip", "sync", "--quiet", "--compile-bytecode",
                                "--python", str(py), str(ROOT / "requirements.lock")], **quiet)
            else:
                subprocess.run(pip + ["-r", str(ROOT / "requirements.lock")], **quiet)

        return clock(install)


def dask_seconds(analysis, reps: int, nagq: int) -> float | None:
    """Seconds for ``reps`` Monte Carlo replicates through a local Dask cluster (one worker per
    core, started beforehand and warmed up), or None without the dask extra."""
    try:
        from dask.distributed import LocalCluster
    except ImportError:
        return None
    cores = os.cpu_count() or 1
    with LocalCluster(n_workers=cores, threads_per_worker=1, dashboard_address=None) as cluster:
        addr = cluster.scheduler_address
        simulation.run(analysis, 2, 0, ["quality"], nagq, backend="dask", scheduler=addr)
        return clock(lambda: simulation.run(analysis, reps, 1, ["quality"], nagq, backend="dask", scheduler=addr))


def main() -> int:
    pp = params.pipeline_params()
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; python {sys.version.split()[0]}", flush=True)
    # this kind of machine (a shared VM) runs the same work 10-20% faster or slower from one minute to
    # the next: the full run and its floor are timed in turns, three times each, and the medians reported
    full_times, floor_times = [], []
    for _ in range(3):
        full_times.append(clock(lambda: make("clean", "all")))
        floor_times.append(kernel_floor())
    full, floor = statistics.median(full_times), statistics.median(floor_times)
    noop = clock(lambda: make("all"), repeat=3)
    setup_pip, setup_uv = setup_seconds("pip"), setup_seconds("uv")
    analysis = pd.read_csv(paths.analysis_table("synthetic"))
    glmm = clock(lambda: models.fit_one(analysis, "quality", "glmm", True, nagq=pp["nagq"]), repeat=15)
    gee = clock(lambda: (models.forget_fits(), models.fit_one(analysis, "quality", "gee", True)), repeat=15)
    glmer = glmer_seconds(pp["nagq"])
    reps = 48
    simulation.run(analysis, 2, 0, ["quality"], pp["nagq"], n_jobs=cores, progress=False)   # start the workers
    mc1 = clock(lambda: simulation.run(analysis, reps, 1, ["quality"], pp["nagq"], n_jobs=1, progress=False))
    mcn = clock(lambda: simulation.run(analysis, reps, 1, ["quality"], pp["nagq"], n_jobs=cores, progress=False))
    mcd = dask_seconds(analysis, reps, pp["nagq"])
    tables = contract.load_folder(paths.data_dir("synthetic"))
    main_spec = {k: pp[k] for k in ("org_trust_cutoff", "patient_trust_cutoff", "min_patient_surveys")}
    multiverse = clock(lambda: robustness.specification_curve(
        tables, pp["robust_org_cutoffs"], pp["robust_patient_cutoffs"], pp["robust_min_surveys"], main_spec,
        nagq=pp["nagq"], n_jobs=cores, cutoff_rules=pp["robust_cutoff_rules"]))
    spread = lambda xs: f"(runs {min(xs):.1f}-{max(xs):.1f} s)"  # noqa: E731
    rows = [("full reproduction (make clean all), median of 3", f"{full:.1f} s",
             f"{full / floor:.1f} x kernel floor {spread(full_times)}"),
            (f"kernel floor ({len(pipeline.ANALYSIS)} kernels + imports, 2 at a time), median of 3", f"{floor:.1f} s",
             f"1.00 {spread(floor_times)}"),
            ("no-op make all", f"{noop:.2f} s", f"{noop / full:.4f} x full"),
            ("set-up of a fresh environment with pip", f"{setup_pip:.1f} s", "1.00"),
            ("set-up of a fresh environment with uv", f"{setup_uv:.1f} s", f"{setup_pip / setup_uv:.1f} x faster than pip"),
            ("one adjusted GLMM fit (nagq %d)" % pp["nagq"], f"{1000 * glmm:.1f} ms", "1.00"),
            ("one adjusted GEE fit", f"{1000 * gee:.1f} ms", f"{gee / glmm:.2f} x GLMM"),
            ("one adjusted lme4 glmer fit (R)", f"{1000 * glmer:.1f} ms" if glmer else "no Rscript",
             f"{glmer / glmm:.1f} x GLMM" if glmer else "--"),
            ("Monte Carlo, 1 core", f"{reps / mc1:.1f} replicates/s", "1.00"),
            (f"Monte Carlo, {cores} cores", f"{reps / mcn:.1f} replicates/s", f"{mc1 / mcn:.2f} x 1 core"),
            (f"Monte Carlo, Dask LocalCluster ({cores} workers)",
             f"{reps / mcd:.1f} replicates/s" if mcd else "dask not installed", f"{mc1 / mcd:.2f} x 1 core" if mcd else "--"),
            (f"multiverse ({cores} cores)", f"{multiverse:.1f} s", f"{multiverse / full:.2f} x full")]
    width = max(len(r[0]) for r in rows)
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>20}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

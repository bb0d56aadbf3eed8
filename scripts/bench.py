"""Benchmark (`make bench`): how long the pieces take, reported together as ratios.

* full reproduction: `make clean all` (every notebook runs, two at a time), median of three;
* its floor: starting the notebooks' kernels and importing what notebook 06 imports, two at a
  time, as the runner does (a run cannot be faster than this), timed in turn with the full runs;
* the import floor: nine fresh Python processes, two at a time, each importing pandas,
  scipy.stats, statsmodels, matplotlib, seaborn and papermill (what any process of a run or of
  the tests pays before it does anything), timed in turn with the full runs; the full run,
  `make test` (after an up-to-date `make all`) and `make slow` are reported against it too;
* a partial rerun: a sentence edited in notebook 04, then `make all` (notebook 04 runs again, the
  others are carried; the report and the article are rebuilt), against the full reproduction;
* no-op: `make all` again with nothing changed;
* set-up: a fresh environment in a temporary folder, the lock installed with pip and with uv
  (the two ways `make env` can bootstrap; both with their download caches as they are), and
  JupyterLab added from requirements-lab.lock (what `make lab` installs the first time);
* one adjusted GLMM fit and one GEE fit on the shipped analysis table, and where Rscript is
  installed one lme4 ``glmer`` fit of the same model (medians of repeats, R's start-up not counted);
* the GEE on VerbAgg (7,584 rows, 316 clusters; tests/reference/cases/verbagg.csv): trustlib's
  vectorised GEE against statsmodels' GEE (what the models used before) and R geepack ``geeglm``;
* the article's PDF (Typst) against its HTML;
* Monte Carlo throughput (replicates per second) on 1 core and on all cores, and through Dask;
* the multiverse (notebook 06's grid) in total;
* scale: a forced raw run (`--data rehearsal`) on the rehearsal extract once, three and ten times
  over (new IDs for each copy), in a copy of the repository: wall time, peak memory of the
  processes it started, and leave-one-clinic-out's (notebook 09's) share of the run.

Times depend on the machine; the ratios are what to compare between machines.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from trustlib import paths, steps, store  # noqa: E402
from trustlib.data import codebook, contract  # noqa: E402
from trustlib.stats import estimators, models, parallel, robustness, simulation  # noqa: E402
from trustlib.run import config  # noqa: E402


def clock(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make(*args: str) -> None:
    """Run a make target quietly; if it fails, say which and show what it printed."""
    done = subprocess.run(["make", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: `make {' '.join(args)}` failed (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}{done.stderr[-3000:]}")


def rscript_seconds(code: str) -> float | None:
    """The number an R snippet prints (a median of timings), or None without R and its packages."""
    try:
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
        return float(out.stdout.strip().split()[-1])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


GLMER = """suppressPackageStartupMessages(library(lme4))
d <- read.csv("{file}")
f <- high_high ~ quality + age + female + internal_medicine + apc + (1 | clinic_id)
t <- replicate(15, system.time(glmer(f, data = d, family = binomial, nAGQ = {nagq}))[["elapsed"]])
cat(median(t))"""
GEEGLM = """suppressPackageStartupMessages(library(geepack))
d <- read.csv("{file}"); d <- d[order(d$g), ]
f <- y ~ anger + male + scold + shout + self + do
t <- replicate(7, system.time(geeglm(f, data = d, id = factor(d$g), family = binomial,
     corstr = "exchangeable", control = geese.control(epsilon = 1e-12, maxit = 500)))[["elapsed"]])
cat(median(t))"""


FLOOR_CELL = "import pandas\nimport trustlib.data.contract, trustlib.publish.figures, trustlib.stats.robustness"   # notebook 06's imports


def kernel_floor() -> float:
    """Seconds to execute one one-cell notebook per analysis notebook that only import the notebooks'
    libraries, two at a time through papermill (kernel start-up and imports: what every run pays)."""
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

        def all_kernels():
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(one, range(len(steps.ANALYSIS))))

        return clock(all_kernels)


IMPORTS = "import pandas, scipy.stats, statsmodels.api, matplotlib, seaborn, papermill"


def import_floor() -> float:
    """Seconds for nine fresh processes, two at a time, to import the libraries every process of
    a run or of the tests imports (:data:`IMPORTS`)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_):
        subprocess.run([sys.executable, "-c", IMPORTS], check=True)

    def all_processes():
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, range(9)))

    return clock(all_processes)


def partial_rerun() -> float:
    """Seconds of `make all` after a sentence was added to notebook 04 (then put back, and the
    results made current again, untimed)."""
    import nbformat

    path = paths.notebook("04_figures")
    original = path.read_bytes()
    try:
        nb = nbformat.read(path, as_version=4)
        nb.cells[0].source += "\n\nA sentence added for the benchmark."
        nbformat.write(nb, path)
        return clock(lambda: make("all"))
    finally:
        path.write_bytes(original)
        make("all")


def setup_seconds(tool: str, lab: bool = False) -> float:
    """Seconds to create a fresh venv in a temporary folder and install requirements.lock with
    ``tool`` (``pip``, or ``uv`` installed from PyPI into the venv first, as the Makefile does);
    with ``lab``, the seconds to add requirements-lab.lock to it afterwards (`make lab`)."""
    uv_version = next(line.split(":=")[1].strip() for line in (ROOT / "Makefile").read_text().splitlines()
                      if line.startswith("UV_VERSION"))
    with tempfile.TemporaryDirectory() as tmp:
        py = Path(tmp) / "bin" / "python"
        uv = Path(tmp) / "bin" / "uv"
        pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

        def install():
            subprocess.run([sys.executable, "-m", "venv", tmp], **quiet)
            if tool == "uv":
                subprocess.run(pip + [f"uv=={uv_version}"], **quiet)
                subprocess.run([str(uv), "pip", "sync", "--quiet", "--compile-bytecode", "--python", str(py),
                                str(ROOT / "requirements.lock")], **quiet)
            else:
                subprocess.run(pip + ["-r", str(ROOT / "requirements.lock")], **quiet)

        base = clock(install)
        if not lab:
            return base
        return clock(lambda: subprocess.run([str(uv), "pip", "install", "--quiet", "--compile-bytecode", "--python",
                                             str(py), "-r", str(ROOT / "requirements-lab.lock")], **quiet))


def gee_on_verbagg() -> tuple[float, float, float | None]:
    """Seconds of one GEE fit on VerbAgg: trustlib's, statsmodels', geepack's (None without R)."""
    from statsmodels.genmod import cov_struct, families
    from statsmodels.genmod.generalized_estimating_equations import GEE

    from trustlib.stats import gee

    file = ROOT / "tests" / "reference" / "cases" / "verbagg.csv"
    d = pd.read_csv(file)
    X = np.column_stack([np.ones(len(d))] + [d[c].to_numpy(float) for c in
                                             ("anger", "male", "scold", "shout", "self", "do")])
    y, g = d["y"].to_numpy(float), d["g"].to_numpy()
    ours = clock(lambda: gee.fit_gee(X, y, g), repeat=7)
    theirs = clock(lambda: GEE(y, X, groups=g, family=families.Binomial(), cov_struct=cov_struct.Exchangeable())
                   .fit(maxiter=100, ddof_scale=0), repeat=3)
    return ours, theirs, rscript_seconds(GEEGLM.format(file=file))


def article_seconds() -> tuple[float, float]:
    """Seconds to build the article's HTML and Markdown, and its PDF (from the run's numbers)."""
    from trustlib.publish import article, prose, typeset

    results = paths.results_dir("synthetic")
    cfg = config.RunConfig.load("synthetic")
    numbers = store.read_numbers(results)
    card = store.read_table(results / "scorecard.csv")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "figures").symlink_to(results / "figures")          # the article shows ../figures/*.png
        html = clock(lambda: prose.render(article.to_markdown(article.blocks(cfg, article._links(results), numbers,
                                                                             card)), numbers, True), repeat=3)
        blocks = article.blocks(cfg, article._links(results), numbers, card)
        pdf = clock(lambda: typeset.write_pdf(blocks, numbers, Path(tmp) / "article" / "article.pdf", Path(tmp)),
                    repeat=3)
    return html, pdf


def dask_seconds(analysis, reps: int, args: "models.ModelSpec") -> float | None:
    """Seconds for ``reps`` Monte Carlo replicates through a local Dask cluster (one worker per
    core, started beforehand and warmed up), or None without the dask extra."""
    try:
        from dask.distributed import LocalCluster
    except ImportError:
        return None
    cores = os.cpu_count() or 1
    with LocalCluster(n_workers=cores, threads_per_worker=1, dashboard_address=":0") as cluster:   # any free port
        addr = cluster.scheduler_address
        on_dask = parallel.Compute(backend="dask", scheduler=addr)
        simulation.run(analysis, 2, 0, ["quality"], args, on_dask)
        return clock(lambda: simulation.run(analysis, reps, 1, ["quality"], args, on_dask))


# runs a command and prints, last on stderr, the peak resident memory (kB) of the largest process below it
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def scale_run(copies: int) -> tuple[float, float, float]:
    """A forced rehearsal run on the cohort ``copies`` times over, in a copy of the repository:
    (wall seconds, peak resident memory in MB of the largest process it started, seconds of
    notebook 09 as the run printed them)."""
    import re
    import shutil

    from trustlib.data import rehearsal

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for part in ("trustlib", "notebooks", "data", "params", "CITATION.cff", "docs"):
            src = ROOT / part
            (shutil.copytree(src, root / part, ignore=shutil.ignore_patterns("raw", "rehearsal", "__pycache__"))
             if src.is_dir() else shutil.copy2(src, root / part))
        rehearsal.write(root / "data" / "rehearsal", copies=copies)
        env = {**os.environ, "PYTHONPATH": str(root)}
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "trustlib", "run", "--data",
                               "rehearsal", "--force"], cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"bench: the rehearsal run x{copies} failed:\n{done.stderr[-3000:]}")
        peak = int(done.stderr.strip().splitlines()[-1]) / 1024
        m = re.search(r"09_clinic_influence done \(([\d.]+) s\)", done.stdout)
        return wall, peak, float(m.group(1)) if m else float("nan")


def main() -> int:
    cfg = config.RunConfig.load("synthetic")
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; python {sys.version.split()[0]}", flush=True)
    # this kind of machine (a shared VM) runs the same work 10-20% faster or slower from one minute to
    # the next: the full run and its floor are timed in turns, three times each, and the medians reported
    full_times, floor_times, import_times = [], [], []
    for _ in range(3):
        full_times.append(clock(lambda: make("clean", "all")))
        floor_times.append(kernel_floor())
        import_times.append(import_floor())
    full, floor, imports = (statistics.median(full_times), statistics.median(floor_times),
                            statistics.median(import_times))
    make("all")
    suite = clock(lambda: make("test"))
    slow = clock(lambda: make("slow"))
    partial = partial_rerun()
    noop = clock(lambda: make("all"), repeat=3)
    setup_pip, setup_uv, setup_lab = setup_seconds("pip"), setup_seconds("uv"), setup_seconds("uv", lab=True)
    analysis = store.read_table(paths.analysis_table("synthetic"))
    spec = cfg.model_spec
    glmm = clock(lambda: models.fit_one(analysis, "quality", "glmm", True, spec), repeat=15)
    # each repeat a fit, not a replay of trustlib.stats.estimators' cache of the last GEE fits
    gee = clock(lambda: (estimators.GEE_FITS.clear(), models.fit_one(analysis, "quality", "gee", True, spec)),
                repeat=15)
    glmer = rscript_seconds(GLMER.format(file=paths.analysis_table("synthetic"), nagq=cfg.nagq))
    gee_ours, gee_sm, geeglm = gee_on_verbagg()
    html, pdf = article_seconds()
    reps, sim = 48, models.ModelSpec.of(cfg.parameters(), estimators="sim_estimators")
    one, every = parallel.Compute(n_jobs=1), parallel.Compute(n_jobs=cores)
    simulation.run(analysis, 2, 0, ["quality"], sim, every, progress=False)   # start the workers
    mc1 = clock(lambda: simulation.run(analysis, reps, 1, ["quality"], sim, one, progress=False))
    mcn = clock(lambda: simulation.run(analysis, reps, 1, ["quality"], sim, every, progress=False))
    mcd = dask_seconds(analysis, reps, sim)
    tables = contract.load_folder(paths.data_dir("synthetic"))
    grid = {"org_trust_cutoff": cfg.robust_org_cutoffs, "patient_trust_cutoff": cfg.robust_patient_cutoffs,
            "cutoff_rule": cfg.robust_cutoff_rules, "min_patient_surveys": cfg.robust_min_surveys}
    multiverse = clock(lambda: robustness.specification_curve(
        tables, cfg.rules, grid, codebook.scales_with_role("exposure"), spec, every))
    scale = {k: scale_run(k) for k in (1, 3, 10)}
    spread = lambda xs: f"(runs {min(xs):.1f}-{max(xs):.1f} s)"  # noqa: E731
    ms = lambda s: f"{1000 * s:.1f} ms"  # noqa: E731
    rows = [("full reproduction (make clean all), median of 3", f"{full:.1f} s",
             f"{full / floor:.2f} x kernel floor {spread(full_times)}"),
            (f"kernel floor ({len(steps.ANALYSIS)} kernels + imports, 2 at a time), median of 3", f"{floor:.1f} s",
             f"1.00 {spread(floor_times)}"),
            ("import floor (9 processes importing pandas ... papermill, 2 at a time), median of 3", f"{imports:.1f} s",
             f"1.00 {spread(import_times)}; full run {full / imports:.2f} x it"),
            ("make test (results up to date)", f"{suite:.1f} s", f"{suite / imports:.2f} x import floor"),
            ("make slow (the whole-run tests make test leaves out)", f"{slow:.1f} s", f"{slow / imports:.2f} x import floor"),
            ("a sentence edited in notebook 04, then make all", f"{partial:.1f} s", f"{partial / full:.2f} x full"),
            ("no-op make all", f"{noop:.2f} s", f"{noop / full:.3f} x full"),
            ("set-up of a fresh environment with pip", f"{setup_pip:.1f} s", "1.00"),
            ("set-up of a fresh environment with uv", f"{setup_uv:.1f} s", f"{setup_pip / setup_uv:.1f} x faster than pip"),
            ("JupyterLab added (make lab, first time)", f"{setup_lab:.1f} s", f"{setup_lab / setup_uv:.2f} x uv set-up"),
            (f"one adjusted GLMM fit (nagq {cfg.nagq})", ms(glmm), "1.00"),
            ("one adjusted GEE fit", ms(gee), f"{gee / glmm:.2f} x GLMM"),
            ("one adjusted lme4 glmer fit (R)", ms(glmer) if glmer else "no Rscript",
             f"{glmer / glmm:.1f} x GLMM" if glmer else "--"),
            ("GEE on VerbAgg: trustlib", ms(gee_ours), "1.00"),
            ("GEE on VerbAgg: statsmodels (the models' GEE before)", ms(gee_sm), f"{gee_ours / gee_sm:.3f} x: trustlib's"),
            ("GEE on VerbAgg: R geepack geeglm", ms(geeglm) if geeglm else "no Rscript",
             f"{gee_ours / geeglm:.3f} x: trustlib's" if geeglm else "--"),
            ("article: HTML and Markdown", ms(html), "1.00"),
            ("article: PDF (Typst), built after the HTML", ms(pdf), f"{pdf / html:.2f} x the HTML"),
            ("Monte Carlo, 1 core", f"{reps / mc1:.1f} replicates/s", "1.00"),
            (f"Monte Carlo, {cores} cores", f"{reps / mcn:.1f} replicates/s", f"{mc1 / mcn:.2f} x 1 core"),
            (f"Monte Carlo, Dask LocalCluster ({cores} workers)",
             f"{reps / mcd:.1f} replicates/s" if mcd else "dask not installed", f"{mc1 / mcd:.2f} x 1 core" if mcd else "--"),
            (f"multiverse ({cores} cores)", f"{multiverse:.1f} s", f"{multiverse / full:.2f} x full")]
    for k, (wall, peak, loo) in scale.items():
        rows.append((f"forced rehearsal run, cohort x{k} (peak memory; notebook 09's share)", f"{wall:.1f} s",
                     f"{wall / scale[1][0]:.2f} x the x1 run; {peak:.0f} MB; leave-one-clinic-out {loo / wall:.0%}"))
    width = max(len(r[0]) for r in rows)
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>22}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

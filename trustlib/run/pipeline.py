"""The one orchestrator: a run of the analysis notebooks as one all-or-nothing transaction.

A run

1. builds its configuration once (:class:`trustlib.run.config.RunConfig`) and checks, before any
   kernel starts, everything that can be checked: the parameters, the results folder's
   permissions, and the extract (:func:`preflight`: the data contract, and the cohort rules
   that need the data);
2. stops at once when the results folder already holds this run (every step's fingerprint, and
   the report's and article's, as its ``manifest.json`` records them, with the outputs intact);
3. takes the results folder's lock and a fresh stage beside it (:mod:`trustlib.run.transaction`);
4. runs the steps (:mod:`trustlib.run.scheduler`): each step whose declared inputs
   (:mod:`trustlib.steps`) changed by content is executed, every other one carried from the
   previous results, two at a time in the order their inputs allow;
5. checks that the extract read is the one fingerprinted, merges the numbers, writes the
   manifest, the report and the article into the stage;
6. replaces the results folder by the stage in one atomic exchange.

Any failure, interrupt or error leaves the results folder exactly as it was; the partly
executed notebook is kept beside it (``.<results>.failed/``) and the message says where.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import nbformat

from .. import TrustlibError, UsageError, paths, store
from .. import steps as declared
from ..data import checks, contract
from ..params import non_default, parameter_words
from . import config, fingerprint, manifest, releases, scheduler, transaction
from .scheduler import StepFailed  # noqa: F401 (the CLI's error types live beside the runner)
from .transaction import NotWritable, RunLocked  # noqa: F401

ANALYSIS = declared.ANALYSIS
SYNTHESIZE = declared.SYNTHESIZE


def wanted_steps(names: list[str] | None, source: str) -> list[str]:
    """The steps a run executes: ``names`` (default all) with the steps they read from."""
    unknown = [n for n in names or [] if n not in declared.STEPS]
    if unknown:
        raise UsageError(f"unknown notebook(s) {unknown} for --only; choose from {ANALYSIS}")
    return declared.with_inputs(names or ANALYSIS, source)


def preflight(cfg: config.RunConfig, project: paths.RunPaths) -> dict:
    """Everything checked before a kernel starts: the results folder can be replaced, the
    extract meets the contract, the cohort rules can be applied to it (each problem named
    with the extract's file and column), and, on raw data, the release does not differ from an
    earlier one by too few people (:mod:`trustlib.run.releases`). Returns the validated tables."""
    transaction.check_writable(project)
    name = project.relative(project.results_name)
    try:
        tables = contract.load_folder(project.data)
        checks.cohort_problems(tables, cfg)
        warning = (releases.check(project, tables, cfg.min_cell_size, cfg.allow_release_difference)
                   if paths.is_real(cfg.data_source) else None)
    except (contract.DataValidationError, config.ParameterError, checks.CohortInputError,
            releases.ReleaseDifferenceError) as err:
        raise StepFailed(f"{err}\nnothing was run: {name}/ is unchanged", bad_input=True) from None
    if warning:
        print(warning, flush=True)
    for note in contract.reading_notes(tables):
        print(note, flush=True)
    return tables


def up_to_date(cfg: config.RunConfig, project: paths.RunPaths, names: list[str], previous: dict | None) -> bool:
    """True when the results folder records a complete run of exactly these steps, each with the
    fingerprint it would have now, its files intact, and the same report and article code."""
    if not previous or previous.get("notebooks") != names:
        return False
    try:
        steps_plan = what_would_run(cfg, project, names, previous, force=False)
        return (all(w == "carry" for w in steps_plan.values())
                and previous.get("finish") == fingerprint.finish(cfg.parameters())
                and (project.results / "numbers.json").is_file())
    except (KeyError, OSError, ValueError, TypeError):
        return False


def what_would_run(cfg: config.RunConfig, project: paths.RunPaths, names: list[str], previous: dict | None,
                   force: bool) -> dict[str, str]:
    """Which steps a run would execute and which it would carry, judged against the results
    folder as it is (a step whose inputs changed makes the steps that read it run too)."""
    params, data, results = cfg.parameters(), fingerprint.data_files(project), project.results
    old = (previous or {}).get("steps", {}) if not force else {}
    out: dict[str, str] = {}
    for name in names:
        same = (name in old and all(out.get(r) == "carry" for r in declared.get(name).reads if r in out)
                and old[name]["fingerprint"] == fingerprint.step(name, params, project, results, data)
                and all(fingerprint.sha(results / f) == h for f, h in old[name]["files"].items()))
        out[name] = "carry" if same else "execute"
    return out


def run(source: str = "synthetic", params_file: Path | None = None, overrides: dict | None = None,
        force: bool = False, jobs: int = 2, names: list[str] | None = None,
        project: paths.RunPaths | None = None, dry_run: bool | None = None) -> Path:
    """Run the analysis as one transaction; return the results folder.

    Steps whose inputs did not change are carried from the previous results; when none changed
    (and the report and article code did not), nothing runs and it says so, unless ``force``.
    ``names`` runs a subset (with the steps they read from) and still replaces the whole results
    folder, so it never mixes two runs. ``dry_run`` makes every check a run makes, says which
    steps it would execute and carry, and stops (the environment variable ``TRUSTLIB_DRY_RUN=1``
    does the same for any run command).
    """
    project = project or paths.RunPaths(source)
    if dry_run is None:
        dry_run = os.environ.get("TRUSTLIB_DRY_RUN", "") not in ("", "0")
    if not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"--jobs must be a whole number of at least 1, not {jobs!r}")
    cfg = config.RunConfig.load(source, params_file, overrides)
    wanted = wanted_steps(names, source)
    shown = project.relative(project.results_name)
    previous = manifest.read(project.results)
    if not force and names is None and up_to_date(cfg, project, wanted, previous):
        print(f"{shown}/ is up to date (same data, code and parameters as its manifest.json)")
        return project.results
    tables = preflight(cfg, project)
    if dry_run:
        steps_plan = what_would_run(cfg, project, wanted, previous, force)
        print("dry run: checks passed; would execute " + (", ".join(n for n, w in steps_plan.items() if w == "execute")
                                                          or "nothing") + "; would carry "
              + (", ".join(n for n, w in steps_plan.items() if w == "carry") or "nothing"))
        return project.results
    if cfg.disclosure_threshold is not None and cfg.disclosure_threshold < config.SAFE_CELL_SIZE:
        print(f"warning: disclosure threshold lowered to {cfg.min_cell_size} (allow_small_cells: true); the "
              "manifest records it", flush=True)
    scheduler.ensure_kernel()
    with transaction.locked(project):
        stage = transaction.fresh_stage(project)
        try:
            print(_start_words(len(wanted), source, shown, bool(previous), force), flush=True)
            plan = scheduler.Plan(wanted, stage, cfg.parameters(), project, previous, force,
                                  os.path.relpath(project.results_name, paths.NOTEBOOKS))

            def failed(name, err):
                where = transaction.keep_failed(project, stage / "notebooks" / f"{name}.ipynb")
                return StepFailed(f"step {name} failed ({source} data): {scheduler.reason(err)}{where}\n"
                                  f"  nothing of this run was kept; {shown}/ is unchanged",
                                  bad_input=getattr(err, "ename", "") in scheduler.input_error_names())

            rendered = scheduler.run_steps(plan, jobs, failed)
            _check_inputs_unchanged(stage, plan.data, source)
            _finish(stage, cfg, wanted, plan, rendered)
            swapped = False
            try:
                with transaction.signals_held():     # a signal now is delivered once swapped is true
                    transaction.swap_in(stage, project.results)
                    swapped = True
                    if paths.is_real(source):        # who this shareable release describes, for the next
                        releases.record(project, tables)
                shutil.rmtree(project.failed, ignore_errors=True)
                shutil.rmtree(stage, ignore_errors=True)     # the previous results, exchanged into it
                print(f"outputs in {shown}/ ({_executed_words(wanted, plan.carried)})")
                _say_parameters(cfg, previous)
            except KeyboardInterrupt as err:
                if swapped:
                    raise transaction.StoppedAfterSwap(getattr(err, "signum", signal.SIGINT), shown) from None
                raise
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
    return project.results


def _start_words(n: int, source: str, shown: str, previous: bool, force: bool) -> str:
    """The line a run starts with: what it will do with its notebooks, and the transaction."""
    if previous and not force:
        return (f"{n} notebooks ({source} data): those whose inputs changed run into a stage, the others are "
                f"carried; {shown}/ changes only if all succeed")
    forced = ", forced: none carried" if previous else ""
    return f"running {n} notebooks ({source} data{forced}) into a stage; {shown}/ changes only if all succeed"


def _executed_words(names: list[str], carried: set[str]) -> str:
    """"executed 1 notebook, carried 8 unchanged": what a run did with its notebooks."""
    def n(k):
        return f"{k} notebook{'s' if k != 1 else ''}"
    executed = len(names) - len(carried)
    return f"executed {n(executed)}" + (f", carried {len(carried)} unchanged" if carried else "")


def _say_parameters(cfg: config.RunConfig, previous: dict | None) -> None:
    """Say when a run departs from params/pipeline.yml, or returns to it after a run that did
    (one that departed from the file as it read then: an edit of the file is not a return)."""
    changed = non_default(cfg.parameters())
    defaults = paths.relative(paths.PIPELINE_PARAMS)
    if changed:
        print(f"parameters not those of {defaults}: {parameter_words(changed)}")
    elif previous and previous.get("departures", non_default(previous.get("parameters", {}))):
        print(f"parameters: back to those of {defaults}")


def _check_inputs_unchanged(stage: Path, fingerprinted: dict, source: str) -> None:
    """The data files as read (hashed at read time) are the ones the run fingerprinted."""
    read_file = stage / "provenance" / "inputs.json"
    read = json.loads(read_file.read_text()) if read_file.exists() else {}
    changed = sorted(f for f, sha in read.items() if fingerprinted.get(f) != sha)
    if changed:
        raise StepFailed(f"the {source} extract changed while the run read it ({', '.join(changed)}); "
                         "nothing of this run was kept: run again once the files are in place", bad_input=True)


def _finish(stage: Path, cfg: config.RunConfig, names: list[str], plan: scheduler.Plan, rendered: set[str]) -> None:
    """Merged numbers, the notebooks' report pages not yet written, the manifest (which lists those
    pages with each step's files), the report's index and (for a complete run) the article, inside
    the stage."""
    from ..publish import report

    store.merge_numbers(stage)
    (stage / ".numbers.lock").unlink(missing_ok=True)
    params = cfg.parameters()
    finish = fingerprint.finish(params)
    _say_finish(plan, finish)
    pages = report.render_notebooks(stage, stage / "report", rendered, cfg.data_source)
    manifest.write(stage, cfg.data_source, params, names, plan.fingerprints, plan.carried, finish)
    report.build(stage, cfg, notebooks=pages)
    if names == declared.with_inputs(ANALYSIS, cfg.data_source):   # the article reports every step's numbers
        from ..publish import article

        article.build(stage, cfg, manifest.run_facts(stage))


def _say_finish(plan: scheduler.Plan, now: dict) -> None:
    """Say what the finish writes again besides the executed notebooks' pages, and why: the carried
    notebooks' pages (the report's code changed) and the report's pages of the docs."""
    before = plan.finish_before
    if not before:
        return
    if plan.carried and not plan.same_pages:
        why = fingerprint.changes(fingerprint.pages(before), fingerprint.pages(now))
        print(f"  report pages of the carried notebooks rendered again ({why})", flush=True)
    changed = [d for d in now["docs"] if (before.get("docs") or {}).get(d) != now["docs"][d]]
    if changed:
        pages = " and ".join(Path(d).stem for d in changed) + (" pages" if len(changed) > 1 else " page")
        print(f"  report's {pages} written again ({', '.join(changed)} changed)", flush=True)


# -- the synthetic cohort and the committed notebooks --------------------------------------------------

def _without_injected(src: Path, dst: Path) -> None:
    """Copy an executed notebook, dropping papermill's injected-parameters cell and metadata, so
    the committed notebook shows its own defaults (equal to params/pipeline.yml; tested), and
    linking the docs in docs/ again (the executed notebook links the report's pages of them)."""
    from ..publish.report import relink_docs

    nb = relink_docs(nbformat.read(src, as_version=4), "notebooks")
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, dst)


def synthesize(overrides: dict | None = None) -> Path:
    """Run notebook 00 into a stage, then move the new cohort into data/synthetic/."""
    final = paths.synthetic_dir()
    unknown = sorted(set(overrides or {}) - set(scheduler.notebook_parameters(SYNTHESIZE)) - {"data_dir"})
    if unknown:
        raise UsageError(f"unknown setting(s) {unknown} for synthesize; choose from seed, n_clinics, n_clinicians, "
                         "n_patients")
    scheduler.ensure_kernel()
    stage = Path(tempfile.mkdtemp(prefix=".synthetic.stage-", dir=final.parent))
    try:
        try:
            scheduler.execute(SYNTHESIZE, stage / f"{SYNTHESIZE}.ipynb", {**(overrides or {}), "data_dir": str(stage)})
        except Exception as err:
            raise StepFailed(f"step {SYNTHESIZE} failed: {scheduler.reason(err)}; data/synthetic/ is unchanged") from None
        for f in sorted(stage.iterdir()):   # committed files: git shows and restores any partial move
            if f.suffix == ".csv" or f.name == "SHA256SUMS":
                os.replace(f, final / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final


def refresh_notebooks(source: str = "synthetic") -> list[Path]:
    """Make the committed notebooks carry the outputs of the canonical synthetic run, and record
    that run in the repository (:func:`trustlib.publish.certificate.record`: its certificate, Figure 2 and
    the README's result line).

    The analysis notebooks are copied from the run's executed notebooks (run first if not
    current; nothing is executed twice); notebook 00 is executed into a throw-away folder.
    Refuses raw data: committed notebooks must never carry outputs of the trial's data.
    """
    if source != "synthetic":
        raise TrustlibError("refusing to refresh committed notebooks from raw data: their outputs would "
                            "put trial data into git. Refresh with DATA=synthetic.")
    results = run("synthetic")
    written = []
    for name in ANALYSIS:
        _without_injected(results / "notebooks" / f"{name}.ipynb", paths.notebook(name))
        written.append(paths.notebook(name))
    with tempfile.TemporaryDirectory(prefix="trustlib-refresh-") as tmp:
        out = Path(tmp) / f"{SYNTHESIZE}.ipynb"
        scheduler.execute(SYNTHESIZE, out, {"data_dir": tmp})
        cohort_files = [p.name for p in paths.synthetic_dir().glob("*.csv")] + ["SHA256SUMS"]
        differ = [f for f in cohort_files if (Path(tmp) / f).read_bytes() != (paths.synthetic_dir() / f).read_bytes()]
        if differ:
            raise TrustlibError(f"notebook 00 no longer regenerates the committed cohort ({differ}); "
                                "run `make synthetic` first")
        _without_injected(out, paths.notebook(SYNTHESIZE))
        written.append(paths.notebook(SYNTHESIZE))
    from ..publish import certificate

    return written + certificate.record(results)

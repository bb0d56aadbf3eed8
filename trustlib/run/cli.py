"""Command line: ``python -m trustlib {validate,run,verify,compare,site,rehearsal,synthesize,refresh-notebooks,install-kernel} --help``.

Exit status: 0 on success; 2 for a problem the user can fix (bad data, parameters, command line,
permissions, a run already holding the lock), with one line per problem; 1 for any other
failure; 128 + the signal on an interrupt: 130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP, each
handled alike (kernels stopped, the stage removed). Never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import InputError, TrustlibError, UsageError, paths


def _validate(args, project: paths.RunPaths) -> int:
    from ..data import checks, contract
    from . import config

    folder = Path(args.path) if args.path else project.data
    tables = contract.load_folder(folder, Path(args.column_map) if args.column_map else None)
    source = "raw" if folder.resolve() != paths.data_dir("synthetic").resolve() else "synthetic"
    checks.cohort_problems(tables, config.RunConfig.load(source))
    for note in contract.reading_notes(tables):
        print(note)
    counts = ", ".join(f"{len(df)} {name}" for name, df in tables.items())
    print(f"{project.relative(folder)}: valid ({counts}); the cohort rules of params/pipeline.yml can be applied")
    return 0


def _make_all(data: str) -> str:
    """The make command that produces a run of ``data``, for messages."""
    return "make all" if data == "synthetic" else f"make all DATA={data}"


def _overrides(items: list[str] | None) -> dict:
    from .. import params

    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = params.parse(value, f"--set {item}")
        except params.ParameterError as err:
            raise UsageError(str(err)) from None
    return overrides


def _run(args, project: paths.RunPaths) -> int:
    from . import pipeline

    pipeline.run(args.data, Path(args.params) if args.params else None, _overrides(args.set),
                 force=args.force, jobs=args.jobs, names=args.only,
                 project=paths.RunPaths(args.data, project.root), dry_run=args.dry_run or None)
    if not (args.dry_run or os.environ.get("TRUSTLIB_DRY_RUN", "") not in ("", "0")):
        run = paths.RunPaths(args.data, project.root)
        try:
            _where(run)
        except KeyboardInterrupt as err:         # the run is complete and in place: say so
            from .transaction import StoppedAfterSwap

            raise StoppedAfterSwap(getattr(err, "signum", 2), run.relative(run.results_name)) from None
    return 0


def _where(run: paths.RunPaths) -> None:
    """The closing lines of a run: where to read it, and the scorecard in one line."""
    from .. import store
    from ..stats import scorecard

    shown = run.relative(run.results_name)
    if (run.results / "report" / "index.html").exists():
        article = f"; article: {shown}/article/article.pdf" if (run.results / "article" / "article.pdf").exists() else ""
        print(f"report: {shown}/report/index.html{article}")
    if (run.results / "scorecard.csv").exists():
        print(f"scorecard: {scorecard.summary(store.read_table(run.results / 'scorecard.csv'))}")


def _synthesize(args, project: paths.RunPaths) -> int:
    from . import pipeline

    folder = pipeline.synthesize(_overrides(args.set))
    print(f"synthetic cohort written to {paths.relative(folder)}/")
    return 0


def _refresh(args, project: paths.RunPaths) -> int:
    from . import pipeline

    for nb in pipeline.refresh_notebooks(args.data):
        print(f"refreshed {paths.relative(nb)}")
    return 0


def _verify(args, project: paths.RunPaths) -> int:
    from .. import params, store
    from ..stats import scorecard
    from . import manifest

    run = paths.RunPaths(args.data, project.root)
    path = run.results / "scorecard.csv"
    if not path.exists():
        print(f"error: {run.relative(path)} not found; run `{_make_all(args.data)}` first", file=sys.stderr)
        return 1
    card = store.read_table(path)
    changed = manifest.non_default_parameters(run.results)
    if changed:
        print(f"{run.relative(run.results)}/ holds a run with {params.parameter_words(changed)}"
              f" (not the defaults of {paths.relative(paths.PIPELINE_PARAMS)})")
    for r in scorecard.failures(card).itertuples():
        print(f"FAIL {r.key}: published {r.comparator if r.comparator == '<' else ''}{r.published:g}, "
              f"reproduced {r.reproduced:.4g} ({r.tolerance})", file=sys.stderr)
    c = scorecard.counts(card)
    hidden = f"; {c['n_not_compared']} not compared (suppressed by disclosure control)" if c["n_not_compared"] else ""
    print(f"scorecard: {c['n_passed']} of {c['n_compared']} compared checks pass{hidden}")
    return 1 if c["n_failed"] else 0


def _compare(args, project: paths.RunPaths) -> int:
    from .. import params
    from ..publish import certificate
    from . import manifest

    run = paths.RunPaths(args.data, project.root)
    mine = Path(args.results) if args.results else run.results_name
    if not (mine / "numbers.json").exists():
        raise UsageError(f"{run.relative(mine)}/ holds no run (no numbers.json); run `{_make_all(args.data)}` first")
    if args.other:
        other = Path(args.other)
        if not (other / "numbers.json").exists():
            raise UsageError(f"{args.other} holds no run (no numbers.json): give a results folder to compare with")
        result = certificate.with_folder(mine, other, f"{run.relative(mine)}/", f"{args.other}")
    else:
        if args.data != "synthetic" and not args.results:
            raise UsageError(f"the certificate is of the canonical synthetic run: compare a {args.data} run with "
                             f"another results folder (make compare DATA={args.data} WITH=<folder>)")
        cert = paths.CERTIFICATE if run.root == paths.ROOT else Path(run.root) / "canonical" / "certificate.json"
        result = certificate.with_certificate(mine, certificate.read(cert), f"{run.relative(mine)}/")
    for line in result.lines():
        print(line)
    changed = manifest.non_default_parameters(mine)
    if changed and not result.identical:
        print(f"  ({run.relative(mine)}/ holds a run with {params.parameter_words(changed)}, "
              f"not the defaults of {paths.relative(paths.PIPELINE_PARAMS)})")
    return 0 if result.identical else 1


def _site(args, project: paths.RunPaths) -> int:
    from ..publish import site

    run = paths.RunPaths(args.data, project.root)
    if not (run.results / "report" / "index.html").exists():
        raise UsageError(f"{run.relative(run.results_name)}/ holds no report; run `{_make_all(args.data)}` first")
    index = site.build(run.results)
    print(f"site: {run.relative(run.results_name)}/site/ (open {run.relative(run.results_name)}/site/index.html; "
          "every link stays inside the folder)")
    return 0 if index.exists() else 1


def _rehearsal(args, project: paths.RunPaths) -> int:
    from ..data import rehearsal

    folder = rehearsal.write(Path(project.root) / "data" / "rehearsal")
    print(f"rehearsal extract written to {project.relative(folder)}/ (the synthetic cohort as the trial's export "
          "would come; `make all DATA=rehearsal` runs the raw path on it)")
    return 0


def _install_kernel(args, project: paths.RunPaths) -> int:
    from . import scheduler

    print(f"kernel '{scheduler.KERNEL}' installed in {scheduler.install_kernel()}")
    return 0


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message):          # usage errors exit 2 with one line, as argparse does, naming the command
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    from .. import steps

    p = _Parser(prog="python -m trustlib", description="Reproduce Linzer et al. 2021 'Where Trust Flourishes'.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("validate", help="check a data folder against the codebook and the cohort rules",
                       description="Check the three tables in PATH (default data/synthetic) against data/codebook.csv "
                                   "and the cohort rules of params/pipeline.yml; print every problem; exit 2 if any.")
    v.add_argument("path", nargs="?", help="folder with the three tables, e.g. data/raw")
    v.add_argument("--column-map", help="YAML mapping of the extract's columns (default PATH/column_map.yml)")
    v.set_defaults(func=_validate)
    r = sub.add_parser("run", help="run the analysis notebooks as one all-or-nothing run",
                       description="Run the analysis notebooks into a stage and replace the results folder "
                                   "only when every step succeeds. Steps whose inputs did not change are carried "
                                   "from the previous results; when nothing changed, nothing runs.")
    r.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic", help="data source (default synthetic)")
    r.add_argument("--params", help="a parameter file with any of params/pipeline.yml's keys (overrides them)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one pipeline parameter for this run, e.g. --set sim_replicates=200")
    r.add_argument("--force", action="store_true", help="execute every step even if its inputs did not change")
    r.add_argument("--dry-run", action="store_true",
                   help="make every check, say which steps would be executed or carried, and stop "
                        "(also: environment variable TRUSTLIB_DRY_RUN=1)")
    r.add_argument("--jobs", type=_jobs, default=2, help="notebooks run at the same time (default 2)")
    r.add_argument("--only", nargs="+", metavar="NOTEBOOK", choices=steps.ANALYSIS,
                   help="run only these notebooks and those they read from (the results folder then "
                        "holds only their outputs)")
    r.set_defaults(func=_run)
    c = sub.add_parser("verify", help="exit 1 if any compared published-vs-reproduced check fails",
                       description="Read the results folder's scorecard.csv; exit 1 if a compared row failed. "
                                   "Rows hidden by disclosure control are not compared.")
    c.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    c.set_defaults(func=_verify)
    y = sub.add_parser("synthesize", help="regenerate data/synthetic/ from params/synthetic.yml (notebook 00)",
                       description="Execute notebook 00 into a stage and move the new cohort into data/synthetic/.")
    y.add_argument("--set", action="append", metavar="KEY=VALUE", help="override seed or a size, e.g. --set seed=7")
    y.set_defaults(func=_synthesize)
    f = sub.add_parser("refresh-notebooks", help="make the committed notebooks carry the canonical run's outputs",
                       description="Copy the canonical synthetic run's executed notebooks (run first if needed) "
                                   "into notebooks/, without papermill's injected cell. Refuses raw data.")
    f.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    f.set_defaults(func=_refresh)
    m = sub.add_parser("compare", help="is this run the canonical run byte for byte? (or: compare two results folders)",
                       description="Compare the results folder's certified files (tables, figures' data, numbers.json, "
                                   "scorecard) with the canonical run's certificate (canonical/certificate.json), or "
                                   "with another results folder; exit 0 if identical, 1 if not, naming each file "
                                   "that differs and by how much at written precision.")
    m.add_argument("other", nargs="?", help="another results folder to compare with (default: the certificate)")
    m.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    m.add_argument("--results", help="the results folder to check (default results/, or results_raw/ for raw)")
    m.set_defaults(func=_compare)
    w = sub.add_parser("site", help="the run as one offline folder of pages: results/site/",
                       description="Write the report, the article, every notebook's page, the figures, the tables and "
                                   "the docs as HTML into the results folder's site/, every link inside it.")
    w.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    w.set_defaults(func=_site)
    e = sub.add_parser("rehearsal", help="write data/rehearsal/: the synthetic cohort shaped like the trial's export",
                       description="Write the synthetic cohort into data/rehearsal/ as the trial's export would come "
                                   "(the example column map's files and columns, a workbook sheet, missing codes), "
                                   "to rehearse the raw path with `make all DATA=rehearsal`.")
    e.set_defaults(func=_rehearsal)
    k = sub.add_parser("install-kernel", help="install the notebooks' Jupyter kernel into this environment",
                       description="Install the 'trustlib' kernel the notebooks name (run by `make env`).")
    k.set_defaults(func=_install_kernel)
    return p


def message(err: BaseException) -> tuple[int, str]:
    """Exit status and the one message a user sees for an error (no traceback)."""
    from .scheduler import StepFailed
    from .transaction import NotWritable, RunLocked, StoppedAfterSwap

    if isinstance(err, StepFailed):
        return (2 if err.bad_input else 1), f"error: {err}"
    if isinstance(err, (InputError, RunLocked, NotWritable)):
        return 2, f"error: {err}"
    if isinstance(err, TrustlibError):
        return 1, f"error: {err}"
    if isinstance(err, BrokenPipeError):   # the reader went away (``| head``): stop, as a shell's writer would
        return 141, ("stopped: the output was closed before the command finished (a run stopped this way leaves "
                     "its results folder as it was)")
    if isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        return 2, f"error: {err.strerror or err}{where}"
    if isinstance(err, KeyboardInterrupt):
        import signal

        signum = getattr(err, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        if isinstance(err, StoppedAfterSwap):
            return 128 + signum, (f"interrupted ({name}) once the run had finished: {err.results}/ holds this run's "
                                  "results")
        return 128 + signum, f"interrupted ({name}): nothing of this run was kept"
    if isinstance(err, MemoryError):
        return 1, "error: out of memory (an input far larger than the study's, or a parameter far out of range?)"
    raise err


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    """Run the command line; ``root`` is the project folder (default this repository)."""
    args = parser().parse_args(argv)
    project = paths.RunPaths("synthetic", Path(root) if root else paths.ROOT)
    try:
        return args.func(args, project)
    except (Exception, KeyboardInterrupt) as err:  # every error ends as one message and an exit status
        code, text = message(err)
        try:
            print(text, file=sys.stderr)
        except (OSError, ValueError):   # stderr closed too: the status says it
            pass
        return code


def leave(code: int) -> None:
    """Exit with ``code`` once the output is flushed, without the interpreter's teardown of the
    libraries a command loaded (pandas, scipy, nbconvert...: about half a second after every
    command, a fixed tail on each run). Every file is written and closed, every kernel shut
    down, before a command returns."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe (``| head``) or stream: nothing more to say
            pass
    os._exit(code)

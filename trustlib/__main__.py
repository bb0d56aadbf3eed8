"""Command line: ``python -m trustlib {validate,run,synthesize,refresh-notebooks} --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import TrustlibError, paths


class UsageError(TrustlibError):
    """A command-line mistake (exit status 2)."""


def _validate(args) -> int:
    from . import contract

    folder = Path(args.path)
    try:
        tables = contract.load_folder(folder, Path(args.column_map) if args.column_map else None)
    except contract.DataValidationError as err:
        print(err, file=sys.stderr)
        return 2
    counts = ", ".join(f"{len(df)} {name}" for name, df in tables.items())
    print(f"{paths.relative(folder)}: valid ({counts})")
    return 0


def _overrides(items: list[str] | None) -> dict:
    import yaml

    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _run(args) -> int:
    from . import pipeline

    results = pipeline.run(args.data, Path(args.params) if args.params else None, _overrides(args.set),
                           force=args.force, jobs=args.jobs, names=args.only)
    print(f"outputs in {paths.relative(results)}/")
    return 0


def _synthesize(args) -> int:
    from . import pipeline

    folder = pipeline.synthesize(_overrides(args.set))
    print(f"synthetic cohort written to {paths.relative(folder)}/")
    return 0


def _refresh(args) -> int:
    from . import pipeline

    for nb in pipeline.refresh_notebooks(args.data):
        print(f"refreshed {paths.relative(nb)}")
    return 0


def _verify(args) -> int:
    import pandas as pd

    path = paths.result(args.data, "scorecard.csv")
    if not path.exists():
        print(f"error: {paths.relative(path)} not found; run `make all` first", file=sys.stderr)
        return 1
    card = pd.read_csv(path, keep_default_na=False)
    failed = card[card["passed"].astype(str) != "True"]
    for r in failed.itertuples():
        print(f"FAIL {r.key}: published {r.published}, reproduced {r.reproduced} ({r.tolerance})", file=sys.stderr)
    print(f"scorecard: {len(card) - len(failed)} of {len(card)} checks pass")
    return 1 if len(failed) else 0


def _install_kernel(args) -> int:
    from . import pipeline

    print(f"kernel '{pipeline.KERNEL}' installed in {pipeline.install_kernel()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trustlib",
                                     description="Reproduce Linzer et al. 2021 'Where Trust Flourishes'.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a data folder against the codebook",
                       description="Check clinics.csv, clinicians.csv and patients.csv in PATH against "
                                   "data/codebook.csv; print every problem; exit 2 if there is any.")
    v.add_argument("path", help="folder with the three raw tables, e.g. data/raw")
    v.add_argument("--column-map", help="YAML mapping of the extract's columns (default PATH/column_map.yml)")
    v.set_defaults(func=_validate)
    r = sub.add_parser("run", help="run the analysis notebooks as one all-or-nothing run",
                       description="Run the analysis notebooks into a stage and replace the results folder "
                                   "only when every step succeeds. Does nothing when the results folder "
                                   "records a run of the same data, code and parameters.")
    r.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic", help="data source (default synthetic)")
    r.add_argument("--params", help="pipeline parameter file (default params/pipeline.yml)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one pipeline parameter for this run, e.g. --set sim_replicates=200")
    r.add_argument("--force", action="store_true", help="run even if the results are up to date")
    r.add_argument("--jobs", type=int, default=2, help="notebooks run at the same time (default 2)")
    r.add_argument("--only", nargs="+", metavar="NOTEBOOK",
                   help="run only these notebooks and those they read from (the results folder then "
                        "holds only their outputs)")
    r.set_defaults(func=_run)
    y = sub.add_parser("synthesize", help="regenerate data/synthetic/ from params/synthetic.yml (notebook 00)",
                       description="Execute notebook 00 into a stage and move the new cohort into data/synthetic/.")
    y.add_argument("--set", action="append", metavar="KEY=VALUE", help="override seed or a size, e.g. --set seed=7")
    y.set_defaults(func=_synthesize)
    f = sub.add_parser("refresh-notebooks", help="make the committed notebooks carry the canonical run's outputs",
                       description="Copy the canonical synthetic run's executed notebooks (run first if needed) "
                                   "into notebooks/, without papermill's injected cell. Refuses raw data.")
    f.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    f.set_defaults(func=_refresh)
    c = sub.add_parser("verify", help="exit 1 if any published-vs-reproduced check fails",
                       description="Read results/scorecard.csv and exit non-zero if any row failed.")
    c.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    c.set_defaults(func=_verify)
    k = sub.add_parser("install-kernel", help="install the notebooks' Jupyter kernel into this environment",
                       description="Install the 'trustlib' kernel the notebooks name (run by `make env`).")
    k.set_defaults(func=_install_kernel)
    args = parser.parse_args(argv)
    from .contract import DataValidationError
    from .params import ParameterError
    from .pipeline import RunLocked, StepFailed

    try:
        return args.func(args)
    except (UsageError, RunLocked, DataValidationError, ParameterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except StepFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 2 if err.bad_input else 1
    except TrustlibError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing of this run was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

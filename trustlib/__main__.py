"""Command line: ``python -m trustlib {validate,run,synthesize,refresh-notebooks} --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import TrustlibError, paths


def _validate(args) -> int:
    from . import contract

    folder = Path(args.path)
    try:
        tables = contract.load_folder(folder, Path(args.column_map) if args.column_map else None)
    except contract.DataValidationError as err:
        print(err, file=sys.stderr)
        return 1
    counts = ", ".join(f"{len(df)} {name}" for name, df in tables.items())
    print(f"{paths.relative(folder)}: valid ({counts})")
    return 0


def _run(args) -> int:
    from . import pipeline

    names = args.only or pipeline.ANALYSIS
    unknown = [n for n in names if n not in pipeline.ANALYSIS + [pipeline.SYNTHESIZE]]
    if unknown:
        print(f"unknown notebook(s) {unknown}; choose from {pipeline.ANALYSIS}", file=sys.stderr)
        return 2
    if args.data == "raw" and pipeline.SYNTHESIZE in names:
        print("the synthetic cohort is generated from params/synthetic.yml, not from raw data", file=sys.stderr)
        return 2
    import yaml

    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--set expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key.strip()] = yaml.safe_load(value)
    pipeline.run(names, args.data, Path(args.params) if args.params else None, overrides)
    print(f"outputs in {paths.relative(paths.results_dir(args.data))}/")
    return 0


def _refresh(args) -> int:
    from . import pipeline

    pipeline.refresh_notebooks(args.only or [pipeline.SYNTHESIZE] + pipeline.ANALYSIS, args.data)
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


def _report(args) -> int:
    from . import report

    index = report.build(args.data)
    print(f"report: {paths.relative(index)}")
    return 0


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
                                   "data/codebook.csv; print every problem; exit 1 if there is any.")
    v.add_argument("path", help="folder with the three raw tables, e.g. data/raw")
    v.add_argument("--column-map", help="YAML mapping of the extract's columns (default PATH/column_map.yml)")
    v.set_defaults(func=_validate)
    r = sub.add_parser("run", help="run the notebooks with papermill",
                       description="Run the analysis notebooks in order, staging outputs and moving them into "
                                   "place only when every step succeeds.")
    r.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic", help="data source (default synthetic)")
    r.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (names without .ipynb)")
    r.add_argument("--params", help="pipeline parameter file (default params/pipeline.yml)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one pipeline parameter for this run, e.g. --set sim_replicates=200")
    r.set_defaults(func=_run)
    f = sub.add_parser("refresh-notebooks", help="re-execute the committed notebooks in place (synthetic only)",
                       description="Re-execute notebooks/*.ipynb with their default parameters so their committed "
                                   "outputs match the canonical run. Refuses raw data.")
    f.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    f.add_argument("--only", nargs="+", metavar="NOTEBOOK")
    f.set_defaults(func=_refresh)
    c = sub.add_parser("verify", help="exit 1 if any published-vs-reproduced check fails",
                       description="Read results/scorecard.csv and exit non-zero if any row failed.")
    c.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    c.set_defaults(func=_verify)
    h = sub.add_parser("report", help="render the executed notebooks to an HTML report",
                       description="Render results/notebooks/*.ipynb to HTML with an index page (results/report/).")
    h.add_argument("--data", choices=paths.DATA_SOURCES, default="synthetic")
    h.set_defaults(func=_report)
    k = sub.add_parser("install-kernel", help="install the notebooks' Jupyter kernel into this environment",
                       description="Install the 'trustlib' kernel the notebooks name (run by `make env`).")
    k.set_defaults(func=_install_kernel)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TrustlibError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

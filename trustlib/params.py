"""Loading and checking the parameter files in ``params/`` (YAML, comments say what each value means)."""

from __future__ import annotations

from numbers import Real
from pathlib import Path

import yaml

from . import TrustlibError, paths


class ParameterError(TrustlibError):
    """A parameter file or value a run cannot use (exit status 2); the message names each one."""


def load_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        raise ParameterError(f"{paths.relative(Path(path))}: not valid YAML ({str(err).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{paths.relative(Path(path))}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{paths.relative(Path(path))}: must map parameter names to values, "
                             f"not a {type(data).__name__}")
    return data


def synthetic_params(path: Path | None = None) -> dict:
    """Generator parameters (``params/synthetic.yml``)."""
    return load_yaml(path or paths.SYNTHETIC_PARAMS)


def pipeline_params(path: Path | None = None) -> dict:
    """Analysis parameters passed to every notebook (``params/pipeline.yml``)."""
    return load_yaml(path or paths.PIPELINE_PARAMS)


def _whole(v, low: int = 1) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _cutoff(v) -> bool:
    return v in ("median", "tertile") or (isinstance(v, Real) and not isinstance(v, bool))


def problems(p: dict) -> list[str]:
    """Every value of the pipeline parameters ``p`` that a run cannot use, one message each
    (checked before any notebook starts, so a typo never surfaces as a traceback)."""
    from . import cohort, scales

    out = []

    def need(ok: bool, key: str, what: str):
        if key in p and not ok:
            out.append(f"{key} must be {what}, not {p[key]!r}")

    for key in ("min_clinicians_per_clinic", "min_patient_surveys", "min_cell_size", "nagq", "sim_replicates",
                "unselected_seeds"):
        need(_whole(p.get(key)), key, "a whole number of at least 1")
    need(_whole(p.get("unselected_seed_start"), 0), "unselected_seed_start", "a whole number of at least 0")
    need(_whole(p.get("sim_seed"), 0), "sim_seed", "a whole number of at least 0")
    need(_whole(p.get("n_jobs"), 1) or p.get("n_jobs") == -1, "n_jobs", "a whole number of at least 1, or -1")
    need(p.get("on_all_missing_scale") in ("error", "exclude"), "on_all_missing_scale", "'error' or 'exclude'")
    need(p.get("cutoff_rule") in cohort.CUTOFF_RULES, "cutoff_rule", f"one of {list(cohort.CUTOFF_RULES)}")
    need(p.get("backend") in ("joblib", "dask"), "backend", "'joblib' or 'dask'")
    need(p.get("strict_models") in (True, False), "strict_models", "true or false")
    for key in ("org_trust_cutoff", "patient_trust_cutoff"):
        need(_cutoff(p.get(key)), key, "a number, 'median' or 'tertile'")
    for key in ("robust_org_cutoffs", "robust_patient_cutoffs"):
        need(isinstance(p.get(key), list) and bool(p[key]) and all(map(_cutoff, p[key])), key,
             "a non-empty list of numbers, 'median' or 'tertile'")
    need(isinstance(p.get("robust_min_surveys"), list) and bool(p["robust_min_surveys"])
         and all(map(_whole, p["robust_min_surveys"])), "robust_min_surveys", "a non-empty list of whole numbers")
    need(isinstance(p.get("robust_cutoff_rules"), list) and bool(p["robust_cutoff_rules"])
         and set(p["robust_cutoff_rules"]) <= set(cohort.CUTOFF_RULES), "robust_cutoff_rules",
         f"a non-empty list from {list(cohort.CUTOFF_RULES)}")
    need(isinstance(p.get("covariates"), list) and set(p["covariates"]) <= set(cohort.COVARIATE_CODINGS),
         "covariates", f"a list from {cohort.COVARIATE_CODINGS}")
    if "min_answered_items" in p:
        if not isinstance(p["min_answered_items"], dict):
            out.append(f"min_answered_items must map scale names to whole numbers, not {p['min_answered_items']!r}")
        else:
            try:
                scales.check_min_answered(p["min_answered_items"])
            except ValueError as err:
                out.append(str(err))
    return out

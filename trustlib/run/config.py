"""The run's configuration: every analysis choice, typed and checked once.

:class:`RunConfig` is built once per run (:meth:`RunConfig.load`) from ``params/pipeline.yml``,
the one place its defaults are written, then a ``--params`` file and ``--set`` overrides, and
checked once (:meth:`RunConfig.problems`) before any notebook starts. The runner passes its
values to each notebook as papermill parameters (those the notebook declares), and hands the
configuration itself to the report and the article, whose prose follows it. No other module
reads the parameter file.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from numbers import Real
from pathlib import Path

from .. import params, paths
from ..data import cohort
from ..stats import estimators, models, parallel

# upper bounds that keep a run finite in time and memory (a typo of 10**12 is refused, not tried)
LIMITS = {"nagq": 50, "sim_replicates": 100_000, "unselected_seeds": 10_000, "min_patient_surveys": 1000,
          "min_clinicians_per_clinic": 1000, "min_cell_size": 1000, "n_jobs": 512, "grid": 50}
SAFE_CELL_SIZE = 11     # below this, raw data need allow_small_cells: true (and the manifest says so)


ParameterError = params.ParameterError


@dataclass(frozen=True)
class RunConfig:
    """Every choice of one run (meanings in ``params/pipeline.yml``)."""

    data_source: str
    min_clinicians_per_clinic: int
    min_patient_surveys: int
    on_all_missing_scale: str
    min_answered_items: dict
    org_trust_cutoff: float | str
    patient_trust_cutoff: float | str
    cutoff_rule: str
    nagq: int
    covariates: list
    estimators: list
    strict_models: bool
    min_cell_size: int
    allow_small_cells: bool
    allow_release_difference: bool
    robust_org_cutoffs: list
    robust_patient_cutoffs: list
    robust_min_surveys: list
    robust_cutoff_rules: list
    unselected_seeds: int
    unselected_seed_start: int
    sim_replicates: int
    sim_seed: int
    sim_estimators: list
    n_jobs: int
    backend: str
    dask_scheduler: str | None

    @classmethod
    def load(cls, data_source: str = "synthetic", params_file: Path | None = None,
             overrides: dict | None = None) -> "RunConfig":
        """``params/pipeline.yml``, then ``params_file`` (any subset of its keys), then
        ``overrides``; raises :class:`ParameterError` naming every unknown key or bad value."""
        values = params.load_yaml(paths.PIPELINE_PARAMS)
        names = {f.name for f in fields(cls)}
        for source, extra in ((params_file, params.load_yaml(params_file) if params_file else {}),
                              ("--set", overrides or {})):
            unknown = sorted(set(extra) - names)
            if unknown:
                where = "--set" if source == "--set" else paths.relative(Path(source))
                raise ParameterError(f"{where}: unknown parameter(s) {unknown}; "
                                     f"see {paths.relative(paths.PIPELINE_PARAMS)}")
            values.update(extra)
        values["data_source"] = data_source
        missing = sorted(names - set(values))
        if missing:
            raise ParameterError(f"{paths.relative(paths.PIPELINE_PARAMS)} lacks parameter(s) {missing}")
        config = cls(**{k: values[k] for k in names})
        bad = config.problems()
        if bad:
            raise ParameterError("parameters a run cannot use:\n  - " + "\n  - ".join(bad))
        return config

    def replace(self, **changes) -> "RunConfig":
        """A copy with ``changes`` (not re-checked: for tests and derived runs)."""
        return dataclasses.replace(self, **changes)

    def parameters(self) -> dict:
        """Every value by name (what the notebooks receive and the manifest records)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def rules(self) -> cohort.Rules:
        """The cohort rules (:class:`trustlib.data.cohort.Rules`)."""
        return cohort.Rules.of(self.parameters())

    @property
    def model_spec(self) -> models.ModelSpec:
        """How Table 2 and the specification curve fit their models (:class:`trustlib.stats.models.ModelSpec`)."""
        return models.ModelSpec.of(self.parameters())

    @property
    def compute(self) -> parallel.Compute:
        """Where notebooks 06-08 run their tasks (:class:`trustlib.stats.parallel.Compute`)."""
        return parallel.Compute.of(self.parameters())

    @property
    def disclosure_threshold(self) -> int | None:
        """Cell-size threshold k on raw data; None on the synthetic cohort (nothing hidden)."""
        return self.min_cell_size if paths.is_real(self.data_source) else None

    def problems(self) -> list[str]:
        """Every value that a run cannot use, one message each."""
        return _problems(self.parameters())


def _whole(v, low: int = 1, high: int | None = None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high)


def _number(v, low: float, high: float) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high


def _cutoff(v, low: float, high: float) -> bool:
    return v in cohort.NAMED_CUTOFFS or _number(v, low, high)


def _list(v, ok, limit: int = LIMITS["grid"]) -> bool:
    return isinstance(v, list) and 0 < len(v) <= limit and len(set(map(str, v))) == len(v) and all(map(ok, v))


def _problems(p: dict) -> list[str]:
    from ..data import scales

    out = []

    def need(ok: bool, key: str, what: str):
        if not ok:
            out.append(f"{key} must be {what}, not {p[key]!r}")

    need(p["data_source"] in paths.DATA_SOURCES, "data_source", f"one of {list(paths.DATA_SOURCES)}")
    for key in ("min_clinicians_per_clinic", "min_patient_surveys", "min_cell_size", "nagq", "sim_replicates",
                "unselected_seeds"):
        need(_whole(p[key], 1, LIMITS[key]), key, f"a whole number from 1 to {LIMITS[key]:,}")
    need(_whole(p["unselected_seed_start"], 0), "unselected_seed_start", "a whole number of at least 0")
    need(_whole(p["sim_seed"], 0), "sim_seed", "a whole number of at least 0")
    need(_whole(p["n_jobs"], 1, LIMITS["n_jobs"]) or p["n_jobs"] == -1, "n_jobs",
         f"a whole number from 1 to {LIMITS['n_jobs']}, or -1 (all cores)")
    need(p["on_all_missing_scale"] in ("error", "exclude"), "on_all_missing_scale", "'error' or 'exclude'")
    need(p["cutoff_rule"] in cohort.CUTOFF_RULES, "cutoff_rule", f"one of {list(cohort.CUTOFF_RULES)}")
    need(p["strict_models"] in (True, False), "strict_models", "true or false")
    need(p["allow_small_cells"] in (True, False), "allow_small_cells", "true or false")
    need(p["allow_release_difference"] in (True, False), "allow_release_difference", "true or false")
    need(_cutoff(p["org_trust_cutoff"], 1, 4), "org_trust_cutoff", "a number from 1 to 4, 'median' or 'tertile'")
    need(_cutoff(p["patient_trust_cutoff"], 0, 100), "patient_trust_cutoff",
         "a number from 0 to 100, 'median' or 'tertile'")
    need(_list(p["robust_org_cutoffs"], lambda v: _cutoff(v, 1, 4)), "robust_org_cutoffs",
         f"a list of 1 to {LIMITS['grid']} different numbers from 1 to 4, 'median' or 'tertile'")
    need(_list(p["robust_patient_cutoffs"], lambda v: _cutoff(v, 0, 100)), "robust_patient_cutoffs",
         f"a list of 1 to {LIMITS['grid']} different numbers from 0 to 100, 'median' or 'tertile'")
    need(_list(p["robust_min_surveys"], lambda v: _whole(v, 1, LIMITS["min_patient_surveys"])),
         "robust_min_surveys", f"a list of 1 to {LIMITS['grid']} different whole numbers of at least 1")
    need(_list(p["robust_cutoff_rules"], lambda v: v in cohort.CUTOFF_RULES), "robust_cutoff_rules",
         f"a list from {list(cohort.CUTOFF_RULES)}")
    need(_list(p["covariates"], lambda v: v in cohort.COVARIATE_CODINGS, 20) or p["covariates"] == [],
         "covariates", f"a list of different names from {cohort.COVARIATE_CODINGS}")
    need(_list(p["estimators"], lambda v: v in estimators.REGISTRY, 20) and "glmm" in p["estimators"],
         "estimators", f"a list from {list(estimators.REGISTRY)} that includes glmm (the paper's model)")
    need(_list(p["sim_estimators"], lambda v: v in estimators.REGISTRY, 20), "sim_estimators",
         f"a list from {list(estimators.REGISTRY)}")
    need(p["backend"] in ("joblib", "dask"), "backend", "'joblib' or 'dask'")
    if p["backend"] == "dask":
        need(isinstance(p["dask_scheduler"], str) and p["dask_scheduler"].strip() != "", "dask_scheduler",
             "the scheduler's address (e.g. tcp://10.0.0.5:8786) when backend is dask")
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            out.append("backend dask needs the optional extra: pip install .[dask]")
    elif p["dask_scheduler"] is not None and not isinstance(p["dask_scheduler"], str):
        need(False, "dask_scheduler", "an address or null")
    if paths.is_real(p["data_source"]) and _whole(p["min_cell_size"]) and p["min_cell_size"] < SAFE_CELL_SIZE \
            and p["allow_small_cells"] is not True:
        out.append(f"min_cell_size {p['min_cell_size']} is below {SAFE_CELL_SIZE}: on raw data that shows counts "
                   "of fewer people than disclosure control allows; set allow_small_cells: true as well to do it "
                   "anyway (the manifest records it)")
    if not isinstance(p["min_answered_items"], dict):
        need(False, "min_answered_items", "a mapping of scale names to whole numbers")
    else:
        try:
            scales.check_min_answered(p["min_answered_items"])
        except ValueError as err:
            out.append(str(err))
    return out

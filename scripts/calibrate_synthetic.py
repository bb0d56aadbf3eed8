"""Calibrate the synthetic generator's parameters (never the estimator) to the published study.

Stage 1, structure. On a large cohort drawn from the generator (``--factor`` times the trial's
size, so sampling noise is small), run the project's own scoring, cohort rules and adjusted
two-level model, and nudge generator parameters towards published targets:

* each culture scale's loading on the general culture factor, towards the published adjusted
  log odds ratio per scale point;
* each scale's true-score SD, towards the published standard error of that log odds ratio
  (ln(upper / lower) / 3.92 of the published 95% CI), which the large cohort's SE estimates once
  scaled by the square root of its size multiple (an SE shrinks with the square root of n);
* the mean of clinician trust, towards 34% high-high;
* the item noise of clinician trust, towards Cronbach's alpha 0.77.

Stage 2, draw. With the structure fixed, try seeds in order and keep the first whose
trial-sized cohort passes every row of the scorecard (the same rules as notebook 05, scored by
:func:`trustlib.stats.calibration.score_seed`, as notebook 08 scores unselected seeds), under the
canonical parameters of params/pipeline.yml.

Run: ``python scripts/calibrate_synthetic.py [--skip-structure] [--write]``. ``--write`` stores the
calibrated values in params/synthetic.yml (comments kept) and writes data/synthetic/CALIBRATION.md;
afterwards run ``make synthetic all verify`` and update ``calibration.SEARCHED_SEEDS`` to the seeds tried.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys

import numpy as np
import pandas as pd

from joblib import Parallel, delayed

from trustlib import params, paths
from trustlib.data import cohort, scales, synth
from trustlib.stats import calibration, scorecard
from trustlib.run import config
from trustlib.stats.calibration import analyse

TARGET_SD = {"quality": 0.36, "communication": 0.37, "cohesiveness": 0.54, "alignment": 0.79}   # for reference
TARGET_ALPHA = 0.77
TARGET_HH = 55 / 162


def structure(gen: dict, cfg: config.RunConfig, factor: int, rounds: int) -> dict:
    published = scorecard.published_ors().set_index("measure")
    target_logor = np.log(published["or"])
    target_se = np.log(published["ci_high"] / published["ci_low"]) / (2 * 1.959964)
    g = copy.deepcopy(gen)
    for r in range(rounds):
        big = synth.scaled_params(g, factor, seed=1000 + r)
        tables = synth.generate(big)
        clin, analysis, fits = analyse(tables, cfg.rules, nagq=cfg.nagq, covariates=list(cfg.covariates))
        fits = fits.set_index("measure")
        sds = analysis[list(TARGET_SD)].std(ddof=1)
        alpha = scales.cronbach_alpha(scales.reversed_items(tables["clinicians"], "org_trust"))
        hh = analysis["high_high"].mean()
        se = fits["se"] * math.sqrt(factor)                       # the SE a trial-sized cohort would have
        print(f"round {r}: high-high {hh:.3f}, alpha {alpha:.3f}, "
              + ", ".join(f"{m} OR {math.exp(fits.loc[m, 'beta']):.2f} SE {se[m]:.3f} (target {target_se[m]:.3f}) "
                          f"sd {sds[m]:.2f}" for m in TARGET_SD), flush=True)
        lat = g["latent"]
        for m in TARGET_SD:
            ratio = target_logor[m] / max(fits.loc[m, "beta"], 0.05)
            lat["culture_loading"][m] = float(np.clip(lat["culture_loading"][m] * ratio ** 0.6, 0.05, 0.97))
            lat["scale_sd"][m] = float(max(lat["scale_sd"][m] * (se[m] / target_se[m]) ** 1.2, 0.05))
        ot = g["org_trust"]
        ot["mean"] = float(ot["mean"] + 0.6 * (TARGET_HH - hh))
        ot["item_noise"] = float(ot["item_noise"] * (alpha / TARGET_ALPHA) ** 2)
    return g


def _passes(gen: dict, cfg: config.RunConfig, seed: int, published: pd.DataFrame) -> bool:
    """Whether the cohort of ``seed`` meets every row. The exact high-high count, which most draws
    miss, is checked first, before any model is fitted: the same rule, evaluated lazily."""
    g = copy.deepcopy(gen)
    g["seed"] = int(seed)
    try:
        _, analysis, _ = cohort.build_cohort(synth.generate(g), cfg.rules)
    except cohort.CohortError:
        return False
    if int(analysis["high_high"].sum()) != int(published.set_index("key").loc["n_high_high", "value"]):
        return False
    card = calibration.score_seed(gen, cfg.rules, seed, published, nagq=cfg.nagq, covariates=list(cfg.covariates))
    return bool((card["verdict"] == scorecard.PASS).all())


def draw(gen: dict, cfg: config.RunConfig, start: int, tries: int, n_jobs: int = 2,
         chunk: int = 1000) -> tuple[int | None, int]:
    """The first seed from ``start`` (at most ``tries``) whose cohort passes every row, and the
    number of seeds tried up to and including it (chunks run in parallel; the answer does not
    depend on the chunking)."""
    published = scorecard.load_published()
    for first in range(start, start + tries, chunk):
        seeds = list(range(first, min(first + chunk, start + tries)))
        ok = Parallel(n_jobs=n_jobs)(delayed(_passes)(gen, cfg, s, published) for s in seeds)
        hits = [s for s, good in zip(seeds, ok) if good]
        print(f"seeds {seeds[0]}-{seeds[-1]}: {len(hits)} pass every row", flush=True)
        if hits:
            return hits[0], hits[0] - start + 1
    return None, tries


def _round(x: float) -> float:
    return float(f"{x:.3g}")


def write_yaml(gen: dict, path=paths.SYNTHETIC_PARAMS) -> None:
    """Replace calibrated values in the YAML text, section-aware, keeping every comment."""
    lines = path.read_text().splitlines(keepends=True)
    section, sub = None, None
    updates = {("", "seed"): gen["seed"]}
    for m in TARGET_SD:
        updates[("latent.culture_loading", m)] = _round(gen["latent"]["culture_loading"][m])
        updates[("latent.scale_sd", m)] = _round(gen["latent"]["scale_sd"][m])
    for k in ("mean", "item_noise"):
        updates[("org_trust", k)] = _round(gen["org_trust"][k])
    out = []
    for line in lines:
        m = re.match(r"^(\s*)([A-Za-z_]+):(\s*)([^#\n]*?)(\s*)(#.*)?$", line.rstrip("\n"))
        if m:
            indent, key = len(m.group(1)), m.group(2)
            if indent == 0:
                section, sub = key, None
                scope = ""
            elif indent == 2:
                sub = key
                scope = section
            else:
                scope = f"{section}.{sub}"
            k = (scope, key) if indent else ("", key)
            if k in updates and m.group(4):
                value = str(updates[k])
                comment = m.group(6) or ""
                pad = " " * max(1, len(m.group(4)) + len(m.group(5)) - len(value)) if comment else ""
                line = f"{m.group(1)}{key}:{m.group(3)}{value}{pad}{comment}\n"
        out.append(line)
    path.write_text("".join(out))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factor", type=int, default=100, help="size multiple of the structural cohort")
    ap.add_argument("--rounds", type=int, default=8, help="structural update rounds")
    ap.add_argument("--skip-structure", action="store_true", help="keep the structure in params/synthetic.yml")
    ap.add_argument("--start", type=int, default=20211108, help="first seed to try")
    ap.add_argument("--tries", type=int, default=20000, help="most seeds to try")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--write", action="store_true", help="store results in params/synthetic.yml and CALIBRATION.md")
    args = ap.parse_args(argv)
    gen, cfg = params.synthetic_params(), config.RunConfig.load("synthetic")
    if not args.skip_structure:
        gen = structure(gen, cfg, args.factor, args.rounds)
    seed, tried = draw(gen, cfg, args.start, args.tries, args.jobs)
    if seed is None:
        print("no seed passed; widen --tries or revisit the structure", file=sys.stderr)
        return 1
    gen["seed"] = seed
    print(f"chosen seed {seed}, the first passing of {tried} tried ({args.start}-{seed})")
    if args.write:
        write_yaml(gen)
        lat = gen["latent"]
        pub = scorecard.published_ors().set_index("measure")
        se = np.log(pub["ci_high"] / pub["ci_low"]) / (2 * 1.959964)
        rows = "\n".join(f"   | {m} | {lat['culture_loading'][m]:.3g} | {lat['scale_sd'][m]:.3g} | {pub.loc[m, 'or']:g} "
                         f"| {se[m]:.3f} |" for m in TARGET_SD)
        report = f"""# How the synthetic cohort was calibrated

Produced by `python scripts/calibrate_synthetic.py{' --skip-structure' if args.skip_structure else ''} --write`.
Only generator parameters in `params/synthetic.yml` were changed; the scoring, cohort rules and
models are the pipeline's own, with the canonical parameters of `params/pipeline.yml`, and know
nothing of the published answers.

1. **Structure.** On cohorts {args.factor} times the trial's size ({args.rounds} rounds), the culture
   loadings, the scale SDs, the mean of clinician trust and its item noise were nudged until the
   adjusted two-level ORs, their standard errors (scaled to the trial's size), the high-high
   share and Cronbach's alpha approached the published values. The SEs are those the published
   95% CIs imply (ln(upper / lower) / 3.92): a cohort whose SEs are the paper's can show the
   paper's P values as often as the paper's data could.

   | scale | loading on culture factor | true-score SD | published OR | published SE (log OR) |
   |---|---|---|---|---|
{rows}

   Clinician trust: latent mean {gen['org_trust']['mean']:.3g}, item noise {gen['org_trust']['item_noise']:.3g}.

2. **Draw.** With that structure, seeds were tried in order from {args.start}, each cohort scored
   row by row exactly as notebook 05 scores the shipped one (`trustlib.stats.calibration.score_seed`,
   the same code as notebook 08's unselected draws), and the first whose cohort met every
   scorecard row was kept: **{seed}**, after {tried:,} seeds ({args.start}-{seed}). The rows are
   those of the current rules: exact counts including 55 high-high of 162, each OR inside the
   other's 95% CI, CI bounds within the published half-width, and each P value on the published
   side (below .001 for quality, where the paper prints "<.001"; the same side of .05 for the
   others). Matching every row at once is rare even when the structure is right, because exact
   counts, CI bounds and a P below .001 leave little room for sampling noise.

   The shipped cohort is therefore a *selected* draw: its numbers agree with the paper by
   construction, so on these data the scorecard is a regression test, not evidence of
   reproduction. Notebook 08 shows how often unselected draws of the same generator meet each
   row (seeds outside this search: `trustlib.stats.calibration.SEARCHED_SEEDS`), and notebook 07 the
   draw-to-draw variation of the estimates.

Regenerate the tables with `make synthetic`; `data/synthetic/SHA256SUMS` must not change.
"""
        (paths.data_dir("synthetic") / "CALIBRATION.md").write_text(report)
        print("wrote params/synthetic.yml and data/synthetic/CALIBRATION.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The synthetic generator: deterministic, in the raw format, and shaped like the trial."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from trustlib import params, paths
from trustlib.data import contract, scales, synth
from trustlib.data.scales import icc1


@pytest.fixture(scope="module")
def generated():
    return synth.generate(params.synthetic_params())


def test_same_parameters_give_byte_identical_files(generated):
    again = synth.generate(params.synthetic_params())
    for table in paths.TABLES:
        assert contract.raw_csv_text(table, generated[table]) == contract.raw_csv_text(table, again[table])


def test_committed_files_are_what_the_parameters_generate(generated):
    """data/synthetic/ was never hand-edited: regenerating reproduces SHA256SUMS and the files."""
    listed = dict(line.split()[::-1] for line in paths.checksum_file().read_text().splitlines())
    for table in paths.TABLES:
        text = contract.raw_csv_text(table, generated[table]).encode()
        assert hashlib.sha256(text).hexdigest() == listed[f"{table}.csv"]
        assert paths.table_file("synthetic", table).read_bytes() == text


def test_another_seed_gives_another_cohort(generated):
    p = params.synthetic_params()
    p["seed"] += 1
    other = synth.generate(p)
    assert not generated["clinicians"].equals(other["clinicians"])


def test_published_counts_are_exact(tables):
    clin = tables["clinicians"]
    assert len(tables["clinics"]) == 34 and len(clin) == 165 and len(tables["patients"]) == 1132
    assert (clin["sex"] == "female").sum() == 86
    assert (clin["clinician_type"] == "physician").sum() == 143
    assert (clin["clinician_type"] != "physician").sum() == 22
    assert (clin["specialty"] == "family").sum() == 105


def test_age_matches_published_mean_and_sd(tables):
    age = tables["clinicians"]["age"]
    assert age.mean() == pytest.approx(47.3, abs=0.1)
    assert age.std(ddof=1) == pytest.approx(9.2, abs=0.2)


def test_three_clinicians_have_too_few_patient_surveys(tables):
    per = tables["patients"].groupby("clinician_id").size()
    assert (per < 3).sum() == 3
    assert per.mean() == pytest.approx(1132 / 165, abs=0.01)


def test_clinician_trust_alpha_near_published(tables):
    alpha = scales.cronbach_alpha(scales.reversed_items(tables["clinicians"], "org_trust"))
    assert alpha == pytest.approx(0.77, abs=0.05)


def test_patient_trust_is_skewed_high_with_a_ceiling(tables):
    pt = scales.score(tables["patients"], "patient_trust")
    assert pt.median() > 80
    assert pt.skew() < -0.4
    assert (pt == 100).mean() > 0.05


def test_culture_and_trust_cluster_within_clinics(tables):
    """In the shipped draw: the culture composite and clinician trust cluster by clinic."""
    clin = tables["clinicians"]
    culture = ("quality", "communication", "cohesiveness", "alignment")
    z = sum((scales.score(clin, s) - scales.score(clin, s).mean()) / scales.score(clin, s).std() for s in culture)
    assert icc1(z, clin["clinic_id"]) > 0.1
    assert icc1(scales.score(clin, "org_trust"), clin["clinic_id"]) > 0.1


def test_every_culture_scale_clusters_in_the_generator():
    """Per scale the ICC is noisy with 34 clinics, so check the generator on a 10x cohort."""
    big = synth.generate(synth.scaled_params(params.synthetic_params(), 10, seed=5))["clinicians"]
    for s in ("quality", "communication", "cohesiveness", "alignment", "org_trust"):
        assert icc1(scales.score(big, s), big["clinic_id"]) > 0.05, s


def test_every_clinic_has_several_clinicians(tables):
    assert tables["clinicians"].groupby("clinic_id").size().min() >= 3


def test_scaled_params_multiply_sizes():
    p = synth.scaled_params(params.synthetic_params(), 3, seed=1)
    t = synth.generate(p)
    assert len(t["clinicians"]) == 3 * 165 and len(t["patients"]) == 3 * 1132 and p["seed"] == 1


def test_icc_reference_values():
    # two groups, no within-group variance -> ICC 1; identical group means -> ICC <= 0
    import pandas as pd

    assert icc1(pd.Series([1.0, 1, 2, 2]), pd.Series(["a", "a", "b", "b"])) == pytest.approx(1.0)
    assert icc1(pd.Series([1.0, 2, 1, 2]), pd.Series(["a", "a", "b", "b"])) < 0
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(200), 10)
    x = rng.normal(size=200)[g] * np.sqrt(0.3) + rng.normal(size=2000) * np.sqrt(0.7)
    assert icc1(pd.Series(x), pd.Series(g)) == pytest.approx(0.3, abs=0.07)

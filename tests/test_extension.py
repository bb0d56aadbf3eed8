"""Built to be changed: a fifth culture measure is three rows of data definitions and four
generator values (CONTRIBUTING.md), and the chain runs on it; the generator's other draws do not
move. (A new estimator: tests/test_estimators.py.)"""

from __future__ import annotations

import pandas as pd
import pytest

from trustlib import params, paths
from trustlib.data import codebook, cohort, synth
from trustlib.stats import models, robustness, scorecard
from trustlib.publish import article, figures, prose
from trustlib.run import config

NEW = "teamwork"
ITEMS = [("teamwork_1", "We work as a team in this clinic", 0), ("teamwork_2", "Colleagues help when I am behind", 0),
         ("teamwork_3", "I work alone more than I would like (reverse)", 1)]


@pytest.fixture
def fifth(tmp_path, monkeypatch):
    """Fixture copies of the codebook, the scales and the generator's parameters with a fifth
    culture scale, made current for the test (the repository's files are untouched)."""
    cb = pd.read_csv(paths.CODEBOOK, dtype=str, keep_default_na=False)
    at = cb.index[cb["variable"] == "alignment_4"][0] + 1          # after the last culture item
    rows = pd.DataFrame([{**cb.loc[at - 1].to_dict(), "variable": v, "scale": NEW, "label": f"{t} (1 .. 4)",
                          "instrument": "Culture: teamwork", "reverse": str(r)} for v, t, r in ITEMS])
    pd.concat([cb.iloc[:at], rows, cb.iloc[at:]]).to_csv(tmp_path / "codebook.csv", index=False)
    sc = pd.read_csv(paths.SCALES, dtype=str, keep_default_na=False)
    row = {"scale": NEW, "label": "Teamwork in the clinic", "short": "Teamwork", "items_range": "1-4",
           "score": "item mean (1-4)", "min_answered": "2", "role": "exposure"}
    pd.concat([sc.iloc[:6], pd.DataFrame([row]), sc.iloc[6:]]).to_csv(tmp_path / "scales.csv", index=False)
    text = paths.SYNTHETIC_PARAMS.read_text()
    for block, value in (("culture_loading", 0.6), ("scale_mean", 2.9), ("scale_sd", 0.5), ("culture_item_noise", 0.3)):
        text = text.replace(f"  {block}:", f"  {block}:\n    {NEW}: {value}", 1)
    (tmp_path / "synthetic.yml").write_text(text)
    monkeypatch.setattr(paths, "CODEBOOK", tmp_path / "codebook.csv")
    monkeypatch.setattr(paths, "SCALES", tmp_path / "scales.csv")
    changed = {"codebook.csv", "scales.csv", "synthetic.yml"}
    assert {p.name for p in tmp_path.iterdir()} == changed            # three files (published.csv: none)
    return params.synthetic_params(tmp_path / "synthetic.yml")


def test_a_new_scale_leaves_every_other_draw_of_the_same_seed_unchanged(fifth, monkeypatch):
    with_new = synth.generate(fifth)
    assert codebook.scales_with_role("exposure")[-1] == NEW
    monkeypatch.undo()                                                   # the repository's four scales
    four = synth.generate(params.synthetic_params())
    for table in paths.TABLES:
        shared = [c for c in four[table].columns]
        pd.testing.assert_frame_equal(with_new[table][shared], four[table])
    assert set(with_new["clinicians"].columns) - set(four["clinicians"].columns) == {v for v, _, _ in ITEMS}


def test_the_chain_runs_on_five_measures(fifth, tmp_path):
    from trustlib.data import contract

    cfg = config.RunConfig.load("synthetic")
    folder = tmp_path / "cohort"
    folder.mkdir()
    synth.write_cohort(synth.generate(fifth), folder)
    tables = contract.load_folder(folder)
    measures = codebook.scales_with_role("exposure")
    assert measures == ["quality", "communication", "cohesiveness", "alignment", NEW]
    clin, analysis, _ = cohort.build_cohort(tables, cfg.rules)
    assert NEW in analysis.columns and analysis[NEW].between(1, 4).all()
    spec = models.ModelSpec(nagq=7, covariates=cfg.covariates, estimators=cfg.estimators)
    fits = models.fit_table(analysis, measures, spec, [True])
    assert set(fits["measure"]) == set(measures) and fits["converged"].all()
    prim = fits[(fits["model"] == "glmm")][["measure", "or", "ci_low", "ci_high"]]
    forest = figures.forest(prim, scorecard.published_ors())              # no published row for the new one
    assert forest.plotted.groupby("source")["measure"].nunique().to_dict() == {"published": 4, "reproduced": 5}
    grid = {"org_trust_cutoff": [3.0], "patient_trust_cutoff": ["median"], "cutoff_rule": ["at_or_above"],
            "min_patient_surveys": [3]}
    curve = robustness.specification_curve(tables, cfg.rules, grid, [NEW], spec)
    assert len(figures.specification_curve(curve, NEW).plotted) == 2 * len(cfg.estimators)   # adjusted or not
    numbers = {k: 1.0 for k in _keys(article.blocks(cfg, {}, {}, None))}
    text = article.to_markdown(article.blocks(cfg, {}, numbers, None))
    assert "| Teamwork | not published | [[table2.teamwork.glmm.adjusted.or|.2f]]" in text
    card = scorecard.build(scorecard.load_published(), models.table_numbers(fits, "table2"))
    assert NEW not in set(card["measure"])                                # the scorecard is the paper's numbers


def _keys(blocks) -> set[str]:
    return {m.group(1) for m in prose.PLACEHOLDER.finditer(article.to_markdown(blocks))}


def test_contributing_lists_the_files_a_measure_touches():
    text = (paths.ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## A culture measure", 1)[1].split("\n## ", 1)[0]
    for name in ("data/codebook.csv", "data/scales.csv", "params/synthetic.yml", "data/published.csv"):
        assert name in section

"""A full raw run leaves nothing below the disclosure threshold outside ``results_raw/private/``
(acceptance: every raw notebook's outputs from the complete raw run in a sandbox, :mod:`sandbox`, on
the synthetic cohort as an extract: 3 clinicians excluded, and fewer than 11 NPs and PAs in every
quadrant)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from sandbox import raw_run  # noqa: F401 (fixtures)
from trustlib import paths
from trustlib.data import cohort

pytestmark = pytest.mark.xdist_group("rawrun")   # shares one raw run with test_pipeline.py

BASE64 = re.compile(r"[A-Za-z0-9+/=\n]{200,}")   # a run of base64 (an image embedded in HTML or a notebook)


def shareable_files(results):
    return [p for p in results.rglob("*") if p.is_file() and p.relative_to(results).parts[0] != "private"
            and not p.name.startswith(".")]


def test_small_counts_read_suppressed_in_numbers_and_tables(raw_run):
    results = raw_run / "results_raw"
    numbers = json.loads((results / "numbers.json").read_text())
    for key in ("cohort.excluded", "input.clinicians", "flow.n_clinicians", "sample.age_mean"):
        assert numbers[key] == "suppressed", key
    assert numbers["flow.n_modelled"] == 162                       # the model's N stays
    flow = pd.read_csv(results / "tables" / "flow.csv", dtype=str, keep_default_na=False)
    excluded = flow[flow["step"].str.startswith("excluded")]
    assert (excluded[["clinicians", "patient_surveys"]] == "suppressed").all().all()
    assert not flow.isin(["-3", "165"]).any().any()
    table1 = pd.read_csv(results / "tables" / "table1.csv", dtype=str, keep_default_na=False).set_index("characteristic")
    analysis = pd.read_csv(results / "private" / "analysis_table.csv")
    for q in cohort.QUADRANTS:
        others = int((analysis.loc[analysis["quadrant"] == q, "clinician_type"] != "physician").sum())
        if 1 <= others < 11:                                       # 15 of 16 would give 1 NP/PA away
            assert table1.loc["Physicians, n (%)", q] == "suppressed", q


def test_missing_value_counts_below_the_threshold_are_suppressed_in_shareable_files(raw_run):
    """The extract writes 3 and 1 clinicians' and 11 patient surveys' missing answers as Stata's
    missing codes (sandbox.STATA_MISSING): the manifest and provenance/missing_values.json show
    the 11 and read ``suppressed`` for the 3 and the 1."""
    results = raw_run / "results_raw"
    expected = {"data/raw/Clinician_Survey_2013.csv": {"alignment_2": "suppressed", "org_trust_3": "suppressed"},
                "data/raw/patients.csv": {"pt_trust_03": 11}}
    assert json.loads((results / "provenance" / "missing_values.json").read_text()) == expected
    assert json.loads((results / "manifest.json").read_text())["missing_values_read"] == expected


def test_no_identifier_or_row_level_table_leaves_private(raw_run):
    results = raw_run / "results_raw"
    ids = set(pd.read_csv(paths.table_file("synthetic", "clinics"), dtype=str)["clinic_id"])
    ids |= set(pd.read_csv(paths.table_file("synthetic", "clinicians"), dtype=str)["clinician_id"])
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(ids))) + r")\b")
    files = shareable_files(results)
    assert any(p.suffix == ".html" for p in files) and any(p.suffix == ".svg" for p in files)
    for p in files:
        if p.suffix in (".png",):
            continue
        if p.suffix == ".pdf":                                   # the PDF's text, not its compressed bytes
            from pypdf import PdfReader

            text = " ".join(page.extract_text() for page in PdfReader(p).pages)
        else:
            text = BASE64.sub("", p.read_text(errors="replace"))   # embedded images can spell "/K08+" by chance
        hit = pattern.search(text)
        assert hit is None, f"{p.relative_to(results)} names {hit.group(0)}"
    for p in (f for f in files if f.suffix == ".csv"):
        cols = set(pd.read_csv(p, nrows=0).columns)
        assert not cols & {"clinician_id", "clinic_id", "dropped_clinic"}, p.name
    private = {p.name for p in (results / "private").iterdir()}
    assert {"analysis_table.csv", "clinicians_scored.csv", "leave_one_clinic_out.csv"} <= private


def test_figures_are_aggregate_on_real_data(raw_run):
    svg = (raw_run / "results_raw" / "figures" / "figure1_trust_quadrants.svg").read_text()
    assert "aggregate" in svg
    assert "aggregate" not in paths.result("synthetic", "figures", "figure1_trust_quadrants.svg").read_text()
    svg3 = (raw_run / "results_raw" / "figures" / "figure3_culture_by_outcome.svg").read_text()
    assert "aggregate" in svg3


def test_report_is_marked_confidential_and_never_links_private(raw_run):
    results = raw_run / "results_raw"
    index = (results / "report" / "index.html").read_text()
    assert "Confidential: contains aggregate trial results" in index
    assert "private/" not in re.sub(r"<code>private/</code>", "", index)
    man = json.loads((results / "manifest.json").read_text())
    assert not [f for f in man["outputs"] if f.startswith("private/")]
    assert "private/analysis_table.csv" in man["private_outputs"]


def test_git_add_after_a_raw_run_stages_nothing_derived(raw_run):
    root = raw_run
    shutil.copy(paths.ROOT / ".gitignore", root / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    staged = subprocess.run(["git", "add", "-A", "--dry-run"], cwd=root, capture_output=True, text=True,
                            check=True).stdout
    assert staged.strip(), "git sees the repository's own files"
    leaked = [line for line in staged.splitlines() if "results_raw" in line or "data/raw" in line
              or ".results_raw" in line]
    assert leaked == []


def test_the_runs_suppression_passes_the_independent_audit(raw_run):
    """The counts the run protected (kept in private/) audited by linear programming: no small
    count can be computed from what the shared outputs show."""
    from test_disclosure import assert_protected, cohort_equations

    counts = pd.read_csv(raw_run / "results_raw" / "private" / "disclosure_counts.csv")
    assert counts["sensitive"].any() and (counts["hidden"] & counts["published"]).any()
    table, equations = cohort_equations(counts)
    assert_protected(table, equations)


def _cell_of(key: str) -> str | None:
    """The cell of the protected counts a count in numbers.json states (None for a non-count)."""
    from trustlib.publish import describe

    groups = {describe.group_slug(g): g for g in ["all modelled", *cohort.QUADRANTS]}
    fixed = {"input.clinicians": "surveyed|clinicians", "input.patients": "surveyed|patient_surveys",
             "cohort.excluded": "excluded|clinicians", "cohort.modelled": "all modelled|clinicians",
             "cohort.modelled_clinics": "all modelled|clinics", "cohort.n_high_high": f"{cohort.QUADRANTS[0]}|clinicians",
             "outcome.n_high_high": f"{cohort.QUADRANTS[0]}|clinicians", "flow.n_clinicians": "surveyed|clinicians",
             "flow.n_patients": "surveyed|patient_surveys", "flow.n_modelled": "all modelled|clinicians",
             "flow.n_clinics": "surveyed|clinics", "flow.n_modelled_clinics": "all modelled|clinics",
             "sample.n_women": "surveyed|women", "sample.n_physicians": "surveyed|physicians",
             "sample.n_family": "surveyed|family medicine"}
    if key in fixed:
        return fixed[key]
    if key.startswith(("quadrant.", "figure1.n.")):
        slug = key.split(".")[-1]
        return next(f"{q}|clinicians" for q in cohort.QUADRANTS if q.replace(" ", "") == slug)
    m = re.fullmatch(r"table1\.(\w+)\.(clinicians|women|physicians|family_medicine)\.count", key)
    if m:
        return f"{groups[m.group(1)]}|{m.group(2).replace('_', ' ')}"
    return None


def test_every_count_a_shareable_output_states_is_in_the_audited_system(raw_run):
    """The flow, Table 1, the sample statistics, the clinic counts, the quadrants and Figure 1's
    counts in numbers.json are cells of the one protected system (their value is the cell's
    shown value, or "suppressed"); the audit above covers them all; and the count columns of the
    shareable tables state only those values."""
    results = raw_run / "results_raw"
    numbers = json.loads((results / "numbers.json").read_text())
    counts = pd.read_csv(results / "private" / "disclosure_counts.csv").set_index("cell")
    stated = {k: v for k, v in numbers.items() if _cell_of(k)}
    assert len(stated) > 40
    for key, value in stated.items():
        cell = counts.loc[_cell_of(key)]
        assert value == ("suppressed" if cell["hidden"] else int(cell["count"])), (key, value)
    flow = pd.read_csv(results / "tables" / "flow.csv", dtype=str, keep_default_na=False)
    shown = {str(int(v)) for v in counts.loc[~counts["hidden"], "count"]} | {"suppressed", ""}
    for col in ("clinics", "clinicians", "patient_surveys"):
        assert set(flow[col].str.lstrip("-")) <= shown, col


def test_the_differences_a_reader_could_take_are_closed(raw_run):
    """Each difference found by differencing outputs, shown closed on the raw run of the cohort."""
    from test_disclosure import K, lp_bounds

    results = raw_run / "results_raw"
    counts = pd.read_csv(results / "private" / "disclosure_counts.csv")
    from test_disclosure import cohort_equations

    table, eqs = cohort_equations(counts)
    # surveyed minus modelled patient surveys no longer bounds the excluded clinicians' surveys below k
    assert lp_bounds(table, eqs, "excluded|patient_surveys")[1] >= K
    # the sample's women and Table 1's modelled women no longer say the excluded are all men (or women)
    for v in ("women", "not women"):
        lo, hi = lp_bounds(table, eqs, f"excluded|{v}")
        assert hi - lo >= 1, v
    # every page and every executed notebook carries the banner
    for page in list((results / "report").glob("*.html")) + list((results / "notebooks").glob("*.ipynb")) + \
            [results / "article" / "index.html", results / "article" / "index.md"]:
        assert "Confidential: contains aggregate trial results" in page.read_text(), page.name
    from pypdf import PdfReader

    pdf = " ".join(p.extract_text() for p in PdfReader(results / "article" / "article.pdf").pages)
    assert "Confidential" in pdf

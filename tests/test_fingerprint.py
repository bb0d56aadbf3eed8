"""What a run says when a step of the previous run executes again (trustlib.run.fingerprint.changes)."""

from __future__ import annotations

from trustlib.run import fingerprint


def test_changes_name_what_differs_between_two_fingerprints():
    old = {"version": 3, "notebook": "a", "modules": {"publish/outputs.py": "1", "stats/models.py": "2"},
           "parameters": {"nagq": 15, "sim_replicates": 40}, "data": {"data/raw/x.csv": "1"},
           "files": {"data/published.csv": "1"}, "reads": {"01_prepare_data": "1"}, "packages": {"numpy": "2.3"}}
    assert fingerprint.changes(old, dict(old)) == "its fingerprint changed"
    assert fingerprint.changes(old, {**old, "notebook": "b"}) == "its notebook changed"
    assert fingerprint.changes(old, {**old, "modules": {"publish/outputs.py": "9", "stats/models.py": "2"}}) == \
        "trustlib/publish/outputs.py changed"
    assert fingerprint.changes(old, {**old, "parameters": {"nagq": 15, "sim_replicates": 3, "seed": 1}}) == \
        "parameters changed: seed, sim_replicates"
    assert fingerprint.changes(old, {**old, "data": {"data/raw/x.csv": "2"}, "reads": {"01_prepare_data": "2"}}) == \
        "the data changed; outputs of 01_prepare_data changed"
    assert fingerprint.changes(old, {**old, "files": {"data/published.csv": "2"}, "packages": {"numpy": "2.4"}}) == \
        "data/published.csv changed; package versions changed: numpy"
    assert fingerprint.changes(old, {**old, "version": 4, "notebook": "b"}) == "the runner's fingerprint version changed"


def test_changes_read_a_real_finish_fingerprint():
    """On the keys :func:`fingerprint.finish` writes."""
    params = {"nagq": 15, "sim_replicates": 40}
    finish = fingerprint.finish(params)
    assert fingerprint.changes(finish, fingerprint.finish({**params, "sim_replicates": 3})) == \
        "parameters changed: sim_replicates"
    assert fingerprint.changes({**finish, "docs": {"docs/glossary.md": "old"}}, finish) == "docs/glossary.md changed"


def test_a_report_page_depends_on_the_reports_code_not_on_the_parameters_or_the_glossary():
    finish = fingerprint.finish({"nagq": 15})
    assert fingerprint.pages(fingerprint.finish({"nagq": 5})) == fingerprint.pages(finish)
    assert fingerprint.pages({**finish, "docs": {"docs/glossary.md": "old"}}) == fingerprint.pages(finish)
    changed = {**finish, "modules": {**finish["modules"], "publish/report.py": "old"}}
    assert fingerprint.pages(changed) != fingerprint.pages(finish)
    assert fingerprint.changes(fingerprint.pages(changed), fingerprint.pages(finish)) == "trustlib/publish/report.py changed"


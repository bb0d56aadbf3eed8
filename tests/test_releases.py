"""The register of earlier shareable releases on raw data: a release whose clinicians or patient
surveys differ from an earlier one's by 1 to min_cell_size - 1 is refused before any kernel
starts (the difference of the two releases' numbers would describe those people), unless the
configuration says to release it anyway, which the manifest records. Unit tests on the register,
then the two-release probe on a complete raw run: one clinician removed."""

from __future__ import annotations

import json
import stat

import pandas as pd
import pytest

from sandbox import cli, raw_run, snapshot  # noqa: F401 (fixture)
from trustlib import paths
from trustlib.run import releases

pytestmark = pytest.mark.xdist_group("rawrun")


def _tables(n_clinicians: int, n_patients: int) -> dict:
    return {"clinicians": pd.DataFrame({"clinician_id": [f"C{i:03d}" for i in range(n_clinicians)]}),
            "patients": pd.DataFrame({"patient_id": [f"P{i:04d}" for i in range(n_patients)]})}


@pytest.fixture
def project(tmp_path) -> paths.RunPaths:
    return paths.RunPaths("raw", tmp_path)


def test_the_first_release_and_the_same_cohort_again_pass(project):
    assert releases.check(project, _tables(40, 300), 11, False) is None
    releases.record(project, _tables(40, 300))
    assert releases.check(project, _tables(40, 300), 11, False) is None


@pytest.mark.parametrize("clinicians, patients, what", [(39, 300, "clinicians"), (40, 290, "patient surveys"),
                                                         (30, 300, "clinicians"), (50, 300, "clinicians")])
def test_a_release_differing_by_fewer_than_k_people_is_refused_without_saying_who_or_how_many(project, clinicians,
                                                                                             patients, what):
    releases.record(project, _tables(40, 300))
    with pytest.raises(releases.ReleaseDifferenceError, match=f"this extract's {what} differ") as err:
        releases.check(project, _tables(clinicians, patients), 11, False)
    text = str(err.value)
    assert "C0" not in text and "P0" not in text and "allow_release_difference" in text
    assert not any(str(n) in text.replace("11", "") for n in range(1, 11))       # no count of people
    warning = releases.check(project, _tables(clinicians, patients), 11, True)
    assert warning.startswith("warning:") and "the manifest records it" in warning


def test_a_release_differing_by_k_or_more_people_passes(project):
    releases.record(project, _tables(40, 300))
    assert releases.check(project, _tables(29, 300), 11, False) is None          # 11 clinicians fewer
    assert releases.check(project, _tables(40, 311), 11, False) is None          # 11 patient surveys more


def test_the_register_is_private_and_holds_no_id(project):
    releases.record(project, _tables(40, 300))
    path = releases.register_file(project)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.name == ".results_raw.releases"
    text = path.read_text()
    assert "C001" not in text and "P0001" not in text
    assert len(json.loads(text)["releases"]) == 1


def _drop_one_clinician(root):
    """The extract with one clinician (and that clinician's patient surveys) removed."""
    raw = root / "data" / "raw"
    clin = pd.read_csv(raw / "Clinician_Survey_2013.csv", dtype=str, keep_default_na=False)
    gone = clin["clinician_id"].iloc[0]
    clin.iloc[1:].to_csv(raw / "Clinician_Survey_2013.csv", index=False)
    pts = pd.read_csv(raw / "patients.csv", dtype=str, keep_default_na=False)
    pts[pts["clinician_id"] != gone].to_csv(raw / "patients.csv", index=False)


def test_two_releases_one_clinician_apart_are_refused_before_any_kernel_and_allowed_only_by_name(raw_run):
    assert releases.register_file(paths.RunPaths("raw", raw_run)).exists(), "the complete raw run recorded nothing"
    before = snapshot(raw_run / "results_raw")
    _drop_one_clinician(raw_run)
    refused = cli("run", "--data", "raw", root=raw_run)
    assert refused.returncode == 2, refused.stderr
    assert "differ from those of an earlier shareable release" in refused.stderr
    assert "nothing was run: results_raw/ is unchanged" in refused.stderr and "executing" not in refused.stdout
    assert snapshot(raw_run / "results_raw") == before
    allowed = cli("run", "--data", "raw", "--set", "allow_release_difference=true", root=raw_run)
    assert allowed.returncode == 0, allowed.stderr
    assert "released because allow_release_difference is true" in allowed.stdout
    manifest = json.loads((raw_run / "results_raw" / "manifest.json").read_text())
    assert manifest["parameters"]["allow_release_difference"] is True

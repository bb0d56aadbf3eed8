"""Set-up files agree with each other: the lock, environment.yml, the Makefile and CI."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

import pytest

from trustlib import paths
from trustlib.run.environment import locked_pins


def test_environment_yml_pins_exactly_the_lock():
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = dict(p.split("==") for p in pip)
    assert conda == locked_pins(paths.ROOT / "requirements.lock")
    assert "python=3.11" in env["dependencies"]


def test_lock_pins_every_direct_dependency():
    import tomllib

    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    deps = project["dependencies"] + extras["test"] + extras["dask"]
    lab = locked_pins(paths.ROOT / "requirements-lab.lock")
    for dep in extras["lab"]:
        assert re.split(r"[<>=!\[ ]", dep)[0].lower() in lab
    pins = locked_pins(paths.ROOT / "requirements.lock")
    for dep in deps:
        name = re.split(r"[<>=!\[ ]", dep)[0].lower()
        if name == project["name"]:        # the test extra includes trustlib's own dask extra
            continue
        assert name in pins, f"{name} is not pinned in requirements.lock"


def test_installed_versions_are_the_locked_ones():
    from importlib import metadata

    pins = locked_pins(paths.ROOT / "requirements.lock")
    for name in ("numpy", "pandas", "statsmodels", "scipy", "papermill", "nbval", "pandera", "seaborn"):
        assert metadata.version(name) == pins[name], name


def test_the_lab_lock_adds_jupyterlab_and_changes_no_pin_of_the_main_lock():
    """`make lab` installs requirements-lab.lock over the pinned environment: it must add
    JupyterLab without moving any package the analysis uses."""
    main, lab = (locked_pins(paths.ROOT / f) for f in ("requirements.lock", "requirements-lab.lock"))
    assert {k: lab.get(k) for k in main} == main
    assert "jupyterlab" in lab and "jupyterlab" not in main
    dry = subprocess.run(["make", "-n", "lab"], cwd=paths.ROOT, capture_output=True, text=True, check=True).stdout
    assert "requirements-lab.lock" in dry and "jupyter lab --ServerApp.root_dir=. --ServerApp.default_url=/lab/tree/notebooks" in dry


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "help"], cwd=paths.ROOT, capture_output=True, text=True, check=True).stdout
    makefile = (paths.ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    for target in phony:
        assert f"make {target} " in out, f"`make help` does not describe {target}"


def test_ci_runs_make_test_then_make_slow_and_nothing_else():
    commands = [line for line in (paths.ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith("#") and not line.startswith("set ")
                and not line.startswith("cd ")]
    assert commands == ["make test", "make slow"]


@pytest.mark.acceptance
def test_second_run_is_a_no_op():
    """After `make all`, the runner finds the same data, code and parameters and does nothing."""
    run = subprocess.run([sys.executable, "-m", "trustlib", "run"], cwd=paths.ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and "results/ is up to date" in run.stdout, run.stdout + run.stderr


@pytest.mark.acceptance
def test_a_changed_parameter_or_missing_results_are_not_up_to_date(config):
    from trustlib.run import manifest, pipeline

    project = paths.RunPaths("synthetic")
    names = pipeline.wanted_steps(None, "synthetic")
    previous = manifest.read(project.results)
    assert pipeline.up_to_date(config, project, names, previous)
    assert not pipeline.up_to_date(config.replace(nagq=7), project, names, previous)
    assert not pipeline.up_to_date(config, project, names, manifest.read(paths.ROOT / "no-such-results"))


def test_licence_states_the_code_and_the_data_terms():
    text = (paths.ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "data/synthetic/" in text and "CC0" in text and "not covered by this licence" in text
    import tomllib

    assert tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]["license"]["text"] == "MIT"


def test_citation_file_validates_and_cites_the_repository_and_the_original_article():
    """CITATION.cff validates against the Citation File Format 1.2.0 schema, the file cffconvert
    validates with (tests/reference/citation-cff-1.2.0.schema.json, from cffconvert 2.0.0, whose
    own pin of jsonschema < 4 cannot live beside JupyterLab 4; `cffconvert --validate` in a venv of
    its own accepts the file too). Its version and date are the package's and the changelog's."""
    import datetime
    import json
    import tomllib

    import jsonschema

    import trustlib

    text = (paths.ROOT / "CITATION.cff").read_text()
    cff = yaml.safe_load(text)
    cff["date-released"] = str(cff["date-released"])            # YAML reads a date; the schema wants text
    schema = json.loads((paths.ROOT / "tests" / "reference" / "citation-cff-1.2.0.schema.json").read_text())
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(cff)
    assert cff["type"] == "software" and cff["authors"]
    everyone = cff["authors"] + [a for r in cff["references"] for a in r["authors"]]
    assert not [a for a in everyone if "et al" in str(a)], "an author entry reads 'et al.'"
    version = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cff["version"] == version == trustlib.__version__
    datetime.date.fromisoformat(cff["date-released"])
    latest = re.search(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", (paths.ROOT / "CHANGELOG.md").read_text(), re.M)
    assert latest.groups() == (version, cff["date-released"]), "CHANGELOG.md's latest entry is not this version"
    article = [r for r in cff["references"] if r["type"] == "article"]
    assert [a["doi"] for a in article] == ["10.1370/afm.2732"]
    assert article[0]["journal"] == "Annals of Family Medicine" and article[0]["year"] == 2021
    assert [a.get("family-names") for a in article[0]["authors"][:8]] == [
        "Linzer", "Neprash", "Brown", "Williams", "Audi", "Poplau", "Prasad", "Khullar"]


def test_binder_and_devcontainer_run_the_same_set_up():
    """repo2docker installs environment.yml, then postBuild installs trustlib and its kernel;
    the dev container runs `make env`, the bootstrap of the two commands."""
    post = paths.ROOT / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    steps = [line for line in post.read_text().splitlines() if line and not line.startswith(("#", "set "))]
    assert steps == ["python -m pip install --no-deps -e .", "python -m trustlib install-kernel"]
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    import json

    dev = json.loads((paths.ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert dev["image"].endswith("python:3.11") and dev["postCreateCommand"] == "make env"
    assert "make env" in subprocess.run(["make", "help"], cwd=paths.ROOT, capture_output=True, text=True).stdout


def test_readme_has_a_data_availability_section():
    readme = (paths.ROOT / "README.md").read_text()
    section = readme.split("## Data availability", 1)[1].split("\n## ", 1)[0]
    assert "synthetic" in section and "not public" in section and "CITATION.cff" in section


def test_readme_starts_with_what_this_is_and_the_two_commands():
    lines = (paths.ROOT / "README.md").read_text().splitlines()
    head = "\n".join(lines[:30])
    assert head.startswith("# ") and "make all" in head and "make test" in head and "synthetic" in head
    for link in re.findall(r"\]\((docs/[^)#]+|CONTRIBUTING\.md|CHANGELOG\.md)\)", "\n".join(lines)):
        assert (paths.ROOT / link).exists(), link

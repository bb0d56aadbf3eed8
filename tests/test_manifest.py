"""manifest.json: what `verify` says of a run made with other parameters than the defaults."""

from __future__ import annotations

import json

from trustlib.run import config, manifest


def _results(tmp_path, **changes):
    params = config.RunConfig.load("synthetic").replace(**changes).parameters()
    (tmp_path / "manifest.json").write_text(json.dumps({"parameters": params}))
    return tmp_path


def test_a_default_run_has_no_non_default_parameters(tmp_path):
    assert manifest.non_default_parameters(_results(tmp_path)) == {}


def test_a_run_with_set_values_names_them(tmp_path):
    results = _results(tmp_path, cutoff_rule="above", sim_replicates=200)
    assert manifest.non_default_parameters(results) == {"cutoff_rule": "above", "sim_replicates": 200}


def test_no_manifest_means_nothing_to_say(tmp_path):
    assert manifest.non_default_parameters(tmp_path) == {}


def test_a_run_says_when_its_parameters_leave_or_return_to_the_defaults(config, capsys):
    from trustlib.run import pipeline

    pipeline._say_parameters(config.replace(cutoff_rule="above", covariates=["age"]), previous=None)
    assert capsys.readouterr().out == ("parameters not those of params/pipeline.yml: covariates=age, "
                                       "cutoff_rule=above\n")
    pipeline._say_parameters(config, previous={"parameters": {**config.parameters(), "cutoff_rule": "above"}})
    assert capsys.readouterr().out == "parameters: back to those of params/pipeline.yml\n"
    pipeline._say_parameters(config, previous={"parameters": config.parameters()})
    assert capsys.readouterr().out == ""


def test_an_edit_of_the_defaults_file_is_not_a_return_to_them(config, capsys):
    """A previous run with the defaults of its day (departures: none) says nothing after the file
    changed; one that departed from them says it returns. The departures are those the manifest
    recorded when that run was made."""
    from trustlib.run import pipeline

    old_defaults = {**config.parameters(), "nagq": 10}          # the file said nagq: 10 then
    pipeline._say_parameters(config, previous={"parameters": old_defaults, "departures": {}})
    assert capsys.readouterr().out == ""
    pipeline._say_parameters(config, previous={"parameters": old_defaults, "departures": {"nagq": 10}})
    assert capsys.readouterr().out == "parameters: back to those of params/pipeline.yml\n"


def test_the_manifest_records_the_departures_of_its_run(tmp_path, config):
    from trustlib.run import manifest as m

    parameters = config.replace(cutoff_rule="above").parameters()
    (tmp_path / "provenance").mkdir()
    m.write(tmp_path, "synthetic", parameters, [], {}, set(), {})
    assert json.loads((tmp_path / "manifest.json").read_text())["departures"] == {"cutoff_rule": "above"}

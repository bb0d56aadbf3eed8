"""Loading the parameter files in ``params/`` (YAML, comments say what each value means)."""

from __future__ import annotations

from pathlib import Path

import yaml

from . import paths


def load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def synthetic_params(path: Path | None = None) -> dict:
    """Generator parameters (``params/synthetic.yml``)."""
    return load_yaml(path or paths.SYNTHETIC_PARAMS)


def pipeline_params(path: Path | None = None) -> dict:
    """Analysis parameters passed to every notebook (``params/pipeline.yml``)."""
    return load_yaml(path or paths.PIPELINE_PARAMS)

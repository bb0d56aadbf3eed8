"""nbval set-up for the committed notebooks (`make test` runs `pytest --nbval notebooks`).

* Compare only meaningful text: plain-text results and printed output. HTML renderings of the
  same DataFrames, SVG and stderr (progress bars, warnings) are not compared; images are skipped by
  nbval itself. `tests/nbval_sanitize.cfg` masks figure reprs, addresses and absolute paths.
* Notebooks executed by nbval write their outputs into a throw-away stage, never into
  `results/` or `data/synthetic/`: they read earlier outputs from that stage first, then from
  the canonical run.
"""

import os
import shutil
import tempfile


def pytest_configure(config):
    if getattr(config.option, "nbval", False):
        stage = tempfile.mkdtemp(prefix="trustlib-nbval-")
        os.environ["TRUSTLIB_STAGE"] = stage
        config._trustlib_stage = stage


def pytest_unconfigure(config):
    stage = getattr(config, "_trustlib_stage", None)
    if stage:
        shutil.rmtree(stage, ignore_errors=True)


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "image/svg+xml", "stderr")

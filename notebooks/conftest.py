"""nbval set-up for the committed notebooks (`make nbval` runs `pytest --nbval notebooks`).

* Compare only meaningful text: plain-text results and printed output. HTML renderings of the
  same DataFrames, SVG and stderr (progress bars, warnings) are not compared; images are skipped by
  nbval itself. `tests/nbval_sanitize.cfg` masks figure reprs, addresses and absolute paths.
* Notebooks executed by nbval write into a throw-away folder, never into `results/` or
  `data/synthetic/`: the folder is appended to each notebook's `parameters` cell as its output
  folder (`results_dir`, or `data_dir` for notebook 00), exactly as the runner passes its stage.
* Notebooks run in an order that puts each after those it reads from (`trustlib.steps`).
"""

import shutil
import tempfile


def pytest_configure(config):
    if getattr(config.option, "nbval", False):
        config._trustlib_folder = tempfile.mkdtemp(prefix="trustlib-nbval-")


def pytest_unconfigure(config):
    folder = getattr(config, "_trustlib_folder", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "image/svg+xml", "stderr")


def pytest_collection_modifyitems(session, config, items):
    folder = getattr(config, "_trustlib_folder", None)
    if not folder:
        return
    from trustlib import steps

    order = [steps.SYNTHESIZE] + steps.sequential_order()   # 05 reads 08's output
    items.sort(key=lambda item: order.index(item.fspath.purebasename) if item.fspath.purebasename in order else -1)
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and "parameters" in cell.metadata.get("tags", []):
            name = "data_dir" if item.fspath.basename.startswith("00_") else "results_dir"
            cell.source += f"\n{name} = {folder!r}"

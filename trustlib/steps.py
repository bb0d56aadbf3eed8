"""The analysis steps, declared once: what each notebook reads and writes.

Every analysis notebook is one :class:`Step`. Its declaration says which other steps' outputs it
reads, whether it reads the extract itself (``data/<source>/``, as
:func:`trustlib.data.contract.load_folder` reads it), which other project files it reads, and the
outputs it writes below the results folder. The notebook itself declares the rest, which
:mod:`trustlib.run.fingerprint` reads from it: the parameters it reads (its ``parameters`` cell) and
the trustlib modules it uses (its ``from trustlib.<layer> import ...`` lines, with the modules
those import). Everything that decides whether a step must run again reads this declaration: the
scheduler (what may start when), the fingerprint of each step, the manifest, the report's links,
and :class:`trustlib.publish.outputs.Writer`, which refuses to read a file that no declared input step
writes. It is pure data, below every module that reads it.

Every step also writes ``notebooks/<name>.ipynb``, ``numbers/<name>.json`` and
``provenance/<name>.json`` (and the runner ``report/<name>.html``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from . import paths

REFERENCE_FILES = ("data/codebook.csv", "data/scales.csv", "data/published.csv")   # every step reads these


@dataclass(frozen=True)
class Step:
    name: str
    reads: tuple[str, ...] = ()          # steps whose outputs it reads
    data: bool = False                   # reads the extract (data/<source>/)
    files: tuple[str, ...] = ()          # other project files it reads (besides REFERENCE_FILES)
    outputs: tuple[str, ...] = ()        # patterns of the files it writes, below the results folder
    synthetic_only: bool = False         # about the synthetic generator: a raw run leaves it out

    def writes(self, path: str) -> bool:
        """Whether ``path`` (relative to the results folder) is one of this step's outputs."""
        own = (f"notebooks/{self.name}.ipynb", f"numbers/{self.name}.json", f"provenance/{self.name}.json",
               f"report/{self.name}.html")
        return path in own or any(fnmatch.fnmatchcase(path, p) for p in self.outputs)


STEPS: dict[str, Step] = {s.name: s for s in [
    Step("01_prepare_data", data=True,
         outputs=("private/analysis_table.csv", "private/clinicians_scored.csv", "private/disclosure_counts.csv",
                  "private/reliability.csv", "provenance/inputs.json", "provenance/missing_values.json",
                  "provenance/how_read.json")),
    Step("02_describe_sample", reads=("01_prepare_data",),
         outputs=("tables/flow.*", "tables/table1.*", "tables/reliability.*")),
    Step("03_model_culture_and_trust", reads=("01_prepare_data",), outputs=("tables/table2*",)),
    Step("04_figures", reads=("01_prepare_data", "03_model_culture_and_trust"),
         outputs=("figures/figure1_*", "figures/figure2_*", "figures/figure3_*")),
    Step("05_scorecard", reads=("02_describe_sample", "03_model_culture_and_trust", "08_unselected_seeds"),
         outputs=("scorecard.csv", "tables/scorecard.*")),
    Step("06_robustness", data=True,
         outputs=("private/specification_curve.csv", "tables/specification_curve.csv", "tables/robustness_support.*",
                  "figures/robustness_spec_curve_*")),
    Step("07_simulation_check", reads=("01_prepare_data",),
         outputs=("tables/simulation_*", "figures/simulation_coverage.*")),
    Step("08_unselected_seeds", files=("params/synthetic.yml",), outputs=("tables/unselected_pass_rates.csv",),
         synthetic_only=True),
    Step("09_clinic_influence", reads=("01_prepare_data",),
         outputs=("private/leave_one_clinic_out.csv", "tables/influence.*", "figures/influence_leave_one_clinic_out.*")),
]}
ANALYSIS = list(STEPS)
SYNTHESIZE = "00_synthesize_cohort"      # regenerates data/synthetic/: not part of a run


def get(name: str) -> Step:
    try:
        return STEPS[name]
    except KeyError:
        raise KeyError(f"unknown step {name!r}; steps: {ANALYSIS}") from None


def producer(path: str) -> Step | None:
    """The step that writes ``path`` (relative to the results folder), or None."""
    return next((s for s in STEPS.values() if s.writes(path)), None)


def with_inputs(names: list[str], source: str) -> list[str]:
    """``names`` and every step they read from, in declaration order (for raw data, without the
    steps about the synthetic generator)."""
    wanted, todo = set(), [n for n in names if not (paths.is_real(source) and get(n).synthetic_only)]
    while todo:
        n = todo.pop()
        if n not in wanted:
            wanted.add(n)
            todo += [d for d in get(n).reads if not (paths.is_real(source) and get(d).synthetic_only)]
    return [n for n in ANALYSIS if n in wanted]


def sequential_order() -> list[str]:
    """Every step after those it reads from (for running them one by one, as strict nbval does)."""
    done: list[str] = []
    while len(done) < len(STEPS):
        done.append(next(n for n in ANALYSIS if n not in done and all(d in done for d in STEPS[n].reads)))
    return done

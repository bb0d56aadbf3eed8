"""What a run checks on the extract before any notebook starts, beyond the data contract.

The contract (:mod:`trustlib.data.contract`) checks each value; these checks need the cohort rules:
that the rules leave clinicians to model (scales with no answered item, a minimum of patient
surveys no clinician has), that the modelled clinicians come from at least two clinics, that
the outcome takes both values, and that no culture score is the same for everyone. A problem
found here would otherwise stop a notebook midway; here it stops the run before any kernel
starts, named with the extract's file and columns, and never quoting a survey answer.
"""

from __future__ import annotations

from .. import InputError
from . import codebook, cohort
from .contract import where


class CohortInputError(InputError):
    """The extract meets the contract but the cohort rules cannot make a model of it."""


def cohort_problems(tables: dict, cfg) -> None:
    """Raise :class:`CohortInputError` listing every problem of the cohort ``cfg.rules`` builds."""
    try:
        _, analysis, _ = cohort.build_cohort(tables, cfg.rules)
    except cohort.CohortError as err:
        raise CohortInputError(str(err)) from None
    problems = []
    if analysis["clinic_id"].nunique() < 2:
        problems.append("the modelled clinicians come from fewer than 2 clinics: a two-level model needs several")
    events = int(analysis["high_high"].sum())
    if events in (0, len(analysis)):
        problems.append(f"{'none' if events == 0 else 'every one'} of the modelled clinicians is high-high "
                        "under these cut-offs: there is nothing to compare (check org_trust_cutoff, "
                        "patient_trust_cutoff and cutoff_rule)")
    for measure in codebook.scales_with_role("exposure"):
        if analysis[measure].nunique() < 2:
            items = list(codebook.scale_items(measure)["variable"])
            problems.append(f"{where(tables['clinicians'], items)}: the '{measure}' score is the same for every "
                            f"modelled clinician, so its odds ratio cannot be estimated")
    if problems:
        raise CohortInputError("the extract cannot be modelled:\n  - " + "\n  - ".join(problems))

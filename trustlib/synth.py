"""Calibrated synthetic stand-in for the Healthy Work Place baseline data.

The generator draws a small latent structure and turns it into item-level survey responses
in exactly the raw format of :mod:`trustlib.contract`:

* each clinic has a culture climate; each clinician perceives a *general culture factor*
  ``f`` (standard normal, a share ``culture_clinic_share`` of its variance between clinics);
* each culture scale's true score (1-4) loads on ``f``; items are the true score plus noise,
  rounded and clipped to 1-4 (reverse-worded items are stored reversed);
* clinician trust in the organization rises with ``f`` plus a clinic effect and noise;
* patient trust (1-5 items, strong ceiling) varies between clinicians, a little with ``f``,
  and between patients.

Exact published counts (clinics, clinicians, patients, women, physicians, family medicine)
are imposed by construction; age is moment-matched. The generator knows nothing of the
analysis; its parameters live in ``params/synthetic.yml``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import codebook, contract, outputs, paths, scales


def _allocate(rng: np.random.Generator, total: int, n: int, minimum: int, concentration: float) -> np.ndarray:
    """Split ``total`` into ``n`` counts, each at least ``minimum`` (exact sum)."""
    extra = total - n * minimum
    if extra < 0:
        raise ValueError(f"cannot give {n} units at least {minimum} each from {total}")
    weights = rng.gamma(concentration, size=n)
    return minimum + rng.multinomial(extra, weights / weights.sum())


def _exact_labels(rng: np.random.Generator, n: int, counts: dict[str, int]) -> np.ndarray:
    rest = [k for k, v in counts.items() if v is None]
    fixed = {k: v for k, v in counts.items() if v is not None}
    labels = [k for k, v in fixed.items() for _ in range(v)]
    labels += [rest[0]] * (n - len(labels))
    return rng.permutation(np.array(labels, dtype=object))


def _items(rng, true_score: np.ndarray, n_items: int, noise: float, lo: int, hi: int) -> np.ndarray:
    raw = true_score[:, None] + rng.normal(0.0, noise, size=(len(true_score), n_items))
    return np.clip(np.rint(raw), lo, hi)


def _add_missing(rng, items: np.ndarray, rate: float, max_per_row: int = 1) -> np.ndarray:
    items = items.copy()
    n, k = items.shape
    hit = rng.random(n) < rate * k
    cols = rng.integers(0, k, size=n)
    items[hit, cols[hit]] = np.nan
    return items


def _matched_ages(z: np.ndarray, mean: float, sd: float, lo: int, hi: int) -> np.ndarray:
    """Whole-year ages with (close to) the given mean and SD, inside [lo, hi].

    Standardize, clip, and repeat so that clipping does not shrink the SD; then round.
    """
    x = z
    for _ in range(20):
        x = mean + sd * (x - x.mean()) / x.std(ddof=1)
        x = np.clip(x, lo, hi)
    return np.rint(x)


def generate(params: dict) -> dict[str, pd.DataFrame]:
    """Generate ``clinics``, ``clinicians`` and ``patients`` tables in the raw format.

    Item values are floats on their codebook range with NaN for missing; write them with
    :func:`trustlib.contract.write_raw_tables`. Deterministic given ``params`` (incl. ``seed``).
    """
    rng = np.random.default_rng(params["seed"])
    sz, cp, lat = params["sizes"], params["clinicians"], params["latent"]
    ot, pt, miss = params["org_trust"], params["patient_trust"], params["missing"]["item_rate"]
    cb = codebook.load_codebook()

    # clinics and clinic sizes
    n_k, n_c, n_p = sz["n_clinics"], sz["n_clinicians"], sz["n_patients"]
    clinic_ids = np.array([f"K{k + 1:02d}" for k in range(n_k)])
    region = np.array(["midwest"] * sz["n_midwest_clinics"] + ["nyc"] * (n_k - sz["n_midwest_clinics"]), dtype=object)
    clinics = pd.DataFrame({"clinic_id": clinic_ids, "region": rng.permutation(region)})
    sizes = _allocate(rng, n_c, n_k, sz["min_clinic_size"], 2.0)
    clinic_of = np.repeat(np.arange(n_k), sizes)

    # clinician characteristics with the published counts
    n_apc = n_c - cp["n_physicians"]
    ctype = _exact_labels(rng, n_c, {"physician": cp["n_physicians"], "np": cp["n_np"], "pa": None})
    assert (ctype != "physician").sum() == n_apc
    sex = _exact_labels(rng, n_c, {"female": cp["n_women"], "male": None})
    specialty = _exact_labels(rng, n_c, {"family": cp["n_family"], "internal": None})
    age = _matched_ages(rng.normal(size=n_c), cp["age_mean"], cp["age_sd"], lo=27, hi=75)

    # general culture factor: clinic part + clinician part, unit variance
    share = lat["culture_clinic_share"]
    g = rng.normal(size=n_k)
    f = np.sqrt(share) * g[clinic_of] + np.sqrt(1 - share) * rng.normal(size=n_c)

    clin = {"clinician_id": [f"C{i + 1:03d}" for i in range(n_c)], "clinic_id": clinic_ids[clinic_of],
            "age": age, "sex": sex, "clinician_type": ctype, "specialty": specialty}

    def scale_block(scale: str, true_score: np.ndarray, noise: float, lo: int, hi: int):
        items = codebook.scale_items(scale, cb)
        x = _items(rng, true_score, len(items), noise, lo, hi)
        x = _add_missing(rng, x, miss)
        for j, (_, it) in enumerate(items.iterrows()):
            col = x[:, j]
            clin[it["variable"]] = (lo + hi) - col if it["reverse"] else col

    for scale, load in lat["culture_loading"].items():
        t = load * f + np.sqrt(1 - load ** 2) * rng.normal(size=n_c)
        scale_block(scale, lat["scale_mean"][scale] + lat["scale_sd"][scale] * t, lat["culture_item_noise"][scale], 1, 4)

    clinic_trust = rng.normal(0, ot["clinic_sd"], size=n_k)
    trust = ot["mean"] + ot["culture_effect"] * f + clinic_trust[clinic_of] + rng.normal(0, ot["sd"], size=n_c)
    scale_block("org_trust", trust, ot["item_noise"], 1, 4)

    # other clinician measures, loosely tied to culture and trust
    control = 2.7 + 0.25 * f + rng.normal(0, 0.4, n_c)
    scale_block("work_control", control, 0.5, 1, 4)
    for var, mean, slope in [("atmosphere", 3.0, -0.35), ("stress", 2.9, -0.30), ("satisfaction", 3.8, 0.35),
                             ("burnout", 2.2, -0.30), ("intent_leave", 2.1, -0.35)]:
        clin[var] = np.clip(np.rint(mean + slope * f + rng.normal(0, 0.85, n_c)), 1, 5)
    clinicians = pd.DataFrame(clin)

    # patients: counts per clinician with a few clinicians who have too few surveys
    few = np.array(sz["few_patient_counts"], dtype=int)
    counts = np.empty(n_c, dtype=int)
    few_idx = rng.choice(n_c, size=len(few), replace=False)
    rest_idx = np.setdiff1d(np.arange(n_c), few_idx)
    counts[few_idx] = few
    counts[rest_idx] = _allocate(rng, n_p - few.sum(), len(rest_idx), sz["min_patients_others"], 4.0)
    owner = np.repeat(np.arange(n_c), counts)
    tau = pt["clinician_mean"] + pt["culture_effect"] * f + rng.normal(0, pt["clinician_sd"], n_c)
    theta = tau[owner] + rng.normal(0, pt["patient_sd"], len(owner))
    pat = {"patient_id": [f"P{i + 1:04d}" for i in range(len(owner))],
           "clinician_id": clinicians["clinician_id"].to_numpy()[owner],
           "patient_age": np.clip(np.rint(rng.normal(pt["patient_age_mean"], pt["patient_age_sd"], len(owner))), 18, 95),
           "patient_sex": np.where(rng.random(len(owner)) < pt["share_female"], "female", "male")}
    items = codebook.scale_items("patient_trust", cb)
    x = _items(rng, theta, len(items), pt["item_noise"], 1, 5)
    x = _add_missing(rng, x, miss)
    for j, (_, it) in enumerate(items.iterrows()):
        pat[it["variable"]] = 6 - x[:, j] if it["reverse"] else x[:, j]
    patients = pd.DataFrame(pat)
    return {"clinics": clinics, "clinicians": clinicians, "patients": patients}


def scaled_params(params: dict, factor: int, seed: int | None = None) -> dict:
    """A copy of ``params`` with every size multiplied by ``factor`` (for calibration runs)."""
    import copy

    p = copy.deepcopy(params)
    s = p["sizes"]
    for key in ("n_clinics", "n_clinicians", "n_patients", "n_midwest_clinics"):
        s[key] *= factor
    s["few_patient_counts"] = list(s["few_patient_counts"]) * factor
    c = p["clinicians"]
    for key in ("n_women", "n_physicians", "n_np", "n_family"):
        c[key] *= factor
    if seed is not None:
        p["seed"] = seed
    return p


def write_cohort(tables: dict[str, pd.DataFrame], folder) -> dict[str, str]:
    """Write the tables in the raw format plus a ``SHA256SUMS`` file; returns file -> SHA-256.

    Each file is written atomically (:func:`trustlib.outputs.atomic_write_bytes`).
    """
    import hashlib

    sums = {}
    for table in paths.TABLES:
        data = contract.raw_csv_text(table, tables[table]).encode("utf-8")
        outputs.atomic_write_bytes(folder / f"{table}.csv", data)
        sums[f"{table}.csv"] = hashlib.sha256(data).hexdigest()
    outputs.atomic_write_text(folder / "SHA256SUMS", "".join(f"{h}  {f}\n" for f, h in sums.items()))
    return sums


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The generated cohort against its published targets: ``quantity, target, generated``.

    Targets are the published marginals (counts exact; age in years; alpha on the 1-4 items);
    ``target`` is NaN where the paper gives no number (skew, ceiling, clustering).
    """
    from . import describe

    clin, pat = tables["clinicians"], tables["patients"]
    pt = scales.score(pat, "patient_trust")
    per_clin = pat.groupby("clinician_id").size()
    rows = [("clinics", 34, len(tables["clinics"])), ("clinicians", 165, len(clin)),
            ("patient surveys", 1132, len(pat)),
            ("clinicians with < 3 patient surveys", 3, int((per_clin.reindex(clin["clinician_id"]).fillna(0) < 3).sum())),
            ("age, mean (years)", 47.3, clin["age"].mean()), ("age, SD (years)", 9.2, clin["age"].std(ddof=1)),
            ("women", 86, int((clin["sex"] == "female").sum())),
            ("physicians", 143, int((clin["clinician_type"] == "physician").sum())),
            ("NP or PA", 22, int((clin["clinician_type"] != "physician").sum())),
            ("family medicine", 105, int((clin["specialty"] == "family").sum())),
            ("clinician trust: Cronbach alpha", 0.77, scales.cronbach_alpha(scales.reversed_items(clin, "org_trust"))),
            ("patient trust (0-100): mean", np.nan, pt.mean()),
            ("patient trust (0-100): median", np.nan, pt.median()),
            ("patient trust (0-100): skewness", np.nan, pt.skew()),
            ("patient trust: share at or above 90", np.nan, float((pt >= 90).mean()))]
    for s in codebook.scales_with_role("exposure") + ["org_trust"]:
        rows.append((f"{s}: ICC between clinics", np.nan, describe.icc1(scales.score(clin, s), clin["clinic_id"])))
    return pd.DataFrame(rows, columns=["quantity", "target", "generated"])


def with_overrides(params: dict, seed: int | None = None, **sizes: int | None) -> dict:
    """A copy of ``params`` with the seed and any of the ``sizes`` replaced (None keeps the file's)."""
    import copy

    p = copy.deepcopy(params)
    if seed is not None:
        p["seed"] = int(seed)
    p["sizes"].update({k: int(v) for k, v in sizes.items() if v is not None})
    return p

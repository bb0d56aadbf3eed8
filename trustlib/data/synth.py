"""Calibrated synthetic stand-in for the Healthy Work Place baseline data.

The generator draws a small latent structure and turns it into item-level survey responses
in exactly the raw format of :mod:`trustlib.data.contract`:

* each clinic has a culture climate; each clinician perceives a *general culture factor*
  ``f`` (standard normal, a share ``culture_clinic_share`` of its variance between clinics);
* each culture scale's true score (1-4) loads on ``f``; items are the true score plus noise,
  rounded and clipped to 1-4 (reverse-worded items are stored reversed);
* clinician trust in the organization rises with ``f`` plus a clinic effect and noise;
* patient trust (1-5 items, strong ceiling) varies between clinicians, a little with ``f``,
  and between patients.

Exact published counts (clinics, clinicians, patients, women, physicians, family medicine)
are imposed by construction; age is moment-matched. The culture scales are those
``data/scales.csv`` marks as exposures, each with its latent parameters in
``params/synthetic.yml``. Every component draws from its own random stream, keyed by its name
(:func:`_stream`), so adding a scale leaves every other draw of the same seed unchanged. The
generator knows nothing of the analysis.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .. import paths, store
from . import codebook, contract, scales


def _stream(seed: int, component: str) -> np.random.Generator:
    """The random stream of one component of the generator, keyed by its name: a component added
    later (a fifth scale, say) draws from its own stream and leaves every other draw unchanged."""
    key = int.from_bytes(hashlib.sha256(component.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(key,)))


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


def _items(rng, true_score: np.ndarray, n_items: int, noise: float, lo: int, hi: int, missing: float) -> np.ndarray:
    """Item responses: the true score plus noise, rounded and clipped to [lo, hi]; then at most
    one item per row missing, with probability ``missing`` per item."""
    items = np.clip(np.rint(true_score[:, None] + rng.normal(0.0, noise, size=(len(true_score), n_items))), lo, hi)
    n, k = items.shape
    hit = rng.random(n) < missing * k
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


def _store(table: dict, scale: str, x: np.ndarray, cb: pd.DataFrame, lo: int, hi: int) -> None:
    """Item columns of ``scale`` into ``table``, reverse-worded items stored reversed."""
    for j, (_, it) in enumerate(codebook.scale_items(scale, cb).iterrows()):
        table[it["variable"]] = (lo + hi) - x[:, j] if it["reverse"] else x[:, j]


def _clinics_and_clinicians(params: dict) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """Clinics (with region), each clinician's clinic, and the published counts of sex,
    clinician type and specialty, exactly; ages matched to the published mean and SD."""
    seed, sz, cp = params["seed"], params["sizes"], params["clinicians"]
    n_k, n_c = sz["n_clinics"], sz["n_clinicians"]
    clinic_ids = np.array([f"K{k + 1:02d}" for k in range(n_k)])
    region = np.array(["midwest"] * sz["n_midwest_clinics"] + ["nyc"] * (n_k - sz["n_midwest_clinics"]), dtype=object)
    clinics = pd.DataFrame({"clinic_id": clinic_ids, "region": _stream(seed, "region").permutation(region)})
    clinic_of = np.repeat(np.arange(n_k), _allocate(_stream(seed, "clinic sizes"), n_c, n_k, sz["min_clinic_size"], 2.0))
    clin = {"clinician_id": [f"C{i + 1:03d}" for i in range(n_c)], "clinic_id": clinic_ids[clinic_of],
            "age": _matched_ages(_stream(seed, "age").normal(size=n_c), cp["age_mean"], cp["age_sd"], lo=27, hi=75),
            "sex": _exact_labels(_stream(seed, "sex"), n_c, {"female": cp["n_women"], "male": None}),
            "clinician_type": _exact_labels(_stream(seed, "clinician type"), n_c,
                                            {"physician": cp["n_physicians"], "np": cp["n_np"], "pa": None}),
            "specialty": _exact_labels(_stream(seed, "specialty"), n_c, {"family": cp["n_family"], "internal": None})}
    return clinics, clin, clinic_of


def _latent(params: dict, scale: str, block: str):
    try:
        return params["latent"][block][scale]
    except KeyError:
        raise ValueError(f"params/synthetic.yml: latent.{block} has no value for the culture scale '{scale}' "
                         "(data/scales.csv lists it)") from None


def _culture_and_trust(params: dict, clin: dict, clinic_of: np.ndarray, cb: pd.DataFrame) -> np.ndarray:
    """Culture scales (every scale data/scales.csv marks as an exposure), clinician trust and the
    other clinician measures, into ``clin``; returns the general culture factor ``f``."""
    seed, lat, ot, miss = params["seed"], params["latent"], params["org_trust"], params["missing"]["item_rate"]
    n_k, n_c = int(clinic_of.max()) + 1, len(clinic_of)
    rng = _stream(seed, "culture factor")
    share = lat["culture_clinic_share"]
    f = np.sqrt(share) * rng.normal(size=n_k)[clinic_of] + np.sqrt(1 - share) * rng.normal(size=n_c)
    for scale in codebook.scales_with_role("exposure"):
        rng = _stream(seed, f"scale {scale}")
        load = _latent(params, scale, "culture_loading")
        t = load * f + np.sqrt(1 - load ** 2) * rng.normal(size=n_c)
        true = _latent(params, scale, "scale_mean") + _latent(params, scale, "scale_sd") * t
        n_items = len(codebook.scale_items(scale, cb))
        _store(clin, scale, _items(rng, true, n_items, _latent(params, scale, "culture_item_noise"), 1, 4, miss),
               cb, 1, 4)
    rng = _stream(seed, "clinician trust")
    trust = ot["mean"] + ot["culture_effect"] * f + rng.normal(0, ot["clinic_sd"], size=n_k)[clinic_of] \
        + rng.normal(0, ot["sd"], size=n_c)
    _store(clin, "org_trust", _items(rng, trust, len(codebook.scale_items("org_trust", cb)), ot["item_noise"], 1, 4,
                                     miss), cb, 1, 4)
    rng = _stream(seed, "work control")
    control = 2.7 + 0.25 * f + rng.normal(0, 0.4, n_c)
    _store(clin, "work_control", _items(rng, control, len(codebook.scale_items("work_control", cb)), 0.5, 1, 4, miss),
           cb, 1, 4)
    for var, mean, slope in [("atmosphere", 3.0, -0.35), ("stress", 2.9, -0.30), ("satisfaction", 3.8, 0.35),
                             ("burnout", 2.2, -0.30), ("intent_leave", 2.1, -0.35)]:
        clin[var] = np.clip(np.rint(mean + slope * f + _stream(seed, var).normal(0, 0.85, n_c)), 1, 5)
    return f


def _patients(params: dict, clinician_ids: np.ndarray, f: np.ndarray, cb: pd.DataFrame) -> pd.DataFrame:
    """Patient surveys: counts per clinician (a few with too few surveys), trust with a ceiling."""
    seed, sz, pt, miss = params["seed"], params["sizes"], params["patient_trust"], params["missing"]["item_rate"]
    n_c = len(clinician_ids)
    rng = _stream(seed, "patient counts")
    few = np.array(sz["few_patient_counts"], dtype=int)
    counts = np.empty(n_c, dtype=int)
    few_idx = rng.choice(n_c, size=len(few), replace=False)
    rest_idx = np.setdiff1d(np.arange(n_c), few_idx)
    counts[few_idx] = few
    counts[rest_idx] = _allocate(rng, sz["n_patients"] - few.sum(), len(rest_idx), sz["min_patients_others"], 4.0)
    owner = np.repeat(np.arange(n_c), counts)
    rng = _stream(seed, "patient trust")
    tau = pt["clinician_mean"] + pt["culture_effect"] * f + rng.normal(0, pt["clinician_sd"], n_c)
    theta = tau[owner] + rng.normal(0, pt["patient_sd"], len(owner))
    x = _items(rng, theta, len(codebook.scale_items("patient_trust", cb)), pt["item_noise"], 1, 5, miss)
    rng = _stream(seed, "patients")
    pat = {"patient_id": [f"P{i + 1:04d}" for i in range(len(owner))], "clinician_id": clinician_ids[owner],
           "patient_age": np.clip(np.rint(rng.normal(pt["patient_age_mean"], pt["patient_age_sd"], len(owner))), 18, 95),
           "patient_sex": np.where(rng.random(len(owner)) < pt["share_female"], "female", "male")}
    _store(pat, "patient_trust", x, cb, 1, 5)
    return pd.DataFrame(pat)


def generate(params: dict) -> dict[str, pd.DataFrame]:
    """Generate ``clinics``, ``clinicians`` and ``patients`` tables in the raw format.

    Item values are floats on their codebook range with NaN for missing; :func:`write_cohort`
    writes them. Deterministic given ``params`` (incl. ``seed``); each component draws from its
    own stream (:func:`_stream`).
    """
    cb = codebook.load_codebook()
    clinics, clin, clinic_of = _clinics_and_clinicians(params)
    f = _culture_and_trust(params, clin, clinic_of, cb)
    clinicians = pd.DataFrame(clin)
    patients = _patients(params, clinicians["clinician_id"].to_numpy(), f, cb)
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

    Each file is written atomically (:func:`trustlib.store.atomic_write_bytes`).
    """
    import hashlib

    sums = {}
    for table in paths.TABLES:
        data = contract.raw_csv_text(table, tables[table]).encode("utf-8")
        store.atomic_write_bytes(folder / f"{table}.csv", data)
        sums[f"{table}.csv"] = hashlib.sha256(data).hexdigest()
    store.atomic_write_text(folder / "SHA256SUMS", "".join(f"{h}  {f}\n" for f, h in sums.items()))
    return sums


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The generated cohort against its published targets: ``quantity, target, generated``.

    Targets are the published marginals (counts exact; age in years; alpha on the 1-4 items);
    ``target`` is NaN where the paper gives no number (skew, ceiling, clustering).
    """
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
        rows.append((f"{s}: ICC between clinics", np.nan, scales.icc1(scales.score(clin, s), clin["clinic_id"])))
    return pd.DataFrame(rows, columns=["quantity", "target", "generated"])


def with_overrides(params: dict, seed: int | None = None, **sizes: int | None) -> dict:
    """A copy of ``params`` with the seed and any of the ``sizes`` replaced (None keeps the file's)."""
    import copy

    p = copy.deepcopy(params)
    if seed is not None:
        p["seed"] = int(seed)
    p["sizes"].update({k: int(v) for k, v in sizes.items() if v is not None})
    return p

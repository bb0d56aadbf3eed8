"""The figures: readable by a clinician (plain odds-ratio ticks, no text under 9 pt, choices in
words), every group shown, and the same figure from the same data on any machine (written
precision, explicit tie-breaks, no global random state)."""

from __future__ import annotations

import io
import itertools
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from trustlib.data import cohort
from trustlib.stats import robustness
from trustlib.publish import disclosure, figures

matplotlib.use("Agg")
MEASURES = ["quality", "communication", "cohesiveness", "alignment"]


@pytest.fixture(scope="module")
def cohort_tables(tables, config):
    clin, analysis, cutoffs = cohort.build_cohort(tables, config.rules)
    counts = disclosure.cohort_counts(clin, analysis, len(tables["patients"]), 11)
    return analysis, cutoffs, counts


def _spec(seed: int = 1) -> pd.DataFrame:
    """A specification table shaped like notebook 06's, with ORs drawn at random."""
    rng = np.random.default_rng(seed)
    grid = list(itertools.product(["3.0", "median"], ["median", "80"], ["at_or_above", "above"], [1, 3],
                                  [True, False], ["glmm", "gee", "logit_cluster"]))
    spec = pd.DataFrame(grid, columns=robustness.CHOICES).assign(measure="quality")
    log_or = rng.normal(1.0, 0.4, len(spec)).round(2)          # many exact ties, as real grids have
    se = 0.4
    spec["or"], spec["ci_low"], spec["ci_high"] = np.exp(log_or), np.exp(log_or - 1.96 * se), np.exp(log_or + 1.96 * se)
    spec["p"] = 0.01
    spec["supports"] = spec["ci_low"] > 1
    spec["main"] = (spec.index == 0)
    return spec


def _figures(analysis, cutoffs, counts) -> dict:
    loo = pd.DataFrame({"measure": np.repeat(MEASURES, 5), "or": np.exp(np.linspace(0.2, 1.6, 20)),
                        "full_or": np.repeat([4.7, 3.8, 3.3, 1.7], 5)})
    summary = pd.DataFrame({"measure": np.repeat(MEASURES, 2), "model": ["glmm", "gee"] * 4, "coverage": 0.95,
                            "coverage_ci_low": 0.9, "coverage_ci_high": 0.98})
    ors = pd.DataFrame({"measure": MEASURES, "or": [4.95, 3.21, 2.29, 1.86], "ci_low": [2.02, 1.33, 1.25, 1.23],
                        "ci_high": [12.15, 7.78, 4.2, 2.81]})
    means = disclosure.outcome_group_means(analysis, MEASURES, 11, counts)
    return {"figure1": figures.trust_scatter(analysis, cutoffs),
            "figure1_aggregate": figures.trust_quadrant_counts(analysis, cutoffs, counts, 11),
            "figure2": figures.forest(ors, ors), "figure3": figures.culture_by_outcome(analysis, MEASURES),
            "figure3_aggregate": figures.culture_means(means, MEASURES, 11),
            "spec_curve": figures.specification_curve(_spec(), "quality"),
            "influence": figures.influence(loo), "coverage": figures.coverage(summary)}


@pytest.fixture(scope="module")
def drawn(cohort_tables):
    figs = _figures(*cohort_tables)
    for fig in figs.values():
        fig.canvas.draw()
    yield figs
    matplotlib.pyplot.close("all")


def _texts(fig):
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_no_text_is_smaller_than_9_points(drawn):
    for name, fig in drawn.items():
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < figures.MIN_FONT]
        assert not small, f"{name}: text under {figures.MIN_FONT} pt: {small[:5]}"


def test_no_legend_covers_a_plotted_point(drawn):
    """Every plotted point and error-bar end lies outside every legend's box (on screen)."""
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.lines import Line2D

    for name, fig in drawn.items():
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            box = legend.get_window_extent(renderer)
            points = []
            for artist in ax.get_children():
                if isinstance(artist, PathCollection):
                    points.append(artist.get_offset_transform().transform(artist.get_offsets()))
                elif isinstance(artist, Line2D) and artist.get_marker() not in (None, "None", ""):
                    points.append(artist.get_transform().transform(artist.get_xydata()))
                elif isinstance(artist, LineCollection):
                    for seg in artist.get_segments():
                        points.append(artist.get_transform().transform(seg))
            xy = np.concatenate([p for p in points if len(p)]) if points else np.empty((0, 2))
            xy = xy[np.isfinite(xy).all(axis=1)]
            inside = (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
            assert not inside.any(), f"{name}: the legend covers {int(inside.sum())} plotted point(s)"


@pytest.mark.parametrize("name, axis", [("figure2", "x"), ("spec_curve", "y"), ("influence", "x")])
def test_odds_ratio_axes_tick_in_plain_numbers(drawn, name, axis):
    ax = drawn[name].axes[0]
    target = ax.xaxis if axis == "x" else ax.yaxis
    assert target.get_scale() == "log"
    labels = [t.get_text() for t in target.get_ticklabels() if t.get_text()]
    assert len(labels) >= 2 and "1" in labels
    assert all(re.fullmatch(r"\d+(\.\d+)?", s) for s in labels), labels        # no 10^0, no 2x10^0
    assert {float(s) for s in labels} <= set(figures.OR_TICKS)
    assert not [t.get_text() for t in target.get_ticklabels(minor=True) if t.get_text()]


def test_specification_choices_are_words(drawn):
    labels = [t.get_text() for t in drawn["spec_curve"].axes[1].get_yticklabels()]
    assert len(labels) == 2 + 2 + 2 + 2 + 2 + 3
    for code in ("True", "False", "at_or_above", "glmm", "logit_cluster", "_"):
        assert not any(code in s for s in labels), (code, labels)
    assert "Patient surveys: at least 3" in labels and "A score at the cut-off: counts as high (>=)" in labels


def test_figure3_shows_a_group_whose_scores_are_all_equal(cohort_tables):
    """A box plot of a group with one value collapses to a line; Figure 3 draws every clinician
    and each group's mean with its interval, whatever the spread."""
    analysis = cohort_tables[0].copy()
    analysis.loc[analysis["high_high"] == 1, "quality"] = 3.0
    fig = figures.culture_by_outcome(analysis, MEASURES)
    s = fig.plotted.set_index(["measure", "group"])
    assert s.loc[("quality", "high-high"), "mean"] == 3.0
    assert s.loc[("quality", "high-high"), "ci_low"] == s.loc[("quality", "high-high"), "ci_high"] == 3.0
    points = [len(c.get_offsets()) for c in fig.axes[0].collections if len(c.get_offsets()) > 1]
    n = analysis["high_high"].value_counts()
    assert points[:2] == [n[1], n[0]]        # the first measure's two groups: every clinician drawn
    matplotlib.pyplot.close(fig)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    matplotlib.pyplot.close(fig)
    return buf.getvalue()


def test_the_specification_curve_is_the_same_whatever_the_last_bits_and_row_order():
    """Another CPU or BLAS kernel changes ORs in their last bits; rows may arrive in any order.
    Neither may reorder the curve: it sorts by the OR as written, ties broken by the choices."""
    spec = _spec()
    noisy = spec.sample(frac=1.0, random_state=3).reset_index(drop=True)
    wobble = 1 + np.random.default_rng(4).choice([-1e-13, 1e-13], len(noisy))
    for col in ("or", "ci_low", "ci_high"):
        noisy[col] = noisy[col] * wobble
    a, b = figures.specification_curve(spec, "quality"), figures.specification_curve(noisy, "quality")
    pd.testing.assert_frame_equal(a.plotted, b.plotted)
    assert _png(a) == _png(b)


def test_figures_leave_numpy_global_random_state_alone(cohort_tables):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for fig in _figures(*cohort_tables).values():
        matplotlib.pyplot.close(fig)
    assert np.array_equal(np.random.get_state()[1], before)


def test_every_figure_carries_the_data_it_draws_at_written_precision(drawn):
    for name, fig in drawn.items():
        data = fig.plotted
        assert isinstance(data, pd.DataFrame) and len(data), name
        floats = data.select_dtypes("float")
        rounded = floats.map(lambda v: float(f"{v:.6g}") if np.isfinite(v) else v)
        pd.testing.assert_frame_equal(floats, rounded, obj=name)


def test_the_specification_curve_svg_carries_its_dense_marks_as_images():
    """Intervals, points and choice ticks (one each per specification and choice) are rasterized
    in the SVG; the axes' labels and the main analysis's marker are not."""
    fig = figures.specification_curve(_spec(), "quality")
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    matplotlib.pyplot.close(fig)
    svg = buf.getvalue()
    rasterized = [a for ax in fig.axes for a in ax.get_children() if a.get_rasterized()]
    assert len(rasterized) >= 3 and all(len(a.get_offsets() if hasattr(a, "get_offsets") else a.get_segments())
                                        for a in rasterized)
    assert 1 <= svg.count("<image") <= len(rasterized)      # at most one per rasterized layer
    assert svg.count('xlink:href="#m') < 10                 # vector markers: the legend's and the main analysis's,
                                                            # not a tick per specification and choice (580 here)

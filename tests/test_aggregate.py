"""Arms of repeated runs: the interval math, verdicts, learned flags, grouping and the report text."""

from __future__ import annotations

import math

import pytest

from seqrec.evaluation.aggregate import (
    Estimate,
    arm_interval,
    difference,
    digits_axis,
    estimate_arms,
    group_arms,
    pairwise,
    t95,
    verdict_text,
)
from seqrec.evaluation.report import build_arms, efficiency_rows, markdown
from seqrec.evaluation.runs import Run, seed_of


def test_t95_table_expansion_and_bad_df():
    assert t95(1) == 12.706 and t95(2) == 4.303 and t95(30) == 2.042
    assert t95(60) == pytest.approx(2.0003, abs=2e-4) and t95(120) == pytest.approx(1.9799, abs=2e-4)
    assert t95(31) < t95(30)  # the expansion continues the table downward
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="degrees of freedom"):
            t95(bad)


def test_t95_matches_scipy_where_installed():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 29, 31, 45, 200):
        assert t95(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-3)


def test_arm_interval_three_seeds_adds_seed_and_test_parts():
    values = [0.90, 0.92, 0.94]
    se = 0.01  # each run's digit-bootstrap 95% interval is +-1.96 se
    e = arm_interval(values, [v - 1.959964 * se for v in values], [v + 1.959964 * se for v in values])
    seed_half = 4.303 * 0.02 / math.sqrt(3)  # s_seed = 0.02, t(2 df)
    half = math.hypot(seed_half, 1.959964 * se)
    assert e.n == 3 and e.mean == pytest.approx(0.92) and e.s_seed == pytest.approx(0.02)
    assert e.se_test == pytest.approx(se) and e.half == pytest.approx(half)
    assert (e.lo, e.hi) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))
    # the test part does not shrink with seeds: with no seed spread the interval is the test's own
    flat = arm_interval([0.9] * 5, [0.9 - 0.0196] * 5, [0.9 + 0.0196] * 5)
    assert flat.half == pytest.approx(0.0196)


def test_arm_interval_one_seed_is_the_bootstrap_interval():
    e = arm_interval([0.8], [0.71], [0.84])  # asymmetric, as a clipped bootstrap may be
    assert (e.mean, e.lo, e.hi, e.n) == (0.8, 0.71, 0.84, 1) and math.isnan(e.s_seed)
    bare = arm_interval([0.8])  # no interval at all: the value alone
    assert bare.mean == 0.8 and math.isnan(bare.lo) and math.isnan(bare.half)


def test_arm_interval_without_test_intervals_clipping_and_nan():
    e = arm_interval([0.98, 1.0, 0.99, math.nan])  # NaN skipped; seed part only
    assert e.n == 3 and math.isnan(e.se_test) and e.hi == 1.0  # clipped to [0, 1]
    assert e.lo == pytest.approx(0.99 - 4.303 * 0.01 / math.sqrt(3))
    assert arm_interval([2.0, 4.0], clip=None).hi > 4.0 and math.isnan(arm_interval([]).mean)
    with pytest.raises(ValueError, match="one lo and hi per value"):
        arm_interval([0.5, 0.6], [0.4], [0.7, 0.8])


def test_difference_verdicts_on_constructed_numbers():
    a, b = Estimate(0.95, 0.94, 0.96, 3), Estimate(0.90, 0.89, 0.91, 3)
    d = difference(a, b, "ctc", "multilabel")
    assert d.verdict == "real" and d.diff == pytest.approx(0.05)
    assert (d.lo, d.hi) == (pytest.approx(0.05 - math.hypot(0.01, 0.01)), pytest.approx(0.05 + math.hypot(0.01, 0.01)))
    assert verdict_text(d) == "ctc leads multilabel by 5.0 points [3.6, 6.4]: larger than the noise"
    close = difference(Estimate(0.91, 0.89, 0.93, 3), Estimate(0.90, 0.88, 0.92, 3), "ctc", "attention")
    assert close.verdict == "within noise" and close.lo < 0 < close.hi
    assert verdict_text(close) == "ctc and attention differ by 1.0 points [-1.8, 3.8]: within the noise"
    behind = difference(b, a, "multilabel", "ctc")  # the text names the leader first
    assert behind.verdict == "real" and verdict_text(behind).startswith("ctc leads multilabel by 5.0 points")
    assert difference(a, Estimate(0.9), "a", "b").verdict == "unmeasured"


def _run(head, seed, em, lo=None, hi=None, digits=None, extra=(), folds=None):
    overrides = [f"model={head}", f"seed={seed}", *extra] + ([f"data.train_digits={digits}"] if digits else [])
    metrics = {"exact_match": em, "digit_acc": min(1.0, em + 0.05), "cer": 1 - em}
    if lo is not None:
        metrics.update(exact_match_lo=lo, exact_match_hi=hi)
    config = {"data": {"train_digits": digits, "source": "bundled"}}
    if folds:  # cross-validated: seed k tested on fold k, as experiment=compare_heads does
        config["data"].update(folds=folds, fold=seed)
    name, seed = f"{head} (seed={seed})", seed_of(None, overrides)
    return Run(path=None, head=head, overrides=overrides, config=config, metrics=metrics, seed=seed, name=name)


def test_seeds_do_not_split_arms_and_pairs_share_settings():
    runs = [_run(h, s, 0.9, digits=d) for d in (250, 500) for h in ("ctc", "multihead") for s in (0, 1)]
    arms = group_arms(runs)
    assert [a.name for a in arms] == [
        "ctc (data.train_digits=250)",
        "multihead (data.train_digits=250)",
        "ctc (data.train_digits=500)",
        "multihead (data.train_digits=500)",
    ]
    assert all(a.seeds == [0, 1] for a in arms) and [a.train_digits for a in arms] == [250, 250, 500, 500]
    estimate_arms(arms, ["exact_match"])
    pairs = pairwise(arms)
    assert [dict(s)["data.train_digits"] for s, _ in pairs] == ["250", "500"]  # never 250 against 500
    assert group_arms([_run("ctc", 0, 0.9), _run("ctc", 1, 0.9)])[0].name == "ctc"
    shared = ("experiment=compare_heads", "paths.log_dir=/tmp/logs")  # on every run: not a setting
    arms = group_arms([_run(h, s, 0.9, extra=shared) for h in ("ctc", "multihead") for s in (0, 1)])
    assert [(a.name, a.settings) for a in arms] == [("ctc", ()), ("multihead", ())]
    apart = [_run("ctc", s, 0.9, extra=(f"paths.log_dir=/logs{s}", f"hydra.sweep.dir=/s{s}")) for s in (0, 1)]
    assert [(a.name, a.seeds) for a in group_arms(apart)] == [("ctc", [0, 1])]  # output folders make no arm


def test_seed_of_prefers_the_override():
    assert seed_of(0, ["model=ctc", "seed=3"]) == 3 and seed_of(7, []) == 7 and seed_of(None, []) is None
    assert seed_of("x", []) is None


def test_markdown_flags_a_head_that_has_not_learned_and_says_when_all_have():
    runs = [_run("ctc", s, 0.95 + s / 100, 0.93, 0.97) for s in (0, 1, 2)]
    runs += [_run("multihead", s, 0.02 + s / 1000, 0.01, 0.03) for s in (0, 1, 2)]
    text = markdown(runs, "t", "src", {})
    assert "**multihead has not learned** at this budget (mean exact match 2.1% < 85%)" in text
    assert "only about the budget" in text and "**ctc has not learned**" not in text
    assert "Every arm has learned" not in text
    assert "- ctc leads multihead by 93.9 points" in text and "larger than the noise (not learned: multihead;" in text
    assert "| ctc | 96.0% [" in text  # the arm row: mean over three seeds with its interval
    good = markdown(runs[:3] + [_run("attention", s, 0.94, 0.92, 0.96) for s in (0, 1, 2)], "t", "src", {})
    assert "Every arm has learned" in good and "has not learned" not in good
    assert "ctc and attention differ by" in good and "within the noise" in good
    lenient = markdown(runs, "t", "src", {}, learned_at=0.01)
    assert "has not learned" not in lenient and "at least 1%" in lenient


def test_one_seed_per_arm_says_seed_variation_is_unmeasured():
    text = markdown([_run("ctc", 0, 0.9, 0.88, 0.92), _run("multihead", 0, 0.9, 0.88, 0.92)], "t", "src", {})
    assert "Seed variation is **unmeasured** (one seed per arm)" in text and "| ctc | 90.0% [88.0, 92.0] |" in text
    mixed = markdown([_run("ctc", 0, 0.9, 0.88, 0.92), _run("ctc", 1, 0.9), _run("multihead", 0, 0.9)], "t", "s", {})
    assert "Seed variation is **unmeasured** (one seed: multihead)" in mixed


def test_sample_efficiency_axis_counts_the_full_pool():
    runs = [_run(h, 0, 0.5 + (d or 4000) / 10000, digits=d) for h in ("ctc", "multilabel") for d in (250, 1000, None)]
    arms = build_arms(runs)
    digits = digits_axis(arms, full=lambda data: 4000)
    assert digits["ctc"] == 4000 and digits["ctc (data.train_digits=250)"] == 250
    rows = efficiency_rows(arms, digits)
    assert [(r["curve"], r["train_digits"]) for r in rows][:3] == [("ctc", 250), ("ctc", 1000), ("ctc", 4000)]
    assert rows[2]["mean"] == pytest.approx(0.9)
    text = markdown(runs, "t", "src", {}, arms=arms, digits=digits)
    assert "| head | 250 | 1,000 | 4,000 |" in text and "| ctc | 52.5%* | 60.0%* | 90.0% |" in text
    assert digits_axis(build_arms(runs[:1])) == {}  # one data size: no sample-efficiency axis


def test_difference_uses_the_unclipped_half_width_and_clips_the_display():
    top = arm_interval([0.97, 1.0, 1.0])  # clipped at 1: the half-width must not shrink with it
    assert top.hi == 1.0 and top.half > (top.hi - top.lo) / 2
    d = difference(top, Estimate(0.2, 0.1, 0.3, 1), "ctc", "multihead")
    assert d.hi - d.diff == pytest.approx(math.hypot(top.half, 0.1)) and d.verdict == "real"
    wide = difference(arm_interval([0.0, 1.0]), arm_interval([1.0, 0.0]), "a", "b")
    assert (wide.lo, wide.hi, wide.verdict) == (-1.0, 1.0, "within noise")


def test_sample_efficiency_says_when_the_full_pool_size_is_unknown():
    runs = [_run("ctc", 0, 0.9, digits=250), _run("ctc", 0, 0.95)]
    arms = build_arms(runs)
    digits = digits_axis(arms, full=lambda data: None)
    assert digits == {"ctc (data.train_digits=250)": 250, "ctc": None}
    text = markdown(runs, "t", "src", {}, arms=arms, digits=digits)
    assert "| head | 250 |" in text and "pool's size could not be read here" in text


def test_cross_validated_arm_uses_the_seed_spread_with_the_test_error_as_floor():
    values = [0.90, 0.92, 0.94]  # each seed tested on its own fold: the spread holds the test error
    e = arm_interval(values, [v - 0.02 for v in values], [v + 0.02 for v in values], cross_validated=True)
    assert e.cross_validated and e.df == 2 and e.half == pytest.approx(4.303 * 0.02 / math.sqrt(3))
    assert e.se_test == pytest.approx(0.02 / 1.959964)  # reported, not added
    agree = arm_interval([0.9] * 3, [0.88] * 3, [0.92] * 3, cross_validated=True)
    assert agree.half == pytest.approx(0.02 / math.sqrt(3))  # seeds that agree: the folds' own error


def test_estimate_arms_detects_folds_per_arm():
    runs = [_run("ctc", s, v, v - 0.02, v + 0.02, folds=3) for s, v in enumerate((0.90, 0.92, 0.94))]
    runs += [_run("ctc", s, 0.5 + s / 100, 0.48, 0.52, digits=250) for s in (0, 1)]  # the fixed split
    arms = group_arms(runs)
    estimate_arms(arms, ["exact_match"])
    folds, fixed = (a.estimates["exact_match"] for a in arms)
    assert [a.cross_validated for a in arms] == [True, False]
    assert folds.half == pytest.approx(4.303 * 0.02 / math.sqrt(3))
    assert fixed.half == pytest.approx(math.hypot(12.706 * 0.005, 0.02))  # s = 0.0071 (1 df) + shared test
    twice = group_arms([_run("ctc", s, 0.9, folds=3) for s in (0, 0)])  # the same fold twice: shared test
    assert not twice[0].cross_validated


def test_report_says_how_the_folds_were_tested_and_which_arms_clear_the_target():
    runs = [_run("ctc", s, 0.95 + s / 100, 0.93, 0.97, folds=3) for s in (0, 1, 2)]
    runs += [_run("attention", s, 0.84 + 3 * s / 100, 0.82, 0.92, folds=3) for s in (0, 1, 2)]
    text = markdown(runs, "t", "src", {})  # attention: s = 0.03 (2 df), 87.0% [79.5, 94.5]
    assert "Cross-validated (3 folds, one per seed)" in text and "n - 1 degrees of freedom" in text
    assert "Every arm has learned" in text
    clearance = "Clear of 85% with the whole 95% interval: ctc; unclear, the interval reaching below 85%: attention"
    assert clearance + " (from 79.5%)." in text
    clear = markdown(runs[:3], "t", "src", {})
    assert "The whole 95% interval is at or above 85% for every learned arm." in clear
    shared = markdown([_run("ctc", s, 0.95, 0.93, 0.97) for s in (0, 1)], "t", "src", {})
    assert "Cross-validated" not in shared and "Every seed is tested on the same held-out digits" in shared


def test_report_says_how_many_jobs_ran_at_a_time(tmp_path):
    from seqrec.evaluation.runs import launcher_note

    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n  launcher:\n    _target_: hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher\n"
        "    n_jobs: 2\n"
    )
    note = launcher_note(tmp_path)
    assert note.startswith("The sweep ran 2 jobs at a time (JoblibLauncher)") and "shared the machine" in note
    text = markdown([_run("ctc", 0, 0.9, 0.88, 0.92)], "t", "src", {}, notes=[note, ""])
    assert "The sweep ran 2 jobs at a time" in text
    (tmp_path / "multirun.yaml").write_text("hydra:\n  launcher:\n    n_jobs: 1\n")
    assert launcher_note(tmp_path) == "" and launcher_note(tmp_path / "none") == ""  # one at a time, or unknown
    (tmp_path / "multirun.yaml").write_text("hydra: [not, a, mapping\n")
    assert launcher_note(tmp_path) == ""

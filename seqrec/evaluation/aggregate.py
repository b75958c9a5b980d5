"""Repeated runs as arms: mean ± 95% interval over seeds, differences between heads, learned flags.

An *arm* is one head under one setting (e.g. ``data.train_digits=500``); runs that differ only in
their seed are its repeats. The interval of an arm's mean depends on how its seeds were tested
(:func:`arm_interval`):

* **Shared test** (the fixed split): every seed is tested on strips of the same held-out digits,
  so the test's digit-sampling error is shared by all seeds and does not shrink with more seeds.
  The two parts are added::

      half-width = sqrt( (t_df * s_seed / sqrt(n))^2 + (1.96 * se_test)^2 )

  with se_test the runs' own digit-bootstrap standard error, (hi - lo) / 3.92 of their 95%
  intervals, averaged over the seeds.
* **Cross-validated** (``data.folds``, one fold per seed): each seed is tested on other digits, so
  the spread over seeds already holds the test's sampling error, and it averages down::

      half-width = max( t_df * s_seed / sqrt(n), 1.96 * se_test / sqrt(n) )

  never narrower than the test's own sampling error (known from the digit bootstrap), even when
  a few seeds happen to agree.

s_seed is the standard deviation over the n seeds and t_df the t quantile with df = n - 1. It
is not pooled over the heads of a sweep: the heads of one seed share its backbone pretraining
and, cross-validated, its test fold, so they are not independent repeats. One seed: the run's
digit-bootstrap interval, and seed variation is unmeasured.

A difference between two arms (:func:`difference`) gets the half-width sqrt(h_a^2 + h_b^2): the
variances add as if the arms were independent. The arms share their test digits, which correlates
their errors positively, so this is wider than the truth and errs toward "within noise".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .runs import Run, is_number

Z95 = 1.959964  # two-sided 95% normal quantile
# Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30 (scipy is not a dependency).
T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
LEARNED_AT = 0.85  # issue 13: a head has learned at >= 85% exact match on variable strips of held-out digits
IGNORED_KEYS = ("model", "seed")  # overrides that do not make an arm: the head, and the repeats
IGNORED_PREFIXES = ("paths.", "hydra.")  # where outputs go, not what is trained


def t95(df: int) -> float:
    """Two-sided 95% Student t quantile with ``df`` degrees of freedom; beyond 30 the
    Cornish-Fisher expansion around the normal quantile (error below 1e-4)."""
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}")
    df = int(df)
    if df <= len(T95):
        return T95[df - 1]
    z = Z95
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass
class Estimate:
    """Mean over an arm's seeds with its 95% interval [lo, hi] and half-width ``half``."""

    mean: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    n: int = 0  # seeds with a value
    s_seed: float = math.nan  # standard deviation over seeds (NaN with one seed: unmeasured)
    se_test: float = math.nan  # digit-bootstrap standard error of one run's test, mean over seeds
    spread: float = math.nan  # the half-width before clipping to the metric's range
    cross_validated: bool = False  # seeds tested on disjoint digits (folds): test error in the spread

    @property
    def df(self) -> int:
        """Degrees of freedom of the seed spread: n - 1 (0 without two seeds)."""
        return max(self.n - 1, 0)

    @property
    def half(self) -> float:
        """Half-width of the interval: the unclipped one where known (clipping would hide noise)."""
        return self.spread if is_number(self.spread) else (self.hi - self.lo) / 2


def arm_interval(
    values: Sequence[float],
    los: Sequence[float] | None = None,
    his: Sequence[float] | None = None,
    clip: tuple[float, float] | None = (0.0, 1.0),
    cross_validated: bool = False,
) -> Estimate:
    """Mean of ``values`` (one per seed) with its 95% interval; see the module doc. Shared test: the
    spread over seeds (t quantile) and the test's digit-sampling error (normal, from the runs' 95%
    digit-bootstrap intervals ``los``/``his``) added in quadrature. ``cross_validated``: each seed
    tested on its own fold, so the spread alone, but at least the folds' mean test error / sqrt(n).
    One seed: its own interval. Without intervals (NaN bounds) the test part is left out; ``clip``
    bounds the interval. Non-finite values are skipped."""
    n_in = len(values)
    los = [math.nan] * n_in if los is None else list(los)
    his = [math.nan] * n_in if his is None else list(his)
    if len(los) != n_in or len(his) != n_in:
        raise ValueError(f"need one lo and hi per value, got {n_in} values, {len(los)} lo, {len(his)} hi")
    kept = [(float(v), lo, hi) for v, lo, hi in zip(values, los, his) if is_number(v)]
    if not kept:
        return Estimate()
    v = np.array([k[0] for k in kept])
    ses = [(hi - lo) / (2 * Z95) for _, lo, hi in kept if is_number(lo) and is_number(hi)]
    se_test = float(np.mean(ses)) if ses else math.nan
    n, mean = len(v), float(v.mean())
    if n == 1:
        _, lo, hi = kept[0]
        lo, hi = (float(lo), float(hi)) if is_number(lo) and is_number(hi) else (math.nan, math.nan)
        return Estimate(mean, lo, hi, 1, math.nan, se_test, cross_validated=cross_validated)
    s_seed = float(v.std(ddof=1))
    seed_part = t95(n - 1) * s_seed / math.sqrt(n)
    test_part = Z95 * se_test if ses else 0.0
    if cross_validated:  # the spread holds the test error: at least the folds' own error, averaged
        half = max(seed_part, test_part / math.sqrt(n))
    else:
        half = math.hypot(seed_part, test_part)
    lo, hi = mean - half, mean + half
    if clip is not None:
        lo, hi = max(lo, clip[0]), min(hi, clip[1])
    return Estimate(mean, lo, hi, n, s_seed, se_test, half, cross_validated)


@dataclass
class Difference:
    """``a`` minus ``b`` (arm names) in one metric, with its 95% interval and verdict."""

    a: str
    b: str
    diff: float
    lo: float
    hi: float
    verdict: str  # "real", "within noise" or "unmeasured"


def difference(a: Estimate, b: Estimate, name_a: str = "a", name_b: str = "b") -> Difference:
    """Difference of two arms' means; half-width sqrt(half_a^2 + half_b^2) (variances added,
    ignoring the positive correlation of a shared test set: conservative). Verdict "real" when the
    interval excludes 0, "within noise" when it does not, "unmeasured" without both intervals."""
    d = a.mean - b.mean
    half = math.hypot(a.half, b.half) if is_number(a.half) and is_number(b.half) else math.nan
    if not is_number(d) or not is_number(half):
        return Difference(name_a, name_b, d, math.nan, math.nan, "unmeasured")
    lo, hi = d - half, d + half
    verdict = "real" if lo > 0 or hi < 0 else "within noise"
    return Difference(name_a, name_b, d, max(lo, -1.0), min(hi, 1.0), verdict)  # shares differ by at most 1


def verdict_text(d: Difference, unit: str = "points") -> str:
    """``ctc leads multilabel by 3.1 points [1.2, 5.0]: larger than the noise`` (leader first)."""
    if d.diff < 0:
        d = Difference(d.b, d.a, -d.diff, -d.hi, -d.lo, d.verdict)
    gap = f"{100 * d.diff:.1f} {unit}"
    if d.verdict == "unmeasured":
        return f"{d.a} leads {d.b} by {gap}: no interval (a run lacks its test interval)"
    ci = f"[{100 * d.lo:.1f}, {100 * d.hi:.1f}]"
    if d.verdict == "real":
        return f"{d.a} leads {d.b} by {gap} {ci}: larger than the noise"
    return f"{d.a} and {d.b} differ by {gap} {ci}: within the noise"


# ---------------------------------------------------------------------- arms
@dataclass
class Arm:
    head: str
    settings: tuple[tuple[str, str], ...]  # non-seed, non-head overrides (and data.train_digits)
    runs: list[Run] = field(default_factory=list)
    name: str = ""
    train_digits: int | None = None  # None: the whole train pool
    estimates: dict[str, Estimate] = field(default_factory=dict)

    @property
    def seeds(self) -> list:
        return [r.seed for r in self.runs]

    @property
    def cross_validated(self) -> bool:
        """Every seed tested on its own cross-validation fold (disjoint test digits)."""
        folds = [r.test_fold for r in self.runs]
        return len(folds) > 1 and None not in folds and len(set(folds)) == len(folds)

    def learned(self, threshold: float = LEARNED_AT) -> bool | None:
        """Mean exact match at or above ``threshold``; None when there is no exact match."""
        m = self.estimates.get("exact_match", Estimate()).mean
        return None if not is_number(m) else bool(m >= threshold)


def settings_of(run: Run) -> tuple[tuple[str, str], ...]:
    """What makes a run's arm apart from its head: its overrides but the head and the seed, plus
    ``data.train_digits`` from its config when no override names it (W&B runs have no overrides)."""
    out = {}
    for o in run.overrides:
        k, _, v = str(o).partition("=")
        k = k.lstrip("+~")
        if k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES):
            out[k] = v
    if "data.train_digits" not in out and run.train_digits is not None:
        out["data.train_digits"] = str(run.train_digits)
    return tuple(sorted(out.items()))


def group_arms(runs: Sequence[Run]) -> list[Arm]:
    """Runs grouped into arms (same head, same settings), in order of first appearance; arm names
    are the head plus the settings that vary between arms, e.g. ``ctc (data.train_digits=250)``."""
    arms: dict[tuple, Arm] = {}
    for r in runs:
        key = (r.head, settings_of(r))
        if key not in arms:
            arms[key] = Arm(r.head, key[1], train_digits=r.train_digits)
        arms[key].runs.append(r)
    keys = {k for arm in arms.values() for k, _ in arm.settings}
    varying = {k for k in keys if len({dict(arm.settings).get(k) for arm in arms.values()}) > 1}
    for arm in arms.values():
        # Overrides every run shares (experiment=..., paths) tell arms apart no more than none.
        arm.settings = tuple((k, v) for k, v in arm.settings if k in varying)
        extra = [f"{k}={v}" for k, v in arm.settings]
        arm.name = f"{arm.head} ({', '.join(extra)})" if extra else arm.head
    return list(arms.values())


def run_values(run: Run, metric: str) -> tuple[float, float, float]:
    """(value, lo, hi) of ``metric`` for one run: a metrics key (with ``_lo``/``_hi`` when the run
    carries them), ``gap{g}`` (accuracy by gap) or ``long{k}`` (wide strips of k digits)."""
    if metric.startswith("gap") and metric[3:].lstrip("+-").isdigit():
        g = int(metric[3:])
        return (run.gap_acc.get(g, math.nan), *run.gap_ci.get(g, (math.nan, math.nan)))
    if metric.startswith("long") and metric[4:].isdigit():
        k = int(metric[4:])
        return (run.long_acc.get(k, math.nan), *run.long_ci.get(k, (math.nan, math.nan)))
    m = run.metrics
    return m.get(metric, math.nan), m.get(f"{metric}_lo", math.nan), m.get(f"{metric}_hi", math.nan)


def estimate_arms(arms: Sequence[Arm], metrics: Sequence[str]) -> None:
    """``arm.estimates[metric]`` for each metric (CER is not clipped to [0, 1])."""
    for arm in arms:
        cv = arm.cross_validated
        for metric in metrics:
            vals = [run_values(r, metric) for r in arm.runs]
            clip = (0.0, math.inf) if metric == "cer" else (0.0, 1.0)
            arm.estimates[metric] = arm_interval(*zip(*vals), clip=clip, cross_validated=cv) if vals else Estimate()


def pairwise(arms: Sequence[Arm], metric: str = "exact_match") -> list[tuple[tuple, Difference]]:
    """(non-head settings, difference) for every pair of arms with the same non-head settings, the
    arm with the higher mean first."""
    out = []
    for i, a in enumerate(arms):
        for b in arms[i + 1 :]:
            if a.settings != b.settings or a.head == b.head:
                continue
            first, second = a, b
            ea, eb = a.estimates.get(metric, Estimate()), b.estimates.get(metric, Estimate())
            if is_number(eb.mean) and not (is_number(ea.mean) and ea.mean >= eb.mean):
                first, second, ea, eb = b, a, eb, ea  # leader first
            out.append((a.settings, difference(ea, eb, first.name, second.name)))
    return out


def full_train_digits(data: dict) -> int | None:
    """Digits of the whole train pool of a run's data config (what ``train_digits: null`` trains on),
    from the source itself; None when the source cannot be read here."""
    from ..data.sources import load_digits

    where = (data.get("source", "bundled"), data.get("root"), data.get("folds"), data.get("fold"))
    try:
        pools = [
            load_digits(where[0], split, *where[1:]) for split in ("train", "val")[: 1 + bool(data.get("train_on_val"))]
        ]
    except Exception:  # noqa: BLE001 - e.g. MNIST not downloaded: the size stays unknown
        return None
    return sum(len(p.labels) for p in pools)


def digits_axis(arms: Sequence[Arm], full: Callable[[dict], int | None] = full_train_digits) -> dict[str, int | None]:
    """Arm name -> distinct training digits (the full pool for arms without train_digits), when
    arms differ in it; empty otherwise (no sample-efficiency table)."""
    if len({a.train_digits for a in arms}) < 2:
        return {}
    return {a.name: a.train_digits if a.train_digits is not None else full(a.runs[0].data) for a in arms}

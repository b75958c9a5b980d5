"""Evaluation: how good a trained model is, and how sure we are of it.

* ``intervals``: digit-bootstrap intervals, calibration metrics, temperature scaling;
* ``strips``: benchmark strips from held-out digits, one factor changed at a time;
* ``measure``: reading strips with a Recognizer (metrics, throughput, accuracy by gap);
* ``runs``: trained runs from their folders or from W&B;
* ``aggregate``: runs grouped into arms (head x settings; seeds are repeats), mean and 95% interval
  over seeds and test digits, differences between heads with verdicts, the learned flag;
* ``report``: the comparison table as markdown, CSV and plots;
* ``comparison``: the comparison of a sweep end to end, ``summary_run`` (its W&B upload) and
  ``callback`` (the Hydra callback that runs it after a multirun).

The names of ``intervals`` and ``aggregate`` are re-exported here (``from seqrec.evaluation import digit_bootstrap``).
"""

from .aggregate import (
    LEARNED_AT,
    Arm,
    Difference,
    Estimate,
    arm_interval,
    difference,
    group_arms,
    pairwise,
    t95,
    verdict_text,
)
from .intervals import (
    LEVEL,
    T_RANGE,
    calibrate_checkpoint,
    cluster_variance,
    confidences,
    coverage_at_accuracy,
    coverage_difference,
    coverage_draws,
    coverage_interval,
    difference_verdict,
    digit_bootstrap,
    digit_correct,
    expected_calibration_error,
    fit_codec_temperature,
    fit_recognizer_temperature,
    fit_temperature,
    format_difference,
    format_interval,
    outcome_accuracy,
    paired_difference,
    recognizer_logits,
    squared_errors,
    strip_accuracy,
    write_temperature,
)

__all__ = [
    "LEARNED_AT",
    "LEVEL",
    "T_RANGE",
    "Arm",
    "Difference",
    "Estimate",
    "arm_interval",
    "difference",
    "group_arms",
    "pairwise",
    "t95",
    "verdict_text",
    "calibrate_checkpoint",
    "cluster_variance",
    "confidences",
    "difference_verdict",
    "coverage_at_accuracy",
    "coverage_difference",
    "coverage_draws",
    "coverage_interval",
    "digit_bootstrap",
    "digit_correct",
    "expected_calibration_error",
    "fit_codec_temperature",
    "fit_recognizer_temperature",
    "fit_temperature",
    "format_difference",
    "format_interval",
    "outcome_accuracy",
    "paired_difference",
    "recognizer_logits",
    "squared_errors",
    "strip_accuracy",
    "write_temperature",
]

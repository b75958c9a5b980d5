"""Digit-bootstrap intervals, calibration metrics, temperature scaling and the confidence of each codec."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqrec.codecs import Codec, CTCCodec, MultiHeadCodec, MultiLabelCodec
from seqrec.evaluation import (
    coverage_at_accuracy,
    coverage_difference,
    coverage_interval,
    digit_bootstrap,
    digit_correct,
    expected_calibration_error,
    fit_codec_temperature,
    fit_temperature,
    format_difference,
    format_interval,
    paired_difference,
    squared_errors,
    strip_accuracy,
    write_temperature,
)


# ---------------------------------------------------------------------- bootstrap
def test_one_digit_per_strip_matches_binomial():
    # Distinct digits, one per strip: the ordinary bootstrap, whose 95% interval is p +- 1.96 se.
    n, p = 2000, 0.9
    correct = np.arange(n) % 10 != 0  # exactly 90% right
    lo, hi = digit_bootstrap(correct, np.arange(n)[:, None], n_boot=2000, seed=1)
    se = math.sqrt(p * (1 - p) / n)
    assert lo == pytest.approx(p - 1.96 * se, abs=0.25 * se)
    assert hi == pytest.approx(p + 1.96 * se, abs=0.25 * se)


def test_reused_digits_give_a_much_wider_interval():
    # 2,000 five-digit strips built from only 40 digits; 4 of them are always misread, so a strip is
    # right iff it holds none of them. Strips are not independent: the digit bootstrap must be far
    # wider than a bootstrap that treats strips as independent.
    rng = np.random.default_rng(0)
    index = rng.integers(0, 40, size=(2000, 5))
    correct = ~np.isin(index, [0, 1, 2, 3]).any(1)
    lo, hi = digit_bootstrap(correct, index, n_boot=500, seed=0)
    s_lo, s_hi = digit_bootstrap(correct, np.arange(2000)[:, None], n_boot=500, seed=0)
    assert lo < correct.mean() < hi
    assert (hi - lo) > 4 * (s_hi - s_lo)


def test_shared_digits_known_answer():
    # 400 "first" digits, each the first digit of 10 strips; the second digit of every strip is a
    # fresh one. A strip is right iff its first digit is: the 4,000 strips carry the information of
    # 400 independent digits, so the interval is p +- 1.96 sqrt(p (1 - p) / 400), not / 4000.
    first = np.repeat(np.arange(400), 10)
    index = np.stack([first, 1000 + np.arange(4000)], 1)
    correct = (first % 10 != 0).astype(float)  # p = 0.9
    lo, hi = digit_bootstrap(correct, index, n_boot=2000, seed=2)
    se = math.sqrt(0.9 * 0.1 / 400)
    assert lo == pytest.approx(0.9 - 1.96 * se, abs=0.2 * se) and hi == pytest.approx(0.9 + 1.96 * se, abs=0.2 * se)


def test_per_digit_slots_and_padding():
    # Per-slot correctness: padded slots (-1) are ignored, an all-right pool has a zero-width interval.
    index = np.array([[0, 1, -1], [2, -1, -1], [3, 4, 5]])
    ok = np.ones(index.shape, bool)
    assert digit_bootstrap(ok, index, n_boot=50) == (1.0, 1.0)
    ok[0, 2] = False  # a padded slot: not counted
    assert digit_bootstrap(ok, index, n_boot=50) == (1.0, 1.0)
    ok[2, 1] = False
    lo, hi = digit_bootstrap(ok, index, n_boot=400)
    assert 0 <= lo < 5 / 6 < hi <= 1.0


def test_bootstrap_is_deterministic_and_checks_its_input():
    index = np.arange(100)[:, None]
    ok = np.arange(100) % 3 > 0
    assert digit_bootstrap(ok, index, seed=3) == digit_bootstrap(ok, index, seed=3)
    with pytest.raises(ValueError, match="digit_index must be"):
        digit_bootstrap(ok, index[:50])
    with pytest.raises(ValueError, match="per-slot correct"):
        digit_bootstrap(np.ones((100, 2)), index)
    with pytest.raises(ValueError, match="level"):
        digit_bootstrap(ok, index, level=95)
    with pytest.raises(ValueError, match="n_boot"):
        digit_bootstrap(ok, index, n_boot=0)


def test_strip_accuracy_and_format():
    labels, preds = ["12", "345", "6"], ["12", "349", ""]
    index = np.array([[0, 1, -1], [2, 3, 4], [5, -1, -1]])
    assert digit_correct(preds, labels, 3).tolist() == [[True, True, False], [True, True, False], [False, False, False]]
    m = strip_accuracy(preds, labels, index, n_boot=200)
    assert m["exact_match"] == pytest.approx(1 / 3) and m["digit_acc"] == pytest.approx(4 / 6) and m["n_digits"] == 6
    assert m["exact_match_lo"] <= m["exact_match"] <= m["exact_match_hi"]
    assert format_interval(0.969, 0.958, 0.977) == "96.9% [95.8, 97.7]"
    assert format_interval(0.5) == "50.0%" and format_interval(float("nan")) == "–"
    assert format_difference(0.004, -0.001, 0.009) == "+0.4 [-0.1, +0.9]"
    assert format_difference(-0.25, -0.5, 0.0, 2) == "-25.00 [-50.00, +0.00]"
    with pytest.raises(ValueError, match="2 predictions for 3"):
        strip_accuracy(preds[:2], labels, index)


# ---------------------------------------------------------------------- calibration
def test_ece_on_a_hand_made_example():
    # Two occupied bins: confidence 0.95 (4 strips, 3 right) and 0.25 (4 strips, 2 right):
    # ECE = 0.5 * |0.75 - 0.95| + 0.5 * |0.5 - 0.25| = 0.1 + 0.125.
    conf = [0.95] * 4 + [0.25] * 4
    correct = [1, 1, 1, 0, 1, 1, 0, 0]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.225, abs=1e-6)
    assert expected_calibration_error([1.0, 1.0, 0.0], [1, 1, 0]) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="one length"):
        expected_calibration_error([0.5], [1, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error([1.5], [1])
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0.5], [1], n_bins=0)


def test_squared_errors_are_the_brier_terms():
    # Brier = mean((conf - right)^2) = (0.01 + 0.81 + 0.25 + 0.25) / 4 = 0.33.
    sq = squared_errors([0.9, 0.9, 0.5, 0.5], [1, 0, 1, 0])
    assert sq == pytest.approx([0.01, 0.81, 0.25, 0.25]) and sq.mean() == pytest.approx(0.33)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        squared_errors([-0.1], [1])


def test_reliability_bins_are_the_non_empty_confidence_bins():
    reliability = _bench("bench_calibration").reliability
    conf = np.array([0.99, 0.2, 0.9, 0.25, 0.95, 1.0])
    correct = np.array([1, 0, 1, 1, 0, 0])
    assert reliability(conf, correct, n_bins=5) == [
        pytest.approx((0.225, 0.5, 2)),  # [0.2, 0.4): 0.2 wrong, 0.25 right
        pytest.approx((0.96, 0.5, 4)),  # [0.8, 1.0], 1.0 included: 0.9 and 0.99 right, 0.95 and 1.0 wrong
    ]


def test_coverage_at_accuracy():
    conf = [0.99, 0.98, 0.97, 0.96, 0.5, 0.4]
    correct = [1, 1, 1, 0, 1, 0]
    assert coverage_at_accuracy(conf, correct, target=1.0) == (0.5, 0.97)
    assert coverage_at_accuracy(conf, correct, target=0.75) == (5 / 6, 0.5)  # 4/5 right >= 0.75
    assert coverage_at_accuracy(conf, correct, target=0.5) == (1.0, 0.4)
    # Ties are kept or dropped together: the tied wrong strip rules the whole group out.
    assert coverage_at_accuracy([0.9, 0.9, 0.8], [1, 0, 1], target=1.0) == (0.0, math.inf)
    with pytest.raises(ValueError, match="target"):
        coverage_at_accuracy(conf, correct, target=99.5)


def test_coverage_interval_known_answers():
    # One digit per strip, 1,900 right strips ranked above 100 wrong ones: coverage at 99.5% keeps
    # the right ones and 9 wrong ones, ~ share right / 0.995, whose standard error is the binomial
    # sqrt(0.95 * 0.05 / 2000) / 0.995 = 0.0049; a 95% interval is about +-0.0096 around it.
    n = 2000
    conf = np.linspace(1.0, 0.5, n)
    correct = np.arange(n) < 1900
    index = np.arange(n)[:, None]
    point = coverage_at_accuracy(conf, correct)[0]
    assert point == pytest.approx(1909 / 2000)
    lo, hi = coverage_interval(conf, correct, index, n_boot=400)
    assert lo < point < hi and 0.015 < hi - lo < 0.025
    assert coverage_interval(conf, np.ones(n, bool), index, n_boot=50) == (1.0, 1.0)
    # The same strips but every wrong one made of one shared digit: resampling that digit moves
    # all 100 errors together, so the interval is far wider than when they are independent.
    shared = np.where(correct, np.arange(n), n)[:, None]
    lo_shared, hi_shared = coverage_interval(conf, correct, shared, n_boot=400)
    assert lo_shared < lo - 0.02 and hi_shared == 1.0  # the digit drawn twice, or not at all
    with pytest.raises(ValueError, match="digit_index"):
        coverage_interval(conf, correct, np.arange(n))
    with pytest.raises(ValueError, match="target"):
        coverage_interval(conf, correct, index, target=0)


def test_coverage_difference_is_paired_on_the_same_digits():
    n = 2000
    conf, correct, index = np.linspace(1.0, 0.5, n), np.arange(n) < 1900, np.arange(n)[:, None]
    same = coverage_difference((conf, correct), (conf, correct), index, n_boot=100)
    assert same == (0.0, 0.0, 0.0)  # one reader against itself: every draw agrees
    # Another reader that ranks 50 of the errors on top keeps nothing at 99.5%: all of the coverage lost
    worse = np.where(np.arange(n) >= 1950, 1.5, conf)
    diff, lo, hi = coverage_difference((conf, correct), (worse / 1.5, correct), index, n_boot=200)
    assert diff == pytest.approx(1909 / 2000) and 0.9 < lo <= diff <= hi <= 1.0
    with pytest.raises(ValueError, match="same strips"):
        coverage_difference((conf, correct), (conf[:10], correct[:10]), index)


def test_fit_temperature_recovers_a_known_temperature():
    # Labels drawn from softmax(z / 2): the NLL-optimal temperature of the logits z is about 2.
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(20000, 11, generator=gen) * 4
    y = torch.multinomial((z / 2).softmax(-1), 1, generator=gen).squeeze(1)

    def nll(t):
        return float(torch.nn.functional.cross_entropy(z / t, y))

    assert fit_temperature(nll) == pytest.approx(2.0, rel=0.05)
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature(nll, bounds=(2.0, 1.0))


def test_fit_codec_temperature_multihead():
    codec = MultiHeadCodec(3)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(4000, 3, 11, generator=gen) * 5
    slots = torch.multinomial((z / 0.5).softmax(-1).flatten(0, 1), 1, generator=gen).view(4000, 3)
    digits = torch.where(slots == codec.EMPTY, -1, slots)  # any slot pattern is a fine NLL target
    t = fit_codec_temperature(codec, z.flatten(1), digits, torch.full((4000,), 3))
    assert t == pytest.approx(0.5, rel=0.1)


# ---------------------------------------------------------------------- codecs
def _brute_force_ctc(probs: torch.Tensor, text: str) -> float:
    """P(text) summed over every frame path that collapses to it."""
    T, C = probs.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        out, prev = [], 0
        for k in path:
            if k and k != prev:
                out.append(str(k - 1))
            prev = k
        if "".join(out) == text:
            total += float(torch.prod(probs[torch.arange(T), torch.tensor(path)]))
    return total


def test_ctc_confidence_is_the_sequence_probability():
    codec = CTCCodec(2)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, 11, generator=gen)
    logits[:2, :, 0] += 8  # mostly blank: texts "" (length 0 handled)
    logits[2, :, 3] += 8  # one long run of digit 2: one digit, confident despite many frames
    logits[:, :, 4:] -= 30  # keep the brute force small: classes 0..3 only
    d = codec.decode(logits)
    assert d.texts[0] == "" and d.texts[2] == "2"
    probs = logits.softmax(-1)[:, :, :4]
    for i, text in enumerate(d.texts):
        assert float(d.confidence[i]) == pytest.approx(_brute_force_ctc(probs[i], text), rel=1e-4)
        assert len(d.digit_confidences[i]) == len(text)
    assert float(d.confidence[2]) > 0.95
    # Digit confidence: the best frame of that character's run.
    assert d.digit_confidences[2][0] == pytest.approx(float(logits[2].softmax(-1)[:, 3].max()), rel=1e-6)


def test_ctc_blank_frames_do_not_lower_confidence():
    # One digit whose edge frames are split between blank and the digit: every path reads "5", so
    # P("5") is ~1, while the old product of per-frame best probabilities gave about 0.5 * 0.5.
    logits = torch.full((1, 30, 11), -10.0)
    logits[0, :, 0] = 3.0
    logits[0, 10, 0], logits[0, 10, 6] = -10.0, 3.0
    logits[0, 9, 6] = logits[0, 11, 6] = 3.0  # blank and "5" equally likely
    d = CTCCodec(5).decode(logits)
    assert d.texts == ["5"]
    old = float(logits[0].softmax(-1).max(-1).values.prod())
    assert float(d.confidence[0]) > 0.99 and old < 0.3


def test_temperature_changes_confidence_never_text():
    gen = torch.Generator().manual_seed(2)
    ctc_logits, slot_logits = torch.randn(32, 12, 11, generator=gen) * 3, torch.randn(32, 55, generator=gen) * 3
    cases = ((CTCCodec(5), ctc_logits), (MultiHeadCodec(5), slot_logits), (MultiLabelCodec(5), slot_logits))
    for codec, logits in cases:
        base = codec.decode(logits)
        hot = Codec.from_dict({**codec.to_dict(), "temperature": 3.0})
        assert hot.temperature == 3.0 and hot.to_dict()["temperature"] == 3.0
        d = hot.decode(logits)
        assert d.texts == base.texts
        assert not torch.allclose(d.confidence, base.confidence)
        if isinstance(codec, CTCCodec):
            assert hot.decode(logits, beam_width=3).texts == codec.decode(logits, beam_width=3).texts


def test_slot_confidence_is_the_probability_of_the_decoded_pattern():
    # "12" decodes from 1, 2, EMPTY, 4: its pattern is 1, 2, EMPTY, EMPTY, so slot 4 counts as EMPTY.
    codec = MultiHeadCodec(4)
    logits = torch.full((1, 4, 11), 0.0)
    for slot, cls in enumerate([1, 2, codec.EMPTY, 4]):
        logits[0, slot, cls] = 4.0
    d = codec.decode(logits.flatten(1))
    p = logits.softmax(-1)[0]
    assert d.texts == ["12"] and d.digit_confidences[0] == pytest.approx([float(p[0, 1]), float(p[1, 2])])
    expected = float(p[0, 1] * p[1, 2] * p[2, codec.EMPTY] * p[3, codec.EMPTY])
    assert float(d.confidence[0]) == pytest.approx(expected, rel=1e-5)
    nll = codec.sequence_nll(logits.flatten(1), torch.tensor([[1, 2, -1, -1]]), torch.tensor([2]))
    assert float(torch.exp(-nll)) == pytest.approx(expected, rel=1e-5)


def test_codec_temperature_round_trip_and_errors():
    assert CTCCodec(5).to_dict() == {"name": "ctc", "max_len": 5}  # the default stays out: old files unchanged
    assert Codec.from_dict({"name": "ctc", "max_len": 5}).temperature == 1.0
    for bad in (0, -1.0, float("nan"), float("inf"), "hot", True):
        with pytest.raises(ValueError, match="temperature"):
            CTCCodec(5, bad)


# ---------------------------------------------------------------------- checkpoints
def test_write_temperature_changes_only_the_codec(tmp_path):
    import shutil

    from seqrec.checkpoint import CheckpointError

    path = tmp_path / "m.ckpt"
    shutil.copy(Path(__file__).resolve().parents[1] / "seqrec" / "pretrained" / "ctc.ckpt", path)
    before = torch.load(path, weights_only=True)
    write_temperature(path, 1.7)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["seqrec"]["codec"] == {**before["seqrec"]["codec"], "temperature": 1.7}
    assert {k: v for k, v in ckpt["seqrec"].items() if k != "codec"} == {
        k: v for k, v in before["seqrec"].items() if k != "codec"
    }
    assert all(torch.equal(ckpt["state_dict"][k], v) for k, v in before["state_dict"].items())
    assert [p.name for p in tmp_path.iterdir()] == ["m.ckpt"]  # no temporary file left behind
    with pytest.raises(ValueError, match="temperature"):
        write_temperature(path, -1)
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        write_temperature(tmp_path / "bad.ckpt", 1.5)


def test_calibrate_checkpoint_rewrites_only_the_temperature(tmp_path, capsys):
    import sys

    from seqrec.data.strips import make_strips
    from seqrec.evaluation import calibrate_checkpoint
    from seqrec.recognizer import Recognizer

    # the bundled ctc is a final fit on train + val: as one trained on train only, to fit on val
    bundled = Path(__file__).resolve().parents[1] / "seqrec" / "pretrained" / "ctc.ckpt"
    path = _with_data(bundled, tmp_path / "ctc.ckpt", train_on_val=False)
    before = torch.load(path, weights_only=True)
    strips = make_strips(32, seed=5, split="test", source="bundled", min_len=1, max_len=5)
    texts = Recognizer.from_checkpoint(path, optimize=False).predict(strips.images)
    report = calibrate_checkpoint(path, source="bundled", n=64, seed=1)
    t = report["temperature"]
    assert 0.05 < t < 20 and report["after"]["nll"] <= report["before"]["nll"] + 1e-6
    after = torch.load(path, weights_only=True)
    assert after["seqrec"]["codec"]["temperature"] == pytest.approx(t)

    def plain(codec):
        return {k: v for k, v in codec.items() if k != "temperature"}

    assert plain(after["seqrec"]["codec"]) == plain(before["seqrec"]["codec"])
    assert after["state_dict"].keys() == before["state_dict"].keys()
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    rec = Recognizer.from_checkpoint(path, optimize=False)
    assert rec.codec.temperature == pytest.approx(t) and rec.predict(strips.images) == texts
    with pytest.raises(ValueError, match="never on test"):
        calibrate_checkpoint(path, split="test")
    with pytest.raises(ValueError, match="positive number"):
        calibrate_checkpoint(path, n=0)
    # The command line: a missing file is a clear error with exit status 2, nothing written.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import calibrate
    finally:
        sys.path.pop(0)
    assert calibrate.main([str(tmp_path / "missing.ckpt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _with_data(src: Path, dst: Path, **data) -> Path:
    """A copy of checkpoint ``src`` whose recorded data config has ``data`` on top."""
    ckpt = torch.load(src, weights_only=True)
    config = dict(ckpt["seqrec"]["config"] or {})
    config["data"] = {**(config.get("data") or {}), **data}
    ckpt["seqrec"] = {**ckpt["seqrec"], "config": config}
    torch.save(ckpt, dst)
    return dst


def test_a_final_fit_on_val_is_calibrated_on_its_recipes_folds(tmp_path, capsys):
    import sys

    from seqrec.data.sources import load_digits
    from seqrec.evaluation import calibrate_checkpoint
    from seqrec.evaluation.intervals import fold_calibration_set

    bundled = Path(__file__).resolve().parents[1] / "seqrec" / "pretrained"
    final = _with_data(bundled / "ctc.ckpt", tmp_path / "final.ckpt", train_on_val=True)
    folds = [
        _with_data(bundled / "ctc.ckpt", tmp_path / f"fold{k}.ckpt", folds=3, fold=k, train_on_val=False)
        for k in range(3)
    ]
    # its own val digits are training data: refused, and the error says what to do instead
    with pytest.raises(ValueError, match="train_on_val.*fit-on"):
        calibrate_checkpoint(final, n=16)
    # each fold reads its own fold's val digits, never the final fit's test digits
    test_ids = load_digits("bundled", "test").ids
    _, strips = fold_calibration_set(folds[1], 64, 0, test_ids, "bundled")
    used = set(strips.digit_index[strips.digit_index >= 0].tolist())
    assert used <= set(load_digits("bundled", "val", folds=3, fold=1).ids.tolist())
    assert not used & set(test_ids.tolist())
    report = calibrate_checkpoint(final, n=16, seed=1, fit_on=folds)
    assert report["n"] == 48 and report["fit_on"] == [str(f) for f in folds]
    assert report["after"]["nll"] <= report["before"]["nll"] + 1e-6
    assert torch.load(final, weights_only=True)["seqrec"]["codec"]["temperature"] == pytest.approx(
        report["temperature"]
    )
    # a checkpoint that is not a fold, or a fold of another head, cannot stand in
    with pytest.raises(ValueError, match="not a cross-validation fold"):
        calibrate_checkpoint(final, n=16, fit_on=[final])
    other = _with_data(bundled / "multihead.ckpt", tmp_path / "mh.ckpt", folds=3, fold=0, train_on_val=False)
    with pytest.raises(ValueError, match="reads multihead .* same recipe"):
        calibrate_checkpoint(final, n=16, fit_on=[other], write=False)
    mnist = _with_data(folds[0], tmp_path / "mnist.ckpt", source="mnist")  # offline: must fail before loading it
    with pytest.raises(ValueError, match="digit source 'mnist'.*same recipe"):
        calibrate_checkpoint(final, n=16, fit_on=[mnist], write=False)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import calibrate
    finally:
        sys.path.pop(0)
    assert calibrate.main([str(final), "--n", "16", "--dry-run"]) == 2
    assert "fit-on" in capsys.readouterr().err
    assert calibrate.main([str(final), "--n", "8", "--dry-run", "--fit-on", *map(str, folds)]) == 0
    assert '"split": "val of the folds"' in capsys.readouterr().out


@pytest.mark.slow
def test_test_epoch_logs_digit_bootstrap_intervals(make_cfg, capsys):
    from seqrec.train import train

    metrics = train(make_cfg("model=multihead"))
    for key in ("exact_match", "digit_acc"):
        lo, hi = metrics[f"test/{key}_lo"], metrics[f"test/{key}_hi"]
        assert 0.0 <= lo <= metrics[f"test/{key}"] + 1e-6 and metrics[f"test/{key}"] - 1e-6 <= hi <= 1.0
    assert 0.0 <= metrics["test/ece"] <= 1.0
    assert "distinct test digits of 64 strips" in capsys.readouterr().out


def test_compare_evaluate_and_report_carry_intervals():
    from seqrec.compare import Run, evaluate, markdown
    from seqrec.data.strips import make_strips

    strips = make_strips(40, seed=3, split="test", source="bundled", min_len=1, max_len=5)

    class Reader:  # reads every strip right except the first digit of every 4th
        max_len = 5

        def predict(self, images, batch_size=256):
            return [("9" if t[0] != "9" else "8") + t[1:] if i % 4 == 0 else t for i, t in enumerate(strips.labels)]

    m = evaluate(Reader(), strips, n_boot=200)
    ids = strips.digit_index[strips.digit_index >= 0]
    assert m["exact_match"] == pytest.approx(0.75) and m["n_digits"] == len(np.unique(ids))
    assert m["exact_match_lo"] < 0.75 < m["exact_match_hi"] and m["digit_acc_lo"] < m["digit_acc"] < m["digit_acc_hi"]
    run = Run(
        path=None,
        head="ctc",
        name="ctc",
        metrics_from="test",
        metrics={"exact_match": 0.969, "exact_match_lo": 0.958, "exact_match_hi": 0.977, "digit_acc": 0.99},
    )
    table = markdown([run], "t", "src", {})
    assert "| ctc | 96.9% [95.8, 97.7] | 99.0% |" in table


def test_evaluate_pooled_reads_each_pair_with_its_model_and_resamples_all_digits():
    """Cross-validation folds: each model reads its own strips (disjoint digits, other widths), and
    the pooled metrics and intervals cover every strip and digit."""
    from seqrec.data.sources import load_digits
    from seqrec.data.strips import make_strips
    from seqrec.evaluation.measure import evaluate, evaluate_pooled

    a = make_strips(30, seed=1, pool=load_digits("bundled", "test", folds=3, fold=0), min_len=1, max_len=3)
    b = make_strips(50, seed=2, pool=load_digits("bundled", "test", folds=3, fold=1), min_len=5, max_len=5)
    assert not set(a.digit_index[a.digit_index >= 0]) & set(b.digit_index[b.digit_index >= 0])

    class Reader:
        max_len = 5

        def __init__(self, strips, wrong_every):
            self.strips, self.wrong_every = strips, wrong_every

        def predict(self, images, batch_size=256):
            assert len(images) == len(self.strips.images)  # its own strips only
            wrong = [bool(self.wrong_every) and i % self.wrong_every == 0 for i in range(len(images))]
            return [t + "0" if w else t for t, w in zip(self.strips.labels, wrong)]  # one digit too many

    m = evaluate_pooled([(Reader(a, 0), a), (Reader(b, 5), b)], n_boot=200)
    assert m["exact_match"] == pytest.approx((30 + 40) / 80)
    ids = np.concatenate([s.digit_index[s.digit_index >= 0] for s in (a, b)])
    assert m["n_digits"] == len(np.unique(ids))
    assert m["exact_match_lo"] < m["exact_match"] < m["exact_match_hi"]
    one = evaluate(Reader(b, 5), b, n_boot=200)
    assert one == evaluate_pooled([(Reader(b, 5), b)], n_boot=200) and one["exact_match"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="at least one"):
        evaluate_pooled([])


# ---------------------------------------------------------------------- bench scripts
def _bench(name: str):
    import importlib.util
    import sys

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(bench))
    return module


def test_bench_errors_are_clear(capsys, tmp_path):
    cv = _bench("bench_cv")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        cv.run_cv("nope")
    with pytest.raises(ValueError, match="folds must be an integer >= 2"):
        cv.run_cv("ctc", folds=1)
    assert _bench("bench_calibration").main(["--models", "no_such.ckpt"]) == 2
    assert "neither a pretrained model nor a checkpoint" in capsys.readouterr().err
    missing = tmp_path / "no_such_folder" / "r.png"
    assert _bench("bench_calibration").main(["--models", "ctc", "--plot", str(missing)]) == 2
    assert "folder" in capsys.readouterr().err and not missing.parent.exists()


@pytest.mark.slow
def test_bench_cv_tiny_end_to_end(tmp_path, capsys):
    cv, cv_folds = _bench("bench_cv"), _bench("cv_folds")
    args = ["--model", "ctc", "--folds", "2", "--tiny", "--n", "20", "--boot", "50", "--out", str(tmp_path)]
    assert cv.main([*args, "--only", "1"]) == 0  # one fold now (as runs side by side do): nothing pooled yet
    assert "folds [0] have no result yet" in capsys.readouterr().out and not (tmp_path / "cv.json").exists()
    assert cv.main([*args, "--only", "2"]) == 2 and "--only must name folds in 0..1" in capsys.readouterr().err
    assert cv.main(args) == 0  # trains fold 0, reuses fold 1, pools both
    printed = capsys.readouterr()
    assert "fold 1/2: reusing" in printed.err and "2-fold cross-validation of ctc (tiny smoke run" in printed.out
    assert f"folds trained on: {cv.machine('cpu')}" in printed.out  # where they trained, not only where read
    results = json.loads((tmp_path / "cv.json").read_text())
    ids = [set(f["test_ids"]) for f in results["fold_results"]]
    assert not ids[0] & ids[1] and len(ids[0] | ids[1]) == 5000  # disjoint folds, every digit tested once
    for suite in ("fixed", "variable"):
        m = results["pooled"][suite]
        assert m["exact_match_lo"] <= m["exact_match"] <= m["exact_match_hi"] and m["n_digits"] > 20
    assert "readings" not in results["fold_results"][0]  # per-strip readings stay in fold_k/fold.json
    assert results["pooled"]["eight"]["n_digits"] > 20  # ctc reads any width: 8 digits at 28x224 too
    saved = tmp_path / "fold_1" / "fold.json"
    fold = json.loads(saved.read_text())
    assert fold["settings"]["config_hash"] == cv.recipe_hash("ctc", 2, 1, None, True, [], ["pretrained_ctc"])
    eight = fold["readings"].pop("eight")
    saved.write_text(json.dumps(fold))  # as folds saved before the 8-digit suite existed
    assert cv.add_eight(fold, tmp_path)["readings"]["eight"] == eight  # read again from the checkpoint
    assert json.loads(saved.read_text())["readings"]["eight"] == eight
    assert cv.main([*args, "--tta"]) == 0  # reads the saved folds' checkpoints again, trains nothing
    printed = capsys.readouterr()
    assert "With test-time augmentation" in printed.out and "fold 0/2: reusing" in printed.err
    for m in json.loads((tmp_path / "cv.json").read_text())["tta"].values():
        assert m["gain_lo"] <= m["gain"] <= m["gain_hi"] and 0 <= m["tta"]["ece"] <= 1
        assert m["exact_match_lo"] <= m["exact_match"] <= m["exact_match_hi"]
        assert m["tta"]["exact_match"] == pytest.approx(m["exact_match"])  # the same readings, scored twice
        assert m["tta"]["coverage_lo"] <= m["tta"]["coverage"] <= m["tta"]["coverage_hi"]
    saved_fold0 = (tmp_path / "fold_0" / "fold.json").read_bytes()
    assert cv.main([*args, "--override", "trainer.max_epochs=2", "--no-train"]) == 2  # other settings: no fold
    assert "--no-train: fold 0 has no result" in capsys.readouterr().err
    assert (tmp_path / "fold_0" / "fold.json").read_bytes() == saved_fold0  # nothing trained or written
    assert cv.main([*args, "--calibration", "--tta", "--no-train"]) == 0  # a temperature per fold from its val digits
    printed = capsys.readouterr()
    assert "## Calibration" in printed.out and "fold 1/2: reusing" in printed.err
    assert printed.err.count("fold 0 read at T") == 1  # one reading of each fold serves both tables
    saved = json.loads((tmp_path / "cv.json").read_text())
    cal = saved["calibration"]
    assert sorted(cal["temperatures"]) == ["0", "1"] and all(t > 0 for t in cal["temperatures"].values())
    assert sorted(cal["suites"]) == sorted(saved["pooled"])
    for suite, m in cal["suites"].items():  # the same strips, read as the folds read them: T changes no text
        assert m["strips"] == 40 and 0 <= m["ece"] <= 1 and 0 <= m["coverage"] <= m["coverage_99"] <= 1
        assert m["coverage_lo"] <= m["coverage"] <= m["coverage_hi"]
        assert sorted(m["coverage_by_fold"]) == ["0", "1"]
        assert m["exact_match"] == pytest.approx(saved["pooled"][suite]["exact_match"])
        assert saved["tta"][suite]["plain"] == m  # the plain view of the TTA table is the same reading
    twin = tmp_path.with_name(tmp_path.name + "_twin")
    shutil.copytree(tmp_path, twin)  # the same folds under another folder (checkpoints found there)
    assert cv.main(["--out", str(tmp_path), "--ensemble-with", str(twin), "--boot", "50"]) == 0
    ens = json.loads((tmp_path / "ensemble.json").read_text())
    assert ens["folds"] == [0, 1] and ens["members"] == [tmp_path.name, twin.name]
    for suite, by_reader in ens["suites"].items():  # two equal members: the vote reads what each reads
        assert by_reader["ensemble"]["exact_match"] == pytest.approx(saved["pooled"][suite]["exact_match"])
        assert by_reader[twin.name]["gain"] == 0
        assert by_reader["ensemble"]["coverage"] == cal["suites"][suite]["coverage"]
    assert "| fixed | ensemble |" in capsys.readouterr().out
    assert cv.main(["--out", str(tmp_path), "--compare-to", str(twin), "--calibration", "--boot", "50"]) == 0
    assert "## Coverage at 99.5% accuracy" in capsys.readouterr().out
    cmp = cv_folds.compare_coverage(cv_folds.compare_cv(tmp_path, twin, n_boot=50), n_boot=50, log=lambda s: None)
    for suite, m in cmp["suites"].items():  # a fold against its copy: the same coverage, paired to 0
        assert m["coverage"]["new"] == m["coverage"]["base"]
        assert json.loads(json.dumps(m["coverage"]["new"])) == cal["suites"][suite]  # as --calibration reads it
        assert m["coverage_diff"] == m["coverage_diff_lo"] == m["coverage_diff_hi"] == 0
    assert cv.main(["--out", str(tmp_path), "--ensemble-with", str(tmp_path)]) == 2
    assert "at least 2 different cross-validation folders" in capsys.readouterr().err
    suite_out = tmp_path.with_name(tmp_path.name + "_suite")
    vote = f"vote={tmp_path}+{twin}"
    assert (
        _bench("bench_suite").main(
            ["--cv", f"one={tmp_path},{vote}", "--suites", "length", "--n", "6", "--out", str(suite_out)]
        )
        == 0
    )
    assert "| vote | " in capsys.readouterr().out
    rows = {(r["model"], r["value"]): r for r in json.loads((suite_out / "bench_suite.json").read_text())["results"]}
    for k in range(1, 6):  # the same folds voting with themselves read what one reads
        assert rows["vote", k]["head"] == "ensemble" and rows["vote", k]["n"] == 12
        assert rows["vote", k]["exact_match"] == rows["one", k]["exact_match"]
    fold = json.loads((tmp_path / "fold_0" / "fold.json").read_text())
    assert list(cv_folds.fold_strips(fold, (28, 140))["fixed"].labels) == fold["readings"]["fixed"]["labels"]
    fold["readings"]["fixed"]["labels"][0] += "1"
    with pytest.raises(ValueError, match="rebuilt fixed strips differ from the saved ones"):
        cv_folds.fold_strips(fold, (28, 140))


def test_bench_cv_calibration_pools_folds_and_keeps_each_folds_coverage():
    cv_folds = _bench("cv_folds")
    index = np.array([[0, 1], [2, -1]])
    by_fold = {0: (np.array([0.9, 0.8]), np.array([1.0, 0.0]), index), 1: (np.array([0.95]), np.array([1.0]), [[3, 4]])}
    m = cv_folds.calibration_summary(by_fold, n_boot=50)
    assert m["strips"] == 3 and m["exact_match"] == pytest.approx(2 / 3)
    assert m["coverage"] == pytest.approx(2 / 3) and m["threshold"] == 0.9  # 0.95 and 0.9 right, 0.8 wrong
    assert m["coverage_by_fold"] == {0: 0.5, 1: 1.0}
    assert m["coverage_lo"] <= m["coverage"] <= m["coverage_hi"]
    nothing = cv_folds.calibration_summary({0: (np.array([0.9]), np.array([0.0]), [[0]])}, n_boot=50)
    assert nothing["coverage"] == 0.0 and nothing["threshold"] is None  # JSON-safe: no Infinity


def test_bench_cv_ensemble_votes_by_summed_confidence_and_pairs_with_each_member():
    from seqrec.recognizer import Prediction

    cv_folds = _bench("cv_folds")
    labels, index = ["12", "34", "56"], np.array([[0, 1], [2, 3], [4, 5]])
    a = [Prediction("12", 0.9), Prediction("34", 0.6), Prediction("00", 0.7)]
    b = [Prediction("12", 0.8), Prediction("30", 0.5), Prediction("56", 0.8)]
    m = cv_folds.ensemble_summary({"a": a, "b": b}, labels, index, n_boot=50)
    assert list(m) == ["a", "b", "ensemble"]
    assert m["a"]["exact_match"] == m["b"]["exact_match"] == pytest.approx(2 / 3)
    assert m["ensemble"]["exact_match"] == 1.0  # 0.6 beats 0.5, 0.8 beats 0.7
    assert m["a"]["gain"] == m["b"]["gain"] == pytest.approx(1 / 3) and "gain" not in m["ensemble"]
    assert m["a"]["gain_lo"] <= m["a"]["gain"] <= m["a"]["gain_hi"]
    # confidences 0.85, 0.3, 0.4: a disagreement halves the winner's; every strip right keeps all
    assert m["ensemble"]["coverage"] == 1.0 and m["ensemble"]["threshold"] == pytest.approx(0.3)
    # a keeps 1 of 3 (0.9 right, then 0.7 wrong), b keeps 2 (0.8 and 0.8 right, then 0.5 wrong)
    assert m["a"]["coverage_gain"] == pytest.approx(2 / 3) and m["b"]["coverage_gain"] == pytest.approx(1 / 3)
    assert m["a"]["coverage_gain_lo"] <= m["a"]["coverage_gain"] <= m["a"]["coverage_gain_hi"]
    assert m["ensemble"]["ece"] == pytest.approx(np.mean([0.15, 0.7, 0.6]), abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 different"):
        cv_folds.pooled_ensemble([Path("x")])


def test_bench_cv_ensemble_refuses_folds_of_other_splits_before_reading(tmp_path):
    cv_folds = _bench("cv_folds")
    labels = {"fixed": ["12", "34"], "variable": ["1", "2"]}
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _write_fold(a, 0, labels, labels)
    _write_fold(b, 1, labels, labels)
    with pytest.raises(ValueError, match="no saved fold in common"):
        cv_folds.pooled_ensemble([a, b])
    _write_fold(c, 0, labels, labels, folds=3)  # fold 0 of a 3-fold split: other test digits
    with pytest.raises(ValueError, match="fold 0: the folders' folds have other splits or strips"):
        cv_folds.pooled_ensemble([a, c])  # raised before any checkpoint is read (there is none)


def _write_fold(out: Path, k: int, preds: dict, labels: dict, settings=None, folds: int = 2) -> None:
    run = out / f"fold_{k}"
    run.mkdir(parents=True)
    readings = {
        suite: {"preds": preds[suite], "labels": labels[suite], "index": [[i, -1] for i in range(len(labels[suite]))]}
        for suite in labels
    }
    fold = {"model": "ctc", "folds": folds, "fold": k, "n": 4, "tiny": False, "recipe": ["pretrained_ctc"]}
    fold.update(readings=readings, seconds=1.0, **({"settings": settings} if settings else {}))
    (run / "fold.json").write_text(json.dumps(fold))


def test_bench_cv_compares_saved_folds_paired_and_reuses_only_same_settings(tmp_path, capsys):
    cv = _bench("bench_cv")
    labels = {"fixed": ["12", "34", "56", "78"], "variable": ["1", "2", "3", "4"]}
    base, new = tmp_path / "base", tmp_path / "new"
    _write_fold(base, 0, {"fixed": ["12", "34", "00", "00"], "variable": ["1", "2", "3", "0"]}, labels)
    _write_fold(base, 1, {"fixed": ["12"] * 4, "variable": ["1"] * 4}, labels)
    _write_fold(new, 0, {"fixed": ["12", "34", "56", "00"], "variable": ["1", "2", "3", "0"]}, labels)
    cmp = cv.compare_cv(new, base, n_boot=50)
    assert cmp["folds"] == [0]  # only the folds both have: one fold can measure a change
    fixed, variable = cmp["suites"]["fixed"], cmp["suites"]["variable"]
    assert fixed["diff"] == pytest.approx(0.25) and fixed["base"]["exact_match"] == pytest.approx(0.5)
    assert fixed["diff_lo"] <= 0.25 <= fixed["diff_hi"] and variable["diff"] == 0 and fixed["strips"] == 4
    assert variable["verdict"] == "no difference shown"
    assert cv.main(["--out", str(new), "--compare-to", str(base), "--boot", "50"]) == 0
    report = capsys.readouterr().out
    assert "| fixed | 4 | 50.0%" in report and (new / "compare.md").is_file()
    # per-digit accuracies carry their digit intervals too (first slots: 1,3,0,0 and 1,3,5,0 of 1,3,5,7)
    assert re.search(r"\| 50\.00% \[[\d.]+, [\d.]+\] / 75\.00% \[[\d.]+, [\d.]+\] \|", report)
    assert cv.main(["--out", str(new), "--compare-to", str(tmp_path / "none")]) == 2
    assert "no saved fold in common" in capsys.readouterr().err
    other = tmp_path / "other"
    _write_fold(other, 0, {"fixed": ["12"] * 4, "variable": ["1"] * 4}, {**labels, "fixed": ["12"] * 4})
    with pytest.raises(ValueError, match="fixed strips differ"):
        cv.compare_cv(other, base)
    three = tmp_path / "three"
    _write_fold(three, 0, labels, labels, folds=3)  # fold 0 of another split: other test digits
    with pytest.raises(ValueError, match=r"fold 0: \(folds, n, tiny\) \(3, 4, False\) against \(2, 4, False\)"):
        cv.compare_cv(three, base)
    # a saved fold is reused only by a run with the same epochs and overrides
    stages, plain = ["pretrained_ctc"], cv.fold_settings(None, [])
    assert cv.saved_fold(base, "ctc", 2, 0, 4, False, stages, plain) is not None  # saved before settings existed
    tuned = cv.fold_settings(None, ["model.optimizer.lr=0.01"])
    assert cv.saved_fold(base, "ctc", 2, 0, 4, False, stages, tuned) is None
    assert cv.saved_fold(base, "ctc", 2, 0, 4, False, stages, cv.fold_settings(5, [])) is None
    _write_fold(other, 1, labels, labels, settings=tuned)
    assert cv.saved_fold(other, "ctc", 2, 1, 4, False, stages, tuned) is not None
    # once recorded, the composed config decides: an edited config file is not the same recipe
    hashed = tmp_path / "hashed"
    _write_fold(hashed, 0, labels, labels, settings=cv.fold_settings(None, [], "aaaa"))
    assert cv.saved_fold(hashed, "ctc", 2, 0, 4, False, stages, cv.fold_settings(None, [], "bbbb")) is None
    assert cv.saved_fold(hashed, "ctc", 2, 0, 4, False, stages, cv.fold_settings(None, ["x=1"], "aaaa")) is not None


def test_bench_cv_recipe_hash_sees_the_composed_config_not_the_words():
    cv = _bench("bench_cv")
    args = ("ctc", 3, 0, None, True)
    plain = cv.recipe_hash(*args, [], ["pretrained_ctc"])
    assert cv.recipe_hash(*args, ["callbacks=ema"], ["pretrained_ctc"]) == plain  # the recipe has EMA already
    assert cv.recipe_hash(*args, ["callbacks=default"], ["pretrained_ctc"]) != plain
    assert cv.recipe_hash("ctc", 3, 1, None, True, [], ["pretrained_ctc"]) != plain  # another fold
    assert cv.recipe_hash("ctc", 3, 0, 7, True, [], ["pretrained_ctc"]) != plain  # other epochs
    two = ["pretrained_multihead", "paper_finetune_multihead"]
    assert cv.recipe_hash("multihead", 3, 0, None, True, [], two) != cv.recipe_hash(
        "multihead", 3, 0, None, True, [], two[:1]
    )


@pytest.mark.slow
def test_bench_cv_runs_the_flat_heads_two_stage_recipe(tmp_path, capsys):
    cv = _bench("bench_cv")
    assert cv.recipe("multihead") == ["pretrained_multihead", "paper_finetune_multihead"]
    assert cv.recipe("multihead", stage1_only=True) == ["pretrained_multihead"]
    assert cv.recipe("ctc") == ["pretrained_ctc"]
    args = ["--model", "multihead", "--folds", "2", "--tiny", "--n", "12", "--boot", "20", "--out", str(tmp_path)]
    assert cv.main([*args, "--only", "0"]) == 0
    fold = json.loads((tmp_path / "fold_0" / "fold.json").read_text())
    assert fold["recipe"] == ["pretrained_multihead", "paper_finetune_multihead"]
    assert "/stage2/" in fold["checkpoint"] and any("init_from=" in o for o in fold["overrides"][1])
    capsys.readouterr()
    assert cv.main([*args, "--only", "0", "--stage1-only"]) == 0  # another recipe: not reused, trained again
    assert "reusing" not in capsys.readouterr().err

    # --stage1-from: the second stage alone, from this fold's stage-1 weights; then paired with them
    stage1 = cv.stage1_checkpoint(tmp_path, "multihead", 2, 0)
    assert stage1.parent == tmp_path / "fold_0" / "checkpoints"
    again = [*args[:-1], str(tmp_path / "s2"), "--only", "0", "--stage1-from", str(tmp_path)]
    assert cv.main(again) == 0
    fold = json.loads((tmp_path / "s2" / "fold_0" / "fold.json").read_text())
    assert fold["stage1_from"] == str(stage1) and fold["overrides"][0] == [f"stage1_from={stage1}"]
    assert not (tmp_path / "s2" / "fold_0" / "checkpoints").exists()  # stage 1 was not trained again
    assert "/s2/fold_0/stage2/" in fold["checkpoint"]
    capsys.readouterr()
    assert cv.main(again) == 0 and "reusing" in capsys.readouterr().err
    assert cv.main([*again[:-1], str(tmp_path / "s2")]) == 2  # --out itself
    assert "would be overwritten" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"fold 0 needs \('multihead', 'bundled', 3, 0"):
        cv.stage1_checkpoint(tmp_path, "multihead", 3, 0)  # another split: its test digits were trained on
    with pytest.raises(ValueError, match="fold 0 needs \\('multilabel'"):
        cv.stage1_checkpoint(tmp_path, "multilabel", 2, 0)
    with pytest.raises(FileNotFoundError, match="fold_1 has no stage-1 checkpoint"):
        cv.stage1_checkpoint(tmp_path, "multihead", 2, 1)
    assert cv.main([*again[:-4], "--only", "1", "--stage1-from", str(tmp_path)]) == 2  # before any training
    assert not (tmp_path / "s2" / "fold_1").exists()


@pytest.mark.parametrize(
    "extra, error",
    [
        (["--model", "ctc"], "one stage"),
        (["--model", "multihead", "--stage1-only"], "one stage"),
        (["--model", "multihead", "--epochs", "3"], "--epochs sets stage 1's"),
        (["--model", "multihead", "--stage1-from", "nowhere"], "is not a folder"),
    ],
)
def test_bench_cv_stage1_from_refuses_bad_settings_before_training(tmp_path, capsys, extra, error):
    cv = _bench("bench_cv")
    source = ["--stage1-from", str(tmp_path / "cv")] if "--stage1-from" not in extra else []
    (tmp_path / "cv").mkdir()
    assert cv.main([*extra, *source, "--folds", "2", "--tiny", "--out", str(tmp_path / "out")]) == 2
    assert error in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bench_cv_pretrains_the_backbone_in_the_first_stage_only(tmp_path):
    # stage 2 starts from stage 1's weights (init_from), which a backbone pretraining would replace
    cv, pre = _bench("bench_cv"), "backbone_pretrain={steps:5,batch_size:8}"
    first, _ = cv.compose_fold("multihead", 2, 0, tmp_path / "a", tiny=True, overrides=[pre])
    later, _ = cv.compose_fold(
        "multihead",
        2,
        0,
        tmp_path / "b",
        tiny=True,
        overrides=[pre],
        experiment="paper_finetune_multihead",
        init_from=tmp_path / "stage1.ckpt",
    )
    assert first.backbone_pretrain.steps == 2 and later.backbone_pretrain is None  # --tiny: 2 steps
    full, _ = cv.compose_fold("multihead", 2, 0, tmp_path / "c", overrides=[pre])
    assert full.backbone_pretrain.steps == 5
    assert cv.compose_fold("ctc", 2, 0, tmp_path / "d", tiny=True)[0].backbone_pretrain.steps == 2  # the recipe's 4,000


def test_bench_cv_finds_a_folds_checkpoint_after_the_folder_moved(tmp_path):
    cv_folds = _bench("cv_folds")
    old = tmp_path / "old" / "logs" / "cv" / "ctc" / "fold_1" / "stage2" / "checkpoints" / "epoch_003.ckpt"
    fold = {"fold": 1, "checkpoint": str(old)}
    moved = tmp_path / "new" / "fold_1" / "stage2" / "checkpoints" / "epoch_003.ckpt"
    with pytest.raises(FileNotFoundError, match="fold_1's checkpoint .* is not there, nor under"):
        cv_folds.fold_checkpoint(tmp_path / "new", fold)
    moved.parent.mkdir(parents=True)
    moved.write_bytes(b"weights")
    assert cv_folds.fold_checkpoint(tmp_path / "new", fold) == str(moved)  # the same file, under the new folder
    old.parent.mkdir(parents=True)
    old.write_bytes(b"weights")
    assert cv_folds.fold_checkpoint(tmp_path / "new", fold) == str(old)  # where it was saved, while it is there


@pytest.mark.slow
def test_bench_accuracy_and_calibration_tiny(capsys, tmp_path):
    assert _bench("bench_accuracy").main(["--n", "24", "--models", "multihead", "--boot", "50"]) == 0
    out = capsys.readouterr().out
    assert "| multihead | fixed |" in out and "| multihead | variable |" in out and "[" in out
    assert _bench("bench_calibration").main(["--n", "40", "--n-val", "40", "--models", "multihead"]) == 0
    out = capsys.readouterr().out
    assert "| multihead | fixed |" in out and "Brier after - before" in out
    assert "coverage @ 99.5% before [95% CI]" in out
    png = tmp_path / "reliability.png"
    assert _bench("bench_calibration").main(["--n", "40", "--models", "multihead", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"Reliability diagram: {png}" in capsys.readouterr().out
    assert _bench("bench_accuracy").main(["--n", "24", "--paired", "multihead,multihead", "--boot", "50"]) == 0
    out = capsys.readouterr().out  # a model against itself: exactly no difference
    assert "| fixed |" in out and "+0.0 [+0.0, +0.0] | no difference shown |" in out
    with pytest.raises(SystemExit):
        _bench("bench_accuracy").main(["--paired", "multihead"])


def test_speed_benches_refuse_a_missing_gpu(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name, argv, message in (
        ("bench_predict", ["--device", "cuda"], "--device cuda: torch sees no CUDA GPU here"),
        ("bench_train", ["--accelerator", "gpu"], "--accelerator gpu: torch sees no CUDA GPU here"),
        ("bench_train", ["--precision", "16-mixed"], "--precision 16-mixed: only with --accelerator gpu"),
    ):
        with pytest.raises(SystemExit):
            _bench(name).main(argv)
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_speed_benches_run_tiny(capsys):
    predict = ["--n", "32", "--batch", "16", "--repeats", "1", "--no-onnx", "--no-eager"]
    assert _bench("bench_predict").main(predict) == 0
    out = capsys.readouterr().out
    assert "| ctc | ctc | torch |" in out and "**1-megapixel photo**" in out and "--device" not in out
    # how close to the machine: the net's work per strip, the rate it reaches and the matrix-multiply roof
    row = next(line for line in out.splitlines() if line.startswith("| ctc | ctc | torch |"))
    assert re.search(r"\| \d+\.\d \| \d+ \(\d+%\) \|$", row), row
    assert re.search(r"Roof: a 1024x1024 fp32 matrix multiply runs at \d+ GFLOP/s .* ctc [\d,]+ strips/s", out)
    assert _bench("bench_train").main(["--steps", "2", "--warmup", "1", "--repeats", "1", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "| plain PyTorch loop, pre-generated strips |" in out and "| **ratio** (target >= 0.9) |" in out


def test_confidences_are_computed_only_when_read(monkeypatch):
    # predict() without return_confidence must not pay for P(text): the CTC loss runs on first access.
    codec = CTCCodec(5)
    calls = []
    nll = codec._nll
    monkeypatch.setattr(codec, "_nll", lambda *a: calls.append(1) or nll(*a))
    d = codec.decode(torch.randn(4, 12, 11))
    assert len(d.texts) == 4 and calls == []
    assert d.confidence.shape == (4,) and len(d.digit_confidences) == 4 and calls == [1]
    d.confidence  # noqa: B018 - read again: must not compute again
    assert calls == [1]  # computed once


def test_lazy_confidences_use_the_temperature_at_decode_time():
    logits = torch.randn(6, 12, 11, generator=torch.Generator().manual_seed(4)) * 3
    for codec, x in ((CTCCodec(5), logits), (MultiHeadCodec(5), logits.flatten(1)[:, :55])):
        cold = codec.decode(x)
        codec.temperature = 3.0
        hot = codec.decode(x)
        assert not torch.allclose(cold.confidence, hot.confidence)
        codec.temperature = 1.0
        assert torch.allclose(codec.decode(x).confidence, cold.confidence)


# ---------------------------------------------------------------------- sequence metrics on int digits
def test_sequence_metrics_on_int_digits():
    """Exact match, per-digit accuracy, CER, per-length accuracy and per-class P/R/F1 (torchmetrics) from
    padded int digits; a prediction longer than max_len is wrong even where its first digits are right."""
    from seqrec.metrics import SequenceMetrics, texts_to_digits

    targets, preds = ["12", "345", "6"], ["12", "395", "6000"]
    m = SequenceMetrics(3)
    m.update(*texts_to_digits(preds), *texts_to_digits(targets))
    out = {k: float(v) for k, v in m.compute().items()}
    assert out["exact_match"] == pytest.approx(1 / 3) and out["digit_acc"] == pytest.approx(5 / 6)
    assert out["cer"] == pytest.approx((0 + 1 + 3) / 6)  # one substitution, three insertions
    assert out["acc_len1"] == 0 and out["acc_len2"] == 1 and out["acc_len3"] == 0
    # digit 4 is read as 9 once; 0 is predicted twice where no digit is (the MISSING class)
    assert out["recall_4"] == 0 and out["precision_9"] == 0 and out["precision_0"] == 0
    assert out["precision_1"] == out["recall_1"] == out["f1_1"] == 1
    assert float(m.confusion[4, 9]) == 1 and float(m.confusion[10, 0]) == 2
    with pytest.raises(ValueError, match="2 predictions for 3 targets"):
        m.update(*texts_to_digits(preds[:2]), *texts_to_digits(targets))
    m.reset()
    assert float(m.compute()["f1_1"]) == 0 and float(m.total) == 0


def test_decoded_digits_stay_ints_and_texts_follow():
    logits = torch.full((2, 3, 11), -5.0)
    logits[0, 0, 7] = logits[0, 1, 2] = logits[0, 2, 10] = 5.0  # "72"
    logits[1, :, 10] = 5.0  # nothing
    d = MultiHeadCodec(3).decode(logits.flatten(1))
    assert d.digits.dtype == torch.long and d.digits.tolist() == [[7, 2, -1], [-1, -1, -1]]
    assert d.lengths.tolist() == [2, 0] and d.texts == ["72", ""]


def test_paired_difference_is_signed_and_tighter_than_unpaired():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 300, size=(1000, 3))  # strips reuse 300 digits
    old = rng.random(1000) < 0.9
    new = old | (rng.random(1000) < 0.5)  # new fixes about half the wrong strips, breaks none
    diff, lo, hi = paired_difference(new, old, index, n_boot=500, seed=1)
    assert diff == pytest.approx(new.mean() - old.mean()) and 0 < lo <= diff <= hi
    back = paired_difference(old, new, index, n_boot=500, seed=1)
    assert back[0] == pytest.approx(-diff) and back[2] < 0  # not clipped at 0
    widths = [b - a for a, b in (digit_bootstrap(x, index, n_boot=500, seed=1) for x in (new, old))]
    assert hi - lo < math.hypot(*widths)  # pairing removes the noise both share (unpaired: widths add)
    with pytest.raises(ValueError, match=r"paired outcomes must have the same shape, got \(1000,\) and \(999,\)"):
        paired_difference(new, old[:-1], index)


def test_bench_digit_limit_pools_every_digit_once_and_reuses_only_same_settings(tmp_path, capsys, monkeypatch):
    limit = _bench("bench_digit_limit")
    args = ["--folds", "2", "--steps", "2", "--batch-size", "8", "--n-boot", "50", "--out", str(tmp_path)]
    result = limit.main([*args, "--only", "1"])  # one fold now, as side-by-side runs do: nothing pooled
    assert [r["fold"] for r in result["folds"]] == [1] and not (tmp_path / "limit.md").exists()
    assert result["folds"][0]["train_digits"] == 2250  # 90% of the other fold; val unused
    with_val = {**result["folds"][0]["settings"], "with_val": True}
    assert limit.run_fold(0, with_val, log=lambda _: None)["train_digits"] == 2500  # a final fit's train + val
    result = limit.main(args)
    ids = np.concatenate([r["ids"] for r in result["folds"]])
    assert sorted(ids) == list(range(5000))  # every bundled digit is test data exactly once
    total = result["pooled"]
    assert total["digits"] == 5000 and total["lo"] <= total["accuracy"] <= total["hi"]
    assert "| **pooled** | | 5,000 |" in (tmp_path / "limit.md").read_text() and "reusing" in capsys.readouterr().out

    def no_training(*_, **__):
        raise AssertionError("a saved fold with the same settings must be reused")

    flat = limit.main([*args, "--flat-head", "--only", "0", "--out", str(tmp_path / "flat")])["folds"][0]
    # a classic CNN head: other settings, so its own result
    assert flat["settings"]["head"] == "flat" and flat["settings_hash"] != result["folds"][0]["settings_hash"]
    monkeypatch.setattr(limit, "run_fold", no_training)
    assert limit.main(args)["pooled"] == total
    for other in (["--with-val"], ["--steps", "3"], ["--seed", "1"]):  # other settings: trained again
        with pytest.raises(AssertionError, match="must be reused"):
            limit.main([*args, *other])


def test_bench_digit_limit_errors_come_before_training(tmp_path, capsys):
    limit = _bench("bench_digit_limit")
    with pytest.raises(ValueError, match="fold must be in \\[0, 3\\) for folds=3, got fold=3"):
        limit.main(["--folds", "3", "--only", "3", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="folds must be >= 2"):
        limit.main(["--folds", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        limit.main(["--steps", "0", "--out", str(tmp_path)])
    assert "--steps must be a positive integer, got 0" in capsys.readouterr().err
    for flag in ("--against", "--compare-to"):
        with pytest.raises(SystemExit):
            limit.main([flag, str(tmp_path / "nowhere"), "--out", str(tmp_path)])
        assert f"{flag} {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err
    two = [{"ids": [1, 2], "preds": [0, 1], "labels": [0, 1]}, {"ids": [2, 3], "preds": [1], "labels": [1]}]
    with pytest.raises(ValueError, match="the folds' test digits overlap"):
        limit.pooled(two)
    assert not list(tmp_path.iterdir())


def test_bench_digit_limit_finds_the_digits_both_readers_miss(tmp_path):
    limit = _bench("bench_digit_limit")
    results = [  # the classifier misreads digit 3 (as 8) and digit 4
        {"fold": 0, "ids": [0, 1, 2], "labels": [0, 1, 2], "preds": [0, 1, 2]},
        {"fold": 1, "ids": [3, 4, 5], "labels": [3, 4, 5], "preds": [8, 9, 5]},
    ]
    strips = {  # labels, readings, digit ids: digit 3 misread in both of its strips, digits 1 and 2 in one of two
        0: (["012", "21"], ["012", "12"], [[0, 1, 2], [2, 1, -1]]),
        1: (["354", "34"], ["854", "84"], [[3, 5, 4], [3, 4, -1]]),
    }
    cv_folds = [
        {"fold": k, "model": "ctc", "readings": {"fixed": {"preds": p, "labels": t, "index": i}}}
        for k, (t, p, i) in strips.items()
    ]
    cmp = limit.against_cv(results, cv_folds)
    assert cmp["slots"] == 10 and cmp["per_digit"] == pytest.approx(1 - 4 / 10)
    assert cmp["hard"] == [(3, 2, 2), (1, 1, 2), (2, 1, 2)]  # by share misread, then by id
    assert cmp["share_on_classifier_wrong"] == pytest.approx(2 / 4) and cmp["classifier_wrong"] == {3: 8, 4: 9}
    limit.plot_hard(cmp, tmp_path / "hard.png")
    assert (tmp_path / "hard.png").read_bytes()[:4] == b"\x89PNG"
    lines = " ".join(limit.against_lines(cmp, "hard.png"))
    assert "3 digits are misread in at least half of their strips; the classifier misreads 1 of them" in lines
    assert "Its errors on the hard digits are 40.00% of all digit slots" in lines  # 2 + 1 + 1 of 10


def test_bench_digit_limit_checks_the_strip_models_folds_before_training(tmp_path):
    from seqrec.data.sources import load_digits

    limit = _bench("bench_digit_limit")
    with pytest.raises(FileNotFoundError, match="no saved folds there"):
        limit.against_folds(tmp_path, 2, [0, 1])
    for k in (0, 1):
        (tmp_path / f"fold_{k}").mkdir()
        ids = load_digits("bundled", "test", folds=2, fold=k).ids.tolist()
        (tmp_path / f"fold_{k}" / "fold.json").write_text(json.dumps({"fold": k, "test_ids": ids[::-1]}))
    assert [f["fold"] for f in limit.against_folds(tmp_path, 2, [0, 1])] == [0, 1]
    with pytest.raises(ValueError, match="its fold 0 tests other digits than this 3-fold's"):
        limit.against_folds(tmp_path, 3, [0, 1])
    with pytest.raises(ValueError, match=r"it has folds \[0, 1\], not folds \[2\] of this cross-validation"):
        limit.against_folds(tmp_path, 4, [1, 2])
    with pytest.raises(ValueError, match="not folds \\[2\\]"):  # from the command, before any training
        limit.main(["--folds", "3", "--against", str(tmp_path), "--out", str(tmp_path / "limit")])
    assert not (tmp_path / "limit").exists()


def test_bench_digit_limit_compares_two_limits_paired_by_digit(tmp_path):
    limit = _bench("bench_digit_limit")
    ids = list(range(200))
    base = [{"fold": 0, "ids": ids, "labels": [0] * 200, "preds": [0] * 190 + [1] * 10}]  # 95%
    new = [{"fold": 0, "ids": ids[::-1], "labels": [0] * 200, "preds": [1] * 2 + [0] * 198}]  # 99%, other order
    d = limit.compare_to(new, base, n_boot=200)
    assert d["digits"] == 200 and d["diff"] == pytest.approx(0.04) and d["lo"] <= 0.04 <= d["hi"] and d["lo"] > 0
    with pytest.raises(ValueError, match="read no digit in common"):
        limit.compare_to(new, [{**base[0], "ids": [i + 1000 for i in ids]}])
    with pytest.raises(FileNotFoundError, match="no saved folds there"):
        limit.saved_results(tmp_path)
    (tmp_path / "fold_1.json").write_text(json.dumps(base[0]))
    (tmp_path / "fold_notes.json").write_text("{}")  # not a fold: ignored
    assert limit.saved_results(tmp_path) == base

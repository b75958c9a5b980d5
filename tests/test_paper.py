"""Realistic inputs: pen-drawn numbers, photographed / scanned paper, the training paper augmentation
and the photo benchmark."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from seqrec.data import make_strips
from seqrec.data.augment import PaperAugment
from seqrec.data.datamodule import StripDataModule
from seqrec.data.paper import canvas, ink_map, photograph, scan
from seqrec.data.pen import DIGITS, _spline, ink_height, pen_number, pen_numbers

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_photos", ROOT / "benchmarks" / "bench_photos.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ pen numbers
def test_pen_numbers_are_deterministic_with_valid_labels():
    a, b, c = pen_numbers(12, seed=3), pen_numbers(12, seed=3), pen_numbers(12, seed=4)
    assert all(np.array_equal(x.image, y.image) and x.label == y.label for x, y in zip(a, b))
    assert any(x.label != z.label or x.image.shape != z.image.shape for x, z in zip(a, c))
    for image, label in a:
        assert image.dtype == np.uint8 and image.ndim == 2
        assert label.isdigit() and 1 <= len(label) <= 5
        assert image.min() < 60 and np.median(image) == 255  # dark ink on a white canvas
        assert (image[0] == 255).all() and (image[-1] == 255).all()  # a margin all around the ink


def test_pen_number_text_and_ink_height():
    rng = np.random.default_rng(0)
    for h in (40, 100, 160):
        image, label = pen_number(rng, "0123456789", height=(h, h))
        assert label == "0123456789"
        assert abs(ink_height(image) - h) <= 0.05 * h + 2
        assert image.shape[1] > 5 * h  # ten digits side by side, not stacked


def test_every_digit_variant_fills_the_digit_box():
    for digit, variants in DIGITS.items():
        for v, strokes in enumerate(variants):
            pts = np.vstack([_spline(piece) for stroke in strokes for piece in stroke])
            assert np.ptp(pts[:, 1]) >= 0.9, (digit, v)  # full height
            assert np.ptp(pts[:, 0]) >= 0.3 or digit == "1", (digit, v)  # and a digit's width, but a "1"
            assert pts[:, 0].min() >= -0.05 and pts[:, 0].max() <= 0.65, (digit, v)
            assert pts[:, 1].min() >= -0.05 and pts[:, 1].max() <= 1.05, (digit, v)
        image, _ = pen_number(np.random.default_rng(0), digit, height=(60, 60))
        assert ink_height(image) >= 55, digit


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"digits": "12a"}, "digits must be"),
        ({"digits": ""}, "digits must be"),
        ({"digits": "١٢"}, "digits must be"),  # Arabic-Indic digits: isdigit() but not 0-9
        ({"height": (50, 40)}, "height must satisfy"),
        ({"height": "tall"}, "height must be two numbers"),
        ({"length": (0, 3)}, "length must satisfy"),
        ({"length": (1.5, 3)}, "length must be two integers"),
    ],
)
def test_pen_number_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pen_number(np.random.default_rng(0), **kwargs)


def test_pen_numbers_bad_count():
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            pen_numbers(n)


# ------------------------------------------------------------------------------ paper renderers
@pytest.fixture(scope="module")
def pen_canvas():
    return pen_number(np.random.default_rng(7), "40718", height=(80, 80)).image


def _regions(ink: np.ndarray):
    """Pure paper (far from any ink) and stroke cores, as boolean masks."""
    k = np.ones((9, 9), np.uint8)
    paper = cv2.dilate((ink > 0.02).astype(np.uint8), k) == 0
    core = cv2.erode((ink > 0.98).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return paper, core


def test_photograph_levels_in_the_stated_ranges(pen_canvas):
    ink = ink_map(pen_canvas)
    paper, core = _regions(ink)
    assert paper.any() and core.any()
    for seed in range(8):
        photo = photograph(pen_canvas, np.random.default_rng(seed), gradient=0, shadow=0)
        assert photo.shape == pen_canvas.shape and photo.dtype == np.uint8
        assert 165 <= np.median(photo[paper]) <= 255
        assert np.median(photo[core]) <= 100  # ink 0-90, softened a little by blur and JPEG
        assert np.median(photo[paper]) - np.median(photo[core]) >= 70


def test_photograph_noise_gradient_and_strength(pen_canvas):
    ink = ink_map(pen_canvas)
    paper, _ = _regions(ink)
    flat = photograph(pen_canvas, np.random.default_rng(0), strength=0.0)
    assert np.std(flat[paper].astype(float)) < 2  # strength 0: flat paper (JPEG only)
    noisy = [
        np.std(
            photograph(
                pen_canvas, np.random.default_rng(s), gradient=0, shadow=0, texture=0, blur=0, jpeg_quality=(100, 100)
            )[paper].astype(float)
        )
        for s in range(10)
    ]
    assert max(noisy) <= 12 * 1.2 + 1  # sigma up to 12
    assert max(noisy) > 3  # and there is noise
    w = pen_canvas.shape[1]
    ramps = []
    for s in range(10):
        img = photograph(pen_canvas, np.random.default_rng(s), noise=0, texture=0, shadow=0).astype(float)
        left, right = img[:, : w // 10][paper[:, : w // 10]], img[:, -w // 10 :][paper[:, -w // 10 :]]
        ramps.append(np.median(right) - np.median(left))
    assert max(np.abs(ramps)) <= 60 + 2  # -g .. +g with |g| <= 30
    assert max(np.abs(ramps)) > 10


def test_photograph_is_deterministic_per_rng(pen_canvas):
    a = photograph(pen_canvas, np.random.default_rng(5))
    b = photograph(pen_canvas, np.random.default_rng(5))
    c = photograph(pen_canvas, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_float_ink_map_and_canvas_round_trip(pen_canvas):
    assert np.array_equal(canvas(pen_canvas), pen_canvas)
    strip = make_strips(1, seed=0, source="bundled").images[0]
    drawn = canvas(strip.astype(np.float32) / 255)  # a white-on-black strip as an ink map
    assert np.array_equal(drawn, 255 - strip)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4, 3), np.uint8), "one 2-D grey image"),
        (np.zeros((0, 5), np.uint8), "one 2-D grey image"),
        (np.full((4, 4), 2.0, np.float32), r"in \[0, 1\]"),
        (np.full((4, 4), np.nan, np.float32), r"in \[0, 1\]"),
        (np.zeros((4, 4), np.int16), "float ink map"),
    ],
)
def test_bad_ink_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        photograph(bad, np.random.default_rng(0))


def test_photograph_bad_options(pen_canvas):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="strength must be in"):
        photograph(pen_canvas, rng, strength=2)
    with pytest.raises(ValueError, match="paper must satisfy"):
        photograph(pen_canvas, rng, paper=(200, 100))
    with pytest.raises(ValueError, match="jpeg_quality must satisfy"):
        photograph(pen_canvas, rng, jpeg_quality=(0, 101))


def test_scan_features(pen_canvas):
    h, w = pen_canvas.shape
    ruled = scan(pen_canvas, np.random.default_rng(1), features=("ruled",)).astype(float)
    assert ruled.shape[0] > h and ruled.shape[1] > w  # room for the lines and the edge
    paper = np.median(ruled)
    assert ((ruled < paper - 15).mean(axis=1) > 0.9).any()  # a line across the whole sheet
    margin = scan(pen_canvas, np.random.default_rng(1), features=("margin",)).astype(float)
    assert ((margin < np.median(margin) - 15).mean(axis=0) > 0.9).any()  # a line down the whole sheet
    edge = scan(pen_canvas, np.random.default_rng(1), features=("edge",))
    frame = np.concatenate([edge[0], edge[-1], edge[:, 0], edge[:, -1]])
    assert (frame < 100).mean() > 0.1  # the dark lid beyond one edge of the paper
    with pytest.raises(ValueError, match="scan features must be"):
        scan(pen_canvas, np.random.default_rng(1), features=("stain",))
    with pytest.raises(ValueError, match="scan features must be"):
        scan(pen_canvas, np.random.default_rng(1), features=())


# ------------------------------------------------------------------------------ paper augmentation
@pytest.fixture(scope="module")
def strips():
    return make_strips(48, seed=1, source="bundled", min_len=1, max_len=5, gap=(-4, 6))


def test_paper_augment_deterministic_shape_dtype(strips):
    images = strips.images
    before = images.copy()
    aug = PaperAugment(3.0)
    a, b = aug(images, seed=[0, 5, 2]), PaperAugment(3.0)(images, seed=[0, 5, 2])
    c = aug(images, seed=[0, 6, 2])
    assert np.array_equal(images, before)  # the input is not modified
    assert a.shape == images.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    changed = np.mean([not np.array_equal(x, y) for x, y in zip(a, images)])
    assert 0.15 <= changed <= 0.75  # p = 0.45 at strength 3


def test_paper_augment_bad_strength_and_shape(strips):
    for s in (0, -1, 3.5):
        with pytest.raises(ValueError, match="paper_augment strength must be in"):
            PaperAugment(s)
    with pytest.raises(ValueError, match="paper augment expects strips of 28x140"):
        PaperAugment(1.0)(np.zeros((2, 28, 100), np.uint8), seed=0)


def _ink_layout(strip: np.ndarray) -> np.ndarray:
    """The ink mask cropped to its box and resized to a common size: where the digits are."""
    ys, xs = np.nonzero(strip > 76)
    crop = strip[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    return cv2.resize(crop, (60, 20), interpolation=cv2.INTER_AREA) > 50


def test_paper_augmented_strip_keeps_its_ink_where_the_digits_were(strips):
    aug, rng = PaperAugment(1.0), np.random.default_rng(0)
    ious = []
    for strip in strips.images[:24]:
        out = aug.one(strip, rng)
        if out is None:
            continue
        assert out.shape == strip.shape and out.dtype == np.uint8
        a, b = _ink_layout(strip), _ink_layout(out)
        ious.append((a & b).sum() / max((a | b).sum(), 1))
    assert len(ious) >= 20  # the pipeline finds the ink in (nearly) every photo
    assert np.median(ious) > 0.5 and min(ious) > 0.2


def test_datamodule_paper_augment_only_touches_training():
    kw = dict(source="bundled", batch_size=32, n_val=32, n_test=32, min_len=1, gap=(-4, 6))
    off, on = StripDataModule(paper_augment=0.0, **kw), StripDataModule(paper_augment=3.0, **kw)
    assert off.train_dataloader().dataset.paper is None  # strength 0: off
    on_train = on.train_dataloader().dataset
    assert isinstance(on_train.paper, PaperAugment)
    a, b = off.train_dataloader().dataset[3]["image"], on_train[3]["image"]
    assert a.shape == b.shape and a.dtype == b.dtype
    assert not np.array_equal(a.numpy(), b.numpy())  # training strips are augmented ...
    assert np.array_equal(on_train[3]["image"].numpy(), b.numpy())  # ... the same way for the same key
    off.setup(), on.setup()
    for split in ("val_set", "test_set"):  # ... and validation / test strips never are
        assert np.array_equal(getattr(off, split).batch["image"].numpy(), getattr(on, split).batch["image"].numpy())
    for bad in (-0.5, 4):
        with pytest.raises(ValueError, match="paper_augment strength must be in"):
            StripDataModule(paper_augment=bad, **kw)


# ------------------------------------------------------------------------------ the photo benchmark
def test_bench_helpers():
    bench = _bench()
    lo, hi = bench.wilson(0, 10)
    assert lo == 0 and 0.2 < hi < 0.35
    lo, hi = bench.wilson(5, 10)
    assert abs((lo + hi) / 2 - 0.5) < 1e-9 and lo > 0.2
    a, b = bench.build_case("mnist", 6, seed=1), bench.build_case("mnist", 6, seed=1)
    assert a.labels == b.labels and all(np.array_equal(x, y) for x, y in zip(a.inks, b.inks))
    for ink, label, ids in zip(a.inks, a.labels, a.digit_index):
        assert len(ids) == 5 and sum(i >= 0 for i in ids) == len(label)
        assert 30 <= ink_height((255 * (1 - ink)).astype(np.uint8)) <= 170
    images = bench.render(a, "paper", seed=1)
    assert [im.shape for im in images] == [ink.shape for ink in a.inks] and images[0].dtype == np.uint8


def test_bench_rejects_bad_options():
    bench = _bench()
    for argv in (["--heads", "cnn"], ["--heads", "cnn+tta"], ["--heads", "ctc+ttx"], ["--n", "0"], ["--threads", "0"]):
        with pytest.raises(SystemExit):
            bench.main(argv)


def test_bench_photos_end_to_end(capsys):
    _bench().main(["--n", "4", "--seed", "3"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| mnist") or line.startswith("| pen")]
    assert len(rows) == 2 * 3 * 3  # sources x conditions x heads
    assert all("| 4 |" in r for r in rows)
    assert out.count("target") >= 9  # one verdict per target
    # each later head against the first, on the same numbers: one line per source and condition
    versus = [line for line in out.splitlines() if " - ctc " in line and "paired:" in line]
    assert len(versus) == 2 * 2 * 3 and "Each head against ctc" in out


def test_bench_photos_counts_the_rotated_warning_upright_and_turned(capsys, monkeypatch):
    from seqrec import Recognizer

    monkeypatch.setattr(Recognizer, "predict", lambda *a, **k: pytest.fail("--turned reads nothing"))
    _bench().main(["--turned", "--n", "6", "--seed", "3"])
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith(("| mnist", "| pen"))]
    assert len(rows) == 2 * 3  # sources x conditions
    for row in rows:
        assert row[2] == "0/6"  # upright numbers never warn
        counts = [tuple(map(int, cell.strip(" |").split("/"))) for cell in row[3:]]
        assert sum(total for _, total in counts) == 6 and all(0 <= warned <= total for warned, total in counts)
        assert counts[0][0] == 0  # one digit turned cannot be told from one upright


def test_bench_photos_reads_a_checkpoint_path(capsys):
    from seqrec.spec import pretrained_path

    _bench().main(["--n", "2", "--seed", "3", "--heads", str(pretrained_path("multilabel"))])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| pen")]
    assert len(rows) == 3 and all("multilabel.ckpt" in r for r in rows)


def test_bench_photos_reads_with_test_time_augmentation_paired(capsys, monkeypatch):
    from seqrec import Recognizer

    calls = []
    real = Recognizer.predict

    def spy(self, images, **kwargs):
        calls.append(kwargs.get("tta", False))
        return real(self, images, **kwargs)

    monkeypatch.setattr(Recognizer, "predict", spy)
    _bench().main(["--n", "2", "--seed", "3", "--heads", "ctc,ctc+tta"])
    out = capsys.readouterr().out
    assert calls == [False] * 6 + [True] * 6  # sources x conditions, plain then with tta
    assert len([line for line in out.splitlines() if line.startswith("| pen") and "| ctc+tta |" in line]) == 3
    assert "Each head against ctc" in out and "ctc+tta" in out


def test_against_first_pairs_each_head_with_the_first():
    bench = _bench()
    pen = bench.Case(source="pen", labels=["1"] * 400, inks=[], digit_index=None)
    old, new = np.r_[np.ones(200), np.zeros(200)], np.ones(400)
    rows = [
        dict(source="pen", condition="canvas", head=h, exact=float(v.mean()), outcomes=v, case=pen)
        for h, v in (("ctc", old), ("cand.ckpt", new))
    ]
    (line,) = bench.against_first(rows)
    assert line.startswith("pen/canvas: cand.ckpt 100.0% - ctc 50.0% = +50.0 points") and line.endswith("higher")
    rows[1]["outcomes"] = old
    assert bench.against_first(rows)[0].endswith("no difference shown")


def test_paired_gap_is_signed_and_verdicts_need_the_whole_interval():
    bench = _bench()
    pen = bench.Case(source="pen", labels=["1"] * 400, inks=[], digit_index=None)
    canvas, paper = np.ones(400), np.r_[np.ones(200), np.zeros(200)]
    gap, lo, hi = bench.paired_gap(pen, canvas, paper, seed=0)
    assert gap == pytest.approx(0.5) and lo < 0.5 < hi and lo > 0.4
    gap, lo, hi = bench.paired_gap(pen, paper, canvas, seed=0)  # paper better than canvas: negative
    assert gap == pytest.approx(-0.5) and lo < -0.5 < hi < -0.4
    rows = [
        dict(source="pen", condition=c, head="ctc", exact=float(v.mean()), lo=0.96, hi=0.99, outcomes=v, case=pen)
        for c, v in (("canvas", np.ones(400)), ("paper", np.r_[np.ones(392), np.zeros(8)]))
    ]
    lines = bench.verdicts(rows)
    assert any("paper" in line and line.endswith("unclear") for line in lines)  # 2 points, interval past 3
    assert any(line.startswith("pen/ctc: canvas") and line.endswith("met") for line in lines)
    rows[1]["outcomes"] = np.ones(400)
    assert any("paper" in line and line.endswith(": met") for line in bench.verdicts(rows))

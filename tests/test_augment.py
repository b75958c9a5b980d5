"""Augmentation: shape/dtype kept, seeded, strength 0 is the identity; per-digit warps."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec.data.augment import DigitWarp, apply_augment, default_augment
from seqrec.data.sources import load_digits
from seqrec.data.strips import StripComposer, StripConfig, make_strips


@pytest.fixture(scope="module")
def images():
    return make_strips(64, seed=0, source="bundled", min_len=1, max_len=5, gap=(-4, 6)).images


def test_shape_and_dtype_unchanged(images):
    out = apply_augment(default_augment(1.0), images, seed=[0, 1])
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)  # something was augmented ...
    assert np.mean([np.array_equal(a, b) for a, b in zip(out, images)]) > 0.05  # ... and some strips stay clean


def test_same_seed_same_result_different_seed_different(images):
    a = apply_augment(default_augment(1.0), images, seed=[3, 7])
    b = apply_augment(default_augment(1.0), images, seed=[3, 7])  # a fresh transform: no hidden state
    t = default_augment(1.0)
    apply_augment(t, images, seed=99)  # a used transform is reseeded per call
    c = apply_augment(t, images, seed=[3, 7])
    d = apply_augment(default_augment(1.0), images, seed=[3, 8])
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert not np.array_equal(a, d)


def test_input_is_not_modified(images):
    before = images.copy()
    apply_augment(default_augment(2.0), images, seed=1)
    assert np.array_equal(images, before)


def test_strength_zero_and_none_are_identity(images):
    assert len(default_augment(0).transforms) == 0
    assert np.array_equal(apply_augment(default_augment(0.0), images, seed=5), images)
    assert np.array_equal(apply_augment(None, images, seed=5), images)


@pytest.mark.parametrize("strength", [0.05, 0.3, 3.0])
def test_weak_and_strong_strengths_build_and_run(images, strength):
    out = apply_augment(default_augment(strength), images[:16], seed=2)
    assert out.shape == (16, 28, 140) and out.dtype == np.uint8


def test_stronger_augmentation_changes_more(images):
    def changed(strength):
        out = apply_augment(default_augment(strength), images, seed=11)
        return np.abs(out.astype(int) - images).mean()

    assert changed(0.2) < changed(2.0)


@pytest.mark.parametrize("strength", [-1, 3.5, float("nan")])
def test_bad_strength(strength):
    with pytest.raises(ValueError, match=r"augment strength must be between 0 \(off\) and 3"):
        default_augment(strength)


def test_empty_batch(images):
    out = apply_augment(default_augment(1.0), images[:0], seed=0)
    assert out.shape == (0, 28, 140)


# ---------------------------------------------------------------- per-digit warp
@pytest.fixture(scope="module")
def digits():
    return load_digits("bundled", "train").images[:200]


def test_digit_warp_is_seeded_and_keeps_shape(digits):
    a = DigitWarp(1.0)(digits, np.random.default_rng(4))
    b = DigitWarp(1.0)(digits, np.random.default_rng(4))
    c = DigitWarp(1.0)(digits, np.random.default_rng(5))
    assert a.shape == digits.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # every digit moves, but stays a digit: ink is kept (no clipping at the patch edge) ...
    assert all(not np.array_equal(x, y) for x, y in zip(a, digits))
    ink_ratio = a.reshape(len(a), -1).sum(1) / digits.reshape(len(digits), -1).sum(1)
    assert 0.7 < ink_ratio.min() and ink_ratio.max() < 1.3

    # ... and stronger warps move more pixels
    def moved(strength):
        return np.abs(DigitWarp(strength)(digits, np.random.default_rng(0)).astype(int) - digits).mean()

    assert moved(0.2) < moved(2.0)


def test_digit_warp_empty_and_bad_strength(digits):
    assert DigitWarp(1.0)(digits[:0], np.random.default_rng(0)).shape == (0, 28, 28)
    for bad in (0, -1, 3.5, float("nan")):
        with pytest.raises(ValueError, match="digit_augment strength must be in"):
            DigitWarp(bad)


def test_composer_digit_transform_changes_pixels_not_labels():
    pool = load_digits("bundled", "train")
    config = StripConfig(min_len=1, max_len=5, gap=(-4, 6), jitter=2, placement="random")
    plain = StripComposer(pool, config)(64, seed=3)
    warped = StripComposer(pool, config, digit_transform=DigitWarp(1.0))(64, seed=3)
    again = StripComposer(pool, config, digit_transform=DigitWarp(1.0))(64, seed=3)
    assert warped.labels == plain.labels and np.array_equal(warped.digit_index, plain.digit_index)
    assert not np.array_equal(warped.images, plain.images)
    assert np.array_equal(warped.images, again.images)
    # boxes follow the warped ink: every digit's box holds ink and the ink stays on the canvas
    valid = warped.boxes[..., 0] >= 0
    assert (warped.boxes[valid][:, [0, 2]] >= 0).all() and (warped.boxes[valid][:, 2] <= 140).all()


def test_datamodule_warps_training_digits_only():
    from seqrec.data.datamodule import StripDataModule

    kw = dict(source="bundled", batch_size=8, batches_per_epoch=1, n_val=16, n_test=16, augment=0)
    on, off = StripDataModule(digit_augment=1.0, **kw), StripDataModule(digit_augment=0, **kw)
    assert not next(iter(on.train_dataloader()))["image"].equal(next(iter(off.train_dataloader()))["image"])
    on.setup(), off.setup()
    assert on.val_set.batch["image"].equal(off.val_set.batch["image"])
    assert on.test_set.batch["image"].equal(off.test_set.batch["image"])
    with pytest.raises(ValueError, match=r"digit_augment strength must be in \[0, 3\].*got 4"):
        StripDataModule(digit_augment=4, **kw)

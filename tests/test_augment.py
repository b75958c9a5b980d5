"""Augmentation: shape/dtype kept, seeded, strength 0 is the identity."""
from __future__ import annotations

import numpy as np
import pytest

from seqrec.data.augment import apply_augment, default_augment
from seqrec.data.strips import make_strips


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

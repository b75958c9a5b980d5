"""Strip composition: determinism, labels vs pixels, geometry, splits, errors, public API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.sources import DataSourceError, DigitPool, load_digits
from seqrec.data.strips import StripComposer, StripConfig, make_strips

GLYPH_TOP, GLYPH_HEIGHT = 4, 20


def glyph(cls: int, width: int | None = None) -> np.ndarray:
    """A 28x28 all-ink rectangle whose width (8..17 px by default) and pixel pattern identify ``cls``."""
    width = 8 + cls if width is None else width
    rows, cols = np.mgrid[0:GLYPH_HEIGHT, 0:width]
    img = np.zeros((28, 28), np.uint8)
    left = (28 - width) // 2
    img[GLYPH_TOP : GLYPH_TOP + GLYPH_HEIGHT, left : left + width] = 40 + (rows * 7 + cols * 3 + cls * 23) % 200
    return img


def glyph_pool(copies: int = 2, width: int | None = None) -> DigitPool:
    labels = np.tile(np.arange(10), copies)
    images = np.stack([glyph(c, width) for c in labels])
    return DigitPool(images, labels.astype(np.int64), np.arange(len(labels)) + 1000, "synthetic", "train")


def ink_crop(img: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(img > 30)
    return img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def redraw(strips, pool: DigitPool) -> np.ndarray:
    """The canvas the labels and boxes promise: each label's glyph max-blended into its ink box."""
    crops = {int(c): ink_crop(pool.images[np.flatnonzero(pool.labels == c)[0]]) for c in np.unique(pool.labels)}
    out = np.zeros_like(strips.images)
    for i, label in enumerate(strips.labels):
        for j, ch in enumerate(label):
            x0, y0, x1, y1 = strips.boxes[i, j]
            region = out[i, y0:y1, x0:x1]
            np.maximum(region, crops[int(ch)], out=region)
    return out


@pytest.fixture(scope="module")
def bundled_train():
    return load_digits("bundled", "train")


# ---------------------------------------------------------------- determinism
def test_same_seed_same_strips_different_seed_different(bundled_train):
    kw = dict(min_len=1, max_len=5, gap=(-4, 6), jitter=2, placement="random", scale=(0.9, 1.1), pool=bundled_train)
    a, b, c = make_strips(64, seed=7, **kw), make_strips(64, seed=7, **kw), make_strips(64, seed=8, **kw)
    assert np.array_equal(a.images, b.images) and a.labels == b.labels
    assert np.array_equal(a.digit_index, b.digit_index) and np.array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.images, c.images)
    assert a.labels != c.labels and not np.array_equal(a.digit_index, c.digit_index)


def test_composer_reuse_is_stateless(bundled_train):
    composer = StripComposer(bundled_train, StripConfig(min_len=1, max_len=5, gap=(-4, 6), scale=(0.8, 1.2), width=160))
    first = composer(32, seed=[1, 2])
    composer(100, seed=5)  # fills caches in between
    again = composer(32, seed=[1, 2])
    assert np.array_equal(first.images, again.images) and first.labels == again.labels


def _train_batches(num_workers: int, epochs=(0, 1)):
    from seqrec.data.datamodule import StripDataModule

    dm = StripDataModule(
        source="bundled",
        min_len=1,
        max_len=5,
        gap=(-4, 6),
        jitter=2,
        placement="random",
        batch_size=8,
        batches_per_epoch=3,
        augment=1.0,
        num_workers=num_workers,
        seed=3,
    )
    loader = dm.train_dataloader()
    out = {}
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        out[epoch] = list(loader)
    return out


def test_dataloader_batches_do_not_depend_on_worker_count():
    single, multi = _train_batches(0), _train_batches(2)
    for epoch in (0, 1):
        assert len(single[epoch]) == len(multi[epoch]) == 3
        for b0, b2 in zip(single[epoch], multi[epoch]):
            assert b0.keys() == b2.keys()
            for key in b0:
                assert b0[key].equal(b2[key]), (epoch, key)
    # a new epoch gives new strips
    assert not single[0][0]["image"].equal(single[1][0]["image"])
    assert single[0][0]["image"].shape == (8, 1, 28, 140)


def test_ranks_split_an_epochs_keys_without_overlap():
    from seqrec.data.datamodule import EpochKeySampler

    for epoch in (0, 3):
        one = EpochKeySampler(6)
        one.set_epoch(epoch)
        ranks = []
        for rank in (0, 1):
            s = EpochKeySampler(6, num_replicas=2, rank=rank)
            s.set_epoch(epoch)
            ranks.append(list(s))
            assert len(ranks[-1]) == len(s) == 3
        assert not set(ranks[0]) & set(ranks[1])
        assert sorted(ranks[0] + ranks[1]) == sorted(one)
    e0, e1 = EpochKeySampler(6), EpochKeySampler(6)
    e1.set_epoch(1)
    assert not set(e0) & set(e1)


# ---------------------------------------------------------------- split hygiene
def test_val_and_test_strips_never_use_train_digits():
    pools = {s: load_digits("bundled", s) for s in ("train", "val", "test")}
    train_ids = set(pools["train"].ids.tolist())
    for split in ("val", "test"):
        strips = make_strips(500, seed=0, split=split, source="bundled", min_len=1)
        used = set(strips.digit_index[strips.digit_index >= 0].tolist())
        assert used and not used & train_ids
        assert used <= set(pools[split].ids.tolist())
        assert strips.split == split


def test_datamodule_val_and_test_sets_use_their_own_pools():
    from seqrec.data.datamodule import StripDataModule

    dm = StripDataModule(source="bundled", n_val=300, n_test=300, batch_size=32, augment=0)
    dm.setup()
    ids = {s: set(dm.pool(s).ids.tolist()) for s in ("train", "val", "test")}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    for split, fixed in (("val", dm.val_set), ("test", dm.test_set)):
        used = set(fixed.strips.digit_index[fixed.strips.digit_index >= 0].tolist())
        assert used <= ids[split], split
        assert fixed.strips.split == split


# ---------------------------------------------------------------- labels vs pixels
@pytest.mark.parametrize("gap", [(0, 0), (2, 5), (-6, -3)])
def test_labels_match_the_pixels(gap):
    pool = glyph_pool()
    strips = StripComposer(pool, StripConfig(min_len=1, max_len=5, gap=gap, placement="random", width=140))(300, seed=1)
    assert np.array_equal(redraw(strips, pool), strips.images)
    if gap[0] >= 0:  # no overlap: each ink box holds exactly its label's glyph
        for i in range(20):
            for j, ch in enumerate(strips.labels[i]):
                x0, y0, x1, y1 = strips.boxes[i, j]
                assert np.array_equal(strips.images[i, y0:y1, x0:x1], ink_crop(glyph(int(ch))))
    ids = strips.digit_index
    first = np.where(ids >= 0, pool.labels[np.maximum(ids - 1000, 0)], -1)[:, 0]
    assert np.array_equal(first, [int(s[0]) for s in strips.labels])


def test_labels_match_pixels_on_real_digits(bundled_train):
    strips = make_strips(200, seed=4, min_len=1, max_len=5, gap=(1, 4), pool=bundled_train, width=160)
    by_id = dict(zip(bundled_train.ids.tolist(), range(len(bundled_train))))
    for i in range(len(strips)):
        for j, ch in enumerate(strips.labels[i]):
            k = by_id[int(strips.digit_index[i, j])]
            assert bundled_train.labels[k] == int(ch)
            x0, y0, x1, y1 = strips.boxes[i, j]
            region, crop = strips.images[i, y0:y1, x0:x1], ink_crop(bundled_train.images[k])
            # neighbours may add only faint (below ink threshold) anti-aliasing to the box
            assert np.all(region >= crop) and np.all((region == crop) | (region <= 30))
            assert np.array_equal(region > 30, crop > 30)


# ---------------------------------------------------------------- geometry
def test_positive_gap_is_exact():
    strips = StripComposer(glyph_pool(), StripConfig(min_len=2, max_len=5, gap=(3, 3)))(200, seed=0)
    for i, n in enumerate(strips.lengths):
        b = strips.boxes[i, :n]
        assert np.all(b[1:, 0] - b[:-1, 2] == 3)


def test_gap_range_is_respected_and_covered():
    strips = StripComposer(glyph_pool(), StripConfig(min_len=5, max_len=5, gap=(-4, 6)))(500, seed=0)
    gaps = strips.boxes[:, 1:, 0] - strips.boxes[:, :-1, 2]
    assert gaps.min() == -4 and gaps.max() == 6 and len(np.unique(gaps)) == 11


def test_wide_gaps_that_do_not_fit_shrink_proportionally_instead_of_collapsing():
    # 5 glyphs of 22 px with gaps up to 20 rarely fit 140 px; the too-wide strips must keep
    # a spread of gaps (not all the smallest) and still fit with their ink on the canvas.
    config = StripConfig(min_len=5, max_len=5, gap=(-4, 20), width=140)
    strips = StripComposer(glyph_pool(width=22), config)(400, seed=0)
    gaps = strips.boxes[:, 1:, 0] - strips.boxes[:, :-1, 2]
    assert gaps.min() >= -4 and gaps.max() <= 20
    assert strips.boxes[..., 0].min() >= 0 and strips.boxes[..., 2].max() <= 140
    assert np.mean(gaps == -4) < 0.3 and np.median(gaps) > 0
    short = StripComposer(glyph_pool(), StripConfig(min_len=2, max_len=2, gap=(-4, 20), width=140))(400, seed=0)
    short_gaps = short.boxes[:, 1, 0] - short.boxes[:, 0, 2]
    assert short_gaps.max() == 20 and len(np.unique(short_gaps)) == 25  # 2 digits always fit: untouched


def test_negative_gap_overlaps_exactly_and_blends_with_max():
    pool = glyph_pool(width=20)  # wide enough that only neighbours overlap
    strips = StripComposer(pool, StripConfig(min_len=3, max_len=3, gap=(-8, -8)))(100, seed=2)
    b = strips.boxes
    assert np.all(b[:, :-1, 2] - b[:, 1:, 0] == 8)
    for i in range(10):
        for j in range(2):
            label = strips.labels[i]
            left, right = ink_crop(glyph(int(label[j]), 20)), ink_crop(glyph(int(label[j + 1]), 20))
            x0, y0, x1, y1 = b[i, j + 1, 0], b[i, j, 1], b[i, j, 2], b[i, j, 3]
            overlap = strips.images[i, y0:y1, x0:x1]
            assert np.array_equal(overlap, np.maximum(left[:, -8:], right[:, :8]))
    assert np.array_equal(redraw(strips, pool), strips.images)


def test_narrow_digit_keeps_reading_order_under_big_overlap():
    images = np.stack([glyph(c, 3 if c == 1 else 16) for c in range(10)])
    pool = DigitPool(images, np.arange(10), np.arange(10), "s", "train")
    strips = StripComposer(pool, StripConfig(min_len=5, max_len=5, gap=(-12, -12)))(300, seed=0)
    b = strips.boxes
    assert np.all(b[:, 1:, 0] > b[:, :-1, 0]) and np.all(b[:, 1:, 2] > b[:, :-1, 2])
    assert np.array_equal(redraw(strips, pool), strips.images)


def test_digits_stay_inside_the_canvas():
    pool = glyph_pool(width=28)  # ink spans the whole 28 px patch
    for placement in ("center", "left", "random"):
        config = StripConfig(min_len=1, max_len=5, gap=(-3, 0), jitter=3, placement=placement, width=140)
        strips = StripComposer(pool, config)(300, seed=5)
        valid = strips.digit_index >= 0
        b = strips.boxes[valid]
        assert b[:, 0].min() >= 0 and b[:, 2].max() <= 140 and b[:, 1].min() >= 0 and b[:, 3].max() <= 28
        assert np.all(b[:, 3] - b[:, 1] == GLYPH_HEIGHT) and np.all(b[:, 2] - b[:, 0] == 28)  # nothing cut off
        assert np.array_equal(redraw(strips, pool), strips.images)


def test_placement_center_left_random():
    pool = glyph_pool()
    boxes = {}
    for placement in ("center", "left", "random"):
        s = StripComposer(pool, StripConfig(min_len=1, max_len=3, placement=placement, width=120))(400, seed=0)
        first = s.boxes[:, 0, 0]
        last = s.boxes[np.arange(len(s)), s.lengths - 1, 2]
        boxes[placement] = (first, last)
    first, last = boxes["center"]
    assert np.all(np.abs(first - (120 - last)) <= 1)
    assert np.all(boxes["left"][0] == 0)
    first, last = boxes["random"]
    assert first.min() >= 0 and last.max() <= 120
    assert len(np.unique(first)) > 30 and first.min() <= 5 and last.max() >= 115


def test_vertical_placement_and_jitter_range():
    pool = glyph_pool()
    still = StripComposer(pool, StripConfig(min_len=3, max_len=3, height=40))(200, seed=0)
    assert np.all(still.boxes[..., 1] == (40 - 28) // 2 + GLYPH_TOP)
    jittered = StripComposer(pool, StripConfig(min_len=3, max_len=3, jitter=3))(400, seed=0)
    dy = jittered.boxes[..., 1] - GLYPH_TOP
    assert set(np.unique(dy).tolist()) == set(range(-3, 4))
    assert not np.all(dy == dy[:, :1])  # digits of one strip move independently
    tall = StripComposer(pool, StripConfig(min_len=3, max_len=3, height=48, placement="random"))(400, seed=0)
    y = tall.boxes[:, 0, 1] - GLYPH_TOP
    assert y.min() >= 0 and y.max() <= 48 - 28 and len(np.unique(y)) > 10
    assert np.all(tall.boxes[..., 1] == tall.boxes[:, :1, 1])  # no jitter: one baseline per strip


def test_scale_jitter_changes_ink_size(bundled_train):
    plain = StripComposer(glyph_pool(), StripConfig(min_len=5, max_len=5, width=140))(200, seed=0)
    scaled_config = StripConfig(min_len=5, max_len=5, scale=(0.7, 1.3), width=180, height=32)
    scaled = StripComposer(glyph_pool(), scaled_config)(400, seed=0)
    for s in (plain, scaled):
        assert s.images.shape[1:] == (s.config.height, s.config.width)
    w_plain = plain.boxes[..., 2] - plain.boxes[..., 0]
    w_scaled = scaled.boxes[..., 2] - scaled.boxes[..., 0]
    h_scaled = scaled.boxes[..., 3] - scaled.boxes[..., 1]
    nines = np.array([[c == "9" for c in lab] for lab in scaled.labels])
    assert np.all(w_plain[np.array([[c == "9" for c in lab] for lab in plain.labels])] == 17)
    assert w_scaled[nines].min() <= 17 * 0.8 and w_scaled[nines].max() >= 17 * 1.2
    assert h_scaled.min() <= 20 * 0.8 and h_scaled.max() >= 20 * 1.2
    # bundled digits shrink on average when scaled down
    small = make_strips(200, seed=1, pool=bundled_train, scale=(0.6, 0.6))
    normal = make_strips(200, seed=1, pool=bundled_train)
    assert (small.images > 30).sum() < 0.6 * (normal.images > 30).sum()


def test_lengths_respect_bounds_and_weights(bundled_train):
    s = make_strips(3000, seed=0, min_len=2, max_len=4, pool=bundled_train)
    assert set(np.unique(s.lengths).tolist()) == {2, 3, 4}
    assert [len(label) for label in s.labels] == s.lengths.tolist()
    assert np.all((s.digit_index >= 0) == (np.arange(4) < s.lengths[:, None]))
    assert np.all(s.boxes[s.digit_index < 0] == -1)
    w = make_strips(4000, seed=0, min_len=2, max_len=4, length_weights=(1, 0, 3), pool=bundled_train)
    counts = np.bincount(w.lengths, minlength=5)
    assert counts[3] == 0 and abs(counts[4] / 4000 - 0.75) < 0.04
    only = make_strips(100, seed=0, min_len=1, max_len=3, length_weights=[0, 0, 1], pool=bundled_train)
    assert np.all(only.lengths == 3)


def test_leading_zeros(bundled_train):
    kw = dict(min_len=1, max_len=3, pool=bundled_train, n=3000, seed=0)
    no = make_strips(leading_zeros=False, **kw)
    assert not any(label.startswith("0") and len(label) > 1 for label in no.labels)
    assert "0" in no.labels  # a lone zero is still a number
    yes = make_strips(leading_zeros=True, **kw)
    assert any(label.startswith("0") and len(label) > 1 for label in yes.labels)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(min_len=4, max_len=3), r"need 1 <= min_len <= max_len, got min_len=4, max_len=3"),
        (dict(min_len=0), r"min_len <= max_len"),
        (dict(max_len=2.5), r"max_len must be an integer"),
        (dict(width=90), r"width=90 is too narrow .*allowed: width >= 100"),
        (dict(max_len=8), r"width=140 is too narrow for max_len=8 .*allowed: width >= 160"),
        (dict(max_len=6, gap=(6, 6)), r"width=140 is too narrow for max_len=6 digits at gap 6 .*allowed: width >= 150"),
        (dict(height=20), r"height=20 .*allowed: height >= 28"),
        (dict(placement="middle"), r"unknown placement 'middle'; allowed: center, random, left"),
        (dict(gap=(3, 1)), r"gap must be \(low, high\) with low <= high, got \(3, 1\)"),
        (dict(gap=(1, 2, 3)), r"gap must be two integers"),
        (dict(gap=(0.5, 1)), r"gap must be two integers"),
        (dict(gap="ab"), r"gap must be two integers"),
        (dict(gap=(-40, -40), width=200), r"gap low=-40 .*allowed: gap low > -28"),
        (dict(scale=(1.2, 0.8)), r"scale must be \(low, high\) with 0 < low <= high <= 3"),
        (dict(scale=(0, 1)), r"scale must be"),
        (dict(scale=(1.0,)), r"scale must be two numbers"),
        (dict(jitter=-1), r"jitter must be >= 0"),
        (dict(min_len=1, max_len=3, length_weights=(1, 1)), r"length_weights must be 3 non-negative weights"),
        (dict(min_len=1, max_len=3, length_weights=(1, -1, 1)), r"length_weights must be 3"),
        (dict(min_len=1, max_len=3, length_weights=(0, 0, 0)), r"not all zero"),
        (dict(min_len=1, max_len=2, length_weights=("a", 1)), r"length_weights must be a sequence of numbers"),
        (dict(leading_zeros="no"), r"leading_zeros must be True or False"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StripConfig(**kwargs)


def test_pool_too_wide_for_canvas_names_width_and_minimum():
    pool = glyph_pool(width=28)
    StripConfig(width=130)  # fine for MNIST-style digits (ink <= 20 px) ...
    with pytest.raises(ValueError, match=r"width=130 is too narrow .*ink up to 28px.*allowed: width >= 140"):
        StripComposer(pool, StripConfig(width=130))  # ... but not for these glyphs


@pytest.mark.parametrize("n", [0, -3, 2.5, "10"])
def test_n_must_be_positive(n, bundled_train):
    with pytest.raises(ValueError, match="n must be a positive number of strips"):
        make_strips(n, pool=bundled_train)
    with pytest.raises(ValueError, match="n must be a positive number of strips"):
        StripComposer(bundled_train, StripConfig())(n)


def test_unknown_source_and_split():
    with pytest.raises(DataSourceError, match=r"unknown source 'nope'; allowed: auto, mnist, bundled, folder"):
        make_strips(4, source="nope")
    with pytest.raises(ValueError, match=r"unknown split 'dev'; allowed: train, val, test"):
        make_strips(4, source="bundled", split="dev")


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, [1, -2], [1, 2.5], [[1, 2]], np.array([0.5])])
def test_bad_seed_names_seed_and_what_is_allowed(seed, bundled_train):
    composer = StripComposer(bundled_train, StripConfig())
    for call in (lambda: make_strips(3, seed=seed, pool=bundled_train), lambda: composer(3, seed)):
        with pytest.raises(ValueError, match=r"seed must be an integer >= 0 or a sequence of them .*got seed="):
            call()


@pytest.mark.parametrize(
    "seed", [0, 7, [3, 4], (1, 2, 0xE7A1), np.array([5, 6]), np.int64(2), None, np.random.SeedSequence(1)]
)
def test_good_seeds_are_accepted(seed, bundled_train):
    assert len(make_strips(2, seed=seed, pool=bundled_train)) == 2


def test_too_many_strips_are_refused_before_allocating(monkeypatch):
    from seqrec.data import sources, strips

    monkeypatch.setattr(strips, "available_memory", lambda: 16 << 30)
    monkeypatch.setattr(sources, "load_digits", lambda *a, **k: pytest.fail("must refuse before reading data"))
    expected = (
        r"make_strips\(n=1000000000\) .* needs about 8\d{3}\.\d\d GiB of memory, more than "
        r"half of the 16.0 GiB of memory available; about \d+ fit at once: .*chunks"
    )
    with pytest.raises(ValueError, match=expected):
        make_strips(10**9, source="bundled")
    with pytest.raises(ValueError, match=r"n=5000 strips .* more than the limit max_bytes=1000000; about 113 fit"):
        StripComposer(glyph_pool(), StripConfig())(5000, max_bytes=10**6)
    assert len(make_strips(113, pool=glyph_pool(), max_bytes=10**6)) == 113


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(min_len=1, gap=(-4, 6), jitter=2, placement="random"),
        dict(scale=(0.8, 1.2), width=170),
        dict(min_len=8, max_len=8, width=224),
    ],
)
def test_memory_estimate_matches_the_measured_peak(kwargs):
    import tracemalloc

    from seqrec.data.strips import strips_nbytes

    config, n = StripConfig(**kwargs), 3000
    composer = StripComposer(glyph_pool(10), config)
    tracemalloc.start()
    try:
        composer(n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.85 * peak < strips_nbytes(n, config) < 1.6 * peak, (peak / n, strips_nbytes(1, config))


def test_empty_pool_and_leading_zero_only_pool():
    empty = DigitPool(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), "s", "val")
    with pytest.raises(ValueError, match="digit pool s/val is empty"):
        StripComposer(empty, StripConfig())
    zeros = DigitPool(np.stack([glyph(0)] * 3), np.zeros(3, np.int64), np.arange(3), "s", "train")
    with pytest.raises(ValueError, match="leading_zeros=False needs non-zero digits"):
        StripComposer(zeros, StripConfig(leading_zeros=False))(4)


# ---------------------------------------------------------------- public API
def test_public_make_strips():
    from seqrec import make_strips as public

    s = public(8, seed=1, source="bundled")
    assert len(s) == 8 and len(s.labels) == 8
    assert all(len(label) == 5 and label.isdigit() for label in s.labels)
    assert s.images.dtype == np.uint8 and s.images.shape == (8, 28, 140)
    # white ink on black: dark borders, bright strokes, mostly background
    assert s.images[:, :, :2].max() < 30 and s.images[:, :2, :].max() < 60
    assert s.images.max() == 255 and np.median(s.images) == 0
    assert s.boxes.shape == (8, 5, 4) and s.digit_index.shape == (8, 5) and s.lengths.tolist() == [5] * 8
    assert s.source == "bundled" and s.split == "train"


def test_random_configs_keep_every_promise():
    """Fuzz: many random valid configs; the canvas always equals the boxes' glyphs, in range."""
    rng = np.random.default_rng(0)
    pool = glyph_pool()
    checked = 0
    for _ in range(60):
        min_len = int(rng.integers(1, 6))
        max_len = int(rng.integers(min_len, 8))
        lo = int(rng.integers(-12, 5))
        gap = (lo, lo + int(rng.integers(0, 6)))
        jitter = int(rng.integers(0, 5))
        height = int(rng.integers(28, 40))
        try:
            width = int(rng.integers(60, 200))  # drawn before placement, as always
            placement = str(rng.choice(["center", "left", "random"]))
            config = StripConfig(
                min_len=min_len,
                max_len=max_len,
                gap=gap,
                jitter=jitter,
                height=height,
                width=width,
                placement=placement,
            )
            composer = StripComposer(pool, config)
        except ValueError as err:
            assert "too narrow" in str(err)
            continue
        strips = composer(50, seed=checked)
        b = strips.boxes[strips.digit_index >= 0]
        assert b[:, 0].min() >= 0 and b[:, 2].max() <= config.width
        assert b[:, 1].min() >= 0 and b[:, 3].max() <= config.height and np.all(b[:, 3] - b[:, 1] == GLYPH_HEIGHT)
        assert np.array_equal(redraw(strips, pool), strips.images)
        gaps = strips.boxes[:, 1:, 0] - strips.boxes[:, :-1, 2]
        inner = strips.digit_index[:, 1:] >= 0
        assert gaps[inner].min() >= gap[0] if len(gaps[inner]) else True
        checked += 1
    assert checked >= 30


class _BlasThreads(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        from threadpoolctl import threadpool_info

        return max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")


def test_dataloader_workers_use_one_blas_thread():
    """numpy's OpenBLAS in a worker would otherwise start one thread per core and slow training."""
    from seqrec.data.datamodule import StripDataModule

    loader = StripDataModule(source="bundled", num_workers=1)._loader(_BlasThreads(), batch_size=None)
    assert list(loader) == [1]


def test_dataloader_workers_are_forked_on_linux_and_absent_without_workers(monkeypatch):
    """Forked explicitly: in a joblib (loky) sweep job the default start method cannot start them."""
    from seqrec.data.datamodule import worker_options

    assert worker_options(0) == {"num_workers": 0}
    monkeypatch.setattr("sys.platform", "linux")
    assert worker_options(2)["multiprocessing_context"] == "fork" and worker_options(2)["persistent_workers"]
    monkeypatch.setattr("sys.platform", "darwin")
    assert "multiprocessing_context" not in worker_options(2)


# ---------------------------------------------------------------- int digits, one StripConfig
def test_strips_carry_int_digits_and_labels_are_derived(bundled_train):
    s = make_strips(200, seed=3, min_len=1, max_len=5, pool=bundled_train)
    assert s.digits.shape == (200, 5) and s.digits.dtype == np.int64
    assert np.array_equal((s.digits >= 0).sum(axis=1), s.lengths)
    assert np.all(s.digits[np.arange(5)[None, :] >= s.lengths[:, None]] == -1)  # -1 after the last digit
    used = s.digit_index >= 0
    assert np.array_equal(s.digits[used], bundled_train.labels[np.searchsorted(bundled_train.ids, s.digit_index[used])])
    assert s.labels == ["".join(str(d) for d in row if d >= 0) for row in s.digits.tolist()]


def test_labels_to_digits_round_trip_and_errors():
    from seqrec.data.strips import digits_to_labels, labels_to_digits

    digits, lengths = labels_to_digits(["7", "0042", "123"], 4)
    assert digits.tolist() == [[7, -1, -1, -1], [0, 0, 4, 2], [1, 2, 3, -1]] and lengths.tolist() == [1, 4, 3]
    assert digits_to_labels(digits) == ["7", "0042", "123"]
    assert labels_to_digits([], 3)[0].shape == (0, 3)
    for bad in ("12a", "", "12345", "²", " 1"):
        with pytest.raises(ValueError, match=rf"label {bad!r} is not 1 to 4 digits 0-9"):
            labels_to_digits(["1", bad], 4)


def test_make_strips_takes_one_config_plus_overrides(bundled_train):
    config = StripConfig(min_len=1, max_len=4, gap=(-2, 3), width=120, placement="random")
    a = make_strips(30, seed=2, config=config, pool=bundled_train)
    b = make_strips(30, seed=2, min_len=1, max_len=4, gap=(-2, 3), width=120, placement="random", pool=bundled_train)
    assert a.config == b.config == config and np.array_equal(a.images, b.images) and a.labels == b.labels
    c = make_strips(30, seed=2, config=config, jitter=2, pool=bundled_train)  # settings apply on top of config
    assert c.config == StripConfig(min_len=1, max_len=4, gap=(-2, 3), width=120, placement="random", jitter=2)
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['colour'\]; strip settings: min_len, max_"):
        make_strips(3, colour="red", pool=bundled_train)
    with pytest.raises(ValueError, match="need 1 <= min_len <= max_len"):
        make_strips(3, config=config, min_len=5, pool=bundled_train)


def test_strips_to_batch_uses_the_int_digits():
    from seqrec.data.datamodule import strips_to_batch

    s = StripComposer(glyph_pool(), StripConfig(min_len=1, max_len=4, width=120))(50, seed=0)
    batch = strips_to_batch(s)
    assert batch["digits"].dtype == torch.int64 and torch.equal(batch["digits"], torch.from_numpy(s.digits))
    assert batch["image"].shape == (50, 1, 28, 120) and torch.equal(batch["length"], torch.from_numpy(s.lengths))
    batch["digits"][0, 0] = 99  # a batch never aliases its strips
    assert s.digits[0, 0] != 99

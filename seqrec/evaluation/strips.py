"""Benchmark strips: held-out (test split) digits composed under one changed factor at a time."""

from __future__ import annotations

import numpy as np

from ..data.sources import DigitPool, load_digits
from ..data.strips import StripConfig, make_strips, with_settings

# The clean base condition: 5 digits, gap 0..2 px, centred, no jitter.
BENCHMARK = StripConfig(min_len=5, max_len=5, gap=(0, 2), jitter=0, placement="center")
STREAM = 0xBE4C  # seed stream of the benchmark strips, apart from training's


def benchmark_strips(
    n: int,
    *,
    config: StripConfig = BENCHMARK,
    rotate: float = 0.0,
    noise: float = 0.0,
    source: str = "bundled",
    root=None,
    seed: int = 0,
    pool: DigitPool | None = None,
    **settings,
):
    """Strips built only from held-out (test split) digits, for benchmarks.

    ``config`` (default: the clean base condition :data:`BENCHMARK`) with any StripConfig field
    in ``settings`` changed; each benchmark changes one factor: ``gap`` (an int g means exactly
    g px between neighbouring ink boxes; negative overlaps them -- the composer keeps reading
    order, so a digit narrower than the overlap limits it to its width - 1), ``min_len``/``max_len``,
    ``scale`` (per-digit scale factor, or a (low, high) range), ``rotate`` (each digit rotated by
    +-``rotate`` degrees, random sign) and ``noise`` (Gaussian pixel noise, std as a fraction of white).
    """
    for key in ("gap", "scale"):  # a single number means exactly that value
        if key in settings and np.isscalar(settings[key]):
            settings[key] = (settings[key], settings[key])
    config = with_settings(config, settings, "benchmark_strips()")
    pool = pool if pool is not None else load_digits(source, "test", root)
    if pool.split != "test":
        raise ValueError(f"benchmark strips must come from held-out test digits, got a {pool.split!r} pool")
    rng = np.random.default_rng([int(seed), STREAM])
    if rotate:
        pool = DigitPool(rotate_digits(pool.images, rotate, rng), pool.labels, pool.ids, pool.source, pool.split)
    strips = make_strips(int(n), seed=[int(seed), STREAM, 1], config=config, pool=pool)
    if noise:
        noise_px = rng.normal(0.0, 255.0 * float(noise), strips.images.shape).astype(np.float32)
        strips.images = np.clip(np.rint(strips.images.astype(np.float32) + noise_px), 0, 255).astype(np.uint8)
    return strips


def strips_at_gap(n: int, gap: int, length: int = 5, **kwargs):
    """``n`` strips of ``length`` test digits with exactly ``gap`` px between neighbouring ink boxes."""
    return benchmark_strips(n, min_len=length, max_len=length, gap=(gap, gap), **kwargs)


def rotate_digits(images: np.ndarray, degrees: float, rng) -> np.ndarray:
    """Each 28x28 digit rotated about its centre by +-``degrees`` (random sign), bilinear."""
    import cv2

    out = np.empty_like(images)
    signs = rng.choice([-1.0, 1.0], size=len(images))
    h, w = images.shape[1:]
    for i, (img, s) in enumerate(zip(images, signs)):
        m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), float(s * degrees), 1.0)
        out[i] = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out

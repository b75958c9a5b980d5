"""Printed digits from OpenCV's built-in fonts, normalised like MNIST digits (``imaging.normalize_digit``).

Extra training shapes that MNIST's mostly American handwriting barely shows: a 1 with a flag at
the top, a barred 7, a slashed 0. ``data.font_digits=n`` adds n of them to the train pool only;
val and test stay real digits.

    >>> pool = font_pool(1000)        # DigitPool: (1000, 28, 28) uint8, labels 0-9 in turn
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import imaging
from .sources import DigitPool

FACES = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
)
THICKNESS = (3, 14)  # px at scale 3 (ink ~65 px tall): hairline to bold
CANVAS = 128
FIRST_ID = 10**9  # font digit ids start here: above every real source's ids (MNIST's end at 69,999)


def font_digit(label: int, rng: np.random.Generator) -> np.ndarray:
    """One printed digit, (28, 28) uint8 white on black, ink fitted to 20 px as MNIST's."""
    face = int(rng.choice(FACES)) | (cv2.FONT_ITALIC if rng.random() < 0.5 else 0)
    thickness = int(rng.integers(THICKNESS[0], THICKNESS[1] + 1))
    page = np.full((CANVAS, CANVAS), 255, np.uint8)
    cv2.putText(page, str(int(label)), (24, 100), face, 3.0, 0, thickness, cv2.LINE_AA)
    return imaging.normalize_digit(page, invert=True)


def font_pool(n: int, seed: int = 0) -> DigitPool:
    """``n`` printed digits, labels 0-9 in turn (balanced), the same for every run of a seed.
    Their ids start at FIRST_ID, so they never collide with a real digit's id (nor with -1, "no digit")."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"font_digits must be a whole number >= 0, got {n!r}")
    rng = np.random.default_rng(seed)
    labels = np.arange(int(n), dtype=np.int64) % 10
    images = np.stack([font_digit(y, rng) for y in labels]) if n else np.zeros((0, 28, 28), np.uint8)
    return DigitPool(images, labels, FIRST_ID + np.arange(int(n), dtype=np.int64), "fonts", "train")


def with_fonts(pool: DigitPool, n: int) -> DigitPool:
    """``pool`` plus ``n`` printed digits (``pool`` itself when n is 0)."""
    if not n:
        return pool
    fonts = font_pool(n)
    merged = (np.concatenate([getattr(pool, k), getattr(fonts, k)]) for k in ("images", "labels", "ids"))
    return DigitPool(*merged, pool.source, pool.split)

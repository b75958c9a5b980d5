"""Pen-drawn numbers whose digit shapes do not come from MNIST: single-stroke digit skeletons
(a few hand-written variants per digit, drawn here as smooth splines), written with pens of
several widths, slanted, jittered per digit and shaken by a little hand tremor. They test
whether a model and the image pipeline read pen strokes, not only MNIST's look.

(OpenCV 5's ``putText`` no longer draws the single-stroke Hershey fonts -- its built-in faces
are filled outline fonts -- so the skeletons live here.)

    >>> image, label = pen_number(np.random.default_rng(0))   # uint8, black ink on a white canvas
    >>> numbers = pen_numbers(100, seed=1)                     # [(image, label)], the same per seed
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

PEN = (0.035, 0.12)  # stroke width as a fraction of the ink height (MNIST: ~0.12)
SLANT = 0.3  # shear: x += slant * height above the baseline; writers mostly lean right
TREMOR = 0.02  # tremor amplitude, fraction of the ink height
GAP = (0.08, 0.45)  # blank between neighbouring digits' ink, fraction of the ink height
MARGIN = (0.15, 0.6)  # blank canvas around the number, fraction of the ink height
MAX_LEN = 5
SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel stroke positions
Stroke = list  # pieces (each a list of (x, y) points, y down, digit box ~0.6 x 1), joined at corners


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, sweep: float, n: int = 10) -> list:
    """Points on an ellipse, angles in degrees (0 = right, 90 = down, as y points down)."""
    a = np.radians(start + np.linspace(0, sweep, n))
    return list(zip(cx + rx * np.cos(a), cy + ry * np.sin(a)))


# Each digit: variants; each variant: strokes (pen lifts between them); each stroke: pieces
# that are splined smoothly and joined with a sharp corner.
# fmt: off  (one glyph variant per line reads better than one point per line)
DIGITS: dict[str, list[list[Stroke]]] = {
    "0": [
        [[_arc(0.3, 0.5, 0.27, 0.5, -100, 370, 16)]],
        [[_arc(0.3, 0.5, 0.24, 0.5, -80, -355, 16)]],
    ],
    "1": [
        [[[(0.3, 0.0), (0.28, 1.0)]]],
        [[[(0.1, 0.22), (0.32, 0.0)], [(0.32, 0.0), (0.31, 1.0)]]],
        [[[(0.1, 0.2), (0.32, 0.0)], [(0.32, 0.0), (0.32, 1.0)]], [[(0.1, 1.0), (0.54, 1.0)]]],
    ],
    "2": [
        [
            [
                [
                    (0.04, 0.25),
                    (0.14, 0.06),
                    (0.32, 0.0),
                    (0.5, 0.08),
                    (0.55, 0.26),
                    (0.45, 0.48),
                    (0.24, 0.72),
                    (0.03, 1.0),
                ],
                [(0.03, 1.0), (0.58, 0.98)],
            ]
        ],
        [
            [
                [(0.05, 0.2), (0.25, 0.0), (0.48, 0.05), (0.52, 0.25), (0.4, 0.45)],
                [(0.4, 0.45), (0.03, 1.0)],
                [(0.03, 1.0), (0.58, 1.0)],
            ]
        ],
        [
            [
                [
                    (0.05, 0.22),
                    (0.2, 0.03),
                    (0.4, 0.02),
                    (0.53, 0.2),
                    (0.42, 0.5),
                    (0.2, 0.78),
                    (0.05, 0.98),
                    (0.2, 0.88),
                    (0.4, 0.95),
                    (0.58, 0.92),
                ]
            ]
        ],
    ],
    "3": [
        [
            [
                [(0.04, 0.12), (0.25, 0.0), (0.47, 0.06), (0.5, 0.22), (0.28, 0.45)],
                [(0.28, 0.45), (0.5, 0.55), (0.56, 0.75), (0.45, 0.95), (0.25, 1.0), (0.03, 0.9)],
            ]
        ],
        [
            [
                [(0.05, 0.0), (0.52, 0.0)],
                [(0.52, 0.0), (0.25, 0.4)],
                [(0.25, 0.4), (0.5, 0.52), (0.56, 0.75), (0.42, 0.96), (0.2, 1.0), (0.02, 0.9)],
            ]
        ],
    ],
    "4": [
        [[[(0.36, 0.0), (0.03, 0.66)], [(0.03, 0.66), (0.6, 0.66)]], [[(0.45, 0.3), (0.45, 1.0)]]],
        [[[(0.46, 1.0), (0.46, 0.0)], [(0.46, 0.0), (0.02, 0.68)], [(0.02, 0.68), (0.6, 0.68)]]],
        [[[(0.08, 0.0), (0.05, 0.55)], [(0.05, 0.55), (0.58, 0.55)]], [[(0.46, 0.05), (0.46, 1.0)]]],
    ],
    "5": [
        [
            [
                [(0.13, 0.0), (0.09, 0.43)],
                [(0.09, 0.43), (0.3, 0.36), (0.5, 0.45), (0.56, 0.68), (0.45, 0.92), (0.25, 1.0), (0.03, 0.9)],
            ],
            [[(0.13, 0.0), (0.52, 0.0)]],
        ],
        [
            [
                [(0.52, 0.0), (0.13, 0.0)],
                [(0.13, 0.0), (0.08, 0.45)],
                [(0.08, 0.45), (0.35, 0.38), (0.55, 0.55), (0.52, 0.82), (0.3, 1.0), (0.04, 0.92)],
            ]
        ],
    ],
    "6": [
        [
            [
                [
                    (0.48, 0.02),
                    (0.25, 0.15),
                    (0.08, 0.45),
                    (0.05, 0.72),
                    (0.18, 0.96),
                    (0.35, 0.98),
                    (0.52, 0.82),
                    (0.5, 0.6),
                    (0.32, 0.5),
                    (0.15, 0.55),
                    (0.06, 0.7),
                ]
            ]
        ],
        [
            [
                [
                    (0.4, 0.0),
                    (0.1, 0.5),
                    (0.06, 0.75),
                    (0.2, 0.98),
                    (0.42, 0.95),
                    (0.53, 0.75),
                    (0.4, 0.55),
                    (0.2, 0.58),
                    (0.08, 0.75),
                ]
            ]
        ],
    ],
    "7": [
        [[[(0.03, 0.0), (0.56, 0.0)], [(0.56, 0.0), (0.2, 1.0)]]],
        [[[(0.03, 0.02), (0.56, 0.0)], [(0.56, 0.0), (0.22, 1.0)]], [[(0.14, 0.5), (0.5, 0.5)]]],
        [
            [
                [(0.02, 0.08), (0.03, 0.0)],
                [(0.03, 0.0), (0.56, 0.0)],
                [(0.56, 0.0), (0.42, 0.35), (0.3, 0.7), (0.27, 1.0)],
            ]
        ],
    ],
    "8": [
        [
            [
                [
                    (0.5, 0.14),
                    (0.3, 0.0),
                    (0.1, 0.1),
                    (0.12, 0.3),
                    (0.3, 0.48),
                    (0.52, 0.66),
                    (0.52, 0.9),
                    (0.3, 1.0),
                    (0.08, 0.9),
                    (0.08, 0.68),
                    (0.3, 0.48),
                    (0.48, 0.3),
                    (0.5, 0.14),
                ]
            ]
        ],
        [[_arc(0.3, 0.23, 0.2, 0.23, 90, 360, 12)], [_arc(0.3, 0.73, 0.26, 0.27, -90, 360, 12)]],
    ],
    "9": [
        [[_arc(0.3, 0.26, 0.25, 0.26, 0, -360, 14), [(0.55, 0.26), (0.52, 1.0)]]],
        [[_arc(0.3, 0.25, 0.25, 0.25, 10, -370, 14), [(0.55, 0.2), (0.54, 0.6), (0.45, 0.9), (0.32, 1.0)]]],
    ],
}
# fmt: on


class PenNumber(NamedTuple):
    image: np.ndarray  # (h, w) uint8, black ink (0) on white (255)
    label: str


def _check_range(name: str, value, lo: float, hi: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers (low, high), got {value!r}") from None
    if not (lo <= a <= b <= hi):
        raise ValueError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}")
    return a, b


def _spline(points: Sequence, per_segment: int = 8) -> np.ndarray:
    """Catmull-Rom curve through ``points`` ((k, 2) -> (m, 2)); two points give a straight line."""
    p = np.asarray(points, np.float64)
    if len(p) == 2:
        return p
    q = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None, None]
    p0, p1, p2, p3 = q[:-3], q[1:-2], q[2:-1], q[3:]
    curve = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3)
    return np.vstack([curve.transpose(1, 0, 2).reshape(-1, 2), p[-1:]])


def _strokes(digit: str, rng: np.random.Generator) -> list[np.ndarray]:
    """A random variant of ``digit`` as dense polylines in the unit digit box."""
    variants = DIGITS[digit]
    variant = variants[int(rng.integers(len(variants)))]
    return [np.vstack([_spline(piece) for piece in stroke]) for stroke in variant]


def _tremor(rng: np.random.Generator, amplitude: float, scale: float):
    """A smooth random displacement field (a sum of a few random plane waves), evaluated at points."""
    k = 4
    freq = rng.normal(0, 1, (k, 2)) * (2 * math.pi / scale)
    phase = rng.uniform(0, 2 * math.pi, (k, 2))
    amp = rng.normal(0, amplitude / math.sqrt(k), (k, 2))

    def field(p: np.ndarray) -> np.ndarray:
        return np.stack([(amp[:, j] * np.sin(p @ freq.T + phase[:, j])).sum(axis=1) for j in range(2)], axis=1)

    return field


def pen_number(
    rng: np.random.Generator,
    digits: str | None = None,
    *,
    length: Sequence[int] = (1, MAX_LEN),
    height: Sequence[float] = (40, 160),
) -> PenNumber:
    """One pen-written number on a white canvas. ``digits`` fixes the text (else random, its length
    drawn uniformly from ``length``); the ink height is drawn uniformly from ``height`` (px).
    One pen and slant per number (one writer); shape variant, size, angle and baseline vary per digit."""
    lo, hi = _check_range("height", height, 8, 4000)
    if digits is None:
        n_lo, n_hi = _check_range("length", length, 1, 64)
        if n_lo != int(n_lo) or n_hi != int(n_hi):
            raise ValueError(f"length must be two integers (low, high), got {length!r}")
        digits = "".join(map(str, rng.integers(0, 10, int(rng.integers(int(n_lo), int(n_hi) + 1)))))
    elif not isinstance(digits, str) or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"digits must be a non-empty string of 0-9, got {digits!r}")
    ink_h = rng.uniform(lo, hi)
    pen = max(1.0, rng.uniform(*PEN) * ink_h)
    body = ink_h - pen  # the skeleton's height: the pen adds half its width above and below
    slant = rng.uniform(-0.3 * SLANT, SLANT)
    tremor = _tremor(rng, TREMOR * ink_h, rng.uniform(0.5, 1.5) * ink_h)
    placed, x = [], 0.0
    for i, d in enumerate(digits):
        angle = math.radians(rng.uniform(-5, 5))
        zoom = body * rng.uniform(0.9, 1.05) * np.array([rng.uniform(0.85, 1.2), 1.0])
        shear = slant + rng.uniform(-0.06, 0.06)
        cos, sin = math.cos(angle), math.sin(angle)
        lin = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, -shear], [0.0, 1.0]]) @ np.diag(zoom)
        strokes = [(s - [0.3, 1.0]) @ lin.T for s in _strokes(d, rng)]  # about the bottom centre
        allp = np.vstack(strokes)
        left, right = allp[:, 0].min(), allp[:, 0].max()
        if i:
            x += rng.uniform(*GAP) * ink_h + pen
        dy = rng.normal(0, 0.035 * ink_h)
        placed += [s + [x - left, dy] for s in strokes]
        x += right - left
    placed = [s + tremor(s) for s in placed]
    allp = np.vstack(placed)
    fit = body / max(np.ptp(allp[:, 1]), 1e-6)  # the ink, pen included, is exactly ink_h tall
    placed, allp = [s * fit for s in placed], allp * fit
    margin = rng.uniform(*MARGIN, 4) * ink_h + pen
    offset = np.array([margin[0], margin[2]]) - allp.min(axis=0)
    w = int(math.ceil(allp[:, 0].max() - allp[:, 0].min() + margin[0] + margin[1]))
    h = int(math.ceil(allp[:, 1].max() - allp[:, 1].min() + margin[2] + margin[3]))
    canvas = np.full((h, w), 255, np.uint8)
    for s in placed:
        p = s + offset
        width = max(1, int(round(pen * rng.uniform(0.9, 1.1) if pen > 6 else pen)))  # thin pens: +-1 px is too much
        cv2.polylines(canvas, [np.rint(p * (1 << SHIFT)).astype(np.int32)], False, 0, width, cv2.LINE_AA, SHIFT)
    return PenNumber(canvas, digits)


def pen_numbers(
    n: int, seed=0, *, length: Sequence[int] = (1, MAX_LEN), height: Sequence[float] = (40, 160)
) -> list[PenNumber]:
    """``n`` pen numbers, the same for the same ``seed`` (an int or a list of ints)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    return [pen_number(rng, length=length, height=height) for _ in range(int(n))]


def ink_height(image: np.ndarray, threshold: int = 128) -> int:
    """Height in px of the dark ink of a black-on-white uint8 image (0 when it has none)."""
    rows = np.flatnonzero((np.asarray(image) < threshold).any(axis=1))
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0

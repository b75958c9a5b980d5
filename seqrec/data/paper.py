"""Renderers of realistic inputs: ink put onto a clean canvas, photographed paper or a scanned
ruled sheet. Used by the photo benchmark (benchmarks/bench_photos.py) and by the training
"paper" augmentation (``seqrec.data.augment.PaperAugment``).

Every renderer takes the ink either as a uint8 image of dark ink on light paper (a canvas,
e.g. from :func:`seqrec.data.pen.pen_number`) or as a float ink map in [0, 1] (1 = full ink,
e.g. a white-on-black strip divided by 255), and returns a uint8 grey image of dark ink on
light paper. Randomness comes only from the ``rng`` passed in.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

PAPER = (170.0, 255.0)  # grey level of the paper, before lighting
INK = (0.0, 90.0)  # grey level of the ink
NOISE = 12.0  # Gaussian sensor noise, largest sigma (grey levels)
BLUR = 1.2  # largest Gaussian blur sigma (px)
GRADIENT = 30.0  # left-to-right lighting ramp, from -g to +g grey levels, |g| <= this
TEXTURE = 8.0  # paper texture (blotches and grain), largest amplitude (grey levels)
SHADOW = (0.7, 0.92)  # a soft shadow multiplies the light under it by this
JPEG = (35, 95)  # JPEG quality range
SCAN_FEATURES = ("ruled", "margin", "edge")


def ink_map(canvas_or_ink) -> np.ndarray:
    """float32 ink coverage in [0, 1] from a uint8 dark-on-light canvas or a float ink map."""
    a = np.asarray(canvas_or_ink)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected one 2-D grey image (h, w), got shape {a.shape}")
    if a.dtype == np.uint8:
        return (255 - a).astype(np.float32) * np.float32(1 / 255)
    if a.dtype.kind != "f" or not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(
            f"a float ink map must be finite and in [0, 1] (dtype {a.dtype}); "
            "give a uint8 canvas (dark ink on light paper) or a float ink map"
        )
    return a.astype(np.float32, copy=False)


def _range(name: str, value, lo: float, hi: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers (low, high), got {value!r}") from None
    if not lo <= a <= b <= hi:
        raise ValueError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}")
    return a, b


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise: a coarse normal grid (one value per ``cell`` px) upsampled."""
    gy, gx = max(2, int(math.ceil(h / cell)) + 1), max(2, int(math.ceil(w / cell)) + 1)
    return cv2.resize(rng.standard_normal((gy, gx)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip a uint8 grey image through JPEG at ``quality`` (1-100)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def canvas(canvas_or_ink) -> np.ndarray:
    """Clean black ink on white: what a drawing app saves."""
    return _to_uint8(255.0 * (1.0 - ink_map(canvas_or_ink)))


def _shadow(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A soft shadow: light times a factor < 1 on one side of a random line, with a soft edge."""
    angle = rng.uniform(0, 2 * math.pi)
    px, py = rng.uniform(0, w), rng.uniform(0, h)
    soft = max(2.0, rng.uniform(0.05, 0.3) * min(h, w))
    depth = 1.0 - rng.uniform(*SHADOW)
    # Signed distance to a line through (px, py), in units of the edge's softness, on a grid
    # 4x coarser than the image (the shadow is smooth), then upsampled.
    f = 4
    gy, gx = np.ogrid[0 : h + f : f, 0 : w + f : f]
    d = ((gx - px) * math.cos(angle) + (gy - py) * math.sin(angle)) / soft
    coarse = (1.0 - depth / (1.0 + np.exp(-d))).astype(np.float32)
    return cv2.resize(coarse, (coarse.shape[1] * f, coarse.shape[0] * f), interpolation=cv2.INTER_LINEAR)[:h, :w]


def photograph(
    canvas_or_ink,
    rng: np.random.Generator,
    *,
    strength: float = 1.0,
    paper=PAPER,
    ink=INK,
    noise: float = NOISE,
    blur: float = BLUR,
    gradient: float = GRADIENT,
    texture: float = TEXTURE,
    shadow: float = 0.5,
    jpeg_quality=JPEG,
) -> np.ndarray:
    """The ink as if written on paper and photographed with a phone: grey textured paper
    (``paper`` levels), grey ink (``ink``), a left-to-right lighting ramp of up to +-``gradient``
    levels, a soft shadow with probability ``shadow``, slight blur (sigma up to ``blur`` px),
    Gaussian noise (sigma up to ``noise``) and JPEG compression (quality in ``jpeg_quality``).
    ``strength`` (0..1) scales the random amounts (noise, blur, gradient, texture, shadow) down."""
    s = float(strength)
    if not 0 <= s <= 1:
        raise ValueError(f"strength must be in [0, 1], got {strength!r}")
    paper_lo, paper_hi = _range("paper", paper, 0, 255)
    ink_lo, ink_hi = _range("ink", ink, 0, 255)
    q_lo, q_hi = _range("jpeg_quality", jpeg_quality, 1, 100)
    m = ink_map(canvas_or_ink)
    h, w = m.shape
    paper_level = rng.uniform(paper_lo, paper_hi)
    ink_level = rng.uniform(ink_lo, ink_hi)
    tex = s * rng.uniform(0.2, 1.0) * texture
    base = np.float32(paper_level) + np.float32(tex) * _smooth_noise(rng, h, w, rng.uniform(12, 64))
    img = base + (np.float32(ink_level) - base) * m
    if rng.random() < shadow * s:
        img *= _shadow(rng, h, w)
    g = s * rng.uniform(-gradient, gradient)
    img += np.linspace(-g, g, w, dtype=np.float32)[None, :]
    sigma = s * rng.uniform(0.3, 1.0) * blur
    if sigma > 0.2:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.standard_normal((h, w), dtype=np.float32) * np.float32(s * rng.uniform(0, noise))
    return jpeg(_to_uint8(img), int(rng.integers(int(q_lo), int(q_hi) + 1)))


def _ink_box(m: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the ink (> 0.5), or the whole image when there is none."""
    ys, xs = np.nonzero(m > 0.5)
    if len(ys) == 0:
        return 0, 0, m.shape[1], m.shape[0]
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def scan(
    canvas_or_ink,
    rng: np.random.Generator,
    *,
    features=None,
    paper=(225.0, 255.0),
    ink=(0.0, 60.0),
    noise: float = 4.0,
    line_level=(130.0, 210.0),
) -> np.ndarray:
    """The ink on a scanned sheet of school paper: ruled lines (one just under the digits, the
    next one line pitch above), a vertical margin line left of the number and/or the paper's edge
    with the dark scanner lid beyond it. ``features``: a subset of ``("ruled", "margin", "edge")``;
    None draws a random non-empty one. The image grows by a margin so the lines never lie on the
    ink, except where a pen stroke reaches the ruled line."""
    if features is None:
        pick = rng.random(3) < (0.75, 0.5, 0.35)
        if not pick.any():
            pick[int(rng.integers(3))] = True
        features = tuple(f for f, p in zip(SCAN_FEATURES, pick) if p)
    features = tuple(features)
    bad = [f for f in features if f not in SCAN_FEATURES]
    if bad or not features:
        raise ValueError(f"scan features must be a non-empty subset of {SCAN_FEATURES}, got {features!r}")
    lv_lo, lv_hi = _range("line_level", line_level, 0, 255)
    m = ink_map(canvas_or_ink)
    x0, y0, x1, y1 = _ink_box(m)
    ink_h = max(y1 - y0, 4)
    # Room around the number for the margin line, the paper edge and the lid.
    pad = np.rint(rng.uniform(0.3, 0.8, 4) * ink_h).astype(int)  # left, right, top, bottom
    m = cv2.copyMakeBorder(m, pad[2], pad[3], pad[0], pad[1], cv2.BORDER_CONSTANT, value=0)
    x0, x1, y0, y1 = x0 + pad[0], x1 + pad[0], y0 + pad[2], y1 + pad[2]
    h, w = m.shape
    img = rng.uniform(*_range("paper", paper, 0, 255)) + 2.0 * _smooth_noise(rng, h, w, 32)
    thick = max(1, int(round(ink_h * rng.uniform(0.01, 0.03))))
    lines = np.zeros((h, w), np.float32)
    if "ruled" in features:
        base = y1 + rng.uniform(0.0, 0.2) * ink_h + thick / 2
        pitch = rng.uniform(1.3, 1.7) * ink_h
        tilt = rng.uniform(-0.01, 0.01) * w
        for y in (base, base - pitch, base + pitch):  # 4 fractional bits: sub-pixel line positions
            cv2.line(lines, (0, round(y * 16)), ((w - 1) * 16, round((y + tilt) * 16)), 1.0, thick, cv2.LINE_AA, 4)
    if "margin" in features:
        x = max(1.0, x0 - rng.uniform(0.15, 0.9) * pad[0])
        cv2.line(lines, (round(x * 16), 0), (round(x * 16), (h - 1) * 16), 1.0, thick, cv2.LINE_AA, 4)
    ink_level = rng.uniform(*_range("ink", ink, 0, 255))
    img += (rng.uniform(lv_lo, lv_hi) - img) * lines
    img += (ink_level - img) * m
    if "edge" in features:  # the sheet ends near one side; beyond it, the dark lid
        side = int(rng.integers(4))
        room = (x0, w - x1, y0, h - y1)[side]
        depth = rng.uniform(0.15, 0.7) * room
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        coord = (xx, w - 1 - xx, yy, h - 1 - yy)[side]
        across = (yy / h, yy / h, xx / w, xx / w)[side]
        edge = depth + rng.uniform(-0.1, 0.1) * room * (across - 0.5)  # slightly skewed edge
        lid = np.clip(edge - coord + 0.5, 0.0, 1.0)
        img += (rng.uniform(20, 90) - img) * lid
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.8))
    img += rng.standard_normal((h, w), dtype=np.float32) * np.float32(rng.uniform(0, noise))
    return jpeg(_to_uint8(img), int(rng.integers(75, 96)))

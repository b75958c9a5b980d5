"""One image pipeline: any image (file, bytes, PIL image, array) -> the strip a seqrec model reads.

``Recognizer``, the demo's ``prepare_strip`` and the ``folder`` digit source all call this module,
so a photo is read the same way everywhere. The stages, in order:

1. **load** (:func:`load_image`): EXIF rotation, alpha (a transparent background becomes the
   contrary of the ink), 16-bit, palette and float images -> grayscale and the value of white.
   Sizes are checked from the header before any pixel is decoded (:func:`check_shape`).
2. **polarity**: an image whose background is light (median > 0.5; of the border for strips,
   of the whole picture for photos) has dark ink on light paper and is inverted, so ink is
   bright on black from here on (``invert=True/False`` forces it).
3. **clean strips pass through**: an image of the model's size with a black background (border
   median <= 0.1) whose ink is at least 10/28 of the height -- what ``make_strips`` writes --
   is used bit for bit as it is, vectorised over a batch (:func:`prepare_batch`); only pixel
   noise beyond what training adds is removed from it, by the ink mask below, in place;
4. anything else is reduced to a working size (:data:`WORK_PIXELS`), then:
   **lighting** is flattened (a morphological opening at ~1/2 of the short side estimates the paper,
   which is subtracted and divided out); the **ink mask** is a hysteresis threshold between a
   noise floor (paper + 5 robust sigma, at least 30/255) and Otsu's threshold, so noise and
   paper texture never seed ink; **specks, ruled lines and paper edges** are dropped
   (connected components by size and position; long thin runs of a line kernel);
5. the remaining ink is **cropped and scaled** so one digit (the median height of its tall parts)
   is 20/28 of the strip height, the MNIST convention, and the whole number at most 25/28 (training
   strips: 21-25); fixed-width heads fit a long number into the width, CTC keeps the natural
   width plus a 4/28-height margin; the **stroke width** is brought to MNIST's ~2.5 px (at 28 px)
   by dilation or erosion at 4x resolution, and the stroke cores **saturate** as in MNIST.

An image without ink (blank page, paper texture, a lone speck) gives ``has_ink=False`` and a
black strip: callers answer "" instead of running a model on noise.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import spec


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} must be a positive integer") from None
    if value < 1:
        raise ValueError(f"environment variable {name}={raw!r} must be a positive integer")
    return value


MAX_PIXELS = _env_int("SEQREC_MAX_PIXELS", 40_000_000)  # a 40 MP photo; refused above (header first)
MAX_ASPECT = _env_int("SEQREC_MAX_ASPECT", 50)  # longest side / shortest side, for images and ink
WORK_PIXELS = 250_000  # larger images are reduced to about this before cleaning (speed) ...
REFINE_BELOW = 32  # ... and ink shorter than this (px) there is read again from the full-size pixels
INK_THRESHOLD = spec.INK_THRESHOLD  # the strip composer's ink threshold; also the lowest ink contrast
INK_HEIGHT = 20 / 28  # MNIST: digit ink ~20 px in a 28 px box; one digit is scaled to this ...
MAX_INK = 25 / 28  # ... but the ink of a whole number at most this tall (training strips: 21-25 of 28)
KEEP_MIN_INK = 10 / 28  # at model height, ink at least this tall (of H) is kept as it is
BACKGROUND_MAX = 0.1  # border median above this (after polarity) is not a clean strip
NOISY_STRIP = 0.045  # pixel noise (robust sigma) above training's (std <= 0.06 of white: sigma <= 0.037)
CTC_MARGIN = 4 / 28  # black margin each side of the ink for the CTC head (of H)
FIT_MARGIN = 2  # px each side when a fixed-width head has to scale a long number down
STROKE = 2.5 / 28  # MNIST stroke width, as a fraction of the strip height
THIN, THICK = 1.5 / 28, 4.5 / 28  # strokes outside this band (of H) are normalised ...
THICK_TO = 3 / 28  # ... thin ones to STROKE, thick ones to this (MNIST's thicker quarter)
MID = 4  # stroke width is normalised at this multiple of the output size
RAMP = (0.25, 0.75)  # ink from this fraction of the stroke core's contrast (0) to this (1)
MIN_STRONG = 0.2  # ink must somewhere be this much darker than its paper (of white)
MIN_AREA = 6  # px of ink (at working size) below which an image counts as blank
SMALL_INK = 16  # px of ink height in the input below which we warn
TALL = "the writing is taller than wide: seqrec reads one row of digits; is the image rotated?"
TALL_RATIO = 1.2  # ink box height / width above which stacked ink warns TALL (a turned "47" is ~1.3)
LIMIT_HINT = "pass max_pixels= or set the environment variable SEQREC_MAX_PIXELS to raise it"
ASPECT_HINT = "set the environment variable SEQREC_MAX_ASPECT (or seqrec.imaging.MAX_ASPECT) to raise it"


class ImageTooLargeError(ValueError):
    """An image over the pixel or aspect-ratio limit (refused before its pixels are decoded)."""


@dataclass
class Prepared:
    """One image, ready for a model: ``strip`` (float32 (height, W') in [0, 1], white ink on black),
    whether it was ``inverted``, whether any ink was found, the ink box (top, bottom, left, right;
    ends exclusive) in input pixels, and a ``warning`` for the user, or None."""

    strip: np.ndarray
    inverted: bool
    has_ink: bool
    ink_box: tuple[int, int, int, int] | None = None
    warning: str | None = None


@dataclass
class PreparedBatch:
    """A batch: ``runs`` of (k, height, W') float32 strips in input order (clean strips stay one
    view of the input batch), and per image ``inverted``, ``has_ink`` and ``warnings``."""

    runs: list
    inverted: np.ndarray
    has_ink: np.ndarray
    warnings: list


# ---------------------------------------------------------------------------------- limits
def check_shape(h: int, w: int, *, max_pixels: int | None = None, label: str = "image") -> None:
    """Refuse an image with no pixels, more than ``max_pixels`` (default :data:`MAX_PIXELS`) or a
    side ratio above :data:`MAX_ASPECT`. Cheap: call it before decoding or any other work."""
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    if h < 1 or w < 1:
        raise ValueError(f"{label} has no pixels ({w}x{h})")
    if h * w > limit:
        raise ImageTooLargeError(f"{label} is {w}x{h} = {w * h:,} pixels; the limit is {limit:,} pixels ({LIMIT_HINT})")
    if max(h, w) > MAX_ASPECT * min(h, w):
        raise ImageTooLargeError(
            f"{label} is {w}x{h} pixels, a side ratio of {max(h, w) / min(h, w):,.0f}:1; the limit is {MAX_ASPECT}:1 "
            f"(seqrec reads one row of digits; crop the image to the number, or {ASPECT_HINT})"
        )


# ---------------------------------------------------------------------------------- loading
def load_image(obj, *, max_pixels: int | None = None) -> tuple[np.ndarray, float]:
    """A path, encoded bytes or PIL image -> (grayscale (h, w) pixels, value of white).
    EXIF rotation is applied; the pixel and side-ratio limits are checked from the header."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    if isinstance(obj, Image.Image):
        check_shape(obj.height, obj.width, max_pixels=limit)
        return pil_gray(ImageOps.exif_transpose(obj))
    if isinstance(obj, (bytes, bytearray)):
        source, label = io.BytesIO(bytes(obj)), "image bytes"
    else:
        path = Path(obj).expanduser()
        label = str(path)
        if not path.exists():
            raise FileNotFoundError(f"image file {label!r} does not exist")
        if path.is_dir():
            raise ValueError(f"{label} is a folder, not an image file")
        source = path
    try:
        with warnings.catch_warnings():  # PIL's soft limit: ours, checked next from the header, replaces it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                check_shape(im.height, im.width, max_pixels=limit, label=label)
                if im.format == "JPEG" and im.width * im.height > 4 * WORK_PIXELS:  # decode big photos reduced
                    side = int(2 * WORK_PIXELS**0.5)
                    im.draft(im.mode if im.mode in ("L", "RGB") else None, (side, side))
                im.load()
                return pil_gray(ImageOps.exif_transpose(im))
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError as err:  # over twice PIL's limit: refused inside Image.open
        raise ImageTooLargeError(
            f"{label} is too large to decode ({err}); the limit is {limit:,} pixels ({LIMIT_HINT})"
        ) from None
    except UnidentifiedImageError:
        raise ValueError(f"{label} is not an image file (PIL cannot identify it)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{label} is not a readable image ({type(err).__name__}: {err})") from None


def _composite(gray: np.ndarray, alpha: np.ndarray, white: float) -> np.ndarray:
    """Transparent pixels become a background contrasting with the opaque (ink) pixels, so a
    canvas drawing with a transparent background reads like one on paper. ``alpha`` in [0, 1]."""
    if alpha.min() >= 0.98:
        return gray
    opaque = alpha > 0.5
    ink = float(gray[opaque].mean()) if opaque.any() else white
    background = np.float32(0.0 if ink > white / 2 else white)
    return gray.astype(np.float32) * alpha + background * (1.0 - alpha)


def pil_gray(im) -> tuple[np.ndarray, float]:
    """Any PIL image -> (grayscale pixels, value of white): uint8 and 255 for 8-bit images."""
    if im.width < 1 or im.height < 1:
        raise ValueError(f"image has no pixels ({im.width}x{im.height})")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16-bit, 32-bit and float images
        a = np.asarray(im, np.float32)
        peak = float(a.max())
        top = 65535.0 if im.mode.startswith("I;16") else 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
        return a, top
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), np.float32) / 255.0
        return _composite(np.asarray(rgba.convert("L")), alpha, 255.0), 255.0
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return np.asarray(im.convert("L")), 255.0


def white_of(a: np.ndarray) -> float:
    """The value of white of a raw array: 255 for uint8, 1 for bool and for numbers all <= 1, else 255."""
    if a.dtype == np.uint8:
        return 255.0
    if a.dtype.kind == "b":
        return 1.0
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError("image array contains NaN or infinite values")
    return 1.0 if float(a.max()) <= 1.0 else 255.0


def color_gray(a: np.ndarray, white: float | None = None) -> tuple[np.ndarray, float]:
    """An (H, W, 3) RGB or (H, W, 4) RGBA array of any number type -> (grayscale, value of white)."""
    check_shape(a.shape[0], a.shape[1])
    white = white_of(a) if white is None else float(white)
    if a.dtype == np.uint8:
        rgb = a[..., :3]
    else:
        rgb = a[..., :3].astype(np.float32)
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if a.shape[-1] == 4:
        gray = _composite(gray, np.clip(a[..., 3].astype(np.float32) / np.float32(white), 0.0, 1.0), white)
    return gray, white


# ---------------------------------------------------------------------------------- polarity
def border(x: np.ndarray) -> np.ndarray:
    """(n, k) border pixels of each of (n, h, w) images (a frame ~1/50 of the short side, >= 1 px)."""
    n, h, w = x.shape
    k = max(1, min(h, w) // 50)
    return np.concatenate(
        [x[:, :k].reshape(n, -1), x[:, -k:].reshape(n, -1), x[:, :, :k].reshape(n, -1), x[:, :, -k:].reshape(n, -1)],
        axis=1,
    )


def light_background(gray: np.ndarray, white: float = 255.0) -> bool:
    """True when the border of an (h, w) image is light: dark ink on light paper."""
    return bool(np.median(border(np.asarray(gray)[None])) / white > 0.5)


def _check_invert(invert) -> None:
    if invert is not None and not isinstance(invert, (bool, np.bool_)):
        raise ValueError(f"invert must be None (auto), True or False, got {invert!r}")


def _to_ink(raw: np.ndarray, white: float, invert, frame: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (n, h, w) -> (float32 in [0, 1] with bright ink, inverted (n,), background level (n,)).
    The background is the median of the border (``frame``: strips) or of the whole picture
    (photos, where a table or a shadow may line the border but paper fills most of it)."""
    n, h, w = raw.shape
    x = raw.astype(np.float32)  # always a fresh copy
    step = _sample_step(h, w)
    med = np.median(border(x) if frame else x[:, ::step, ::step].reshape(n, -1), axis=1) / white
    inv = med > 0.5 if invert is None else np.full(n, bool(invert))
    if inv.any():  # in raw units, so 255 - v is exact and an inverted strip maps back bit for bit
        x[inv] = np.float32(white) - x[inv]
    if white != 1.0:
        x /= np.float32(white)  # a division, as in training (BaseSystem.to_input)
    if raw.dtype != np.uint8:
        np.clip(x, 0.0, 1.0, out=x)
    return x, inv, np.where(inv, 1.0 - med, med)


# ---------------------------------------------------------------------------------- the pipeline
def prepare_batch(
    raw: np.ndarray,
    white: float = 255.0,
    *,
    height: int = 28,
    width: int = 140,
    fixed_width: bool = True,
    invert: bool | None = None,
) -> PreparedBatch:
    """Raw (n, h, w) pixels (``white`` = value of white) -> strips. Clean model-size strips are
    recognised vectorised and pass through bit for bit (heavy pixel noise on them masked away, see
    :func:`_noisy`); any other image goes through :func:`prepare`."""
    _check_invert(invert)
    n, h, w = raw.shape
    check_shape(h, w)
    if h != height or (fixed_width and w != width):
        items = [prepare(im, white, height=height, width=width, fixed_width=fixed_width, invert=invert) for im in raw]
        return PreparedBatch(
            [p.strip[None] for p in items],
            np.array([p.inverted for p in items], bool),
            np.array([p.has_ink for p in items], bool),
            [p.warning for p in items],
        )
    x, inv, background = _to_ink(raw, white, invert)
    keep = background <= BACKGROUND_MAX
    for i, sigma in _noisy(x, keep):  # heavy pixel noise breaks some nets (the ResNet): mask it away,
        x[i] *= ink_mask(x[i], sigma)[1]  # keeping the unblurred strokes (a blur at 28 px changes shapes)
    has = np.zeros(n, bool)
    if keep.any():
        rows = (x > INK_THRESHOLD).any(axis=2)
        has = rows.any(axis=1)
        ink_h = h - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
        keep &= ~has | (ink_h >= KEEP_MIN_INK * height)
    has_ink = keep & has
    notes: list = [None] * n
    if keep.all():
        return PreparedBatch([x], inv, has_ink, notes)
    runs: list[np.ndarray] = []
    start = 0
    for i in np.flatnonzero(~keep):  # runs of kept images stay batched
        if i > start:
            runs.append(x[start:i])
        p = _prepare_ink(x[i], bool(inv[i]), height, width, fixed_width, 1.0)
        runs.append(p.strip[None])
        has_ink[i], notes[i] = p.has_ink, p.warning
        start = i + 1
    if start < n:
        runs.append(x[start:])
    return PreparedBatch(runs, inv, has_ink, notes)


def _noisy(x: np.ndarray, keep: np.ndarray) -> list[tuple[int, float]]:
    """(index, noise sigma) of kept (n, h, w) strips with pixel noise over :data:`NOISY_STRIP`. A
    clean strip's border is black, so only strips with a speckled border pay for the estimate."""
    speckled = keep & ((border(x) > 0).mean(axis=1) > 0.3)
    sigmas = ((int(i), noise_sigma(x[i])) for i in np.flatnonzero(speckled))
    return [(i, s) for i, s in sigmas if s > NOISY_STRIP]


def prepare(
    gray,
    white: float = 255.0,
    *,
    height: int = 28,
    width: int = 140,
    fixed_width: bool = True,
    invert: bool | None = None,
) -> Prepared:
    """One grayscale (h, w) image (``white`` = value of white) -> :class:`Prepared`."""
    _check_invert(invert)
    a = np.asarray(gray)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    h, w = a.shape
    check_shape(h, w)
    if h == height and (not fixed_width or w == width):
        b = prepare_batch(a[None], white, height=height, width=width, fixed_width=fixed_width, invert=invert)
        strip = b.runs[0][0]
        return Prepared(strip, bool(b.inverted[0]), bool(b.has_ink[0]), _box(strip > INK_THRESHOLD), b.warnings[0])
    full, scale = a, 1.0
    if h * w > WORK_PIXELS:  # reduce big photos first: everything after is per pixel
        f = max(2, round((h * w / WORK_PIXELS) ** 0.5))  # an integer factor: OpenCV's fast area path
        if a.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            a = a.astype(np.float32)
        a = cv2.resize(a, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        scale = a.shape[0] / h
    x, inv, _ = _to_ink(a[None], white, invert, frame=False)
    p = _prepare_ink(x[0], bool(inv[0]), height, width, fixed_width, scale)
    if scale < 1 and p.has_ink and (p.ink_box[1] - p.ink_box[0]) * scale < REFINE_BELOW:
        # small writing in a big photo: read it again from a full-resolution crop around it
        y0, y1, x0, x1 = p.ink_box
        m = max(8, y1 - y0, (x1 - x0) // 4)
        top, left = max(0, y0 - m), max(0, x0 - m)
        q = prepare(
            full[top : y1 + m, left : x1 + m],
            white,
            height=height,
            width=width,
            fixed_width=fixed_width,
            invert=p.inverted,
        )
        if q.has_ink:
            q.ink_box = (q.ink_box[0] + top, q.ink_box[1] + top, q.ink_box[2] + left, q.ink_box[3] + left)
            return q
    return p


def _prepare_ink(x: np.ndarray, inverted: bool, height: int, width: int, fixed_width: bool, scale: float) -> Prepared:
    """Bright-ink float image (at ``scale`` of the input) -> a Prepared strip of the model's size."""
    H, W = height, width
    found = find_ink(x)
    if found is None:
        return Prepared(np.zeros((H, W), np.float32), inverted, False, None, None)
    ink, mask, (y0, y1, x0, x1), n_parts = found
    ch, cw = y1 - y0, x1 - x0
    s = min(INK_HEIGHT * H / digit_height(mask[y0:y1, x0:x1]), MAX_INK * H / ch)
    max_w = (W - 2 * FIT_MARGIN) if fixed_width else (MAX_ASPECT * H - 2 * round(CTC_MARGIN * H))
    if cw * s > max_w:
        s = max(max_w, 1) / cw  # a long number: fit the width instead
    nh, nw = max(1, round(ch * s)), max(1, round(cw * s))
    crop = render(ink[y0:y1, x0:x1], nh, nw, H)
    out_w = W if fixed_width else max(W, nw + 2 * round(CTC_MARGIN * H))
    strip = np.zeros((H, out_w), np.float32)
    top, left = (H - nh) // 2, (out_w - nw) // 2
    strip[top : top + nh, left : left + nw] = crop[:H, :out_w]
    box = tuple(round(v / scale) for v in (y0, y1, x0, x1))
    return Prepared(strip, inverted, True, box, _warning(mask[y0:y1, x0:x1], ch / scale, n_parts))


def _warning(mask: np.ndarray, ink_h: float, n_parts: int) -> str | None:
    h, w = mask.shape
    if h > TALL_RATIO * w and n_parts >= 2 and _stacked(mask):
        return TALL
    if ink_h < SMALL_INK:
        return f"the ink is very small ({ink_h:.0f} px tall); write larger or photograph closer"
    if stroke_width(mask) > 0.3 * h:
        return "the strokes are very thick for the size of the digits; write larger or use a thinner pen"
    return None


def _stacked(mask: np.ndarray, min_band: float = 0.1) -> bool:
    """True when the ink splits into two or more bands one above the other (empty rows between,
    each band at least ``min_band`` of the height): a column of digits, or a number turned on its
    side. Tall digits side by side, as in "11", share their rows."""
    rows = np.concatenate([[False], mask.any(axis=1), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(rows))  # band starts and ends, alternating
    heights = edges[1::2] - edges[::2]
    return int((heights >= min_band * len(mask)).sum()) >= 2


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


# ---------------------------------------------------------------------------------- stages
def flatten(x: np.ndarray) -> np.ndarray:
    """Lighting: bright-ink image in [0, 1] -> ink strength over the local paper level (>= 0 where
    ink). A flat background (a drawing, a clean scan) is one level; otherwise the paper is
    estimated by a morphological opening wider than any stroke (~1/2 of the short side) on a small
    copy, and divided out: (x - paper) / (1 - paper) is 1 - reflectance in the original photo."""
    h, w = x.shape
    f = max(1, int(np.ceil(max(h, w) / 128)))
    small = cv2.resize(x, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA) if f > 1 else x
    level = float(np.median(small))  # the paper: most of the picture
    if np.mean(np.abs(small - level) < 6 / 255) > 0.4:
        paper = np.float32(level)
    else:  # an opening wider than any stroke removes the (bright) ink, however much of it there is
        k = max(3, (min(small.shape) // 2) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        paper = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
        paper = cv2.blur(paper, (k // 2 | 1, k // 2 | 1), borderType=cv2.BORDER_REPLICATE)
        if paper.shape != x.shape:
            paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    return (x - paper) / np.maximum(1.0 - paper, np.float32(0.2))


def _sample_step(h: int, w: int) -> int:
    """Stride that leaves about 20k pixels of an (h, w) image for its statistics (speed)."""
    return max(1, int(np.sqrt(h * w / 20_000)))


def noise_sigma(ink: np.ndarray) -> float:
    """Robust sigma of an (h, w) image's pixel noise, from neighbour differences (~20k pixels)."""
    h, w = ink.shape
    step = _sample_step(h, w)
    diffs = np.diff(ink[::step], axis=1)[:, ::step]
    return 1.4826 * float(np.median(np.abs(diffs))) / np.sqrt(2) if diffs.size else 0.0


def ink_mask(ink: np.ndarray, sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ink strength -> (denoised strength clipped to [0, 1], uint8 mask). Hysteresis: pixels over
    a noise floor (paper + 5 robust sigma, at least 30/255) that are connected to a pixel over
    Otsu's threshold (at least 0.2), so noise and paper texture never seed ink. ``sigma``: the
    image's :func:`noise_sigma` when the caller has it already."""
    h, w = ink.shape
    step = _sample_step(h, w)
    sigma = noise_sigma(ink) if sigma is None else sigma
    if sigma > 0.02:  # visible noise: smooth it away before thresholding
        ink = cv2.GaussianBlur(ink, (0, 0), 1.0)
        sigma *= 0.3
    sample = ink[::step, ::step]
    floor = float(np.percentile(sample, 25)) + 5 * sigma
    low = max(floor, INK_THRESHOLD)
    ink = np.clip(ink, 0.0, 1.0)
    otsu, _ = cv2.threshold((np.clip(sample, 0, 1) * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    med = float(np.median(sample))
    texture = med + 6 * 1.4826 * float(np.median(np.abs(sample - med)))  # smooth blotches of paper texture
    high = max(low, MIN_STRONG, min(otsu / 255, 0.5), texture)
    weak = (ink > low).astype(np.uint8)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    if n <= 1:
        return ink, weak
    seeded = np.bincount(labels[ink > high], minlength=n) > 0
    seeded[0] = False
    return ink, seeded[labels].astype(np.uint8)


def remove_lines(mask: np.ndarray) -> np.ndarray:
    """Drop ruled lines and margins: runs of a line kernel (1/3 of the side) much longer than the
    other ink is tall (or wide), which are then bridged where they crossed a stroke."""
    h, w = mask.shape
    out = mask
    for axis in (0, 1):  # 0: horizontal lines, 1: vertical ones
        length = (w if axis == 0 else h) // 3
        if length < 15:
            continue
        if int(out.sum(axis=1 - axis).max()) < length:
            continue  # no row (column) holds that much ink: no line, skip the morphology
        kernel = np.ones((1, length) if axis == 0 else (length, 1), np.uint8)
        lines = cv2.morphologyEx(out, cv2.MORPH_OPEN, kernel)
        if not lines.any():
            continue
        n, labels, stats, _ = cv2.connectedComponentsWithStats(out & ~lines, connectivity=8)
        real = 1 + np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA)  # not slivers of a line
        extent = _box(np.isin(labels, real)) if len(real) else None
        if extent is None:
            continue  # nothing else: a lone stroke may be a digit (a "1")
        across = extent[1] - extent[0] if axis == 0 else extent[3] - extent[2]
        n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
        drop = np.zeros(n, bool)
        for i in range(1, n):
            long_side = stats[i, cv2.CC_STAT_WIDTH if axis == 0 else cv2.CC_STAT_HEIGHT]
            thick = stats[i, cv2.CC_STAT_HEIGHT if axis == 0 else cv2.CC_STAT_WIDTH]
            drop[i] = long_side >= 2.5 * max(across, 1) and thick <= max(3, long_side // 20)
        if not drop.any():
            continue
        line = drop[labels].astype(np.uint8)
        t = int(max(stats[drop, cv2.CC_STAT_HEIGHT if axis == 0 else cv2.CC_STAT_WIDTH]))
        cleaned = out & ~line
        bridge_kernel = np.ones((t + 3, 1) if axis == 0 else (1, t + 3), np.uint8)
        out = cleaned | (cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, bridge_kernel) & line)
    return out


def keep_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop specks (small next to the largest part) and paper edges (big parts touching the
    border when the writing lies inside). Returns (mask, number of parts kept)."""
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return mask, 0
    x, y, cw, ch, area = (stats[1:, i] for i in range(5))
    touch = (x == 0) | (y == 0) | (x + cw == w) | (y + ch == h)
    inner = ~touch & (area >= MIN_AREA)
    keep = np.ones(n - 1, bool)
    if inner.any():  # the number is inside the picture: border parts bigger than it are edges
        big_h, big_a = ch[inner].max(), area[inner].max()
        keep &= ~(touch & ((ch > 1.5 * big_h) | (cw > 0.5 * w) | (area > 2 * big_a) | (np.minimum(cw, ch) <= 2)))
    if keep.any():
        top_a, top_h = area[keep].max(), ch[keep].max()
        keep &= (area >= max(MIN_AREA, 0.08 * top_a)) | ((ch >= 0.4 * top_h) & (area >= MIN_AREA))
    table = np.concatenate([[False], keep])
    return table[labels].astype(np.uint8), int(keep.sum())


def find_ink(x: np.ndarray):
    """Bright-ink image in [0, 1] -> (ink strength, mask, box (y0, y1, x0, x1), parts) or None."""
    ink, mask = ink_mask(flatten(x))
    mask, parts = keep_components(remove_lines(mask))
    box = _box(mask > 0)
    if box is None or int(mask.sum()) < MIN_AREA or box[1] - box[0] < 2:
        return None
    level = float(np.percentile(ink[mask > 0], 90))  # the stroke core's contrast
    if level < MIN_STRONG:
        return None
    # a ramp around half the core contrast: stroke width as a clean drawing's, whatever the
    # contrast or blur of the photo; edges stay soft for resampling
    near = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    lo, hi = RAMP[0] * level, RAMP[1] * level
    soft = np.clip((ink - lo) / (hi - lo), 0.0, 1.0) * near
    core = (soft > 0.5).astype(np.uint8)
    return soft, core, _box(core > 0) or box, parts


def digit_height(mask: np.ndarray) -> int:
    """The typical height of one digit: the median height of the tall parts of the ink. In a
    training strip each digit is ~20/28 of the height but their union is taller (median 23/28),
    as the digits sit at different heights; scaling the digit, not the union, matches that."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT][stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA]
    if heights.size == 0:
        return mask.shape[0]
    return int(np.median(heights[heights >= 0.6 * heights.max()]))


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in px of a binary mask: twice the distance-transform ridge, minus 1."""
    if not mask.any():
        return 0.0
    m = (mask > 0).astype(np.uint8)
    dt = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    ridge = (dt >= cv2.dilate(dt, np.ones((3, 3), np.uint8))) & (m > 0)
    return float(2 * np.median(dt[ridge]) - 1)


def render(ink: np.ndarray, nh: int, nw: int, height: int) -> np.ndarray:
    """An ink crop -> (nh, nw) float32 in [0, 1] through a MID x copy, where a stroke width outside
    MNIST's (for a strip ``height`` px high) is dilated or eroded toward it and the box re-cropped
    (so it stays nh x nw); the stroke cores then saturate as in MNIST."""
    mh, mw = nh * MID, nw * MID
    interp = cv2.INTER_AREA if mh < ink.shape[0] else cv2.INTER_LINEAR
    mid = cv2.resize(np.ascontiguousarray(ink, np.float32), (mw, mh), interpolation=interp)
    sw = stroke_width(mid > 0.5) / MID  # at output size, measured the same way whatever the input size
    want = STROKE * height if sw < THIN * height else THICK_TO * height if sw > THICK * height else None
    if want is not None and sw > 0:
        k = round(abs(want - sw) * MID) | 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        mid = cv2.copyMakeBorder(mid, k, k, k, k, cv2.BORDER_CONSTANT, value=0)  # room to grow, then re-crop
        mid = (cv2.dilate if want > sw else cv2.erode)(mid, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        box = _box(mid > 0.1 * float(mid.max())) if mid.max() > 0 else None
        if box is not None:
            mid = mid[box[0] : box[1], box[2] : box[3]]
    out = np.clip(cv2.resize(mid, (nw, nh), interpolation=cv2.INTER_AREA), 0.0, None)
    core = out[out > 0.1 * float(out.max())] if out.max() > 0 else out[:0]
    if core.size:  # saturate stroke cores as MNIST does (resampling leaves them grey)
        out = np.clip(out / max(float(np.percentile(core, 75)), 1e-6), 0.0, 1.0)
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------- single digits
def normalize_digit(
    gray, white: float = 255.0, *, invert: bool | None = None, size: int = 28, box: int = 20
) -> np.ndarray:
    """One digit, MNIST style: (size, size) uint8, white on black, the cleaned ink fitted into a
    ``box`` x ``box`` square and centred by mass -- the same stages as :func:`prepare`."""
    _check_invert(invert)
    a = np.asarray(gray)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    check_shape(*a.shape)
    x, _, _ = _to_ink(a[None], white, invert, frame=False)
    found = find_ink(x[0])
    out = np.zeros((size, size), np.float32)
    if found is None:
        return out.astype(np.uint8)
    ink, _, (y0, y1, x0, x1), _ = found
    ch, cw = y1 - y0, x1 - x0
    s = box / max(ch, cw)
    nh, nw = max(1, round(ch * s)), max(1, round(cw * s))
    crop = render(ink[y0:y1, x0:x1], nh, nw, size)
    total = float(crop.sum()) or 1.0
    cy = (crop.sum(1) * np.arange(nh)).sum() / total
    cx = (crop.sum(0) * np.arange(nw)).sum() / total
    top = int(np.clip(round(size / 2 - cy), 0, size - nh))
    left = int(np.clip(round(size / 2 - cx), 0, size - nw))
    out[top : top + nh, left : left + nw] = crop
    return (out * 255).round().astype(np.uint8)

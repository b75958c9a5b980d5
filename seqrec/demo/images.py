"""Uploaded bytes -> the strip a demo model reads: safe decoding, then seqrec's one image pipeline.

Decoding stays here rather than in :func:`seqrec.imaging.load_image` because the demo allows only a
few formats and answers each failure with its own HTTP status (413 bomb, 415 not an image, 400 corrupt).
"""

from __future__ import annotations

import base64
import io
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

from seqrec import imaging
from seqrec.spec import STRIP_SIZE

from .errors import DemoError

DEFAULT_MAX_PIXELS = 40_000_000  # a 40 MP photo; decoding is refused above this
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
MAX_WORK_SIDE = 1600  # JPEG photos are decoded reduced to about this
SMALL_INK_RATIO = 3.5  # ink height below this many stroke widths: strokes merge into blobs
NO_INK = "no ink found: the image looks blank. Write or upload a number."


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an uploaded image safely: header first, size check, then decode."""
    if not data:
        raise DemoError(400, "empty body: send a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DemoError(413, f"image refused as a decompression bomb: {e}") from None
    except Exception:
        raise DemoError(
            415, f"not a readable image; send one of: {', '.join(f.lower() for f in ALLOWED_FORMATS)}"
        ) from None
    w, h = im.size
    if w < 1 or h < 1:
        raise DemoError(400, f"image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise DemoError(413, f"image is {w}x{h} = {w * h:,} pixels; the limit is {max_pixels:,} pixels")
    if im.format == "JPEG":  # decode photos at reduced scale straight away
        im.draft(im.mode if im.mode in ("L", "RGB") else None, (MAX_WORK_SIDE, MAX_WORK_SIDE))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
        im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DemoError(413, f"image refused as a decompression bomb: {e}") from None
    except Exception as e:
        raise DemoError(400, f"could not decode the {im.format or 'image'} data: {e}") from None
    return im


def prepare(
    image: Image.Image | np.ndarray, size: tuple[int, int] = STRIP_SIZE, invert: bool | None = None, fit: bool = True
) -> tuple[np.ndarray, imaging.Prepared]:
    """(uint8 ``size`` strip, white ink on black; :class:`seqrec.imaging.Prepared` of the image).

    The strip comes from :func:`seqrec.imaging.prepare` -- the pipeline ``Recognizer`` runs -- or,
    with ``fit=False``, from resizing the whole image; the Prepared says whether the image holds ink
    and what is hard to read about it either way. Pipeline errors become DemoErrors (413, 400)."""
    H, W = size
    if isinstance(image, Image.Image):
        gray, white = imaging.pil_gray(image)
    else:
        gray = np.asarray(image)
        if gray.ndim != 2 or gray.size == 0:
            raise DemoError(400, f"expected a 2-D grayscale image, got shape {gray.shape}")
        white = imaging.white_of(gray)
    try:
        if fit:
            p = imaging.prepare(gray, white, height=H, width=W, fixed_width=True, invert=invert)
            return (p.strip * 255).round().astype(np.uint8), p
        imaging.check_shape(*gray.shape)
        inverted = imaging.light_background(gray, white) if invert is None else bool(invert)
        x = np.asarray(gray, np.float32) * np.float32(255.0 / white)
        x = cv2.resize(x, (W, H), interpolation=cv2.INTER_AREA)
        strip = np.clip(255.0 - x if inverted else x, 0, 255).round().astype(np.uint8)
        return strip, imaging.prepare(gray, white, height=H, width=W, fixed_width=True, invert=inverted)
    except imaging.ImageTooLargeError as e:
        raise DemoError(413, str(e)) from None
    except ValueError as e:
        raise DemoError(400, str(e)) from None


def prepare_strip(
    image: Image.Image | np.ndarray, size: tuple[int, int] = STRIP_SIZE, invert: bool | None = None, fit: bool = True
) -> tuple[np.ndarray, bool]:
    """Turn a drawing, scan or photo into a ``size`` = (H, W) uint8 strip, white ink on black
    (lighting, specks, ruled lines, ink scaled to ~20/28 of the height or fitted to the width, stroke
    width). ``invert=None`` guesses polarity (a light background means dark ink). With ``fit=False``
    the whole image is only resized. Returns (strip, inverted)."""
    strip, p = prepare(image, size, invert, fit)
    return strip, p.inverted


def ink_warning(p: imaging.Prepared, seen: np.ndarray, image: Image.Image | None = None) -> dict | None:
    """``{"code", "message"}`` when the input is hard to read, else None: ``no_ink`` when the pipeline
    found no ink or the strip the model sees is empty; ``tall`` for writing taller than wide (a rotated
    image); ``small_ink`` for the pipeline's other warnings (tiny writing, strokes thick for their size)
    and for strokes that merge in ``image`` (see :func:`strokes_merge`)."""
    if not p.has_ink or not seen.any():
        return {"code": "no_ink", "message": NO_INK}
    if p.warning is not None:
        return {"code": "tall" if p.warning == imaging.TALL else "small_ink", "message": p.warning}
    merge = strokes_merge(image, p.inverted) if image is not None else None
    return {"code": "small_ink", "message": merge} if merge else None


def strokes_merge(im: Image.Image, inverted: bool) -> str | None:
    """A "write larger" message when the ink is under SMALL_INK_RATIO stroke widths tall, else None.
    Kept until seqrec.imaging warns at this ratio: it warns from 1 / 0.3 = 3.3 stroke widths."""
    small = im.convert("L")
    small.thumbnail((512, 512), Image.BOX)  # a copy; ratios do not depend on the scale
    scale = im.height / small.height
    gray = np.asarray(small, np.float32)
    if inverted:
        gray = 255.0 - gray
    mask = (gray > (float(np.median(gray)) + float(gray.max())) / 2).astype(np.uint8)
    rows = np.nonzero(mask)[0]
    if rows.size == 0:
        return None
    height = float(np.percentile(rows, 99.5) - np.percentile(rows, 0.5) + 1)  # ignores a stray speck
    stroke = 2.0 * float(np.percentile(cv2.distanceTransform(mask, cv2.DIST_L2, 3)[mask > 0], 90))
    if height >= SMALL_INK_RATIO * max(stroke, 1.0):
        return None
    return (
        f"write larger: the writing is {height * scale:.0f} px tall with {stroke * scale:.0f} px strokes, "
        "so its strokes may merge"
    )


def png_data_url(strip: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(strip, "L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def as_strip(t) -> np.ndarray:
    """First image of a preprocess() result ((N,1,H,W) in [0,1]) as uint8 (H, W)."""
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    a = np.asarray(t, np.float32)
    while a.ndim > 2:
        a = a[0]
    return (np.clip(a, 0, 1) * 255).round().astype(np.uint8)

"""What the demo does for a request, apart from HTTP: read a number from an image, save a labelled strip.

Saved samples use seqrec's one ``labels.csv`` format (:mod:`seqrec.data.samples`)::

    <save_dir>/images/<uuid4 hex>.png   # H x W grayscale strip, white ink on black
    <save_dir>/labels.csv               # header "filename,label"; one row per sample:
                                        # images/<uuid4 hex>.png,<digits>

The app picks every file name; nothing from the request reaches a path.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from PIL import Image

from seqrec.data import samples
from seqrec.data.atomic import replace_file

from .errors import DemoError
from .images import DEFAULT_MAX_PIXELS, as_strip, decode_image, ink_warning, png_data_url, prepare
from .models import Models

DEFAULT_MAX_UPLOAD = 5 * 1024 * 1024
TOKEN_HEADER = "X-Seqrec-Token"  # POSTs carry GET /api/models' token here; a custom header forces a CORS preflight
MAX_LABEL_DIGITS = 32  # a saved label is 1 to this many digits


def flag(value: str | None, name: str) -> bool | None:
    """A tri-state request field: auto (None), 1 or 0."""
    if value is None or value.strip().lower() in ("", "auto", "none"):
        return None
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise DemoError(400, f"{name} must be auto, 1 or 0, got {value!r}")


def validate_label(label: str | None) -> str:
    """The label field, stripped, if it is a labels.csv label of at most MAX_LABEL_DIGITS digits; else 400."""
    label = (label or "").strip()
    try:
        return samples.check_label(label, max_len=MAX_LABEL_DIGITS)
    except samples.SamplesError:
        shown = label if len(label) <= 40 else label[:40] + "..."
        raise DemoError(
            400, f"label must be the number's digits, 1-{MAX_LABEL_DIGITS} of 0-9 (like 4071), got {shown!r}"
        ) from None


class DemoApp:
    """What the HTTP handler calls: per-request work plus the two shared locks."""

    def __init__(
        self,
        models: Models,
        save_dir: str | os.PathLike,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        self.models = models
        self.save_dir = Path(save_dir).expanduser().resolve()
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_pixels = int(max_pixels)
        self.infer_lock = threading.Lock()  # one model call at a time
        self.save_lock = threading.Lock()  # one append to labels.csv at a time
        self.token = secrets.token_urlsafe(24)  # per server run; POSTs must send it back in TOKEN_HEADER

    def info(self) -> dict:
        missing = self.models.missing
        return {
            "models": [
                {
                    "name": n,
                    "source": self.models.sources.get(n, "custom"),
                    "available": n not in missing,
                    "note": missing.get(n, ""),
                }
                for n in self.models.names
            ],
            "default": self.models.default,
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,  # the page refuses bigger images from their header, before drawing them
            "save_dir": str(self.save_dir),
            "token": self.token,  # readable only from this origin: no CORS headers, and the Host is checked
            "token_header": TOKEN_HEADER,
        }

    def _prepare(self, image_bytes: bytes, fields: Mapping[str, str]):
        """(model name, recognizer, uint8 strip for it, the pipeline's Prepared, the decoded image)."""
        name, rec, size = self.models.get(fields.get("model"))
        im = decode_image(image_bytes, self.max_pixels)
        strip, prepared = prepare(
            im, size, invert=flag(fields.get("invert"), "invert"), fit=flag(fields.get("fit"), "fit") is not False
        )
        return name, rec, strip, prepared, im

    def predict(self, image_bytes: bytes, fields: Mapping[str, str]) -> dict:
        t0 = time.perf_counter()
        name, rec, strip, prepared, im = self._prepare(image_bytes, fields)
        try:
            with self.infer_lock:
                seen = as_strip(rec.preprocess(strip, invert=False))
                pred = rec.predict(strip, invert=False, return_confidence=True)[0]
        except Exception as e:
            raise DemoError(500, f"model {name!r} failed: {type(e).__name__}: {e}") from None
        text = str(pred.text)
        confs = [float(c) for c in (getattr(pred, "digit_confidences", None) or [])]
        digits = [{"digit": d, "confidence": confs[i] if i < len(confs) else None} for i, d in enumerate(text)]
        return {
            "text": text,
            "confidence": float(pred.confidence),
            "digits": digits,
            "model": name,
            "strip": png_data_url(seen),
            "input_size": list(seen.shape),
            "inverted": prepared.inverted,
            "source_size": list(im.size),
            "warning": ink_warning(prepared, seen, im),
            "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1),
        }

    def save(self, image_bytes: bytes, fields: Mapping[str, str]) -> dict:
        label = validate_label(fields.get("label"))
        name, rec, strip, prepared, im = self._prepare(image_bytes, fields)
        with self.infer_lock:
            seen = as_strip(rec.preprocess(strip, invert=False))
        if (ink_warning(prepared, seen, im) or {}).get("code") == "no_ink":  # it would teach the model to read noise
            raise DemoError(
                400,
                "the image has no ink: nothing that looks like writing was found (blank, all-black "
                "or all-white image), so it was not saved",
            )
        filename = uuid.uuid4().hex + ".png"  # chosen here, never taken from the request
        images = self.save_dir / samples.IMAGES_DIR
        with self.save_lock:
            images.mkdir(parents=True, exist_ok=True)
            replace_file(images / filename, lambda f: Image.fromarray(seen, "L").save(f, format="PNG"))
            count = samples.append_sample(self.save_dir, samples.image_filename(filename), label)
        return {
            "ok": True,
            "filename": filename,
            "path": samples.image_filename(filename),
            "label": label,
            "model": name,
            "count": count,
            "save_dir": str(self.save_dir),
            "strip": png_data_url(seen),
        }

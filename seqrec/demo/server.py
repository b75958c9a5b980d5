"""``seqrec demo``: a local web app that reads a whole drawn (or photographed) number.

Server stack: the standard library's :class:`http.server.ThreadingHTTPServer` -- no new
dependency, nothing fetched at run time (the page is plain HTML/JS/CSS shipped in
``seqrec/demo/static``), and plenty for one person's local demo.

HTTP API (all answers are JSON; errors are ``{"error": "..."}`` with a 4xx/5xx status):

``GET /api/models``
    ``{"models": [{"name", "source", "available", "note"}], "default", "max_upload_bytes", "max_pixels",
    "save_dir", "token", "token_header"}``.  Every POST must send ``token`` back in the ``X-Seqrec-Token``
    header (403 otherwise): only the demo's own page can read it, and a custom header makes
    browsers ask (CORS preflight, refused here) before any other site may send one.
``POST /api/predict[?model=NAME&invert=auto|1|0&fit=1|0]``
    Body: the image itself (``Content-Type: image/png``, ``image/jpeg``, ... or
    ``application/octet-stream``), or ``multipart/form-data`` with a file field ``image``
    and optional text fields ``model``, ``invert``, ``fit``.  Answers
    ``{"text", "confidence", "digits": [{"digit", "confidence"}], "model",
    "strip": "data:image/png;base64,...", "input_size": [H, W], "inverted", "warning", "elapsed_ms"}``
    where ``strip`` is exactly what the model received (white ink on black) and ``warning`` is
    null or ``{"code": "no_ink" | "small_ink", "message"}`` (blank input; writing too small
    for its stroke width, "write larger").
``POST /api/save?label=DIGITS[&model=NAME]``
    Same body as ``/api/predict`` plus a ``label`` (query or form field: ASCII digits
    only, 1-32 of them).  Preprocesses the image exactly as for prediction and appends it
    (400 if the strip has no ink) to the dataset folder (``--save-dir``, default ``./seqrec_samples``)::

        <save_dir>/images/<uuid4 hex>.png   # H x W grayscale strip, white ink on black
        <save_dir>/labels.csv               # header "filename,label"; one row per sample,
                                            # filename relative to images/, label a digit string

    The server picks every file name; nothing from the request reaches a path.

Safety: binds 127.0.0.1 unless told otherwise; bodies over ``max_upload_bytes`` (5 MB)
get 413; images are opened header-first and refused (413) above ``max_pixels`` before
any pixel is decoded; non-images get 415, corrupt ones 400; requests from another web
origin (``Origin: null`` included), POSTs without the token, and on loopback requests with a
foreign ``Host`` get 403; a client that hangs up early costs one log line; model calls run one at a time
under a lock, everything else is per-request state.
"""
from __future__ import annotations

import argparse
import base64
import csv
import email.parser
import email.policy
import hmac
import io
import ipaddress
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
from PIL import Image, ImageOps

from seqrec import imaging

PRETRAINED = ("ctc", "multihead", "multilabel")
DEFAULT_MAX_UPLOAD = 5 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000  # a 40 MP photo; decoding is refused above this
DEFAULT_SIZE = (28, 140)
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
TOKEN_HEADER = "X-Seqrec-Token"  # POSTs carry GET /api/models' token here; a custom header forces a CORS preflight
SMALL_INK_RATIO = 3.5  # ink height below this many stroke widths: digits merge into blobs, so "write larger"
MIN_INK_PX = 12  # ink this few pixels tall holds too little detail to read
MIN_INK_CONTRAST = 40  # grey levels above the paper; blank paper's noise and shading stay below
LABEL_RE = re.compile(r"[0-9]{1,32}")
MAX_WORK_SIDE = 1600  # photos are reduced to this before cleaning
DRAIN_LIMIT = 64 * 1024 * 1024  # read (and drop) oversized bodies up to this, to answer 413 cleanly
STATIC_FILES = {  # URL path -> (file in seqrec/demo/static, content type); nothing else is served
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class DemoError(Exception):
    """A request the server refuses; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


# --------------------------------------------------------------------------- images


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


def to_gray(im: Image.Image) -> np.ndarray:
    """Grayscale float32 in [0, 255] from seqrec.imaging's loader (alpha, 16-bit, palette)."""
    gray, white = imaging.pil_gray(im)
    return np.asarray(gray, np.float32) * np.float32(255.0 / white)


def prepare_strip(
    image: Image.Image | np.ndarray, size: tuple[int, int] = DEFAULT_SIZE, invert: bool | None = None, fit: bool = True
) -> tuple[np.ndarray, bool]:
    """Turn a drawing, scan or photo into a ``size`` = (H, W) uint8 strip, white ink on black,
    with :func:`seqrec.imaging.prepare` -- the pipeline ``Recognizer`` runs (lighting, specks,
    ruled lines, ink scaled to ~20/28 of the height or fitted to the width, stroke width).
    ``invert=None`` guesses polarity from the border (a light border means dark ink).
    With ``fit=False`` the whole image is only resized. Returns (strip, inverted)."""
    H, W = size
    if isinstance(image, Image.Image):
        gray, white = imaging.pil_gray(image)
    else:
        gray = np.asarray(image)
        if gray.ndim != 2 or gray.size == 0:
            raise DemoError(400, f"expected a 2-D grayscale image, got shape {gray.shape}")
        white = imaging.white_of(gray)
    try:
        if not fit:
            imaging.check_shape(*gray.shape)
            inverted = imaging.light_background(gray, white) if invert is None else bool(invert)
            x = np.asarray(gray, np.float32) * np.float32(255.0 / white)
            x = cv2.resize(x, (W, H), interpolation=cv2.INTER_AREA)
            return np.clip(255.0 - x if inverted else x, 0, 255).round().astype(np.uint8), inverted
        p = imaging.prepare(gray, white, height=H, width=W, fixed_width=True, invert=invert)
    except imaging.ImageTooLargeError as e:
        raise DemoError(413, str(e)) from None
    except ValueError as e:
        raise DemoError(400, str(e)) from None
    return (p.strip * 255).round().astype(np.uint8), p.inverted


def png_data_url(strip: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(strip, "L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _as_strip(t) -> np.ndarray:
    """First image of a preprocess() result ((N,1,H,W) in [0,1]) as uint8 (H, W)."""
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    a = np.asarray(t, np.float32)
    while a.ndim > 2:
        a = a[0]
    return (np.clip(a, 0, 1) * 255).round().astype(np.uint8)


# --------------------------------------------------------------------------- models


class Models:
    """Named recognizers, each given as an object with ``predict``/``preprocess`` or as a
    zero-argument factory that builds one; factories run on first use."""

    def __init__(self, recognizers: Mapping[str, Any], default: str | None = None,
                 sources: Mapping[str, str] | None = None, missing: Mapping[str, str] | None = None):
        if not recognizers:
            raise ValueError("need at least one recognizer")
        self._entries = dict(recognizers)
        self.default = default if default is not None else next(iter(self._entries))
        if self.default not in self._entries:
            raise ValueError(f"default model {self.default!r} is not among {list(self._entries)}")
        self.sources = dict(sources or {})
        self.missing = dict(missing or {})  # name -> why it cannot load (shown disabled in the switcher)
        self._loaded: dict[str, tuple[Any, tuple[int, int]]] = {}
        self._load_lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str | None) -> tuple[str, Any, tuple[int, int]]:
        name = name or self.default
        if name not in self._entries:
            raise DemoError(400, f"unknown model {name!r}; available: {', '.join(self._entries)}")
        with self._load_lock:
            if name not in self._loaded:
                obj = self._entries[name]
                try:
                    rec = obj if hasattr(obj, "predict") else obj()
                    size = _input_size(rec)
                except DemoError:
                    raise
                except Exception as e:
                    raise DemoError(503, f"model {name!r} could not be loaded: {type(e).__name__}: {e}") from None
                self._loaded[name] = (rec, size)
            rec, size = self._loaded[name]
        return name, rec, size


def _input_size(rec) -> tuple[int, int]:
    """(H, W) of the strips a recognizer takes."""
    for attr in ("input_size", "image_size"):
        v = getattr(rec, attr, None)
        if isinstance(v, (tuple, list)) and len(v) == 2:
            return int(v[0]), int(v[1])
    h, w = getattr(rec, "height", None), getattr(rec, "width", None)
    if isinstance(h, int) and isinstance(w, int):
        return h, w
    probe = rec.preprocess(np.zeros(DEFAULT_SIZE, np.uint8), invert=False)
    shape = tuple(getattr(probe, "shape", ()))
    return (int(shape[-2]), int(shape[-1])) if len(shape) >= 2 else DEFAULT_SIZE


# --------------------------------------------------------------------------- app


def _flag(value: str | None, name: str) -> bool | None:
    if value is None or value.strip().lower() in ("", "auto", "none"):
        return None
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise DemoError(400, f"{name} must be auto, 1 or 0, got {value!r}")


def validate_label(label: str | None) -> str:
    label = (label or "").strip()
    if not LABEL_RE.fullmatch(label):
        shown = label if len(label) <= 40 else label[:40] + "..."
        raise DemoError(400, f"label must be the number's digits, 1-32 of 0-9 (like 4071), got {shown!r}")
    return label


def ink_warning(im: Image.Image, inverted: bool, strip: np.ndarray) -> dict | None:
    """``{"code", "message"}`` when the input is hard to read, else None: ``no_ink`` when the
    strip the model sees is empty or the image holds nothing darker (or lighter) than paper
    noise, ``small_ink`` when the writing is only a few stroke widths tall (pen strokes merge
    into blobs) or a few pixels tall."""
    no_ink = {"code": "no_ink", "message": "no ink found: the image looks blank. Write or upload a number."}
    if not strip.any():
        return no_ink
    small = im.convert("L")
    small.thumbnail((512, 512), Image.BOX)  # a copy; ratios do not depend on the scale
    scale = im.height / small.height
    gray = np.asarray(small, np.float32)
    if inverted:
        gray = 255.0 - gray
    level = float(np.median(gray))
    if float(cv2.GaussianBlur(gray, (0, 0), 1.0).max()) - level < MIN_INK_CONTRAST:  # blur: noise is not ink
        return no_ink
    mask = (gray > (level + float(gray.max())) / 2).astype(np.uint8)
    rows = np.nonzero(mask)[0]
    height = float(np.percentile(rows, 99.5) - np.percentile(rows, 0.5) + 1)  # ignores a stray speck
    stroke = 2.0 * float(np.percentile(cv2.distanceTransform(mask, cv2.DIST_L2, 3)[mask > 0], 90))
    if height * scale < MIN_INK_PX or height < SMALL_INK_RATIO * max(stroke, 1.0):
        return {"code": "small_ink", "message": f"write larger: the writing is {height * scale:.0f} px tall with "
                f"{stroke * scale:.0f} px strokes, so its strokes may merge"}
    return None


class DemoApp:
    """What the HTTP handler calls: per-request work plus the two shared locks."""

    def __init__(self, models: Models, save_dir: str | os.PathLike, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
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
            "models": [{"name": n, "source": self.models.sources.get(n, "custom"), "available": n not in missing,
                        "note": missing.get(n, "")} for n in self.models.names],
            "default": self.models.default,
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,  # the page refuses bigger images from their header, before drawing them
            "save_dir": str(self.save_dir),
            "token": self.token,  # readable only from this origin: no CORS headers, and the Host is checked
            "token_header": TOKEN_HEADER,
        }

    def _strip(self, image_bytes: bytes, fields: Mapping[str, str]):
        name, rec, size = self.models.get(fields.get("model"))
        im = decode_image(image_bytes, self.max_pixels)
        strip, inverted = prepare_strip(im, size, invert=_flag(fields.get("invert"), "invert"),
                                        fit=_flag(fields.get("fit"), "fit") is not False)
        return name, rec, size, strip, inverted, im

    def predict(self, image_bytes: bytes, fields: Mapping[str, str]) -> dict:
        t0 = time.perf_counter()
        name, rec, size, strip, inverted, im = self._strip(image_bytes, fields)
        try:
            with self.infer_lock:
                seen = _as_strip(rec.preprocess(strip, invert=False))
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
            "inverted": inverted,
            "source_size": list(im.size),
            "warning": ink_warning(im, inverted, seen),
            "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1),
        }

    def save(self, image_bytes: bytes, fields: Mapping[str, str]) -> dict:
        label = validate_label(fields.get("label"))
        name, rec, size, strip, inverted, im = self._strip(image_bytes, fields)
        with self.infer_lock:
            seen = _as_strip(rec.preprocess(strip, invert=False))
        if (ink_warning(im, inverted, seen) or {}).get("code") == "no_ink":  # it would teach the model to read noise
            raise DemoError(400, "the image has no ink: nothing that looks like writing was found (blank, all-black "
                            "or all-white image), so it was not saved")
        filename = uuid.uuid4().hex + ".png"  # chosen here, never taken from the request
        images = self.save_dir / "images"
        with self.save_lock:
            images.mkdir(parents=True, exist_ok=True)
            tmp = images / (filename + ".part")
            Image.fromarray(seen, "L").save(tmp, format="PNG")
            os.replace(tmp, images / filename)
            from seqrec.data import samples  # the one labels.csv format: rows name images/<name>

            count = samples.append_sample(self.save_dir, samples.image_filename(filename), label)
        return {"ok": True, "filename": filename, "path": f"images/{filename}", "label": label, "model": name,
                "count": count, "save_dir": str(self.save_dir), "strip": png_data_url(seen)}


# --------------------------------------------------------------------------- HTTP


def _parse_multipart(body: bytes, content_type: str) -> tuple[bytes | None, dict[str, str]]:
    """(image bytes or None, text fields) of a multipart/form-data body, parsed by the stdlib email parser."""
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    boundary = msg.get_param("boundary")
    if not msg.is_multipart() or not boundary or len(boundary) > 200:
        raise DemoError(400, "multipart body without a boundary")
    if not msg.get_payload():
        raise DemoError(400, "malformed multipart body: no part found for its boundary")
    image, fields = None, {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        if name in ("image", "file"):
            image = content
        elif isinstance(name, str) and name:
            fields[name] = content.decode("utf-8", "replace")
    return image, fields


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


class DemoHandler(BaseHTTPRequestHandler):
    server_version = "seqrec-demo"
    timeout = 60  # seconds a slow client may stall a socket read
    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> DemoApp:
        return self.server.app  # type: ignore[attr-defined]

    # ---- responses
    def _send(self, status: int, body: bytes, content_type: str, extra: Mapping[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict):
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str):
        self._json(status, {"error": message, "status": status})

    def log_request(self, code="-", size="-"):
        if not getattr(self.server, "quiet", False) or (isinstance(code, int) and code >= 400):
            super().log_request(code, size)

    # ---- checks
    def _check_origin(self):
        host = self.headers.get("Host", "")
        bound = self.server.server_address[0]  # type: ignore[index]
        if _is_loopback(str(bound)):
            hostname = urlsplit("//" + host).hostname or ""
            if not _is_loopback(hostname):
                raise DemoError(403, f"unexpected Host header {host!r}; open the demo at http://127.0.0.1:<port>/")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":  # "null" too: a sandboxed frame on any site sends it
            raise DemoError(403, f"cross-origin request from {origin!r} refused; only this demo's own page may post")

    def _check_token(self):
        sent = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), self.app.token.encode("ascii")):
            why = "missing" if not sent else "wrong"
            raise DemoError(403, f"{why} {TOKEN_HEADER} header; send the token that GET /api/models returns")

    def _client_gone(self, e: OSError):
        """The client closed the connection (the page cancels outdated reads): one quiet line, no answer."""
        self.close_connection = True
        self.log_message("client closed the connection before the answer to %s %s (%s)", getattr(self, "command", None)
                         or "a request", urlsplit(getattr(self, "path", "") or "").path, type(e).__name__)

    def handle(self):
        try:
            super().handle()
        except ConnectionError as e:  # reset while reading the next request line
            self._client_gone(e)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise DemoError(411, "chunked uploads are not supported; send a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            raise DemoError(411, "missing Content-Length")
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise DemoError(400, f"bad Content-Length {length!r}") from None
        limit = self.app.max_upload_bytes
        if n > limit:
            self.close_connection = True
            if n <= DRAIN_LIMIT:  # read it away so the client sees our answer, not a reset
                left = n
                while left > 0:
                    got = self.rfile.read(min(left, 1 << 20))
                    if not got:
                        break
                    left -= len(got)
            self._body_read = True
            raise DemoError(413, f"upload is {n:,} bytes; the limit is {limit:,} bytes ({limit / 2**20:.0f} MB)")
        data = self.rfile.read(n)
        self._body_read = True
        if len(data) < n:
            self.close_connection = True
            raise DemoError(400, "incomplete body")
        return data

    def _image_and_fields(self, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        body = self._read_body()
        ctype = self.headers.get("Content-Type", "")
        mime = ctype.split(";")[0].strip().lower()
        fields: dict[str, str] = {}
        if mime == "multipart/form-data":
            image, fields = _parse_multipart(body, ctype)
            if image is None:
                raise DemoError(400, "multipart body has no 'image' file field")
        elif mime in ("", "application/octet-stream") or mime.startswith("image/"):
            image = body
        else:
            raise DemoError(415, f"unsupported Content-Type {mime!r}; send the image itself (image/png, image/jpeg) "
                            "or multipart/form-data")
        for k, v in query.items():
            fields.setdefault(k, v)
        return image, fields

    # ---- routes
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        try:
            self._check_origin()
            path = urlsplit(self.path).path
            if path in STATIC_FILES:
                name, ctype = STATIC_FILES[path]
                body = (resources.files("seqrec.demo") / "static" / name).read_bytes()
                self._send(200, body, ctype, {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"})
            elif path == "/api/models":
                self._json(200, self.app.info())
            elif path == "/api/health":
                self._json(200, {"ok": True})
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                raise DemoError(404, f"no such page: {path}")
        except ConnectionError as e:
            self._client_gone(e)
        except DemoError as e:
            self._error(e.status, e.message)
        except Exception as e:  # keep serving whatever happens
            self._error(500, f"internal error: {type(e).__name__}: {e}")

    def do_POST(self):
        self._body_read = False
        try:
            self._check_origin()
            self._check_token()
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/api/predict":
                image, fields = self._image_and_fields(query)
                self._json(200, self.app.predict(image, fields))
            elif url.path == "/api/save":
                image, fields = self._image_and_fields(query)
                self._json(200, self.app.save(image, fields))
            else:
                raise DemoError(404, f"no such endpoint: POST {url.path}")
        except ConnectionError as e:
            self._client_gone(e)
        except DemoError as e:
            if not self._body_read:  # an unread body would be taken for the next request
                self.close_connection = True
            self._error(e.status, e.message)
        except Exception as e:
            self.close_connection = True
            self._error(500, f"internal error: {type(e).__name__}: {e}")

    def _no_method(self):
        self.close_connection = True
        self._error(405, f"method {self.command} not allowed")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _no_method


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, app: DemoApp, quiet: bool = False):
        host = address[0]
        if ":" in host:
            import socket

            self.address_family = socket.AF_INET6
        self.app = app
        self.quiet = quiet
        super().__init__(address, DemoHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def make_server(
    recognizers: Mapping[str, Any],
    host: str = "127.0.0.1",
    port: int = 8000,
    save_dir: str | os.PathLike = "seqrec_samples",
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    *,
    default: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sources: Mapping[str, str] | None = None,
    missing: Mapping[str, str] | None = None,
    quiet: bool = True,
) -> DemoServer:
    """A bound (not yet serving) demo server; call ``serve_forever()`` (e.g. in a thread)
    and ``shutdown()``. ``recognizers`` maps switcher names to recognizers or to
    zero-argument factories (called on first use); ``port=0`` picks a free port."""
    models = Models(recognizers, default=default, sources=sources, missing=missing)
    return DemoServer((host, port), DemoApp(models, save_dir, max_upload_bytes, max_pixels), quiet=quiet)


# --------------------------------------------------------------------------- CLI


def bundled_weights_missing(name: str) -> bool:
    """True when the package holds no ``seqrec/pretrained/<name>.ckpt`` (a source checkout
    before the weights are added): the head is listed but disabled in the switcher."""
    try:
        return not (resources.files("seqrec") / "pretrained" / f"{name}.ckpt").is_file()
    except Exception:
        return False


def build_recognizers(models: list[str] | None) -> tuple[dict[str, Callable[[], Any]], dict[str, str], str]:
    """Switcher entries for ``--model`` values: every pretrained head plus each checkpoint
    path given, as lazy factories. Returns (factories, sources, default name)."""
    factories: dict[str, Callable[[], Any]] = {}
    sources: dict[str, str] = {}

    def pretrained(n):
        from seqrec.recognizer import Recognizer

        return Recognizer.pretrained(n)

    def checkpoint(p):
        from seqrec.recognizer import Recognizer

        return Recognizer.from_checkpoint(p)

    for n in PRETRAINED:
        factories[n] = lambda n=n: pretrained(n)
        sources[n] = "pretrained"
    chosen = list(models or ["ctc"])
    default = None
    for m in chosen:
        if m in PRETRAINED:
            name = m
        else:
            path = Path(m).expanduser()
            if not path.is_file():
                raise SystemExit(f"seqrec demo: --model {m!r} is neither {', '.join(PRETRAINED)} nor a checkpoint file")
            name, i = path.stem, 2
            while name in factories and sources.get(name) != str(path.resolve()):
                name, i = f"{path.stem}-{i}", i + 1
            factories[name] = lambda p=str(path.resolve()): checkpoint(p)
            sources[name] = str(path.resolve())
        default = default or name
    return factories, sources, default


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqrec demo",
        description="Local web app: draw a number or drop in a photo of one, watch seqrec read it, "
        "and save corrected samples for fine-tuning.",
    )
    p.add_argument("--model", action="append", metavar="ctc|multihead|multilabel|PATH",
                   help="model selected at start; PATH is a training checkpoint. Repeat to add several "
                   "checkpoints; every pretrained head is in the switcher too (default: ctc)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--save-dir", default="./seqrec_samples",
                   help="where 'Save' writes images/<uuid>.png and labels.csv (default: ./seqrec_samples)")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD / 2**20,
                   help="largest accepted upload in MB (default: 5)")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port must be 0..65535, got {args.port}")
    try:
        factories, sources, default = build_recognizers(args.model)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    try:
        missing = {n: "weights not bundled in this install"
                   for n in PRETRAINED if n != default and bundled_weights_missing(n)}
        server = make_server(factories, args.host, args.port, args.save_dir, int(args.max_upload_mb * 2**20),
                             default=default, sources=sources, missing=missing, quiet=True)
    except OSError as e:
        print(f"seqrec demo: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    try:
        print(f"seqrec demo: loading {default} ...", file=sys.stderr, flush=True)
        try:
            server.app.models.get(default)
        except DemoError as e:
            print(f"seqrec demo: {e.message}", file=sys.stderr)
            return 2
        if not _is_loopback(args.host):
            print(f"seqrec demo: warning: listening on {args.host}, reachable from other machines", file=sys.stderr)
        print(f"seqrec demo: open {server.url}  (model {default}; samples go to {server.app.save_dir}; Ctrl+C stops)",
              flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nseqrec demo: stopped", file=sys.stderr)
        return 0
    finally:
        server.server_close()


if __name__ == "__main__":
    raise SystemExit(main())

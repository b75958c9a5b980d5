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
    null or ``{"code": "no_ink" | "small_ink" | "tall", "message"}`` (blank input; writing too small
    or strokes too thick for its size, "write larger"; writing taller than wide).
``POST /api/save?label=DIGITS[&model=NAME]``
    Same body as ``/api/predict`` plus a ``label`` (query or form field: ASCII digits
    only, 1-32 of them).  Preprocesses the image exactly as for prediction and appends it
    (400 if the strip has no ink) to the dataset folder (``--save-dir``, default ``./seqrec_samples``)
    as ``images/<uuid4 hex>.png`` plus a ``labels.csv`` row ``images/<uuid4 hex>.png,<label>``
    (:mod:`seqrec.demo.app`). The server picks every file name; nothing from the request reaches a path.

Safety: binds 127.0.0.1 unless told otherwise; bodies over ``max_upload_bytes`` (5 MB)
get 413; images are opened header-first and refused (413) above ``max_pixels`` before
any pixel is decoded; non-images get 415, corrupt ones 400; requests from another web
origin (``Origin: null`` included), POSTs without the token, and on loopback requests with a
foreign ``Host`` get 403; a client that hangs up early costs one log line; model calls run one at a time
under a lock, everything else is per-request state.

Modules: :mod:`~seqrec.demo.images` (decoding, preprocessing), :mod:`~seqrec.demo.models` (the
switcher), :mod:`~seqrec.demo.app` (predict, save), this one (HTTP), :mod:`~seqrec.demo.cli` (``seqrec demo``).
"""

from __future__ import annotations

import email.parser
import email.policy
import hmac
import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .app import DEFAULT_MAX_UPLOAD, TOKEN_HEADER, DemoApp
from .errors import DemoError
from .images import DEFAULT_MAX_PIXELS, prepare_strip
from .models import Models

__all__ = ["DemoError", "DemoHandler", "DemoServer", "make_server", "prepare_strip"]  # prepare_strip: old import path

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


def parse_multipart(body: bytes, content_type: str) -> tuple[bytes | None, dict[str, str]]:
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


def is_loopback(host: str) -> bool:
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
        if is_loopback(str(bound)):
            hostname = urlsplit("//" + host).hostname or ""
            if not is_loopback(hostname):
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
        self.log_message(
            "client closed the connection before the answer to %s %s (%s)",
            getattr(self, "command", None) or "a request",
            urlsplit(getattr(self, "path", "") or "").path,
            type(e).__name__,
        )

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
            image, fields = parse_multipart(body, ctype)
            if image is None:
                raise DemoError(400, "multipart body has no 'image' file field")
        elif mime in ("", "application/octet-stream") or mime.startswith("image/"):
            image = body
        else:
            raise DemoError(
                415,
                f"unsupported Content-Type {mime!r}; send the image itself (image/png, image/jpeg) "
                "or multipart/form-data",
            )
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


if __name__ == "__main__":  # python -m seqrec.demo.server, as before the split
    from .cli import main

    raise SystemExit(main())

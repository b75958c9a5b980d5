"""HTTP API of ``seqrec demo`` (seqrec/demo/server.py and the modules it serves), against a real server on a free port.

Most tests use ``BlobReader``, a small honest stand-in recognizer, so they check the
server's plumbing without trained weights; one test uses the real pretrained CTC model
and skips (saying why) when it is not available.
"""

from __future__ import annotations

import base64
import csv
import http.client
import io
import json
import re
import socket
import struct
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from seqrec.demo.cli import build_recognizers, main
from seqrec.demo.errors import DemoError
from seqrec.demo.images import prepare_strip
from seqrec.demo.server import make_server, parse_multipart
from seqrec.spec import PRETRAINED

# ----------------------------------------------------------------------------- test helpers

# Handwriting-like glyphs: polylines in a box 0.6 wide and 1.0 high (y down).
# fmt: off
GLYPHS = {
    "0": [[(0.3 + 0.27 * np.cos(t), 0.5 + 0.5 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 33)]],
    "1": [[(0.22, 0.18), (0.38, 0.0), (0.38, 1.0)]],
    "2": [[(0.05, 0.25), (0.15, 0.05), (0.35, 0.0), (0.5, 0.1), (0.52, 0.3), (0.4, 0.5), (0.05, 1.0), (0.58, 1.0)]],
    "3": [[(0.05, 0.08), (0.3, 0.0), (0.5, 0.1), (0.5, 0.35), (0.25, 0.48), (0.5, 0.6), (0.55, 0.85), (0.35, 1.0),
           (0.05, 0.92)]],
    "4": [[(0.4, 0.0), (0.02, 0.65), (0.58, 0.65)], [(0.42, 0.3), (0.42, 1.0)]],
    "5": [[(0.55, 0.0), (0.1, 0.0), (0.06, 0.45), (0.3, 0.38), (0.52, 0.5), (0.55, 0.8), (0.35, 1.0), (0.05, 0.92)]],
    "6": [[(0.5, 0.02), (0.25, 0.2), (0.08, 0.55), (0.1, 0.85), (0.3, 1.0), (0.5, 0.9), (0.55, 0.7), (0.4, 0.55),
           (0.2, 0.6), (0.08, 0.72)]],
    "7": [[(0.03, 0.0), (0.57, 0.0), (0.25, 1.0)]],
    "8": [[(0.3, 0.48), (0.08, 0.3), (0.1, 0.08), (0.3, 0.0), (0.5, 0.08), (0.52, 0.3), (0.3, 0.48), (0.06, 0.7),
           (0.1, 0.92), (0.3, 1.0), (0.5, 0.92), (0.54, 0.7), (0.3, 0.48)]],
    "9": [[(0.52, 0.3), (0.4, 0.05), (0.2, 0.02), (0.06, 0.2), (0.15, 0.42), (0.35, 0.42), (0.52, 0.3), (0.5, 0.6),
           (0.45, 1.0)]],
}
# fmt: on


def number_strokes(text: str, width: int = 840, height: int = 168, digit_h: float = 0.62) -> list[list[tuple]]:
    """Polylines (canvas pixels) that write ``text`` centred on a width x height pad."""
    h = height * digit_h
    step = 0.9 * h  # glyph width 0.6 h plus a gap of 0.3 h
    x0 = (width - (len(text) * step - 0.3 * h)) / 2
    y0 = (height - h) / 2
    strokes = []
    for i, ch in enumerate(text):
        for line in GLYPHS[ch]:
            strokes.append([(x0 + i * step + gx * h, y0 + gy * h) for gx, gy in line])
    return strokes


def draw_number(
    text: str, width: int = 840, height: int = 168, pen: int = 14, ink: int = 255, bg: int = 0, digit_h: float = 0.62
) -> Image.Image:
    """The pad's picture of ``text``: round-capped ``pen``-wide strokes, digits ``digit_h`` of the height."""
    im = Image.new("L", (width, height), bg)
    d = ImageDraw.Draw(im)
    for line in number_strokes(text, width, height, digit_h):
        d.line(line, fill=ink, width=pen, joint="curve")
        for x, y in (line[0], line[-1]):
            d.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=ink)
    return im


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def fake_photo(text: str) -> bytes:
    """Dark ink on uneven light paper with noise, as a JPEG: the other polarity."""
    w, h = 1200, 700
    ink = draw_number(text, 900, 180, pen=12)
    paper = np.linspace(215, 245, w, dtype=np.float32)[None, :] + np.linspace(0, 15, h, dtype=np.float32)[:, None]
    rng = np.random.default_rng(0)
    paper += rng.normal(0, 4, (h, w))
    canvas = Image.new("L", (w, h), 0)
    canvas.paste(ink, (150, 260))
    canvas = canvas.filter(ImageFilter.GaussianBlur(1.2))
    a = np.asarray(canvas, np.float32) / 255
    img = paper * (1 - a) + 40 * a
    return encode(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).convert("RGB"), "JPEG", quality=88)


@dataclass
class FakePrediction:
    text: str
    confidence: float
    digit_confidences: list = field(default_factory=list)


class BlobReader:
    """A tiny honest recognizer for tests: it splits the strip at empty columns; an ink blob
    narrower than half its height reads as "1", any wider one as "0". It keeps the batch
    on ``self`` and can sleep in between, so it is *not* thread-safe: concurrent requests
    only come back right if the server serialises model calls."""

    def __init__(self, name: str = "blobs", delay: float = 0.0, size: tuple[int, int] = (28, 140)):
        self.name, self.delay, self.size = name, delay, size
        self.calls = 0

    def preprocess(self, images, invert=None):
        items = images if isinstance(images, list) else [images]
        out = []
        for x in items:
            a = np.asarray(x, np.float32)
            a = a / 255.0 if a.max() > 1 else a
            if invert:
                a = 1.0 - a
            if a.shape != self.size:
                raise ValueError(f"BlobReader takes {self.size} strips, got {a.shape}")
            out.append(a)
        return torch.from_numpy(np.stack(out))[:, None]

    def _read(self, x: np.ndarray) -> FakePrediction:
        cols = x.max(axis=0) > 0.3
        edges = np.diff(np.concatenate([[0], cols.astype(np.int8), [0]]))
        starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
        digits, confs = [], []
        for a, b in zip(starts, ends):
            if b - a < 2:
                continue
            rows = np.nonzero(x[:, a:b].max(axis=1) > 0.3)[0]
            tall = rows[-1] - rows[0] + 1
            one = (b - a) < 0.5 * tall
            digits.append("1" if one else "0")
            confs.append(0.97 if one else 0.88)
        return FakePrediction("".join(digits), float(np.prod(confs)) if confs else 0.0, confs)

    def predict(self, images, batch_size=256, invert=None, return_confidence=False):
        self.batch = self.preprocess(images, invert)  # shared state, on purpose
        if self.delay:
            time.sleep(self.delay)
        self.calls += 1
        preds = [self._read(x[0].numpy()) for x in self.batch]
        return preds if return_confidence else [p.text for p in preds]


class FixedReader(BlobReader):
    """Always reads 42 (to tell models apart)."""

    def _read(self, x):
        return FakePrediction("42", 0.5, [0.6, 0.8])


@pytest.fixture
def serve(tmp_path):
    """Start demo servers on free ports; yields a factory(recognizers, **kw) -> (server, save_dir)."""
    servers = []

    def start(recognizers, **kw):
        save_dir = kw.pop("save_dir", tmp_path / f"samples-{len(servers)}")
        srv = make_server(recognizers, "127.0.0.1", 0, save_dir, kw.pop("max_upload_bytes", 5 * 2**20), **kw)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        servers.append(srv)
        return srv, Path(save_dir)

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def request(srv, method, path, body=None, headers=None):
    """(status, parsed JSON or raw bytes, headers) of one request on a fresh connection."""
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        if res.getheader("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
        return res.status, data, res
    finally:
        conn.close()


def post_image(srv, data: bytes, path="/api/predict", ctype="image/png", **headers):
    """POST as the demo page does: with this server's token (pass ``X_Seqrec_Token=...`` to change it)."""
    given = {k.replace("_", "-"): v for k, v in headers.items()}
    headers = {"Content-Type": ctype, "X-Seqrec-Token": srv.app.token, **given}
    return request(srv, "POST", path, data, {k: v for k, v in headers.items() if v is not None})


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (fname, data, ctype) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{fname}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n".encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def decode_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def png_with_header(width: int, height: int) -> bytes:
    """A valid-looking PNG that claims width x height pixels but holds almost no data."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def assert_error(status, data, expected):
    assert status == expected, (status, data)
    assert isinstance(data, dict) and data["error"], data


# ----------------------------------------------------------------------------- preprocessing


def test_prepare_strip_drawing_and_photo_agree():
    drawn, inv1 = prepare_strip(draw_number("101"))
    photo, inv2 = prepare_strip(Image.open(io.BytesIO(fake_photo("101"))))
    assert drawn.shape == photo.shape == (28, 140) and drawn.dtype == np.uint8
    assert not inv1 and inv2
    for strip in (drawn, photo):
        rows = np.nonzero(strip.max(axis=1) > 80)[0]
        assert 17 <= rows[-1] - rows[0] + 1 <= 22  # ink box scaled to ~20 of 28 rows, like MNIST
        assert strip[:, :10].max() == 0 and strip[:, -10:].max() == 0  # centred
        assert BlobReader()._read(strip / 255.0).text == "101"
    assert not prepare_strip(np.zeros((50, 200), np.uint8))[0].any()


# ----------------------------------------------------------------------------- API: good input


def test_predict_png_body(serve):
    srv, _ = serve({"blobs": BlobReader()})
    status, data, _ = post_image(srv, encode(draw_number("101")))
    assert status == 200, data
    assert data["text"] == "101" and data["model"] == "blobs"
    assert [d["digit"] for d in data["digits"]] == ["1", "0", "1"]
    assert [d["confidence"] for d in data["digits"]] == pytest.approx([0.97, 0.88, 0.97])
    assert data["confidence"] == pytest.approx(0.97 * 0.88 * 0.97)
    strip = decode_data_url(data["strip"])
    assert strip.shape == (28, 140) == tuple(data["input_size"])
    assert BlobReader()._read(strip / 255.0).text == "101"  # the strip shown is what was read


def test_predict_multipart_jpeg_other_polarity_and_model_switch(serve):
    srv, _ = serve({"blobs": BlobReader(), "fixed": FixedReader()})
    body, ctype = multipart({}, {"image": ("photo.jpg", fake_photo("1001"), "image/jpeg")})
    status, data, _ = post_image(srv, body, ctype=ctype)
    assert status == 200, data
    assert data["text"] == "1001" and data["inverted"] is True and data["model"] == "blobs"

    body, ctype = multipart({"model": "fixed"}, {"image": ("a.png", encode(draw_number("11")), "image/png")})
    status, data, _ = post_image(srv, body, ctype=ctype)
    assert (status, data["text"], data["model"]) == (200, "42", "fixed")
    status, data, _ = post_image(srv, encode(draw_number("11")), path="/api/predict?model=fixed")
    assert (status, data["model"]) == (200, "fixed")
    status, data, _ = post_image(srv, encode(draw_number("11")), path="/api/predict?model=nope")
    assert_error(status, data, 400)
    assert "blobs" in data["error"] and "fixed" in data["error"]


def test_factories_load_lazily_and_load_errors_are_503(serve):
    built = []

    def factory():
        built.append(1)
        return BlobReader()

    def broken():
        raise FileNotFoundError("no weights here")

    srv, _ = serve({"lazy": factory, "broken": broken}, missing={"broken": "weights not bundled"})
    assert built == []
    status, data, _ = request(srv, "GET", "/api/models")
    assert status == 200 and [m["name"] for m in data["models"]] == ["lazy", "broken"] and data["default"] == "lazy"
    assert [(m["available"], m["note"]) for m in data["models"]] == [(True, ""), (False, "weights not bundled")]
    for _ in range(2):
        assert post_image(srv, encode(draw_number("1")))[1]["text"] == "1"
    assert built == [1]
    status, data, _ = post_image(srv, encode(draw_number("1")), path="/api/predict?model=broken")
    assert_error(status, data, 503)
    assert "no weights here" in data["error"]


def test_page_and_static_files_are_served_offline(serve):
    srv, _ = serve({"blobs": BlobReader()})
    status, html, res = request(srv, "GET", "/")
    assert status == 200 and b"<canvas" in html and res.getheader("Content-Security-Policy")
    for path in ("/static/app.js", "/static/style.css"):
        status, body, _ = request(srv, "GET", path)
        assert status == 200 and len(body) > 500
        assert b"http://" not in body and b"https://" not in body  # nothing fetched from elsewhere
    assert b"http" not in html.replace(b"http-equiv", b"")
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/../../etc/passwd", "/static/nope.js"):
        assert_error(*request(srv, "GET", path)[:2], 404)


# ----------------------------------------------------------------------------- API: bad input


def test_oversized_upload_is_413_and_server_stays_up(serve):
    srv, _ = serve({"blobs": BlobReader()}, max_upload_bytes=100_000)
    status, data, _ = post_image(srv, b"\0" * 100_001)
    assert_error(status, data, 413)
    assert "100,000" in data["error"]
    # a body far past the cap is refused from its Content-Length, without reading it all
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", "/api/predict")
    conn.putheader("Content-Type", "image/png")
    conn.putheader("X-Seqrec-Token", srv.app.token)
    conn.putheader("Content-Length", str(10**12))
    conn.endheaders()
    res = conn.getresponse()
    assert res.status == 413 and "limit" in json.loads(res.read())["error"]
    conn.close()
    assert post_image(srv, encode(draw_number("1")))[0] == 200


@pytest.mark.parametrize(
    "body, ctype, expected, words",
    [
        (b"", "image/png", 400, "empty"),
        (b"this is not an image at all", "image/png", 415, "not a readable image"),
        (b"%PDF-1.4\n...", "application/octet-stream", 415, "not a readable image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 415, "not a readable image"),
        (b'{"image": 1}', "application/json", 415, "Content-Type"),
        (None, "image/png", 400, "could not decode"),  # a truncated PNG
    ],
)
def test_non_images_are_4xx_json(serve, body, ctype, expected, words):
    srv, _ = serve({"blobs": BlobReader()})
    if body is None:
        body = encode(draw_number("101"))[:400]
    status, data, _ = post_image(srv, body, ctype=ctype)
    assert_error(status, data, expected)
    assert words in data["error"]
    assert post_image(srv, encode(draw_number("1")))[0] == 200


def test_decompression_bombs_are_refused_before_decoding(serve):
    srv, _ = serve({"blobs": BlobReader()}, max_pixels=1_000_000)
    bomb = png_with_header(50_000, 50_000)  # 2.5 gigapixels declared in ~100 bytes
    assert len(bomb) < 200
    status, data, _ = post_image(srv, bomb)
    assert_error(status, data, 413)
    assert "pixels" in data["error"] or "bomb" in data["error"]
    big = encode(Image.new("L", (2000, 1000)))  # a real image above this server's pixel cap
    status, data, _ = post_image(srv, big)
    assert_error(status, data, 413)
    assert "2000x1000" in data["error"]
    assert post_image(srv, encode(draw_number("1")))[0] == 200


def test_missing_length_cross_origin_and_bad_methods(serve):
    srv, _ = serve({"blobs": BlobReader()})
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", "/api/predict")
    conn.putheader("X-Seqrec-Token", srv.app.token)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    res = conn.getresponse()
    assert res.status == 411 and json.loads(res.read())["error"]
    conn.close()
    png = encode(draw_number("1"))
    assert_error(*post_image(srv, png, Origin="http://evil.example")[:2], 403)
    assert_error(*post_image(srv, png, Host="evil.example")[:2], 403)  # DNS rebinding
    assert post_image(srv, png, Origin=f"http://{host}:{port}")[0] == 200
    assert_error(*request(srv, "DELETE", "/api/predict")[:2], 405)
    assert_error(*post_image(srv, png, path="/api/nothing")[:2], 404)
    status, data, _ = post_image(srv, png, path="/api/predict?invert=maybe")
    assert_error(status, data, 400)


def test_posts_need_own_origin_and_session_token(serve):
    srv, save_dir = serve({"blobs": BlobReader()})
    host, port = srv.server_address[:2]
    own = f"http://{host}:{port}"
    status, info, _ = request(srv, "GET", "/api/models")
    assert status == 200 and info["token_header"] == "X-Seqrec-Token" and len(info["token"]) >= 20
    res = request(srv, "GET", "/api/models", headers={"Origin": own})[2]
    assert res.getheader("Access-Control-Allow-Origin") is None  # other sites cannot read the token
    png = encode(draw_number("11"))
    refused = [
        {"Origin": "null"},  # a sandboxed iframe on any web site
        {"Origin": "http://evil.example"},
        {"Origin": f"https://{host}:{port}"},  # same host and port, other scheme
        {"Origin": f"http://{host}:{port + 1}"},
        {"Origin": own, "X-Seqrec-Token": None},
        {"Origin": own, "X-Seqrec-Token": ""},
        {"Origin": own, "X-Seqrec-Token": info["token"][:-1] + ("A" if info["token"][-1] != "A" else "B")},
        {"Origin": own, "X-Seqrec-Token": "é" * 8},
    ]
    for headers in refused:
        for path in ("/api/save?label=11", "/api/predict"):
            status, data, _ = post_image(srv, png, path=path, **{k.replace("-", "_"): v for k, v in headers.items()})
            assert_error(status, data, 403)
            assert ("origin" in data["error"]) or ("X-Seqrec-Token" in data["error"]), data
    assert not save_dir.exists()  # nothing refused was written
    assert_error(*request(srv, "OPTIONS", "/api/save", headers={"Origin": "http://evil.example"})[:2], 405)
    status, data, _ = post_image(srv, png, path="/api/save?label=11", Origin=own, X_Seqrec_Token=info["token"])
    assert status == 200 and data["label"] == "11", data
    assert post_image(srv, png, X_Seqrec_Token=info["token"])[0] == 200  # no Origin: curl, scripts


def test_client_that_hangs_up_costs_one_quiet_line(serve, capsys):
    srv, _ = serve({"blobs": BlobReader(delay=0.6)})
    host, port = srv.server_address[:2]
    png = encode(draw_number("101"))
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(
        f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
        f"X-Seqrec-Token: {srv.app.token}\r\nContent-Length: {len(png)}\r\n\r\n".encode()
        + png
    )
    time.sleep(0.2)  # the server is reading now; hang up hard, as a cancelled fetch can
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    err, deadline = "", time.monotonic() + 10
    while "closed the connection" not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capsys.readouterr().err
    time.sleep(0.3)  # anything the server would print after that line
    err += capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "closed the connection before the answer to POST /api/predict" in lines[0], err
    assert "Traceback" not in err and "500" not in err
    assert post_image(srv, png)[0] == 200  # and the server keeps serving


def test_multipart_parser_keeps_binary_bytes_and_refuses_malformed_bodies():
    rng = np.random.default_rng(0)
    data = bytes(rng.choice(np.frombuffer(b"\r\n-\x00\xffab", np.uint8), 3000)) + b"\r\n--\r\n" + rng.bytes(3000)
    body, ctype = multipart({"label": "0042", "model": "ctc"}, {"image": ("a.png", data, "image/png")})
    assert parse_multipart(body, ctype) == (data, {"label": "0042", "model": "ctc"})
    assert parse_multipart(body, ctype.replace("multipart/form-data", "Multipart/Form-Data"))[0] == data
    for bad_body, bad_type in [
        (body, "multipart/form-data"),
        (body, "multipart/form-data; boundary=" + "b" * 201),
        (b"no parts here", ctype),
        (b"", ctype),
    ]:
        with pytest.raises(DemoError) as e:
            parse_multipart(bad_body, bad_type)
        assert e.value.status == 400 and "multipart" in e.value.message


# ----------------------------------------------------------------------------- saving


def read_labels(save_dir: Path) -> list[dict]:
    with open(save_dir / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_save_writes_strip_and_appends_labels(serve, tmp_path):
    srv, save_dir = serve({"blobs": BlobReader()}, save_dir=tmp_path / "ds")
    png = encode(draw_number("101"))
    status, data, _ = post_image(srv, png, path="/api/save?label=101")
    assert status == 200, data
    assert data["path"] == f"images/{data['filename']}" and data["count"] == 1
    body, ctype = multipart({"label": " 0042 "}, {"image": ("../../evil.png", encode(draw_number("11")), "image/png")})
    status, data2, _ = post_image(srv, body, path="/api/save", ctype=ctype)
    assert status == 200 and data2["label"] == "0042" and data2["count"] == 2
    assert (save_dir / "labels.csv").read_text().splitlines()[0] == "filename,label"
    rows = read_labels(save_dir)
    assert rows == [{"filename": data["path"], "label": "101"}, {"filename": data2["path"], "label": "0042"}]
    files = sorted(p.name for p in (save_dir / "images").iterdir())
    assert files == sorted([data["filename"], data2["filename"]])
    assert all(len(f) == 36 and f.endswith(".png") for f in files)  # uuid4 hex, chosen by the server
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == files  # nothing landed elsewhere
    strip = np.asarray(Image.open(save_dir / "images" / data["filename"]))
    assert strip.shape == (28, 140) and strip.dtype == np.uint8
    pred = post_image(srv, png)[1]
    assert np.array_equal(strip, decode_data_url(pred["strip"]))  # saved == what the model saw


def blank_paper() -> Image.Image:
    """A photo of empty, unevenly lit paper with sensor noise."""
    rng = np.random.default_rng(1)
    paper = np.linspace(200, 240, 600, dtype=np.float32)[None, :] + rng.normal(0, 3, (400, 600))
    return Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).convert("RGB")


@pytest.mark.parametrize(
    "name, image, fmt",
    [
        ("all black", Image.new("L", (840, 168), 0), "PNG"),
        ("all white", Image.new("L", (840, 168), 255), "PNG"),
        ("mid grey RGBA", Image.new("RGBA", (300, 100), (128, 128, 128, 255)), "PNG"),
        ("blank paper", blank_paper(), "JPEG"),
    ],
)
def test_save_refuses_an_image_without_ink(serve, name, image, fmt):
    srv, save_dir = serve({"blobs": BlobReader()})
    body = encode(image, fmt)
    status, data, _ = post_image(srv, body, path="/api/save?label=7")
    assert_error(status, data, 400)
    assert data["error"].startswith("the image has no ink"), (name, data)
    assert not save_dir.exists()  # nothing written
    status, pred, _ = post_image(srv, body)  # reading it is fine, with a warning the page shows
    assert status == 200 and pred["warning"]["code"] == "no_ink" and "blank" in pred["warning"]["message"]


def test_predict_warns_write_larger_when_ink_is_small(serve):
    srv, _ = serve({"blobs": BlobReader()})
    normal = post_image(srv, encode(draw_number("101")))[1]
    assert normal["warning"] is None
    photo = post_image(srv, fake_photo("1001"), ctype="image/jpeg")[1]
    assert photo["warning"] is None
    thin = post_image(srv, encode(draw_number("101", pen=4, digit_h=0.18)))[1]  # small, but with a thin pen
    assert thin["warning"] is None
    dot = Image.new("L", (840, 168), 0)
    ImageDraw.Draw(dot).ellipse([400, 80, 414, 94], fill=255)
    for small in (draw_number("101", digit_h=0.18), dot, draw_number("1", pen=2, digit_h=0.05)):
        data = post_image(srv, encode(small))[1]
        assert data["warning"]["code"] == "small_ink" and "write larger" in data["warning"]["message"], data


def test_predict_warns_when_the_writing_is_taller_than_wide(serve):
    srv, _ = serve({"blobs": BlobReader()})
    tall = Image.new("L", (300, 600), 0)  # two digits stacked: a photo taken sideways
    tall.paste(draw_number("0", 300, 300, digit_h=0.8), (0, 0))
    tall.paste(draw_number("1", 300, 300, digit_h=0.8), (0, 300))
    data = post_image(srv, encode(tall))[1]
    assert data["warning"]["code"] == "tall" and "rotated" in data["warning"]["message"], data


def test_predict_without_fitting_resizes_the_whole_image_and_still_checks_ink(serve):
    srv, _ = serve({"blobs": BlobReader()})
    drawn = draw_number("101")
    status, data, _ = post_image(srv, encode(drawn), path="/api/predict?fit=0")
    assert status == 200 and data["warning"] is None and data["inverted"] is False
    expected = np.asarray(drawn.resize((140, 28), Image.BOX))
    assert np.abs(decode_data_url(data["strip"]).astype(int) - expected).max() <= 2  # resized, not re-framed
    status, data, _ = post_image(srv, encode(Image.new("L", (840, 168), 255)), path="/api/predict?fit=0")
    assert status == 200 and data["warning"]["code"] == "no_ink"
    assert_error(*post_image(srv, encode(Image.new("L", (840, 168), 255)), path="/api/save?label=1&fit=0")[:2], 400)


def test_save_takes_labels_up_to_32_digits(serve):
    srv, save_dir = serve({"blobs": BlobReader()})
    status, data, _ = post_image(srv, encode(draw_number("101")), path="/api/save?label=" + "9" * 32)
    assert status == 200 and data["label"] == "9" * 32
    assert read_labels(save_dir)[-1]["label"] == "9" * 32


@pytest.mark.parametrize("label", ["", "12a", "-1", "1.5", "../x", "١٢٣", "²", "1" * 33, "1,2", "1\n2"])
def test_save_rejects_bad_labels(serve, label):
    srv, save_dir = serve({"blobs": BlobReader()})
    body, ctype = multipart({"label": label}, {"image": ("a.png", encode(draw_number("1")), "image/png")})
    status, data, _ = post_image(srv, body, path="/api/save", ctype=ctype)
    assert_error(status, data, 400)
    assert "label" in data["error"]
    assert not save_dir.exists()


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_requests_do_not_mix_results(serve):
    reader = BlobReader(delay=0.02)
    srv, _ = serve({"blobs": reader})
    texts = ["1", "11", "101", "1001", "110", "10", "111", "1101", "1011", "100"] * 2
    bodies = [encode(draw_number(t)) for t in texts]
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda b: post_image(srv, b), bodies))
    assert [a[0] for a in answers] == [200] * len(texts)
    assert [a[1]["text"] for a in answers] == texts
    for t, a in zip(texts, answers):
        assert BlobReader()._read(decode_data_url(a[1]["strip"]) / 255.0).text == t
    assert reader.calls == len(texts)


# ----------------------------------------------------------------------------- CLI


def test_cli_model_switcher_includes_checkpoints(tmp_path, capsys):
    ckpt = tmp_path / "my-run.ckpt"
    ckpt.write_bytes(b"not really a checkpoint")
    factories, sources, default = build_recognizers(["multihead", str(ckpt)])
    assert list(factories) == [*PRETRAINED, "my-run"]
    assert default == "multihead" and sources["my-run"] == str(ckpt.resolve())
    assert build_recognizers([str(ckpt)])[2] == "my-run"
    assert build_recognizers(None)[2] == "ctc"
    assert main(["--model", str(tmp_path / "missing.ckpt"), "--port", "0"]) == 2
    assert "neither" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the real model


def real_recognizer(name="ctc"):
    """The pretrained recognizer, or pytest.skip with the reason it is unavailable."""
    try:
        from seqrec.recognizer import Recognizer
    except ImportError as e:
        pytest.skip(f"seqrec.recognizer cannot be imported yet ({e})")
    try:
        return Recognizer.pretrained(name)
    except (FileNotFoundError, OSError, KeyError, ValueError, RuntimeError) as e:
        pytest.skip(f"pretrained {name!r} weights unavailable ({type(e).__name__}: {e})")


def test_predict_with_real_pretrained_ctc(serve):
    rec = real_recognizer("ctc")
    srv, save_dir = serve({"ctc": rec})
    status, data, _ = post_image(srv, encode(draw_number("4071")))
    assert status == 200, data
    assert data["model"] == "ctc" and re.fullmatch(r"[0-9]*", data["text"])
    assert len(data["digits"]) == len(data["text"])
    assert 0.0 <= data["confidence"] <= 1.0
    assert all(0.0 <= d["confidence"] <= 1.0 for d in data["digits"])
    strip = decode_data_url(data["strip"])
    assert strip.shape == tuple(data["input_size"])
    assert rec.predict(strip.astype(np.uint8), invert=False) == [data["text"]]
    status, saved, _ = post_image(srv, encode(draw_number("4071")), path="/api/save?label=4071")
    assert status == 200 and (save_dir / "images" / saved["filename"]).is_file()

"""Recognizer: loading, preprocessing (every input type, polarity, sizes), predict, errors.

The tiny models trained here (a few seconds, shared by test_export.py and test_cli.py
through ``tiny_checkpoint``) are untrained in any useful sense: their predictions barely
depend on the input. So equivalences are checked on what the model sees (``preprocess``)
and on logits, not only on strings.
"""

from __future__ import annotations

import io
import pickle
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import compose_train
from PIL import Image

from seqrec import backends, imaging
from seqrec.backends import PartsInThreads, SplitBatches
from seqrec.checkpoint import CheckpointError, load_system, save_slim
from seqrec.data.strips import make_strips
from seqrec.recognizer import PRETRAINED, TTA_SHIFTS, ImageWarning, Prediction, Recognizer, shifted, vote

_TRAINED: dict[str, Path] = {}
TINY = ["logger=none", "test=false", "data.batches_per_epoch=2", "data.n_val=32", "~callbacks.progress_bar"]


def tiny_checkpoint(model: str, tmp_path_factory) -> Path:
    """last.ckpt of a tiny model trained once per test session (shared across test modules)."""
    if model not in _TRAINED:
        from seqrec.train import train

        out = tmp_path_factory.mktemp(f"tiny_{model}")
        train(compose_train([f"model={model}", *TINY], out))
        ckpt = out / "checkpoints" / "last.ckpt"
        assert ckpt.is_file(), sorted(out.rglob("*"))
        _TRAINED[model] = ckpt
    return _TRAINED[model]


@pytest.fixture(scope="module")
def ctc_ckpt(tmp_path_factory):
    return tiny_checkpoint("ctc", tmp_path_factory)


@pytest.fixture(scope="module")
def mh_ckpt(tmp_path_factory):
    return tiny_checkpoint("multihead", tmp_path_factory)


@pytest.fixture(scope="module")
def ctc(ctc_ckpt):
    return Recognizer.from_checkpoint(ctc_ckpt)


@pytest.fixture(scope="module")
def mh(mh_ckpt):
    return Recognizer.from_checkpoint(mh_ckpt)


@pytest.fixture(scope="module")
def strips():
    return make_strips(64, seed=11, split="test", source="bundled")


def raw_input(images: np.ndarray) -> torch.Tensor:
    """What training feeds the net (BaseSystem.to_input)."""
    return torch.from_numpy(images).float().div(255.0).unsqueeze(1)


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize("model", ["ctc", "multihead"])
def test_round_trip_matches_system_decode(model, tmp_path_factory, tmp_path, strips):
    ckpt = tiny_checkpoint(model, tmp_path_factory)
    system = load_system(ckpt)
    with torch.inference_mode():
        logits = system.net(raw_input(strips.images))
    expected = system.codec.decode(logits).texts
    exact = Recognizer.from_checkpoint(ckpt, optimize=False)
    assert exact.head == model and exact.image_size == (28, 140) and exact.name == "last"
    assert exact.device == torch.device("cpu") and exact.fixed_width == (model != "ctc")
    assert exact.predict(strips.images) == expected
    assert torch.equal(exact.logits(raw_input(strips.images)), logits)
    fast = Recognizer.from_checkpoint(ckpt)  # frozen TorchScript copy: same logits to float precision
    assert torch.allclose(fast.logits(raw_input(strips.images)), logits, atol=1e-4)
    assert np.mean([a == b for a, b in zip(fast.predict(strips.images), expected)]) >= 0.98
    slim = Recognizer.from_checkpoint(save_slim(system, tmp_path / "slim.ckpt"), optimize=False)
    assert slim.name == "slim" and slim.head == model
    assert torch.equal(slim.logits(raw_input(strips.images)), logits)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


class Recording(torch.nn.Module):
    """A net that notes the batch sizes, threads and inference mode of its calls."""

    def __init__(self):
        super().__init__()
        self.conv, self.calls = torch.nn.Conv2d(1, 3, 3), []

    def forward(self, x):
        self.calls.append((len(x), threading.get_ident(), torch.is_inference_mode_enabled()))
        return self.conv(x).mean((2, 3))


@pytest.mark.parametrize("n", [1, 2, 3, 257])
def test_split_batches_give_the_nets_logits(two_threads, n):
    net = Recording().eval()
    x = torch.rand(n, 1, 28, 140, generator=torch.Generator().manual_seed(n))
    with torch.inference_mode():
        expected = net(x)
        net.calls.clear()
        got = SplitBatches(net)(x)
    assert torch.allclose(got, expected, atol=1e-6)  # kernels may sum in another order for another batch size
    if n == 1:  # nothing to split
        assert net.calls == [(1, threading.get_ident(), True)]
    else:  # two halves, both in other threads and in inference mode there too
        assert sorted(c[0] for c in net.calls) == [n // 2, n - n // 2]
        assert all(c[1] != threading.get_ident() and c[2] for c in net.calls)


def test_split_batches_respect_one_thread_and_a_fork(two_threads, monkeypatch):
    net, x = Recording().eval(), torch.rand(8, 1, 28, 140)
    split = SplitBatches(net)
    torch.set_num_threads(1)  # the caller asked for one core: one call, here
    with torch.inference_mode():
        split(x)
    assert net.calls == [(8, threading.get_ident(), True)]
    parts = PartsInThreads(2)
    assert parts.map(abs, [-1, -2]) == [1, 2]
    pool = parts._pool
    monkeypatch.setattr(backends.os, "getpid", lambda: -1)  # as in a forked child: the old pool has no threads
    assert parts.map(abs, [-3]) == [3] and parts._pool is not pool


def test_from_system_and_repr(ctc_ckpt):
    rec = Recognizer.from_system(load_system(ctc_ckpt), name="mine")
    assert rec.name == "mine" and rec.head == "ctc" and not rec.optimize
    assert "ctc" in repr(rec) and "(28, 140)" in repr(rec)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        Recognizer.from_checkpoint(tmp_path / "nope.ckpt")
    text = tmp_path / "notes.ckpt"
    text.write_text("hello, not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.ckpt"):
        Recognizer.from_checkpoint(text)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, other)
    with pytest.raises(CheckpointError, match="not a seqrec checkpoint"):
        Recognizer.from_checkpoint(other)
    plain = tmp_path / "plain.pt"
    torch.save({"a": torch.ones(3), "b": [1, 2]}, plain)
    with pytest.raises(CheckpointError):
        Recognizer.from_checkpoint(plain)
    with pytest.raises(FileNotFoundError, match="folder"):
        Recognizer.from_checkpoint(tmp_path)


# ----------------------------------------------------------------------------- pretrained
def test_pretrained_unknown_name():
    with pytest.raises(ValueError, match="ctc, multihead, multilabel"):
        Recognizer.pretrained("transformer")


def test_pretrained_missing_file_says_not_bundled(monkeypatch, tmp_path):
    import seqrec.spec as spec

    monkeypatch.setattr(spec.resources, "files", lambda package: tmp_path)
    with pytest.raises(FileNotFoundError, match="not bundled in this install"):
        Recognizer.pretrained("ctc")


@pytest.mark.parametrize("name", PRETRAINED)
def test_pretrained_loads_offline(name, monkeypatch):
    path = Path(__file__).resolve().parents[1] / "seqrec" / "pretrained" / f"{name}.ckpt"
    if not path.is_file():
        pytest.skip(f"seqrec/pretrained/{name}.ckpt is not there yet (pretrained weights not trained/committed)")

    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    rec = Recognizer.pretrained(name)
    assert rec.name == name and rec.head == name
    strips = make_strips(32, seed=5, split="test", source="bundled")
    texts = rec.predict(strips.images)
    assert len(texts) == 32 and all(t.isdigit() or t == "" for t in texts)


# ----------------------------------------------------------------------------- preprocessing
@pytest.mark.parametrize("kind", ["fixed", "variable"])
def test_make_strips_pass_through_unchanged(kind, ctc, mh):
    """Strips that already look like training data reach the net bit for bit unchanged, so
    predict() is as accurate as the net on the raw strips."""
    kw = {} if kind == "fixed" else dict(min_len=1, gap=(-4, 6), jitter=2, placement="random")
    s = make_strips(200, seed=3, split="test", source="bundled", **kw)
    for rec in (ctc, mh):
        x = rec.preprocess(s.images)
        assert x.shape == (200, 1, 28, 140) and x.dtype == torch.float32
        assert torch.equal(x, raw_input(s.images))
        raw = rec.decode(rec.logits(raw_input(s.images))).texts
        pred = rec.predict(s.images, batch_size=64)
        acc_raw = np.mean([p == t for p, t in zip(raw, s.labels)])
        acc_pipe = np.mean([p == t for p, t in zip(pred, s.labels)])
        assert abs(acc_raw - acc_pipe) <= 0.01
        assert np.mean([a == b for a, b in zip(raw, pred)]) >= 0.99


def test_every_input_type_gives_the_same_tensor(ctc, strips, tmp_path):
    img = strips.images[0]
    ref = ctc.preprocess(img)
    assert ref.shape == (1, 1, 28, 140)
    png = tmp_path / "strip.png"
    Image.fromarray(img).save(png)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    white = np.full_like(img, 255)
    rgba = Image.fromarray(np.dstack([white, white, white, img]), "RGBA")  # a canvas drawing: white pen, alpha = ink
    variants = {
        "uint8 (H,W)": img,
        "float [0,1]": img.astype(np.float32) / 255,
        "float64 [0,255]": img.astype(np.float64),
        "(1,H,W)": img[None],
        "(1,1,H,W)": img[None, None],
        "tensor uint8": torch.from_numpy(img),
        "tensor (1,1,H,W) float": torch.from_numpy(img).float().div(255)[None, None],
        "PIL L": Image.fromarray(img),
        "PIL RGB": Image.fromarray(img).convert("RGB"),
        "PIL RGBA transparent background": rgba,
        "path str": str(png),
        "Path": png,
        "bytes": buf.getvalue(),
        "(H,W,3) uint8": np.dstack([img] * 3),
    }
    for name, value in variants.items():
        assert torch.equal(ctc.preprocess(value), ref), name
    mixed = [img, str(png), strips.images[:3], Image.fromarray(img), torch.from_numpy(strips.images[3:5])]
    x = ctc.preprocess(mixed)
    assert x.shape == (8, 1, 28, 140)
    assert torch.equal(x[:3], ref.expand(3, -1, -1, -1)) and torch.equal(x[5], ref[0])
    assert torch.equal(x[2:5], raw_input(strips.images[:3])) and torch.equal(x[6:], raw_input(strips.images[3:5]))
    assert len(ctc.predict(mixed)) == 8
    single = ctc.predict(img)
    assert isinstance(single, list) and len(single) == 1 and isinstance(single[0], str)


def test_polarity_auto_and_override(mh, strips, tmp_path):
    img = strips.images[1]
    inverted = 255 - img
    ref = mh.preprocess(img)
    assert torch.equal(mh.preprocess(inverted), ref)  # dark ink on white paper is flipped
    assert torch.equal(mh.logits(mh.preprocess(inverted)), mh.logits(ref))
    assert mh.predict(inverted) == mh.predict(img)
    path = tmp_path / "paper.png"
    Image.fromarray(inverted).convert("RGB").save(path)
    assert torch.equal(mh.preprocess(path), ref)
    forced = mh.preprocess(inverted, invert=False)  # white paper taken as background: no ink left
    assert not torch.equal(forced, ref) and float(forced.max()) <= 30 / 255
    assert not torch.allclose(mh.logits(forced), mh.logits(ref))
    assert not torch.equal(mh.preprocess(img, invert=True), ref)
    assert torch.equal(mh.preprocess(inverted, invert=True), ref)
    batch = np.stack([img, inverted])  # polarity is judged per image
    assert torch.equal(mh.preprocess(batch), ref.expand(2, -1, -1, -1))
    with pytest.raises(ValueError, match="invert"):
        mh.preprocess(img, invert="yes")


def _ink_box(x: torch.Tensor):
    ink = x[0, 0] > 30 / 255
    rows, cols = torch.nonzero(ink.any(1)).flatten(), torch.nonzero(ink.any(0)).flatten()
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def test_other_sizes_are_normalised_like_training_strips(ctc, mh, strips):
    img = strips.images[2]
    big = np.asarray(Image.fromarray(img).resize((140 * 3, 28 * 3), Image.BILINEAR))
    photo = np.full((200, 700), 255, np.uint8)  # dark ink on paper, lots of margin, off centre
    photo[20 : 20 + 84, 50 : 50 + 420] = 255 - big
    h0, h1, _, _ = _ink_box(raw_input(img[None]))  # digits ~20 of 28 px at different heights: the number is taller
    for rec in (ctc, mh):
        for image in (big, photo, np.kron(img, np.ones((2, 1), np.uint8))):
            x = rec.preprocess(image)
            assert x.shape[:3] == (1, 1, 28) and (x.shape[3] == 140 if rec is mh else x.shape[3] >= 140)
            y0, y1, x0, x1 = _ink_box(x)
            assert abs((y1 - y0) - (h1 - h0)) <= 1, (y0, y1, h0, h1)  # scaled back to the training strip's size
            assert abs((y0 + y1) - 28) <= 1 and abs((x0 + x1) - x.shape[3]) <= 1  # centred
            assert float(x.amax()) == pytest.approx(1.0)
            assert torch.equal(rec.preprocess(x), x)  # idempotent: a preprocessed strip passes through
    narrow = img[:, 20:120]  # model height, ink already MNIST-sized: CTC only pads it
    assert torch.equal(ctc.preprocess(narrow)[..., 20:120], raw_input(narrow[None]))
    assert float(ctc.preprocess(narrow)[..., :20].abs().sum()) == 0.0
    y0, y1, x0, x1 = _ink_box(mh.preprocess(narrow))  # the fixed-width head gets it re-fitted
    assert abs((y1 - y0) - (h1 - h0)) <= 1 and abs((x0 + x1) - 140) <= 1
    small = np.zeros((28, 140), np.uint8)  # digits far smaller than MNIST's are scaled up
    small[10:18, 40:100] = np.asarray(Image.fromarray(img[:, 20:120]).resize((60, 8)))
    y0, y1, _, _ = _ink_box(ctc.preprocess(small))
    assert 19 <= y1 - y0 <= 25  # digits at least MNIST's 20 px, the whole number at most imaging.MAX_INK


def test_long_numbers_fit_fixed_width_and_widen_ctc(ctc, mh, strips):
    long = np.concatenate([strips.images[3][:, 20:120], strips.images[4][:, 20:120]], axis=1)  # 10 digits, 28x200
    x = mh.preprocess(long)
    assert x.shape == (1, 1, 28, 140)
    y0, y1, x0, x1 = _ink_box(x)
    h0, h1, w0, w1 = _ink_box(raw_input(long[None]))
    assert x1 - x0 <= 138 and y1 - y0 < h1 - h0  # scaled down to fit the width ...
    assert (x1 - x0) / (y1 - y0) == pytest.approx((w1 - w0) / (h1 - h0), rel=0.15)  # ... keeping the aspect ratio
    c = ctc.preprocess(long)
    assert c.shape == (1, 1, 28, 200) and torch.equal(c, raw_input(long[None]))  # CTC keeps the natural width
    batch = ctc.preprocess([strips.images[0], long, strips.images[1][:, 30:110]])
    assert batch.shape[0] == 3 and batch.shape[3] == c.shape[3]  # padded to a common width
    left = (c.shape[3] - 140) // 2
    assert torch.equal(batch[0, :, :, left : left + 140], raw_input(strips.images[:1])[0])
    assert float(batch[0, :, :, :left].abs().sum()) == 0.0
    assert len(ctc.predict([strips.images[0], long])) == 2


def test_background_and_blank_images(ctc, mh, strips):
    img = strips.images[5].astype(np.float32)
    grey = 90 + img * (255 - 90) / 255  # white ink on a grey board
    x = ctc.preprocess(grey.astype(np.uint8))
    assert float(x[0, 0, 0].max()) == 0.0 and float(x.max()) == pytest.approx(1.0)
    blanks = [
        np.zeros((28, 140), np.uint8),
        np.full((28, 140), 255, np.uint8),
        np.full((50, 60), 0.5, np.float32),
        np.zeros((3, 3), np.uint8),
        Image.new("RGBA", (40, 40)),
    ]
    for rec in (ctc, mh):
        x = rec.preprocess(blanks)
        assert x.shape == (5, 1, 28, 140) and float(x.max()) <= 30 / 255
        preds = rec.predict(blanks, return_confidence=True)
        assert len(preds) == 5 and all(isinstance(p.text, str) for p in preds)


def test_predict_options(ctc, mh, strips):
    preds = mh.predict(strips.images[:10], return_confidence=True)
    assert all(isinstance(p, Prediction) for p in preds)
    assert [p.text for p in preds] == mh.predict(strips.images[:10])
    for p in preds:
        assert 0.0 <= p.confidence <= 1.0 and len(p.digit_confidences) == len(p.text)
        assert all(0.0 <= c <= 1.0 for c in p.digit_confidences)
        assert set(p.to_dict()) == {"text", "confidence", "digit_confidences"}
    assert mh.predict(strips.images[:10], batch_size=3) == mh.predict(strips.images[:10])
    beam = ctc.predict(strips.images[:4], beam_width=3, return_confidence=True)
    assert len(beam) == 4 and all(0.0 <= p.confidence <= 1.0 for p in beam)
    with pytest.raises(ValueError, match="ctc head only"):
        mh.predict(strips.images[:2], beam_width=3)
    with pytest.raises(ValueError, match="batch_size"):
        mh.predict(strips.images[:2], batch_size=0)


@pytest.mark.parametrize("dy, dx", [(0, 1), (0, -1), (1, 0), (-1, 0), (2, -3)])
def test_shifted_moves_whole_pixels_and_fills_black(dy, dx):
    x = torch.rand(2, 1, 28, 40)
    want = torch.zeros_like(x)
    H, W = x.shape[-2:]
    want[..., max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
        ..., max(-dy, 0) : H - max(dy, 0), max(-dx, 0) : W - max(dx, 0)
    ]
    assert torch.equal(shifted(x, dy, dx), want)


def test_tta_votes_over_the_shifted_views(ctc, mh, strips):
    for rec in (ctc, mh):
        x = rec.preprocess(strips.images[:12])
        views = [rec.predict(shifted(x, dy, dx), return_confidence=True) for dy, dx in TTA_SHIFTS]
        want = [vote(column, len(TTA_SHIFTS)) for column in zip(*views)]
        assert rec.predict(strips.images[:12], tta=True, return_confidence=True) == want
        assert rec.predict(strips.images[:12], tta=True) == [w.text for w in want]
    blank = np.zeros((2, 28, 140), np.uint8)
    assert ctc.predict(blank, tta=True, return_confidence=True) == [Prediction("", 0.0, [])] * 2
    with pytest.raises(ValueError, match="tta must be True or False, got 5"):
        ctc.predict(strips.images[:2], tta=5)


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_are_explained(ctc, strips, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ctc.predict(tmp_path / "missing.png")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    with pytest.raises(ValueError, match="notes.txt.*not an image"):
        ctc.predict(str(notes))
    good = tmp_path / "good.png"
    Image.fromarray(strips.images[0]).save(good)
    with pytest.raises(ValueError, match="notes.txt"):  # a bad file in a batch is named
        ctc.predict([good, good, notes, good])
    with pytest.raises(ValueError, match="folder"):
        ctc.predict(tmp_path)
    for shape in [(140,), (2, 3, 28, 140), (1, 1, 1, 28, 140)]:
        with pytest.raises(ValueError, match=r"allowed shapes: \(H, W\), \(N, H, W\) or \(N, 1, H, W\)"):
            ctc.predict(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="empty"):
        ctc.predict(np.zeros((0, 28, 140), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        ctc.predict([])
    with pytest.raises(ValueError, match="NaN"):
        ctc.predict(np.full((28, 140), np.nan, np.float32))
    with pytest.raises(TypeError, match="cannot read an image from int"):
        ctc.predict(42)


# ----------------------------------------------------------------------------- issue 10 / 14: pipeline, layouts, limits
def test_colour_arrays_of_every_dtype_are_one_image(ctc, strips):
    img = strips.images[0]
    ref = ctc.preprocess(img)
    rgb = np.dstack([img] * 3)
    for value in (
        rgb.astype(np.float32) / 255,
        rgb.astype(np.float64),
        rgb.astype(np.int32),
        np.dstack([rgb, np.full_like(img, 255)]).astype(np.float32) / 255,
    ):
        x = ctc.preprocess(value)
        assert x.shape == ref.shape and torch.allclose(x, ref, atol=1e-5), value.dtype
        assert len(ctc.predict(value)) == 1
    batch = np.stack([rgb, rgb]).astype(np.float32) / 255  # (N, H, W, 3)
    assert ctc.preprocess(batch).shape == (2, 1, 28, 140) and len(ctc.predict(batch)) == 2


def test_channels_first_arrays_are_refused_unless_a_batch_of_strips(ctc, strips):
    for shape, dtype in [((3, 64, 64), np.float32), ((4, 50, 80), np.uint8)]:
        with pytest.raises(ValueError, match=r"ambiguous.*transpose\(1, 2, 0\).*accepted layouts.*\(H, W, 3\)"):
            ctc.predict(np.zeros(shape, dtype))
    three = strips.images[:3]  # (3, 28, 140): the model's height, so a batch of three gray strips
    assert torch.equal(ctc.preprocess(three), raw_input(three)) and len(ctc.predict(three)) == 3


def test_blank_images_read_empty_without_running_the_model(ctc, strips, monkeypatch):
    rng = np.random.default_rng(0)
    paper = np.clip(rng.normal(200, 12, (300, 400)) + np.linspace(-30, 30, 400)[None, :], 0, 255).astype(np.uint8)
    seen = []
    logits = ctc.logits
    monkeypatch.setattr(ctc, "logits", lambda x: seen.append(x.shape[0]) or logits(x))
    preds = ctc.predict(
        [paper, strips.images[0], np.zeros((28, 140), np.uint8), Image.new("L", (50, 50), 255)], return_confidence=True
    )
    assert [p.text for p in preds][::2] == ["", ""] and preds[3].text == ""
    assert [p.confidence for p in preds] == [0.0, preds[1].confidence, 0.0, 0.0] and preds[0].digit_confidences == []
    assert seen == [1]  # only the strip with ink reached the model
    assert ctc.predict(np.zeros((2, 28, 140), np.uint8)) == ["", ""] and seen == [1]
    assert float(ctc.preprocess(paper).abs().sum()) == 0.0  # what the model would have seen: nothing


def test_thin_and_huge_inputs_are_refused_fast(ctc, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"100000x1 pixels.*limit is 50:1.*SEQREC_MAX_ASPECT"):
        ctc.predict(np.zeros((100000,), np.uint8)[None])  # 1 row, 100000 columns
    with pytest.raises(ValueError, match="limit is 50:1"):
        ctc.predict(np.zeros((100000, 1), np.float32))
    png = tmp_path / "thin.png"
    Image.new("L", (200000, 1)).save(png)
    assert png.stat().st_size < 1000
    with pytest.raises(ValueError, match=r"thin.png is 200000x1 pixels.*limit is 50:1"):
        ctc.predict(png)
    with pytest.raises(ValueError, match=r"limit is 40,000,000 pixels.*SEQREC_MAX_PIXELS"):
        ctc.predict(np.zeros((1, 7000, 7000), np.uint8))
    assert time.perf_counter() - t0 < 2.0


def stacked_digits() -> np.ndarray:
    """The digits 4, 1 and 8 written one above the other: what a turned number looks like ("rotated?")."""
    column = np.full((300, 80), 255, np.uint8)
    for i, y in enumerate((20, 110, 200)):
        cv2.putText(column, "418"[i], (15, y + 70), cv2.FONT_HERSHEY_SIMPLEX, 2.5, 0, 6)
    return column


def test_odd_images_warn_instead_of_failing(ctc):
    column = stacked_digits()
    with pytest.warns(UserWarning, match=r"image 1: .*taller than wide.*rotated") as caught:
        preds = ctc.predict([np.zeros((28, 140), np.uint8), column])
    assert len(preds) == 2
    (w,) = [w.message for w in caught if isinstance(w.message, ImageWarning)]
    assert (w.index, w.note) == (1, imaging.TALL)  # which image, and what was seen
    again = pickle.loads(pickle.dumps(w))
    assert (again.index, again.note, str(again)) == (1, imaging.TALL, str(w))


def test_published_weights_run_channels_last_with_the_same_logits():
    import copy

    from seqrec.spec import pretrained_path

    def channels_last(net) -> bool:  # the last conv: the first has one input channel, either layout
        conv = [m for m in net.backbone.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        return conv.weight.is_contiguous(memory_format=torch.channels_last)

    net = load_system(pretrained_path("ctc")).net.eval()
    assert channels_last(net)  # the faster layout on the CPU
    plain = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    assert not channels_last(plain)
    x = torch.rand(4, 1, 28, 140, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(net(x), plain(x), atol=1e-4)

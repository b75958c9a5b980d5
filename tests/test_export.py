"""export(): ONNX (dynamic batch; dynamic width for CTC) and TorchScript, parity-checked,
written atomically, read back by Recognizer.from_checkpoint with codec and size."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from test_recognizer import tiny_checkpoint

from seqrec.checkpoint import CheckpointError
from seqrec.data.strips import make_strips
from seqrec.export import ExportError, check_parity, export
from seqrec.recognizer import Recognizer

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def ctc(tmp_path_factory):
    return Recognizer.from_checkpoint(tiny_checkpoint("ctc", tmp_path_factory))


@pytest.fixture(scope="module")
def mh(tmp_path_factory):
    return Recognizer.from_checkpoint(tiny_checkpoint("multihead", tmp_path_factory))


@pytest.fixture(scope="module")
def ctc_onnx(ctc, tmp_path_factory):
    return export(ctc, tmp_path_factory.mktemp("onnx") / "ctc.onnx")


def strips_at(width: int, n: int = 24, seed: int = 7) -> np.ndarray:
    return make_strips(n, seed=seed, split="test", source="bundled", min_len=1, width=width, placement="random").images


def onnx_logits(path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = images.astype(np.float32)[:, None] / 255
    return session.run(None, {"image": x})[0]


def test_onnx_ctc_parity_with_dynamic_batch_and_width(ctc, ctc_onnx):
    model = onnx.load(str(ctc_onnx))
    meta = json.loads({p.key: p.value for p in model.metadata_props}["seqrec"])
    assert meta["head"] == "ctc" and meta["image_size"] == [28, 140] and meta["codec"] == ctc.codec.to_dict()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[3].dim_param and dims[2].dim_value == 28  # batch and width are dynamic
    for width, n in ((140, 24), (168, 5)):
        images = strips_at(width, n)
        ref = ctc.logits(torch.from_numpy(images).float().div(255).unsqueeze(1))
        got = torch.from_numpy(onnx_logits(ctc_onnx, images))
        assert got.shape == ref.shape == (n, width // 4, 11)
        assert torch.allclose(got, ref, atol=1e-4)
        assert ctc.decode(got).texts == ctc.decode(ref).texts


def test_onnx_recognizer_predicts_like_pytorch(ctc, ctc_onnx, tmp_path):
    rec = Recognizer.from_checkpoint(ctc_onnx)
    assert rec.backend == "onnx" and rec.head == "ctc" and rec.image_size == (28, 140) and rec.name == "ctc"
    assert rec.codec.to_dict() == ctc.codec.to_dict() and not rec.fixed_width
    images = strips_at(140, 40)
    wide = strips_at(168, 6, seed=3)
    for batch in (images, wide, [images[0], wide[0], 255 - images[1]]):
        assert rec.predict(batch) == ctc.predict(batch)
        assert torch.allclose(rec.logits(ctc.preprocess(batch)), ctc.logits(ctc.preprocess(batch)), atol=1e-4)
    got = rec.predict(images[:3], return_confidence=True)
    want = ctc.predict(images[:3], return_confidence=True)
    assert [p.text for p in got] == [p.text for p in want]
    assert np.allclose([p.confidence for p in got], [p.confidence for p in want], rtol=1e-3, atol=1e-12)


def test_onnx_sessions_split_a_batch_into_parts_with_the_same_logits(ctc_onnx, monkeypatch):
    from seqrec import backends

    sessions = [ort.InferenceSession(str(ctc_onnx), providers=["CPUExecutionProvider"]) for _ in range(3)]
    one, three = backends._OnnxModel(sessions[:1], "image", "logits"), backends._OnnxModel(sessions, "image", "logits")
    calls = []
    monkeypatch.setattr(three, "_run", lambda session, feed: calls.append(len(feed)) or one._run(session, feed))
    for n, parts in ((100, [34, 33, 33]), (2, [1, 1]), (1, [1])):  # one part per session, at most one per image
        x = torch.from_numpy(strips_at(140, n)).float().div(255).unsqueeze(1)
        calls.clear()
        assert torch.allclose(three(x), one(x), atol=1e-5) and calls == parts
    monkeypatch.setattr(backends, "_cpu_cores", lambda: 16)
    cpu = backends._onnx_sessions(ort, ctc_onnx, ["CPUExecutionProvider"])
    assert len(cpu) == backends.ONNX_MAX_SESSIONS == 4  # 4 sessions of 4 threads each
    assert cpu[0].get_session_options().intra_op_num_threads == 4


def test_onnx_multihead_keeps_its_width(mh, tmp_path):
    path = export(mh, tmp_path / "mh.onnx")
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[3].dim_value == 140
    images = strips_at(140, 9)
    ref = mh.logits(torch.from_numpy(images).float().div(255).unsqueeze(1))
    got = torch.from_numpy(onnx_logits(path, images))
    assert got.shape == (9, 55) and torch.allclose(got, ref, atol=1e-4)
    rec = Recognizer.from_checkpoint(path)
    assert rec.head == "multihead" and rec.fixed_width
    assert rec.predict(images) == mh.predict(images)
    assert rec.preprocess(np.zeros((28, 300), np.uint8)).shape[-1] == 140


def test_torchscript_export_round_trip(ctc, tmp_path):
    path = export(ctc, tmp_path / "ctc.pt", format="torchscript")
    module = torch.jit.load(str(path))
    images = strips_at(168, 4)
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    assert torch.allclose(module(x), ctc.logits(x), atol=1e-4)  # traced at 140 px, runs at 168
    rec = Recognizer.from_checkpoint(path)
    assert rec.backend == "torchscript" and rec.head == "ctc" and rec.image_size == (28, 140)
    assert rec.predict(images) == ctc.predict(images)


def test_export_from_checkpoint_path(tmp_path_factory, tmp_path):
    path = export(str(tiny_checkpoint("multihead", tmp_path_factory)), tmp_path / "sub" / "model.onnx", check=False)
    assert path.is_file() and Recognizer.from_checkpoint(path).head == "multihead"


def test_parity_failure_is_reported_and_leaves_nothing(ctc, ctc_onnx, tmp_path, monkeypatch):
    broken = Recognizer(_perturbed(ctc.model), ctc.codec, ctc.image_size, name="broken")  # other weights
    with pytest.raises(ExportError, match="parity check failed.*logit difference"):
        check_parity(broken, ctc_onnx, "onnx")
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous export")

    def fail(*args, **kwargs):
        raise ExportError("onnx export parity check failed (simulated)")

    monkeypatch.setattr("seqrec.export.check_parity", fail)
    with pytest.raises(ExportError, match="simulated"):
        export(ctc, out)
    assert out.read_bytes() == b"previous export"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary file left


def _perturbed(net):
    import copy

    net = copy.deepcopy(net)
    with torch.no_grad():
        net.head.fc[-1].bias.add_(0.5 * torch.arange(net.head.fc[-1].bias.numel()))
    return net


def test_bad_arguments_and_foreign_onnx(ctc, ctc_onnx, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown export format"):
        export(ctc, tmp_path / "x.onnx", format="tflite")
    with pytest.raises(ValueError, match="folder"):
        export(ctc, tmp_path)
    with pytest.raises(ValueError, match="PyTorch model"):
        export(Recognizer.from_checkpoint(ctc_onnx), tmp_path / "again.onnx")
    foreign = tmp_path / "foreign.onnx"  # an ONNX model from another program: no seqrec metadata
    torch.onnx.export(torch.nn.Linear(3, 2), (torch.zeros(1, 3),), str(foreign), dynamo=False)
    with pytest.raises(CheckpointError, match="without seqrec metadata"):
        Recognizer.from_checkpoint(foreign)
    junk = tmp_path / "junk.onnx"
    junk.write_text("not onnx")
    with pytest.raises(CheckpointError, match="junk.onnx"):
        Recognizer.from_checkpoint(junk)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # onnxruntime not installed
    with pytest.raises(ImportError, match=r'pip install "seqrec\[onnx\]"'):
        Recognizer.from_checkpoint(ctc_onnx)


def test_bench_predict_counts_the_work_of_pytorch_nets_only(ctc_onnx, tmp_path_factory):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_predict.py"
    spec = importlib.util.spec_from_file_location("bench_predict_flops", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ckpt = tiny_checkpoint("ctc", tmp_path_factory)
    eager = Recognizer.from_checkpoint(ckpt, optimize=False)
    convs = [m for m in eager.model.modules() if isinstance(m, torch.nn.Conv2d)]
    flops = bench.flops_per_strip(eager)
    # at least the first convolution's multiply-adds at full 28x140 resolution, 2 operations each
    first = convs[0]
    assert flops >= 2 * first.in_channels * first.out_channels * 9 * 28 * 140
    assert bench.flops_per_strip(Recognizer.from_checkpoint(ctc_onnx)) is None  # onnxruntime's graph: not counted
    assert bench.matmul_roof(size=64, repeats=1) > 0

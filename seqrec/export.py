"""Export a trained recognizer to ONNX or TorchScript, with a parity check.

    >>> from seqrec.export import export
    >>> export("ctc", "ctc.onnx")                      # pretrained name, checkpoint path or Recognizer
    >>> Recognizer.from_checkpoint("ctc.onnx").predict(images)

Both formats carry the codec, head and input size (ONNX: ``metadata_props["seqrec"]``;
TorchScript: the extra file ``seqrec.json``), so ``Recognizer.from_checkpoint`` reads them
back with no other file. Input ``image``: (batch, 1, H, W) float32 in [0, 1], white ink on
black; output ``logits``. The batch axis is dynamic; for the CTC head the width is dynamic too
(output (batch, frames, 11)); the fixed-width heads keep their trained width.

The file is written to a temporary name beside ``out``, checked, then renamed into place: a
failed export or parity check leaves nothing (and no half-written file) behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .backends import ONNX_INSTALL, TORCHSCRIPT_META
from .recognizer import META_KEY, Recognizer

FORMATS = ("onnx", "torchscript")
DEFAULT_OPSET = 17
ATOL = 1e-4
RTOL = 1e-4


class ExportError(RuntimeError):
    """The exported model failed to build or does not match the PyTorch model."""


def export(
    recognizer_or_checkpoint,
    out,
    format: str = "onnx",
    check: bool = True,
    *,
    opset: int = DEFAULT_OPSET,
    atol: float = ATOL,
) -> Path:
    """Write ``out`` (format ``onnx`` or ``torchscript``) from a Recognizer, a checkpoint path
    or a pretrained name. With ``check`` the written model is run (onnxruntime / torch.jit) on
    make_strips strips -- for CTC at the trained width and 1.2x wider -- and must give the same
    decoded strings and logits within ``atol``; otherwise ExportError. Returns the path."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; allowed: {', '.join(FORMATS)}")
    rec = Recognizer.load(recognizer_or_checkpoint)
    if not isinstance(rec, Recognizer):
        raise ValueError(f"{rec.name!r} is an ensemble of several models; export each member (ctc, ...) on its own")
    if not isinstance(rec.model, torch.nn.Module) or rec.backend != "torch":
        raise ValueError(
            f"can only export a PyTorch model (this one runs on {rec.backend}); load the .ckpt checkpoint instead"
        )
    out = Path(out).expanduser()
    if out.is_dir():
        raise ValueError(
            f"output {out} is a folder; give a file name such as "
            f"{out / (rec.name + ('.onnx' if format == 'onnx' else '.pt'))}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    net = _cpu_copy(rec)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if format == "onnx":
            _export_onnx(net, rec, tmp, opset)
        else:
            _export_torchscript(net, rec, tmp)
        if check:
            check_parity(rec, tmp, format, atol=atol, net=net)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _cpu_copy(rec: Recognizer) -> torch.nn.Module:
    import copy

    return copy.deepcopy(rec.model).cpu().eval()


def _example(rec: Recognizer, batch: int = 2) -> torch.Tensor:
    h, w = rec.image_size
    return torch.rand(batch, 1, h, w, generator=torch.Generator().manual_seed(0))


def _export_onnx(net, rec: Recognizer, path: Path, opset: int) -> None:
    try:
        import onnx
    except ImportError as err:
        raise ImportError(
            f"ONNX export needs the onnx package, which is not installed; install it with: {ONNX_INSTALL}"
        ) from err
    ctc = not rec.fixed_width
    dynamic = (
        {"image": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "frames"}}
        if ctc
        else {"image": {0: "batch"}, "logits": {0: "batch"}}
    )
    kwargs = dict(input_names=["image"], output_names=["logits"], dynamic_axes=dynamic)
    errors = []
    # The TorchScript-based exporter is quick and handles the LSTM with dynamic axes; the
    # torch.export-based one (dynamo=True, opset >= 18) is the fallback where it is gone.
    for dynamo, version in ((False, opset), (True, max(opset, 18))):
        try:
            with warnings.catch_warnings(), torch.no_grad(), _no_mha_fastpath():
                warnings.simplefilter("ignore")
                torch.onnx.export(net, (_example(rec),), str(path), opset_version=version, dynamo=dynamo, **kwargs)
            break
        except Exception as err:  # noqa: BLE001 - try the other exporter, report both
            errors.append(f"{'dynamo' if dynamo else 'torchscript'} exporter: {type(err).__name__}: {err}")
    else:
        raise ExportError("ONNX export failed:\n  " + "\n  ".join(errors))
    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(rec.metadata())
    model.doc_string = (
        f"seqrec {rec.head} recognizer: image (batch, 1, H, W) float in [0, 1], white ink on black -> logits"
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@contextlib.contextmanager
def _no_mha_fastpath():
    """nn.MultiheadAttention's fused inference kernel has no ONNX symbolic: export its plain ops."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None:
        yield
        return
    was = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(was)


def _export_torchscript(net, rec: Recognizer, path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            module = torch.jit.trace(net, _example(rec), check_trace=False)
        except Exception as err:  # noqa: BLE001
            raise ExportError(f"TorchScript export failed: {type(err).__name__}: {err}") from err
        torch.jit.save(module, str(path), _extra_files={TORCHSCRIPT_META: json.dumps(rec.metadata())})


def parity_batches(rec: Recognizer, n: int = 16, seed: int = 1234) -> list[np.ndarray]:
    """uint8 strips (n, H, W) from the bundled digits: at the trained size, and for CTC also 1.2x wider."""
    h, w = rec.image_size
    widths = [w] if rec.fixed_width else [w, int(round(w * 1.2))]
    return [_strips(n, seed + i, h, width, rec.max_len) for i, width in enumerate(widths)]


def _strips(n: int, seed: int, height: int, width: int, max_len: int) -> np.ndarray:
    from .data.strips import make_strips

    for lo, hi in ((1, max_len), (1, 1)):
        try:
            return make_strips(
                n,
                seed=seed,
                split="test",
                source="bundled",
                min_len=lo,
                max_len=hi,
                height=height,
                width=width,
                placement="random",
            ).images
        except ValueError:  # canvas too small for max_len digits (or too short for a digit)
            continue
    rng = np.random.default_rng(seed)  # odd sizes: any images will do for parity
    return (rng.random((n, height, width)) ** 4 * 255).astype(np.uint8)


def check_parity(rec: Recognizer, path, format: str = "onnx", atol: float = ATOL, net=None) -> float:
    """Run the exported file and the PyTorch net on the same strips; raise ExportError unless the
    logits agree within ``atol`` (+ RTOL) and the decoded strings are equal. Returns the max |diff|."""
    net = net if net is not None else _cpu_copy(rec)
    if format == "onnx":
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError(
                f"the ONNX parity check needs onnxruntime, which is not installed; install it with: "
                f"{ONNX_INSTALL} (or pass check=False / --no-check)"
            ) from err
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        run = lambda x: session.run(None, {name: x.numpy()})[0]  # noqa: E731
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notice
            module = torch.jit.load(str(path), map_location="cpu")
        module.eval()

        def run(x):
            with torch.inference_mode():
                return module(x).numpy()

    worst = 0.0
    for images in parity_batches(rec):
        x = torch.from_numpy(images).float().div(255).unsqueeze(1)
        with torch.inference_mode():
            ref = net(x)
        got = torch.from_numpy(np.asarray(run(x)))
        size = f"{x.shape[-2]}x{x.shape[-1]}"
        if got.shape != ref.shape:
            raise ExportError(
                f"{format} export parity check failed at {size}: "
                f"output shape {tuple(got.shape)} != PyTorch {tuple(ref.shape)}"
            )
        diff = float((got - ref).abs().max())
        worst = max(worst, diff)
        if not torch.allclose(got, ref, atol=atol, rtol=RTOL):
            raise ExportError(
                f"{format} export parity check failed at {size}: max |logit difference| {diff:.3g} > atol {atol:g}"
            )
        want, have = rec.decode(ref).texts, rec.decode(got).texts
        if want != have:
            bad = [(i, a, b) for i, (a, b) in enumerate(zip(want, have)) if a != b]
            raise ExportError(
                f"{format} export parity check failed at {size}: "
                f"decoded strings differ (index, pytorch, exported): {bad[:5]}"
            )
    return worst

"""Running a net: exported ONNX / TorchScript files read back as (model, seqrec metadata),
and the frozen TorchScript copy that speeds up PyTorch nets on the CPU."""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError
from .spec import METADATA_KEY as META_KEY

ONNX_INSTALL = 'pip install "seqrec[onnx]"'
ONNX_MAX_SESSIONS = 4  # CPU: up to this many sessions, each reading a part of every batch in its own thread
TORCHSCRIPT_META = "seqrec.json"


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            f"running .onnx models needs onnxruntime, which is not installed; install it with: {ONNX_INSTALL}"
        ) from err
    return onnxruntime


class PartsInThreads:
    """Maps a function over the parts of a batch in a thread pool of its own. The pool is made on
    first use and again in a forked child, whose copy of the parent's pool has no threads."""

    def __init__(self, workers: int):
        self.workers = int(workers)
        self._pool, self._pid = None, None

    def map(self, fn, parts) -> list:
        if self._pid != os.getpid():
            self._pool, self._pid = ThreadPoolExecutor(self.workers), os.getpid()
        return list(self._pool.map(fn, parts))


class SplitBatches:
    """A CPU torch net run on two halves of each batch at once, each in its own thread.

    On 2 cores this reads about 1.5-1.9x the strips per second of one call on torch's 2 intra-op
    threads, whose start-up cost per operator is large for nets this small (BENCHMARKS.md,
    "Predict throughput"), with the same logits to float precision (bit for bit on the bundled
    models at batch 256). Only where the calling thread runs torch on exactly 2 threads, the case
    measured: with 1 the user asked for one core, and on larger machines two halves would each
    start a team of every core's threads."""

    THREADS = 2

    def __init__(self, net):
        self.net = net
        self._parts = PartsInThreads(self.THREADS)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) < 2 or torch.get_num_threads() != self.THREADS:
            return self.net(x)
        return torch.cat(self._parts.map(self._run, torch.tensor_split(x, self.THREADS)))

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():  # thread-local: the caller's mode does not reach this thread
            return self.net(x)


class _OnnxModel:
    """onnxruntime sessions behind the same call as the torch net: tensor in, logits tensor out.
    With several sessions (CPU), a batch is split into one part per session, read in threads: on
    2 cores two 1-thread sessions beat one 2-thread session (BENCHMARKS.md, "Predict throughput")."""

    def __init__(self, sessions, input_name: str, output_name: str):
        self.sessions, self.input_name, self.output_name = list(sessions), input_name, output_name
        self._parts = PartsInThreads(len(self.sessions))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        feed = x.detach().cpu().numpy().astype(np.float32, copy=False)
        # split from 2 images on: one 1-thread session alone is slower than the cores together
        # would be, and parts read in parallel are faster from 4 images (BENCHMARKS.md)
        parts = min(len(self.sessions), len(feed))
        if parts < 2:
            return torch.from_numpy(self._run(self.sessions[0], feed))
        outs = self._parts.map(lambda pair: self._run(*pair), zip(self.sessions, np.array_split(feed, parts)))
        return torch.from_numpy(np.concatenate(outs))

    def _run(self, session, feed: np.ndarray) -> np.ndarray:
        return session.run([self.output_name], {self.input_name: feed})[0]


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _onnx_sessions(ort, path: Path, providers: list) -> list:
    """One session on a GPU; on the CPU up to ONNX_MAX_SESSIONS sessions sharing the cores."""
    if providers != ["CPUExecutionProvider"]:
        return [ort.InferenceSession(str(path), providers=providers)]
    cores = _cpu_cores()
    count = max(1, min(cores, ONNX_MAX_SESSIONS))
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, cores // count)
    options.inter_op_num_threads = 1
    return [ort.InferenceSession(str(path), options, providers=providers) for _ in range(count)]


def load_onnx(path: Path, device) -> tuple[_OnnxModel, dict]:
    """An ONNX file written by ``seqrec export`` -> (model, seqrec metadata); runs on cpu or cuda."""
    ort = _import_onnxruntime()
    dev = torch.device(device)
    providers = ["CPUExecutionProvider"]
    if dev.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError(
                f"device {device!r}: this onnxruntime has no CUDA provider (has {ort.get_available_providers()})"
            )
        providers = [("CUDAExecutionProvider", {"device_id": dev.index or 0}), "CPUExecutionProvider"]
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r}: ONNX models run on cpu or cuda")
    try:
        sessions = _onnx_sessions(ort, path, providers)
    except Exception as err:  # onnxruntime raises its own exception types
        raise CheckpointError(f"{path} is not a readable ONNX model ({type(err).__name__}: {err})") from err
    first = sessions[0]
    meta = _parse_meta(first.get_modelmeta().custom_metadata_map.get(META_KEY), path, "ONNX model")
    model = _OnnxModel(sessions, first.get_inputs()[0].name, first.get_outputs()[0].name)
    return model, meta


def load_torchscript(path: Path, device) -> tuple[torch.jit.ScriptModule, dict]:
    """A TorchScript file written by ``seqrec export`` -> (module, seqrec metadata)."""
    extra = {TORCHSCRIPT_META: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notice
            module = torch.jit.load(str(path), map_location=torch.device(device), _extra_files=extra)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable TorchScript model ({type(err).__name__}: {err})") from err
    meta = _parse_meta(extra[TORCHSCRIPT_META], path, "TorchScript model")
    return module, meta


def _freeze(net: nn.Module, image_size: tuple[int, int], fixed_width: bool):
    """torch.jit.freeze + optimize_for_inference of a traced copy (fuses conv+BN, MKLDNN
    convolutions), or None when that fails or does not match the plain net within 1e-4."""
    h, w = image_size
    widths = [w] if fixed_width else [w, w + w // 2]
    gen = torch.Generator().manual_seed(0)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # torch.jit deprecation notices
            traced = torch.jit.trace(net.eval(), torch.rand(2, 1, h, w, generator=gen), check_trace=False)
            fast = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
            for i, width in enumerate(widths):
                x = torch.rand(3 + i, 1, h, width, generator=gen)
                if not torch.allclose(fast(x), net(x), atol=1e-4, rtol=1e-4):
                    return None
        return fast
    except Exception:  # noqa: BLE001 - TorchScript missing or unable: run the plain net
        return None


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith(f"extra/{TORCHSCRIPT_META}") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _parse_meta(raw, path: Path, what: str) -> dict:
    try:
        meta = json.loads(raw) if raw else None
    except (TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict) or not {"codec", "image_size", "head"} <= set(meta):
        raise CheckpointError(
            f"{path} is a {what} without seqrec metadata (codec, image size); export it with `seqrec export`"
        )
    return meta

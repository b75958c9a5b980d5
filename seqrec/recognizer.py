"""``Recognizer``: read numbers from images with a trained seqrec model.

    >>> from seqrec import Recognizer
    >>> rec = Recognizer.pretrained("ctc")            # or Recognizer.from_checkpoint("last.ckpt")
    >>> rec.predict(["number.png", strip_array])       # -> ["4071", "93215"]

Inputs (``preprocess`` / ``predict``): a numpy array (H, W), (N, H, W) or (N, 1, H, W) --
uint8 is read as 0..255, other dtypes as 0..1 if the array's maximum is <= 1, else 0..255 --,
a torch tensor of the same shapes, a PIL image (any mode), an image file path (str or Path),
encoded image bytes, or a list mixing those. A list element may itself be a batch.

A trailing axis of 3 or 4 is colour (RGB / RGBA) for every dtype: (H, W, 3|4) is one image,
(N, H, W, 3|4) a batch. A (3|4, H, W) array is a batch of gray images only when H is the model's
height; otherwise it is ambiguous (channels first?) and refused with the accepted layouts.

Preprocessing is :mod:`seqrec.imaging`, the one pipeline the demo and the ``folder`` source
use too: polarity, lighting, ink mask, specks / ruled lines / paper edges, crop, scale (a digit
20/28 of the height, as in MNIST and the training strips), stroke width. Clean model-size strips
(``make_strips`` output, either polarity) pass through bit for bit, vectorised. Fixed-width heads
(multihead, multilabel) get exactly ``image_width``; the CTC head keeps the natural width (ink
plus a margin), at least ``image_width``; images of one batch are centred on a common width.

An image with no ink (blank page, paper texture, a speck) is not run through the model: it
reads "" with confidence 0.0. Oversized images and extreme side ratios are refused with a
ValueError before any work (``imaging.MAX_PIXELS``, ``imaging.MAX_ASPECT``); what the pipeline
finds odd (a rotated photo, tiny ink) is reported with ``warnings.warn``.

``predict(..., tta=True)`` reads each image five times, the model input shifted by one pixel
up, down, left and right, and the views vote (:func:`vote`): about 0.6-0.8 points more exact
matches for 5x the time (BENCHMARKS.md, "Test-time augmentation").
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from . import imaging
from .backends import ONNX_INSTALL as ONNX_INSTALL  # re-exported: users import these from here
from .backends import TORCHSCRIPT_META as TORCHSCRIPT_META
from .backends import SplitBatches, _freeze, _is_torchscript, load_onnx, load_torchscript
from .checkpoint import build_net, read_checkpoint
from .codecs import Codec
from .inputs import _chunks, _entries, _load_part
from .spec import ENSEMBLES, PRETRAINED, pretrained_path
from .spec import METADATA_FORMAT as META_FORMAT
from .spec import METADATA_KEY as META_KEY

# Test-time augmentation: (dy, dx) pixel shifts of the model input, the unshifted view first (it wins ties).
TTA_SHIFTS = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))


class ImageWarning(UserWarning):
    """A doubtful input image (turned on its side? tiny ink?), still read: ``index`` is its place
    in the images given to ``predict``, ``note`` what was seen. Catch it with
    ``warnings.catch_warnings(record=True)`` to tie each warning to its image."""

    def __init__(self, index: int, note: str):
        super().__init__(f"seqrec: image {index}: {note}")
        self.index, self.note = index, note

    def __reduce__(self):  # pickles (e.g. across processes) with both fields
        return type(self), (self.index, self.note)


@dataclass
class Prediction:
    """One image's reading: the digit string, its sequence confidence and one confidence per digit."""

    text: str
    confidence: float
    digit_confidences: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Recognizer:
    """A trained model plus its codec and input size, with the preprocessing that makes any
    image look like a training strip. Build one with :meth:`pretrained`, :meth:`from_checkpoint`
    (``.ckpt`` from scripts/train.py or ``save_slim``, ``.onnx`` or TorchScript from
    ``seqrec export``) or :meth:`from_system`."""

    def __init__(
        self,
        model,
        codec: Codec,
        image_size: Sequence[int],
        head: str | None = None,
        *,
        name: str = "model",
        device: str | torch.device = "cpu",
        fixed_width: bool | None = None,
        backend: str = "torch",
        optimize: bool = False,
    ):
        self.model = model
        self.optimize = bool(optimize)
        self._fast = None  # frozen TorchScript copy of the net, built on first use (see _runner)
        self.codec = codec
        self.head = head or codec.name
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.name = str(name)
        self.backend = backend
        self._device = torch.device(device)
        if fixed_width is None:
            fixed_width = getattr(model, "fixed_width", self.head != "ctc")
        self.fixed_width = bool(fixed_width)
        if isinstance(model, nn.Module):
            model.to(self._device).eval()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_system(
        cls, system, name: str = "model", device: str | torch.device = "cpu", optimize: bool = False
    ) -> Recognizer:
        """From a trained ``BaseSystem`` (LightningModule). Shares its live net, so by default
        no frozen copy is made (``optimize=False``): later weight updates are seen."""
        net = system.net
        return cls(
            net,
            system.codec,
            (net.image_height, net.image_width),
            system.head_name,
            name=name,
            device=device,
            fixed_width=net.fixed_width,
            optimize=optimize,
        )

    @classmethod
    def from_checkpoint(
        cls, path, device: str | torch.device = "cpu", name: str | None = None, optimize: bool = True
    ) -> Recognizer:
        """Load a checkpoint written by scripts/train.py or ``save_slim`` (``.ckpt``), an ONNX
        model (``.onnx``, needs onnxruntime) or a TorchScript file written by ``seqrec export``.
        Raises FileNotFoundError for a missing file and CheckpointError for any other file.
        ``optimize``: on the CPU, run a frozen TorchScript copy of the net (about 2x faster,
        same logits to ~1e-7); it falls back to the plain net if that cannot be built."""
        path = Path(path).expanduser()
        if not path.is_file():
            what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
            raise FileNotFoundError(f"checkpoint {str(path)!r} {what}")
        name = name or path.stem
        if path.suffix.lower() == ".onnx":
            return cls._from_onnx(path, device, name)
        if _is_torchscript(path):
            return cls._from_torchscript(path, device, name)
        ckpt = read_checkpoint(path)
        meta = ckpt[META_KEY]
        try:  # just the net: no Lightning import, so the command line starts faster
            net = build_net(ckpt)
        except Exception:  # noqa: BLE001 - anything unusual: the full system loader (raises what is wrong)
            from .checkpoint import load_system

            return cls.from_system(load_system(path, map_location="cpu"), name=name, device=device, optimize=optimize)
        return cls(
            net,
            Codec.from_dict(meta["codec"]),
            (net.image_height, net.image_width),
            meta.get("head"),
            name=name,
            device=device,
            fixed_width=net.fixed_width,
            optimize=optimize,
        )

    @classmethod
    def pretrained(cls, name: str = "ctc", device: str | torch.device = "cpu", optimize: bool = True) -> Recognizer:
        """A model shipped inside the package (``seqrec/pretrained/<name>.ckpt``); never uses the network.
        ``"ensemble"``: an :class:`~seqrec.ensemble.Ensemble` of the bundled heads (a vote, same ``predict``)."""
        if isinstance(name, str) and name in ENSEMBLES:
            from .ensemble import Ensemble

            return Ensemble([cls.pretrained(m, device=device, optimize=optimize) for m in ENSEMBLES[name]], name=name)
        if isinstance(name, str) and name not in PRETRAINED:
            raise ValueError(f"unknown pretrained model {name!r}; valid names: {', '.join([*PRETRAINED, *ENSEMBLES])}")
        return cls.from_checkpoint(pretrained_path(name), device=device, name=name, optimize=optimize)

    @classmethod
    def load(cls, spec, device: str | torch.device = "cpu", optimize: bool = True) -> Recognizer:
        """A pretrained name (ctc, multihead, multilabel, ensemble) or a checkpoint / .onnx / TorchScript path.
        A file of that name in the current folder takes precedence over the bundled model."""
        from .ensemble import Ensemble

        if isinstance(spec, (Recognizer, Ensemble)):
            return spec
        if isinstance(spec, str) and (spec in PRETRAINED or spec in ENSEMBLES) and not Path(spec).is_file():
            return cls.pretrained(spec, device=device, optimize=optimize)
        if isinstance(spec, (str, os.PathLike)) and not Path(spec).expanduser().exists():
            raise FileNotFoundError(
                f"model {str(spec)!r} is neither a pretrained model ({', '.join([*PRETRAINED, *ENSEMBLES])}) "
                "nor an existing checkpoint file"
            )
        return cls.from_checkpoint(spec, device=device, optimize=optimize)

    @classmethod
    def _from_onnx(cls, path: Path, device, name: str) -> Recognizer:
        model, meta = load_onnx(path, device)
        return cls._from_meta(model, meta, name, torch.device(device), "onnx")

    @classmethod
    def _from_torchscript(cls, path: Path, device, name: str) -> Recognizer:
        module, meta = load_torchscript(path, device)
        return cls._from_meta(module, meta, name, device, "torchscript")

    @classmethod
    def _from_meta(cls, model, meta: dict, name: str, device, backend: str) -> Recognizer:
        """An exported model (ONNX, TorchScript) with the seqrec metadata it carries."""
        return cls(
            model,
            Codec.from_dict(meta["codec"]),
            meta["image_size"],
            meta["head"],
            name=name,
            device=device,
            fixed_width=meta.get("fixed_width"),
            backend=backend,
        )

    def metadata(self) -> dict:
        """What an exported model must carry to be read back: codec, head and input size."""
        return {
            "format": META_FORMAT,
            "head": self.head,
            "codec": self.codec.to_dict(),
            "image_size": list(self.image_size),
            "fixed_width": self.fixed_width,
            "name": self.name,
        }

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def max_len(self) -> int:
        return self.codec.max_len

    def __repr__(self) -> str:
        h, w = self.image_size
        return (
            f"Recognizer(name={self.name!r}, head={self.head!r}, image_size=({h}, {w}), "
            f"backend={self.backend!r}, device={str(self.device)!r})"
        )

    # ------------------------------------------------------------------ inference
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Raw model output (on the CPU) for an already preprocessed (N, 1, H, W) float batch."""
        if isinstance(self.model, nn.Module) and self.model.training:
            self.model.eval()
        with torch.inference_mode():
            out = self._runner()(x.to(self._device, torch.float32))
        return out.detach().float().cpu()

    def _runner(self):
        """The callable that runs the net: the frozen TorchScript copy when ``optimize`` (CPU
        PyTorch models only; built once, checked against the plain net), read as two halves at
        once where torch runs on 2 threads (:class:`~seqrec.backends.SplitBatches`), else the model."""
        if not (self.optimize and self.backend == "torch" and self._device.type == "cpu"):
            return self.model
        if self._fast is None:
            self._fast = SplitBatches(_freeze(self.model, self.image_size, self.fixed_width) or self.model)
        return self._fast

    def decode(self, logits: torch.Tensor, beam_width: int = 1):
        if beam_width > 1:
            return self.codec.decode(logits, beam_width=beam_width)
        return self.codec.decode(logits)

    def predict(
        self,
        images,
        batch_size: int = 256,
        invert: bool | None = None,
        return_confidence: bool = False,
        beam_width: int = 1,
        tta: bool = False,
    ) -> list:
        """Read every image: a list of strings, or of :class:`Prediction` with ``return_confidence``.
        A single image gives a list of one. Images are preprocessed and run ``batch_size`` at a
        time (each chunk is what ``preprocess`` of that chunk returns); ``beam_width`` > 1 uses
        CTC prefix beam search (ctc head only); ``tta`` reads :data:`TTA_SHIFTS` views and votes."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
            raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
        if beam_width > 1 and self.head != "ctc":
            raise ValueError(
                f"beam_width={beam_width}: beam search applies to the ctc head only, this model is {self.head!r}"
            )
        if not isinstance(tta, (bool, np.bool_)):
            raise ValueError(f"tta must be True or False, got {tta!r}")
        results: list = []
        H = self.image_size[0]
        done = 0
        for chunk in _chunks(_entries(images, H), int(batch_size)):
            x, has_ink = self._prepare(chunk, invert, done)
            done += len(x)
            if has_ink.any():  # blank images are not run through the model: they read "" at confidence 0
                inked = x if has_ink.all() else x[torch.from_numpy(has_ink)]
                read = iter(self._read(inked, int(beam_width), return_confidence, bool(tta)))
            results += [next(read) if h else Prediction("", 0.0, []) if return_confidence else "" for h in has_ink]
        return results

    def _read(self, x: torch.Tensor, beam_width: int, return_confidence: bool, tta: bool) -> list:
        """Readings of a preprocessed batch: one view, or the vote of the shifted views."""
        if not tta:
            return _readings(self.decode(self.logits(x), beam_width), return_confidence)
        views = [_readings(self.decode(self.logits(shifted(x, dy, dx)), beam_width), True) for dy, dx in TTA_SHIFTS]
        votes = [vote(column, len(views)) for column in zip(*views)]
        return votes if return_confidence else [v.text for v in votes]

    def __call__(self, images, **kwargs) -> list:
        return self.predict(images, **kwargs)

    # ------------------------------------------------------------------ preprocessing
    def preprocess(self, images, invert: bool | None = None) -> torch.Tensor:
        """Exactly what the model sees: (N, 1, H, W') float32 in [0, 1], white ink on black
        (W' = image_width for fixed-width heads; >= image_width for CTC). See the module doc.
        Images without ink come out black (``predict`` reads them as "" without the model)."""
        return self._prepare(list(_entries(images, self.image_size[0])), invert)[0]

    def _prepare(self, parts: list, invert: bool | None, first: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """Entries -> (the model's input batch, has_ink per image); warns about odd images."""
        if invert is not None and not isinstance(invert, (bool, np.bool_)):
            raise ValueError(f"invert must be None (auto), True or False, got {invert!r}")
        H, W = self.image_size
        outs: list[np.ndarray] = []  # each (n, H, w) float32
        has_ink: list[np.ndarray] = []
        for part in parts:
            raw, white = _load_part(part)
            b = imaging.prepare_batch(raw, white, height=H, width=W, fixed_width=self.fixed_width, invert=invert)
            offset = first + sum(len(h) for h in has_ink)
            for i, note in enumerate(b.warnings):
                if note:
                    warnings.warn(ImageWarning(offset + i, note), stacklevel=4)
            outs += b.runs
            has_ink.append(b.has_ink)
        if not outs:
            raise ValueError("no images given")
        width = W if self.fixed_width else max(W, max(o.shape[2] for o in outs))
        if len(outs) == 1 and outs[0].shape[2] == width:
            batch = outs[0]
        else:
            batch = np.zeros((sum(len(o) for o in outs), H, width), np.float32)
            i = 0
            for o in outs:
                left = (width - o.shape[2]) // 2
                batch[i : i + len(o), :, left : left + o.shape[2]] = o
                i += len(o)
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).unsqueeze(1)
        return x, np.concatenate(has_ink)


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """A (N, 1, H, W) batch moved by whole pixels (down ``dy``, right ``dx``), black filling in."""
    return TF.affine(x, angle=0.0, translate=[dx, dy], scale=1.0, shear=[0.0, 0.0], fill=0.0)


def vote(readings: Sequence[Prediction], n_voters: int) -> Prediction:
    """The reading with the largest summed confidence (ties: the earliest); confidence = that sum /
    ``n_voters``, so a voter that read something else counts as 0; digit confidences: the mean over
    the voters that read it. Used by ``predict(tta=True)`` and :class:`~seqrec.ensemble.Ensemble`."""
    score: dict[str, float] = {}
    agreeing: dict[str, list[Prediction]] = {}
    for p in readings:  # dicts keep first-seen order, so ties go to the earlier voter
        score[p.text] = score.get(p.text, 0.0) + float(p.confidence)
        agreeing.setdefault(p.text, []).append(p)
    text = max(score, key=score.__getitem__)
    digits = [list(p.digit_confidences) for p in agreeing[text] if p.digit_confidences]
    digit_conf = np.mean(digits, axis=0).tolist() if digits and len({len(d) for d in digits}) == 1 else []
    return Prediction(text, score[text] / n_voters, digit_conf)


def _readings(decoded, return_confidence: bool) -> list:
    """Decoded texts, or Predictions with the sequence and per-digit confidences."""
    if not return_confidence:
        return list(decoded.texts)
    conf = decoded.confidence.detach().float().cpu().tolist()
    digit_conf = decoded.digit_confidences or [[] for _ in decoded.texts]
    return [Prediction(t, float(c), [float(v) for v in d]) for t, c, d in zip(decoded.texts, conf, digit_conf)]

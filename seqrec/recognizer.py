"""``Recognizer``: read numbers from images with a trained seqrec model.

    >>> from seqrec import Recognizer
    >>> rec = Recognizer.pretrained("ctc")            # or Recognizer.from_checkpoint("last.ckpt")
    >>> rec.predict(["number.png", strip_array])       # -> ["4071", "93215"]

Inputs (``preprocess`` / ``predict``): a numpy array (H, W), (N, H, W) or (N, 1, H, W) --
uint8 is read as 0..255, other dtypes as 0..1 if the array's maximum is <= 1, else 0..255 --,
a torch tensor of the same shapes, a PIL image (any mode), an image file path (str or Path),
encoded image bytes, or a list mixing those. A list element may itself be a batch.

Preprocessing turns every image into what the training strips look like (white ink on black,
digits ~20 px tall in a 28 px high strip):

1. grayscale in [0, 1]; polarity: with ``invert=None`` an image whose border median is light
   (> 0.5) is inverted (dark ink on light paper), ``invert=True/False`` forces it;
2. a background that is not black (border median > 0.1 after polarity) is subtracted and
   the contrast stretched;
3. an image that already has the model's height, whose ink (pixels > 30/255) is at least
   10/28 of that height -- the range of the training strips -- is used as it is
   (a strip from ``make_strips`` is never resampled); for the fixed-width heads its width
   must also equal the model's;
4. any other image is cropped to its ink box and scaled (aspect ratio kept) so the ink is
   20/28 of the model height, then centred on a black canvas of the model height. The
   fixed-width heads (multihead, multilabel) take exactly ``image_width``: ink that would
   be wider than ``image_width`` minus a 2 px margin on each side is scaled down further
   to fit. The CTC head keeps the natural width (ink plus a 4/28-height margin each side),
   at least ``image_width``;
5. images of one batch are centred on a common width (CTC: the widest; else image_width).

An image with no ink becomes a black strip (the model then says what it says, usually "").
Batches of model-size arrays skip the per-image work: steps 1-3 are vectorised.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, build_net, read_checkpoint
from .codecs import Codec

PRETRAINED = ("ctc", "multihead", "multilabel")
ONNX_INSTALL = 'pip install "seqrec[onnx]"'
META_KEY = "seqrec"  # ONNX metadata_props key / TorchScript extra file stem
META_FORMAT = 1
TORCHSCRIPT_META = "seqrec.json"

INK_THRESHOLD = 30 / 255  # same as the strip composer's
INK_HEIGHT = 20 / 28  # MNIST: digit ink ~20 px in a 28 px box
KEEP_MIN_INK = 10 / 28  # at model height, ink at least this tall (of H) is kept as it is
BACKGROUND_MAX = 0.1  # border median above this (after polarity) is subtracted
CTC_MARGIN = 4 / 28  # black margin each side of the ink for the CTC head (of H)
FIT_MARGIN = 2  # px each side when a fixed-width head has to scale a long number down
ARRAY_SHAPES = "(H, W), (N, H, W) or (N, 1, H, W)"


@dataclass
class Prediction:
    """One image's reading: the digit string, its sequence confidence and one confidence per digit."""

    text: str
    confidence: float
    digit_confidences: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(f"running .onnx models needs onnxruntime, which is not installed; install it with: {ONNX_INSTALL}") from err
    return onnxruntime


class _OnnxModel:
    """An onnxruntime session behind the same call as the torch net: tensor in, logits tensor out."""

    def __init__(self, session, input_name: str, output_name: str):
        self.session, self.input_name, self.output_name = session, input_name, output_name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run([self.output_name], {self.input_name: x.detach().cpu().numpy().astype(np.float32, copy=False)})[0]
        return torch.from_numpy(out)


class Recognizer:
    """A trained model plus its codec and input size, with the preprocessing that makes any
    image look like a training strip. Build one with :meth:`pretrained`, :meth:`from_checkpoint`
    (``.ckpt`` from scripts/train.py or ``save_slim``, ``.onnx`` or TorchScript from
    ``seqrec export``) or :meth:`from_system`."""

    def __init__(self, model, codec: Codec, image_size: Sequence[int], head: str | None = None, *,
                 name: str = "model", device: str | torch.device = "cpu", fixed_width: bool | None = None,
                 backend: str = "torch", optimize: bool = False):
        self.model = model
        self.optimize = bool(optimize)
        self._fast = None  # frozen TorchScript copy of the net, built on first use (see _runner)
        self.codec = codec
        self.head = head or codec.name
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.name = str(name)
        self.backend = backend
        self._device = torch.device(device)
        self.fixed_width = bool(getattr(model, "fixed_width", self.head != "ctc")) if fixed_width is None else bool(fixed_width)
        if isinstance(model, nn.Module):
            model.to(self._device).eval()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_system(cls, system, name: str = "model", device: str | torch.device = "cpu", optimize: bool = False) -> "Recognizer":
        """From a trained ``BaseSystem`` (LightningModule). Shares its live net, so by default
        no frozen copy is made (``optimize=False``): later weight updates are seen."""
        net = system.net
        return cls(net, system.codec, (net.image_height, net.image_width), system.head_name,
                   name=name, device=device, fixed_width=net.fixed_width, optimize=optimize)

    @classmethod
    def from_checkpoint(cls, path, device: str | torch.device = "cpu", name: str | None = None,
                        optimize: bool = True) -> "Recognizer":
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
        return cls(net, Codec.from_dict(meta["codec"]), (net.image_height, net.image_width), meta.get("head"),
                   name=name, device=device, fixed_width=net.fixed_width, optimize=optimize)

    @classmethod
    def pretrained(cls, name: str = "ctc", device: str | torch.device = "cpu", optimize: bool = True) -> "Recognizer":
        """A model shipped inside the package (``seqrec/pretrained/<name>.ckpt``); never uses the network."""
        if name not in PRETRAINED:
            raise ValueError(f"unknown pretrained model {name!r}; valid names: {', '.join(PRETRAINED)}")
        ref = resources.files("seqrec").joinpath("pretrained", f"{name}.ckpt")
        with resources.as_file(ref) as path:
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"the pretrained {name!r} weights are not bundled in this install (no {path}); "
                    f"train a model with scripts/train.py and load it with Recognizer.from_checkpoint(PATH)"
                )
            return cls.from_checkpoint(path, device=device, name=name, optimize=optimize)

    @classmethod
    def load(cls, spec, device: str | torch.device = "cpu", optimize: bool = True) -> "Recognizer":
        """A pretrained name (ctc, multihead, multilabel) or a checkpoint / .onnx / TorchScript path.
        A file of that name in the current folder takes precedence over the bundled model."""
        if isinstance(spec, Recognizer):
            return spec
        if isinstance(spec, str) and spec in PRETRAINED and not Path(spec).is_file():
            return cls.pretrained(spec, device=device, optimize=optimize)
        if isinstance(spec, (str, os.PathLike)) and not Path(spec).expanduser().exists():
            raise FileNotFoundError(f"model {str(spec)!r} is neither a pretrained model ({', '.join(PRETRAINED)}) nor an existing checkpoint file")
        return cls.from_checkpoint(spec, device=device, optimize=optimize)

    @classmethod
    def _from_onnx(cls, path: Path, device, name: str) -> "Recognizer":
        ort = _import_onnxruntime()
        dev = torch.device(device)
        providers = ["CPUExecutionProvider"]
        if dev.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError(f"device {device!r}: this onnxruntime has no CUDA provider (has {ort.get_available_providers()})")
            providers = [("CUDAExecutionProvider", {"device_id": dev.index or 0}), "CPUExecutionProvider"]
        elif dev.type != "cpu":
            raise ValueError(f"device {device!r}: ONNX models run on cpu or cuda")
        try:
            session = ort.InferenceSession(str(path), providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise CheckpointError(f"{path} is not a readable ONNX model ({type(err).__name__}: {err})") from err
        raw = session.get_modelmeta().custom_metadata_map.get(META_KEY)
        meta = _parse_meta(raw, path, "ONNX model")
        model = _OnnxModel(session, session.get_inputs()[0].name, session.get_outputs()[0].name)
        return cls(model, Codec.from_dict(meta["codec"]), meta["image_size"], meta["head"], name=name,
                   device=dev, fixed_width=meta.get("fixed_width"), backend="onnx")

    @classmethod
    def _from_torchscript(cls, path: Path, device, name: str) -> "Recognizer":
        import warnings

        extra = {TORCHSCRIPT_META: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notice
                module = torch.jit.load(str(path), map_location=torch.device(device), _extra_files=extra)
        except Exception as err:
            raise CheckpointError(f"{path} is not a readable TorchScript model ({type(err).__name__}: {err})") from err
        meta = _parse_meta(extra[TORCHSCRIPT_META], path, "TorchScript model")
        return cls(module, Codec.from_dict(meta["codec"]), meta["image_size"], meta["head"], name=name,
                   device=device, fixed_width=meta.get("fixed_width"), backend="torchscript")

    def metadata(self) -> dict:
        """What an exported model must carry to be read back: codec, head and input size."""
        return {"format": META_FORMAT, "head": self.head, "codec": self.codec.to_dict(),
                "image_size": list(self.image_size), "fixed_width": self.fixed_width, "name": self.name}

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def max_len(self) -> int:
        return self.codec.max_len

    def __repr__(self) -> str:
        h, w = self.image_size
        return f"Recognizer(name={self.name!r}, head={self.head!r}, image_size=({h}, {w}), backend={self.backend!r}, device={str(self.device)!r})"

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
        PyTorch models only; built once, checked against the plain net), else the model."""
        if not (self.optimize and self.backend == "torch" and self._device.type == "cpu"):
            return self.model
        if self._fast is None:
            self._fast = _freeze(self.model, self.image_size, self.fixed_width) or self.model
        return self._fast

    def decode(self, logits: torch.Tensor, beam_width: int = 1):
        if beam_width > 1:
            return self.codec.decode(logits, beam_width=beam_width)
        return self.codec.decode(logits)

    def predict(self, images, batch_size: int = 256, invert: bool | None = None,
                return_confidence: bool = False, beam_width: int = 1) -> list:
        """Read every image: a list of strings, or of :class:`Prediction` with ``return_confidence``.
        A single image gives a list of one. Images are preprocessed and run ``batch_size`` at a
        time (each chunk is what ``preprocess`` of that chunk returns); ``beam_width`` > 1 uses
        CTC prefix beam search (ctc head only)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
            raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
        if beam_width > 1 and self.head != "ctc":
            raise ValueError(f"beam_width={beam_width}: beam search applies to the ctc head only, this model is {self.head!r}")
        results: list = []
        for chunk in _chunks(_entries(images), int(batch_size)):
            decoded = self.decode(self.logits(self._prepare(chunk, invert)), int(beam_width))
            if not return_confidence:
                results += decoded.texts
                continue
            conf = decoded.confidence.detach().float().cpu().tolist()
            digit_conf = decoded.digit_confidences or [[] for _ in decoded.texts]
            results += [Prediction(t, float(c), [float(v) for v in d]) for t, c, d in zip(decoded.texts, conf, digit_conf)]
        return results

    def __call__(self, images, **kwargs) -> list:
        return self.predict(images, **kwargs)

    # ------------------------------------------------------------------ preprocessing
    def preprocess(self, images, invert: bool | None = None) -> torch.Tensor:
        """Exactly what the model sees: (N, 1, H, W') float32 in [0, 1], white ink on black
        (W' = image_width for fixed-width heads; >= image_width for CTC). See the module doc."""
        return self._prepare(list(_entries(images)), invert)

    def _prepare(self, parts: list, invert: bool | None) -> torch.Tensor:
        if invert is not None and not isinstance(invert, (bool, np.bool_)):
            raise ValueError(f"invert must be None (auto), True or False, got {invert!r}")
        H, W = self.image_size
        outs: list[np.ndarray] = []  # each (n, H, w) float32
        for part in parts:
            outs += self._normalise(*_load_part(part), invert)
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
        return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).unsqueeze(1)

    def _normalise(self, raw: np.ndarray, div: float, invert: bool | None) -> list[np.ndarray]:
        """Raw (n, h, w) pixels (``div`` = white) -> runs of (k, H, w') float32 arrays in [0, 1], in order."""
        H, W = self.image_size
        n, h, w = raw.shape
        x = raw.astype(np.float32)  # always a fresh copy
        med = np.median(_border(x), axis=1) / div
        inv = med > 0.5 if invert is None else np.full(n, bool(invert))
        if inv.any():  # in raw units, so 255 - v is exact and an inverted strip maps back bit for bit
            x[inv] = np.float32(div) - x[inv]
        if div != 1.0:
            x /= np.float32(div)  # a division, as in training (BaseSystem.to_input)
        if raw.dtype != np.uint8:
            np.clip(x, 0.0, 1.0, out=x)
        background = np.where(inv, 1.0 - med, med)
        keep = background <= BACKGROUND_MAX
        if h != H or (self.fixed_width and w != W):
            keep[:] = False
        elif keep.any():
            rows = (x > INK_THRESHOLD).any(axis=2)
            has = rows.any(axis=1)
            ink_h = h - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
            keep &= ~has | (ink_h >= KEEP_MIN_INK * H)
        if keep.all():
            return [x]
        out: list[np.ndarray] = []
        start = 0
        for i in np.flatnonzero(~keep):  # runs of kept images stay batched
            if i > start:
                out.append(x[start:i])
            out.append(self._normalise_one(x[i], float(background[i]))[None])
            start = i + 1
        if start < n:
            out.append(x[start:])
        return out

    def _normalise_one(self, img: np.ndarray, background: float) -> np.ndarray:
        """Crop one image to its ink, scale the ink to 20/28 of the model height, centre it."""
        H, W = self.image_size
        if background > BACKGROUND_MAX:
            hi = float(img.max())
            if hi - background < 0.05:
                img = np.zeros_like(img)
            else:
                img = np.clip((img - background) / (hi - background), 0.0, 1.0)
        mask = img > INK_THRESHOLD
        if not mask.any():
            return np.zeros((H, W), np.float32)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        crop = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        ch, cw = crop.shape
        scale = INK_HEIGHT * H / ch
        if self.fixed_width and cw * scale > W - 2 * FIT_MARGIN:
            scale = max(W - 2 * FIT_MARGIN, 1) / cw  # a long number: fit the width instead
        nh, nw = max(1, round(ch * scale)), max(1, round(cw * scale))
        if (nh, nw) != (ch, cw):
            crop = _resize(crop, nh, nw)
        peak = float(crop.max())
        if peak > 0:
            crop = np.clip(crop / peak, 0.0, 1.0)  # resampling greys thin strokes; MNIST ink saturates
        out_w = W if self.fixed_width else max(W, nw + 2 * round(CTC_MARGIN * H))
        out = np.zeros((H, out_w), np.float32)
        top, left = (H - nh) // 2, (out_w - nw) // 2
        out[top : top + nh, left : left + nw] = crop[: H, : out_w]
        return out


# ---------------------------------------------------------------------- input handling
def _freeze(net: nn.Module, image_size: tuple[int, int], fixed_width: bool):
    """torch.jit.freeze + optimize_for_inference of a traced copy (fuses conv+BN, MKLDNN
    convolutions), or None when that fails or does not match the plain net within 1e-4."""
    import warnings

    h, w = image_size
    widths = [w] if fixed_width else [w, w + w // 2]
    gen = torch.Generator().manual_seed(0)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # torch.jit deprecation notices
            fast = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net.eval(), torch.rand(2, 1, h, w, generator=gen), check_trace=False)))
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
        raise CheckpointError(f"{path} is a {what} without seqrec metadata (codec, image size); export it with `seqrec export`")
    return meta


def _entries(images) -> Iterator[tuple]:
    """Flatten the input into ("array", raw (n, h, w), divisor to [0, 1]) and ("one", obj) entries."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("no images given (empty list)")
        for item in images:
            if isinstance(item, (list, tuple)):
                raise TypeError("nested lists are not images; give a flat list of arrays, tensors, PIL images or paths")
            yield from _entries(item)
        return
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        images = (t.float() if t.dtype in (torch.bfloat16, torch.float16) else t).numpy()
    if isinstance(images, np.ndarray):
        yield ("array", *_as_block(images))
        return
    if _is_image_like(images):
        yield ("one", images)
        return
    raise TypeError(
        f"cannot read an image from {type(images).__name__}; give a numpy array, torch tensor, PIL image, "
        "file path, image bytes, or a list of those"
    )


def _is_image_like(obj) -> bool:
    if isinstance(obj, (str, os.PathLike, bytes, bytearray)):
        return True
    from PIL import Image

    return isinstance(obj, Image.Image)


def _as_block(a: np.ndarray) -> tuple[np.ndarray, float]:
    """A raw (n, h, w) view and the divisor that maps it to [0, 1] (255 or 1)."""
    if a.size == 0:
        raise ValueError(f"empty image array (shape {a.shape})")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"image array has dtype {a.dtype}; expected uint8, a number type or bool")
    if a.ndim == 3 and a.shape[-1] in (3, 4) and min(a.shape[:2]) > 4 and a.dtype == np.uint8:
        from PIL import Image  # an (H, W, 3|4) uint8 colour image, e.g. from imageio

        gray, div = _pil_gray(Image.fromarray(a))
        return gray[None], div
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    elif a.ndim != 3:
        raise ValueError(f"image array has shape {a.shape}; allowed shapes: {ARRAY_SHAPES}")
    if a.dtype == np.uint8:
        return a, 255.0
    if a.dtype.kind == "b":
        return a, 1.0
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError("image array contains NaN or infinite values")
    return a, (1.0 if float(a.max()) <= 1.0 else 255.0)


def _chunks(entries, size: int) -> Iterator[list]:
    """Entries regrouped into chunks of at most ``size`` images; arrays are sliced, not copied."""
    chunk, count = [], 0
    for entry in entries:
        if entry[0] == "one":
            chunk.append(entry)
            count += 1
        else:
            _, a, div = entry
            start = 0
            while start < len(a):
                take = min(size - count, len(a) - start)
                chunk.append(("array", a[start : start + take], div))
                count += take
                start += take
                if count == size:
                    yield chunk
                    chunk, count = [], 0
            continue
        if count == size:
            yield chunk
            chunk, count = [], 0
    if chunk:
        yield chunk


def _load_part(part) -> tuple[np.ndarray, float]:
    """One entry -> raw (n, h, w) pixels and the value of white."""
    if part[0] == "array":
        return part[1], part[2]
    gray, div = _load_one(part[1])
    return gray[None], div


def _load_one(obj) -> tuple[np.ndarray, float]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(obj, Image.Image):
        return _pil_gray(obj)
    if isinstance(obj, (bytes, bytearray)):
        source, label = io.BytesIO(bytes(obj)), "image bytes"
    else:
        path = Path(obj).expanduser()
        label = str(path)
        if not path.exists():
            raise FileNotFoundError(f"image file {label!r} does not exist")
        if path.is_dir():
            raise ValueError(f"{label} is a folder, not an image file")
        source = path
    try:
        with Image.open(source) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _pil_gray(im)
    except UnidentifiedImageError:
        raise ValueError(f"{label} is not an image file (PIL cannot identify it)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{label} is not a readable image ({type(err).__name__}: {err})") from None


def _pil_gray(im) -> tuple[np.ndarray, float]:
    """Any PIL image -> (grayscale pixels, value of white): uint8 and 255 for 8-bit images.
    Transparent pixels become a background that contrasts with the opaque (ink) pixels, so a
    canvas drawing with a transparent background reads the same as one on paper."""
    if im.width < 1 or im.height < 1:
        raise ValueError(f"image has no pixels ({im.width}x{im.height})")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16-bit, 32-bit and float images
        a = np.asarray(im, np.float32)
        peak = float(a.max())
        top = 65535.0 if im.mode.startswith("I;16") else 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
        return a, top
    has_alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), np.float32) / 255.0
        gray = np.asarray(rgba.convert("L"))
        if alpha.min() >= 0.98:
            return gray, 255.0
        opaque = alpha > 0.5
        ink = float(gray[opaque].mean()) if opaque.any() else 255.0
        background = 0.0 if ink > 127.5 else 255.0
        return gray * alpha + np.float32(background) * (1.0 - alpha), 255.0
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return np.asarray(im.convert("L")), 255.0


def _border(x: np.ndarray) -> np.ndarray:
    """(n, k) border pixels of each image (a frame ~1/50 of the short side, at least 1 px)."""
    n, h, w = x.shape
    k = max(1, min(h, w) // 50)
    return np.concatenate([x[:, :k].reshape(n, -1), x[:, -k:].reshape(n, -1),
                           x[:, :, :k].reshape(n, -1), x[:, :, -k:].reshape(n, -1)], axis=1)


def _resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Antialiased bilinear resize of a float image (PIL widens the filter when shrinking)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(x, np.float32), "F").resize((w, h), Image.BILINEAR), np.float32)

"""What users pass to ``Recognizer.predict`` / ``preprocess`` turned into image blocks.

Arrays and tensors become a :class:`Block` (raw (n, h, w) pixels and the value of white);
PIL images, paths and bytes stay a :class:`One` until :func:`_load_part` decodes them, so a
large list is decoded one chunk at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from . import imaging

ARRAY_SHAPES = "(H, W), (N, H, W) or (N, 1, H, W)"
LAYOUTS = (
    f"accepted layouts: gray {ARRAY_SHAPES}; colour (H, W, 3) RGB, (H, W, 4) RGBA or (N, H, W, 3|4); "
    "a (3|4, H, W) array is a gray batch only when H is the model's height"
)


@dataclass(frozen=True)
class Block:
    """Gray images from an array: raw (n, h, w) pixels and the value of white (255 or 1)."""

    pixels: np.ndarray
    white: float


@dataclass(frozen=True)
class One:
    """One not yet decoded image: a PIL image, a file path or encoded bytes."""

    obj: object


def _entries(images, height: int) -> Iterator[Block | One]:
    """Flatten the input into :class:`Block` and :class:`One` entries; ``height`` (the
    model's) tells a (3|4, H, W) gray batch from a channels-first image."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("no images given (empty list)")
        for item in images:
            if isinstance(item, (list, tuple)):
                raise TypeError("nested lists are not images; give a flat list of arrays, tensors, PIL images or paths")
            yield from _entries(item, height)
        return
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        images = (t.float() if t.dtype in (torch.bfloat16, torch.float16) else t).numpy()
    if isinstance(images, np.ndarray):
        yield Block(*_as_block(images, height))
        return
    if _is_image_like(images):
        yield One(images)
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


def _as_block(a: np.ndarray, height: int) -> tuple[np.ndarray, float]:
    """A raw (n, h, w) view and the value of white (255 or 1); colour images become gray."""
    if a.size == 0:
        raise ValueError(f"empty image array (shape {a.shape})")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"image array has dtype {a.dtype}; expected uint8, a number type or bool")
    if a.ndim in (3, 4) and a.shape[-1] in (3, 4) and not (a.ndim == 4 and a.shape[1] == 1):
        white = imaging.white_of(a)  # (H, W, 3|4) or (N, H, W, 3|4): colour, for every dtype
        images = a[None] if a.ndim == 3 else a
        return np.stack([imaging.color_gray(im, white)[0] for im in images]), white
    if a.ndim == 3 and a.shape[0] in (3, 4) and a.shape[1] != height:
        n = a.shape[0]
        raise ValueError(
            f"image array of shape {a.shape} is ambiguous: {n} colour channels of one image (C, H, W) or a batch "
            f"of {n} gray images (N, H, W)? Give one colour image as a.transpose(1, 2, 0), a batch as a[:, None]; "
            f"{LAYOUTS}"
        )
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    elif a.ndim != 3:
        raise ValueError(f"image array has shape {a.shape}; allowed shapes: {ARRAY_SHAPES}; {LAYOUTS}")
    imaging.check_shape(a.shape[1], a.shape[2])  # before anything scans the pixels
    return a, imaging.white_of(a)


def _chunks(entries, size: int) -> Iterator[list[Block | One]]:
    """Entries regrouped into chunks of at most ``size`` images; arrays are sliced, not copied."""
    chunk, count = [], 0
    for entry in entries:
        if isinstance(entry, One):
            chunk.append(entry)
            count += 1
        else:
            a, white = entry.pixels, entry.white
            start = 0
            while start < len(a):
                take = min(size - count, len(a) - start)
                chunk.append(Block(a[start : start + take], white))
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


def _load_part(part: Block | One) -> tuple[np.ndarray, float]:
    """One entry -> raw (n, h, w) pixels and the value of white."""
    if isinstance(part, Block):
        return part.pixels, part.white
    gray, white = imaging.load_image(part.obj)
    return gray[None], white

"""The baselines' nets: cut the strip into pieces, then read each piece with a single-digit CNN.

* ``SplitNet``: the ink extent of the strip is cut into ``positions`` equal slices (the number
  is assumed to have exactly ``max_len`` digits, unless ``pitch`` estimates the count).
* ``SegmentNet``: connected components (or column projection) give one ink box per digit;
  each segment is normalised MNIST-style (longest side 20 px, centred in 28x28).

Both emit ``positions x 11`` slot logits like the multihead model (10 digits + EMPTY). Slots
without a slice or segment get fixed EMPTY logits. The segmentation is not differentiable
(numpy / OpenCV) and cannot be traced: ``Recognizer`` runs SegmentNet eagerly, and it cannot
be exported to ONNX / TorchScript.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..spec import DIGIT_SIZE, INK_THRESHOLD
from .net import normalize_input

EMPTY = 10  # the slot class "no digit" (MultiHeadCodec.EMPTY)
DIGIT_INK = 20  # MNIST: the longest side of the ink is 20 px
EMPTY_LOGIT = 12.0  # fixed logit of EMPTY (others 0) for slots without a slice / segment
METHODS = ("components", "projection")


class DigitClassifier(nn.Module):
    """A single-digit CNN: the configured backbone on a 28x28 crop, flattened, two linear
    layers -> 11 logits (digits 0-9 and EMPTY). ``pool``: average the feature map instead and one
    linear layer (as SeqRecNet averages height; used to pretrain a strip backbone, seqrec.pretrain)."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 11,
        hidden: int = 128,
        dropout: float = 0.2,
        size: int = DIGIT_SIZE,
        pool: bool = False,
    ):
        super().__init__()
        self.backbone, self.pool = backbone, bool(pool)
        with torch.no_grad():
            was_training = backbone.training
            feats = backbone.eval()(torch.zeros(1, 1, size, size))
            backbone.train(was_training)
        if feats.ndim != 4:
            raise ValueError(f"backbone output {tuple(feats.shape)} for a {size}x{size} digit is not a feature map")
        if self.pool:
            self.fc = nn.Linear(feats.shape[1], num_classes)
            return
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(feats[0].numel(), hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(normalize_input(x))
        return self.fc(feats.mean(dim=(2, 3)) if self.pool else feats)


def crop_digits(
    images: torch.Tensor,
    boxes: torch.Tensor,
    masks: torch.Tensor | None = None,
    size: int = DIGIT_SIZE,
    ink: int = DIGIT_INK,
    column_mask: bool = True,
) -> torch.Tensor:
    """Cut boxes out of strips and normalise them MNIST-style, as a batched bilinear resample.

    images: (B, 1, H, W) float; boxes: (B, K, 4) pixel (x0, y0, x1, y1), ends exclusive;
    masks: optional (B, K, H, W), multiplied into the strip before sampling (a segment's own
    pixels). Each box is scaled so its longest side becomes ``ink`` px and centred in a
    ``size`` x ``size`` crop; with ``column_mask`` columns outside the box are zeroed, so a
    neighbour's ink inside the square never leaks in. Returns (B*K, 1, size, size).
    """
    B, _, H, W = images.shape
    K = boxes.shape[1]
    boxes = boxes.to(images.dtype)
    x0, y0, x1, y1 = boxes.unbind(-1)
    side = torch.maximum(x1 - x0, y1 - y0).clamp(min=1.0) * (size / ink)
    t = (torch.arange(size, dtype=images.dtype, device=images.device) + 0.5) / size - 0.5
    xs = ((x0 + x1) / 2)[..., None] + t * side[..., None]  # (B, K, size) source column centres
    ys = ((y0 + y1) / 2)[..., None] + t * side[..., None]
    gx = (2 * xs / W - 1)[:, :, None, :].expand(B, K, size, size)
    gy = (2 * ys / H - 1)[:, :, :, None].expand(B, K, size, size)
    grid = torch.stack([gx, gy], dim=-1).reshape(B * K, size, size, 2)
    src = images.expand(B, K, H, W) if masks is None else images * masks.to(images.dtype)
    out = F.grid_sample(src.reshape(B * K, 1, H, W), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if column_mask:
        inside = (xs >= x0[..., None]) & (xs < x1[..., None])
        out = out * inside.reshape(B * K, 1, 1, size).to(out.dtype)
    return out


def _empty_logits(like: torch.Tensor, num_classes: int) -> torch.Tensor:
    empty = torch.zeros(num_classes, dtype=like.dtype, device=like.device)
    empty[EMPTY] = EMPTY_LOGIT
    return empty


def ink_extent(images: torch.Tensor, threshold: float = INK_THRESHOLD) -> tuple[torch.Tensor, ...]:
    """(x0, y0, x1, y1) of the ink of each strip (B,), ends exclusive; the whole strip if it has none."""
    ink = images[:, 0] > threshold
    cols, rows = ink.any(1), ink.any(2)
    H, W = ink.shape[1:]

    def bounds(mask, n):
        has = mask.any(1)
        lo = mask.to(torch.uint8).argmax(1)
        hi = n - mask.flip(1).to(torch.uint8).argmax(1)
        return torch.where(has, lo, torch.zeros_like(lo)), torch.where(has, hi, torch.full_like(hi, n))

    x0, x1 = bounds(cols, W)
    y0, y1 = bounds(rows, H)
    return x0, y0, x1, y1


class DigitSlotNet(nn.Module):
    """What the baselines share: ``positions`` slots, each read from its crop by one shared
    DigitClassifier (``hidden``, ``dropout``); slots without a crop get fixed EMPTY logits.
    Output: (B, positions * 11). Subclasses take these settings as keywords."""

    fixed_width = True

    def __init__(
        self,
        backbone: nn.Module,
        positions: int = 5,
        image_height: int = 28,
        image_width: int = 140,
        num_classes: int = 11,
        hidden: int = 128,
        dropout: float = 0.2,
    ):
        super().__init__()
        if int(positions) < 1:
            raise ValueError(f"positions must be >= 1, got {positions}")
        self.positions, self.num_classes = int(positions), int(num_classes)
        self.image_height, self.image_width = int(image_height), int(image_width)
        self.seq_len = self.positions
        self.classifier = DigitClassifier(backbone, num_classes, hidden, dropout)

    def read_slots(self, crops: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, positions * 11) logits of (B * positions, 1, 28, 28) crops; EMPTY where not ``valid``."""
        # .shape, not len(): a trace keeps the batch size dynamic
        logits = self.classifier(crops).view(valid.shape[0], self.positions, self.num_classes)
        return torch.where(valid[..., None], logits, _empty_logits(logits, self.num_classes)).flatten(1)


class SplitNet(DigitSlotNet):
    """Cut the strip's ink extent (``crop_to_ink``; else the whole width) into equal slices,
    normalise each slice to 28x28, classify each with one shared digit CNN.

    The number of slices is ``positions`` (the number is taken to have exactly ``max_len``
    digits); with ``pitch`` (px per digit) it is ``round(ink width / pitch)``, clipped to
    1..positions, and the remaining slots are EMPTY. Output: (B, positions * 11) logits.
    """

    def __init__(self, backbone: nn.Module, crop_to_ink: bool = True, pitch: float | None = None, **slots):
        super().__init__(backbone, **slots)
        if pitch is not None and float(pitch) <= 0:
            raise ValueError(f"pitch must be a positive number of pixels per digit or null, got {pitch}")
        self.crop_to_ink, self.pitch = bool(crop_to_ink), None if pitch is None else float(pitch)

    def slices(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(boxes (B, positions, 4) float, valid (B, positions) bool) of each strip's slices."""
        B, _, H, W = x.shape
        x0, y0, x1, y1 = ink_extent(x)
        if not self.crop_to_ink:
            x0, x1 = torch.zeros_like(x0), torch.full_like(x1, W)
        x0, y0, x1, y1 = (v.to(x.dtype) for v in (x0, y0, x1, y1))
        K = self.positions
        if self.pitch is None:
            n = torch.full_like(x0, float(K))
        else:
            n = torch.round((x1 - x0) / self.pitch).clamp(1, K)
        step = (x1 - x0) / n
        i = torch.arange(K, dtype=x.dtype, device=x.device)
        sx0 = x0[:, None] + i * step[:, None]
        boxes = torch.stack([sx0, y0[:, None].expand(B, K), sx0 + step[:, None], y1[:, None].expand(B, K)], dim=-1)
        return boxes, i[None, :] < n[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        boxes, valid = self.slices(x)
        return self.read_slots(crop_digits(x, boxes), valid)


# ---------------------------------------------------------------------- segmentation
def segment_strip(
    ink: np.ndarray,
    max_segments: int,
    method: str = "components",
    min_area: int = 8,
    merge_overlap: float = 0.3,
    fragment_area: int = 30,
    fragment_reach: int = 4,
) -> tuple[list[tuple[int, int, int, int]], list[np.ndarray], int]:
    """Segment one binary (H, W) ink mask into digits, left to right.

    ``components``: 8-connected components with fewer than ``min_area`` pixels are dropped as
    noise; components whose column ranges overlap by at least ``merge_overlap`` of the narrower
    one are one digit (e.g. the detached bar of a 5); a remaining piece of fewer than
    ``fragment_area`` pixels joins the nearer neighbour within ``fragment_reach`` columns (a
    broken stroke) or is dropped. ``projection``: runs of ink columns with at least ``min_area``
    pixels. When more than ``max_segments`` remain, the two neighbours with the smallest
    horizontal gap are merged until they fit. Returns (boxes (x0, y0, x1, y1) with exclusive
    ends, pixel masks, and the number of segments found before that forced merging).
    """
    if method not in METHODS:
        raise ValueError(f"unknown segmentation method {method!r}; allowed: {', '.join(METHODS)}")
    ink = np.ascontiguousarray(ink, dtype=np.uint8)
    if method == "components":
        import cv2

        n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        # group: [x0, x1, area, component ids]
        comps = sorted(
            (
                [int(stats[k, 0]), int(stats[k, 0] + stats[k, 2]), int(stats[k, 4]), [k]]
                for k in range(1, n)
                if stats[k, 4] >= min_area
            ),
            key=lambda c: c[0],
        )
        groups: list[list] = []
        for c in comps:
            if groups:
                g = groups[-1]
                overlap = min(c[1], g[1]) - max(c[0], g[0])
                if overlap > 0 and overlap >= merge_overlap * min(c[1] - c[0], g[1] - g[0]):
                    _absorb(g, c)
                    continue
            groups.append(c)
        i = 0
        while i < len(groups):  # small fragments: join the nearer neighbour, or drop
            g = groups[i]
            if g[2] >= fragment_area or len(groups) == 1:
                i += 1
                continue
            dist = {j: max(groups[j][0] - g[1], g[0] - groups[j][1], 0) for j in (i - 1, i + 1) if 0 <= j < len(groups)}
            j = min(dist, key=dist.get)
            if dist[j] <= fragment_reach:
                _absorb(groups[j], g)
            del groups[i]
            i = max(i - 1, 0)
        masks = [np.isin(labels, g[3]) for g in groups]
    else:
        cols = ink.any(0)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], cols.astype(np.int8), [0]])))
        groups, masks = [], []
        for x0, x1 in zip(edges[::2], edges[1::2]):
            m = np.zeros(ink.shape, bool)
            m[:, x0:x1] = ink[:, x0:x1] > 0
            if m.sum() >= min_area:
                groups.append([int(x0), int(x1), int(m.sum()), []])
                masks.append(m)
    found = len(groups)
    while len(groups) > max_segments:  # merge the closest neighbours
        gaps = [groups[i + 1][0] - groups[i][1] for i in range(len(groups) - 1)]
        i = int(np.argmin(gaps))
        _absorb(groups[i], groups[i + 1])
        masks[i] = masks[i] | masks[i + 1]
        del groups[i + 1], masks[i + 1]
    boxes = []
    for m in masks:
        rows = np.flatnonzero(m.any(1))
        cols = np.flatnonzero(m.any(0))
        boxes.append((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    return boxes, masks, found


def _absorb(group: list, other: list) -> None:
    group[0], group[1] = min(group[0], other[0]), max(group[1], other[1])
    group[2] += other[2]
    group[3] = group[3] + other[3]


class SegmentNet(DigitSlotNet):
    """Segment each strip (connected components or column projection, see ``segment_strip``),
    normalise each segment MNIST-style to 28x28 (only its own pixels), classify up to
    ``positions`` segments with one digit CNN; slots without a segment get fixed EMPTY logits.

    Segmentation runs in numpy/OpenCV on the CPU and is not differentiable. ``classify`` also
    returns the number of segments found per strip (the system's loss uses it to skip strips
    whose segments cannot be paired with their digits). Works at any width.
    """

    fixed_width = False

    def __init__(
        self,
        backbone: nn.Module,
        method: str = "components",
        min_area: int = 8,
        merge_overlap: float = 0.3,
        fragment_area: int = 30,
        fragment_reach: int = 4,
        **slots,
    ):
        if method not in METHODS:
            raise ValueError(f"unknown segmentation method {method!r}; allowed: {', '.join(METHODS)}")
        super().__init__(backbone, **slots)
        self.method, self.min_area, self.merge_overlap = method, int(min_area), float(merge_overlap)
        self.fragment_area, self.fragment_reach = int(fragment_area), int(fragment_reach)

    def segment(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(boxes (B, K, 4), masks (B, K, H, W) bool, valid (B, K) bool, counts found (B,))."""
        if torch.jit.is_tracing() or torch.jit.is_scripting():
            raise RuntimeError("SegmentNet segments in numpy and cannot be traced or scripted; run it eagerly")
        B, _, H, W = x.shape
        K = self.positions
        ink = (x[:, 0] > INK_THRESHOLD).detach().cpu().numpy()
        boxes = np.zeros((B, K, 4), np.float32)
        masks = np.zeros((B, K, H, W), bool)
        valid = np.zeros((B, K), bool)
        counts = np.zeros(B, np.int64)
        for b in range(B):
            bx, ms, counts[b] = segment_strip(
                ink[b], K, self.method, self.min_area, self.merge_overlap, self.fragment_area, self.fragment_reach
            )
            for k, (box, m) in enumerate(zip(bx, ms)):
                boxes[b, k], masks[b, k], valid[b, k] = box, m, True
        dev = x.device
        return (
            torch.from_numpy(boxes).to(dev),
            torch.from_numpy(masks).to(dev),
            torch.from_numpy(valid).to(dev),
            torch.from_numpy(counts).to(dev),
        )

    def classify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, positions * 11), segments found per strip (B,))."""
        boxes, masks, valid, counts = self.segment(x)
        return self.read_slots(crop_digits(x, boxes, masks=masks), valid), counts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(x)[0]

"""Vectorized, seeded composition of multi-digit strips from a digit pool."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import os
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import spec
from .sources import DIGIT_SIZE, DigitPool, check_choice, load_digits

PLACEMENTS = ("center", "random", "left")
INK_THRESHOLD = round(spec.INK_THRESHOLD * 255)  # uint8 pixel value above which a column counts as ink
DIGIT_INK = 20  # MNIST-style digits (mnist, bundled, folder) have ink within a 20x20 box
SCALE_STEP = 0.05  # scale jitter is quantized so that resampling matrices can be cached
MEMORY_FRACTION = 0.5  # refuse a batch of strips that needs more than this share of the available memory
MEMORY_CHECK_FLOOR = 256 << 20  # below this many bytes, do not bother reading /proc/meminfo


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _ink_extent(ink: int, scale_hi: float, box: int) -> int:
    """Upper bound of the ink extent (px) of a digit with ``ink`` px of ink after scaling."""
    return ink if scale_hi == 1.0 else min(box, math.ceil(ink * scale_hi) + 2)


def check_seed(seed) -> None:
    """Seeds are None, an integer >= 0, a flat sequence of them, or a numpy SeedSequence / BitGenerator / Generator."""
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.BitGenerator, np.random.Generator)):
        return
    if isinstance(seed, np.ndarray):
        items = seed.tolist() if seed.ndim == 1 else [seed]
    else:
        items = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    if not all(_is_int(v) and v >= 0 for v in items):
        raise ValueError(f"seed must be an integer >= 0 or a sequence of them (e.g. [seed, chunk]), got seed={seed!r}")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable, else free pages), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def strips_nbytes(n: int, config: StripConfig) -> int:
    """Peak bytes that composing ``n`` strips at once takes, measured with tracemalloc (within ~5%): the
    canvases, a copy of every digit patch, ~25 int64 work values per digit, and with scale jitter the
    scaled patches and their ink masks."""
    per_digit = DIGIT_SIZE * DIGIT_SIZE + 200 + (config.box**2 * 5 // 4 if config.scale != (1.0, 1.0) else 0)
    return int(n) * (config.height * config.width + config.max_len * per_digit)


def check_memory(n: int, per_item: int, what: str, hint: str, max_bytes: int | None = None, extra: int = 0) -> None:
    """Refuse, before allocating, ``n`` items of ``per_item`` bytes (plus ``extra``) that need more than
    ``max_bytes`` (default: MEMORY_FRACTION of the available memory): a clear ValueError that says how
    many fit, instead of swapping until a MemoryError."""
    need = n * per_item + extra
    if max_bytes is None:
        avail = available_memory() if need > MEMORY_CHECK_FLOOR else None
        if avail is None:
            return
        max_bytes, limit = int(avail * MEMORY_FRACTION), f"half of the {avail / 2**30:.1f} GiB of memory available"
    else:
        limit = f"the limit max_bytes={max_bytes}"
    if need > max_bytes:
        fit = max(0, (max_bytes - extra) // per_item)
        raise ValueError(
            f"{what} needs about {need / 2**30:.2f} GiB of memory, more than {limit}; about {fit} fit at once: {hint}"
        )


def min_extent(n_digits: int, ink_width: int, gap: int) -> int:
    """Widest a row of ``n_digits`` digits (ink 1..``ink_width`` px) can get at gap ``gap``,
    including the rule that keeps reading order (a narrow digit limits the overlap)."""
    w = np.arange(1, max(int(ink_width), 1) + 1)
    steps = np.maximum(gap, 1 - np.minimum(w[:, None], w[None, :])) + w[None, :]
    best = w.astype(np.int64)
    for _ in range(n_digits - 1):
        best = (best[:, None] + steps).max(axis=0)
    return int(best.max())


def _setting(default, help: str, choices: tuple | None = None):
    """A StripConfig field whose help text (and allowed values) the command line shows."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class StripConfig:
    """How strips look. Gaps are measured between the ink boxes of neighbouring digits;
    a negative gap overlaps them (blended with max). The one list of strip settings:
    ``make_strips``, ``StripDataModule`` and the ``make_strips`` command line take their keys from it."""

    min_len: int = _setting(5, "fewest digits per strip")
    max_len: int = _setting(5, "most digits per strip")
    length_weights: tuple[float, ...] | None = _setting(
        None, "relative weight of each length min_len..max_len (default: equal)"
    )
    leading_zeros: bool = _setting(True, "allow a leading 0 in multi-digit labels")
    height: int = _setting(28, "canvas height in pixels")
    width: int = _setting(140, "canvas width in pixels")
    gap: tuple[int, int] = _setting((0, 0), "pixels between neighbouring digits' ink; negative overlaps")
    jitter: int = _setting(0, "vertical jitter per digit, +- pixels")
    scale: tuple[float, float] = _setting((1.0, 1.0), "per-digit scale range")
    placement: str = _setting("center", "where the number sits on the canvas", PLACEMENTS)

    def __post_init__(self):
        object.__setattr__(self, "gap", _pair("gap", self.gap, int))
        object.__setattr__(self, "scale", _pair("scale", self.scale, float))
        if self.length_weights is not None:
            try:
                weights = tuple(float(w) for w in self.length_weights)
            except (TypeError, ValueError):
                raise ValueError(f"length_weights must be a sequence of numbers, got {self.length_weights!r}") from None
            object.__setattr__(self, "length_weights", weights)
        self.validate()

    @property
    def box(self) -> int:
        """Side of the square patch that holds one (scaled) digit."""
        return int(np.ceil(DIGIT_SIZE * self.scale[1]))

    def ink_size(self) -> int:
        """Largest ink width/height of an MNIST-style digit (20 px) after scale jitter."""
        return _ink_extent(DIGIT_INK, self.scale[1], self.box)

    def min_width(self, ink_width: int | None = None) -> int:
        """Narrowest canvas that fits ``max_len`` digits at the smallest gap, for digits whose
        ink is at most ``ink_width`` px wide (default: MNIST-style digits, see ``ink_size``)."""
        return min_extent(self.max_len, self.ink_size() if ink_width is None else ink_width, self.gap[0])

    def validate(self) -> None:
        for name in ("min_len", "max_len", "height", "width", "jitter"):
            if not _is_int(getattr(self, name)):
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got min_len={self.min_len}, max_len={self.max_len}")
        if not isinstance(self.leading_zeros, (bool, np.bool_)):
            raise ValueError(f"leading_zeros must be True or False, got {self.leading_zeros!r}")
        if self.gap[0] > self.gap[1]:
            raise ValueError(f"gap must be (low, high) with low <= high, got {self.gap}")
        if not 0 < self.scale[0] <= self.scale[1] <= 3:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high <= 3, got {self.scale}")
        if self.gap[0] <= -self.box:
            raise ValueError(
                f"gap low={self.gap[0]} overlaps neighbours by a whole digit box; allowed: gap low > -{self.box}"
            )
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0 pixels, got {self.jitter}")
        min_height = max(DIGIT_SIZE, self.ink_size())
        if self.height < min_height:
            raise ValueError(f"height={self.height} is below the digit height; allowed: height >= {min_height}")
        if self.width < self.min_width():
            raise ValueError(
                f"width={self.width} is too narrow for max_len={self.max_len} digits at gap {self.gap[0]} "
                f"(digit ink up to {self.ink_size()}px wide); allowed: width >= {self.min_width()}"
            )
        check_choice("placement", self.placement, PLACEMENTS)
        if self.length_weights is not None:
            n_lengths = self.max_len - self.min_len + 1
            w = np.asarray(self.length_weights)
            if len(w) != n_lengths or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError(
                    f"length_weights must be {n_lengths} non-negative weights, not all zero (one per length "
                    f"{self.min_len}..{self.max_len}), got {self.length_weights}"
                )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> StripConfig:
        unknown = sorted(set(d) - set(STRIP_SETTINGS))
        if unknown:
            raise ValueError(f"unknown StripConfig field(s) {unknown}; allowed: {', '.join(sorted(STRIP_SETTINGS))}")
        return cls(**d)


STRIP_SETTINGS = tuple(f.name for f in dataclasses.fields(StripConfig))  # in declaration order


def _pair(name: str, value, kind) -> tuple:
    """``(low, high)`` of ``kind`` from a 2-sequence."""
    try:
        items = tuple(value)
        if len(items) != 2:
            raise ValueError
        if kind is int and not all(_is_int(v) or (isinstance(v, float) and v.is_integer()) for v in items):
            raise ValueError
        pair = tuple(kind(v) for v in items)
        if kind is float and not all(math.isfinite(v) for v in pair):
            raise ValueError
        return pair
    except (TypeError, ValueError):
        what = "integers" if kind is int else "numbers"
        raise ValueError(f"{name} must be two {what} (low, high), got {value!r}") from None


@dataclass
class Strips:
    """A batch of strips. ``digits`` holds each strip's digit classes (-1 = none), ``lengths`` how many;
    ``labels`` are the same as strings, for people. ``digit_index`` holds the digits' global source ids
    (``DigitPool.ids``: the same id for the same digit in every split and fold, so results can be
    resampled by digit; -1 = none); ``boxes`` the ink box (x0, y0, x1, y1) of each digit on the canvas
    (-1 = none)."""

    images: np.ndarray  # (n, H, W) uint8, white ink on black
    digits: np.ndarray  # (n, max_len) int64, -1 padded
    digit_index: np.ndarray  # (n, max_len) int64
    lengths: np.ndarray  # (n,) int64
    boxes: np.ndarray  # (n, max_len, 4) int64
    config: StripConfig = field(default_factory=StripConfig)
    seed: object = None
    source: str = ""
    split: str = ""

    def __len__(self) -> int:
        return len(self.lengths)

    @functools.cached_property
    def labels(self) -> list[str]:
        """The digits as strings, e.g. ``['9592', ...]`` (computed once: do not change ``digits`` afterwards)."""
        return digits_to_labels(self.digits)


def digits_to_labels(digits: np.ndarray) -> list[str]:
    """Label strings from (n, max_len) digit classes padded with -1, without a Python loop per strip."""
    digits = np.asarray(digits)
    codes = np.where(digits >= 0, digits + ord("0"), 0).astype(np.uint8)
    return np.ascontiguousarray(codes).view(f"S{max(codes.shape[1], 1)}").ravel().astype(str).tolist()


def labels_to_digits(labels, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(digits (n, max_len) int64 padded with -1, lengths (n,)) of label strings of 1..max_len ASCII digits,
    without a Python loop per label; a ValueError names the first label that is not."""
    text = np.ascontiguousarray(np.asarray(labels, dtype=str).reshape(-1))
    n, max_len = len(text), int(max_len)
    lengths = np.char.str_len(text).astype(np.int64)
    codes = text.view(np.uint32).reshape(n, text.dtype.itemsize // 4)  # one code point per character, 0-padded
    slot = np.arange(codes.shape[1])[None, :] < lengths[:, None]
    bad = (lengths < 1) | (lengths > max_len) | (slot & ((codes < ord("0")) | (codes > ord("9")))).any(axis=1)
    if bad.any():
        raise ValueError(f"label {str(text[bad.argmax()])!r} is not 1 to {max_len} digits 0-9")
    digits = np.full((n, max_len), -1, np.int64)
    width = min(codes.shape[1], max_len)
    digits[:, :width] = np.where(slot[:, :width], codes[:, :width].astype(np.int64) - ord("0"), -1)
    return digits, lengths


class StripComposer:
    """Composes strips from one digit pool. Cheap per-pool tables are built once."""

    def __init__(self, pool: DigitPool, config: StripConfig, chunk: int = 512, digit_transform=None):
        if len(pool) == 0:
            raise ValueError(f"digit pool {pool.source}/{pool.split} is empty")
        if pool.images.ndim != 3 or pool.images.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE) or pool.images.dtype != np.uint8:
            raise ValueError(
                f"digit pool images must be (N, {DIGIT_SIZE}, {DIGIT_SIZE}) uint8, "
                f"got {pool.images.shape} {pool.images.dtype}"
            )
        self.pool, self.config, self.chunk = pool, config, int(chunk)
        self.digit_transform = digit_transform  # (patches, rng) -> patches; training augmentation
        self.nonzero = np.flatnonzero(pool.labels != 0)
        self.ink_bounds = _patch_ink_bounds(pool.images)
        self._scale_mats: dict[float, np.ndarray] = {}
        box = config.box
        # This pool's widest / tallest ink after scaling decides what really fits on the canvas.
        col_lo, col_hi, row_lo, row_hi = self.ink_bounds
        self.ink_width = _ink_extent(int((col_hi - col_lo).max()), config.scale[1], box)
        ink_height = _ink_extent(int((row_hi - row_lo).max()), config.scale[1], box)
        need = config.min_width(self.ink_width)
        if config.width < need:
            raise ValueError(
                f"width={config.width} is too narrow for max_len={config.max_len} digits of pool "
                f"{pool.source}/{pool.split} (ink up to {self.ink_width}px wide) at gap {config.gap[0]}; "
                f"allowed: width >= {need}"
            )
        if config.height < ink_height:
            raise ValueError(
                f"height={config.height} is below the ink height of pool {pool.source}/{pool.split}; "
                f"allowed: height >= {ink_height}"
            )
        # Padding lets patches hang over the canvas edge; only their empty margins do.
        self._pad_x, self._pad_y = box, max(box - DIGIT_SIZE, 0) + config.jitter
        self._hp, self._wp = config.height + 2 * self._pad_y, config.width + 2 * self._pad_x

    # -- sampling ---------------------------------------------------------------
    def _sample_lengths(self, rng, n):
        c = self.config
        if c.min_len == c.max_len:
            return np.full(n, c.max_len, np.int64)
        lengths = np.arange(c.min_len, c.max_len + 1)
        p = None if c.length_weights is None else np.asarray(c.length_weights) / sum(c.length_weights)
        return rng.choice(lengths, size=n, p=p)

    def _sample_digits(self, rng, n, lengths):
        idx = rng.integers(0, len(self.pool), size=(n, self.config.max_len))
        if not self.config.leading_zeros:
            if len(self.nonzero) == 0:
                raise ValueError("leading_zeros=False needs non-zero digits in the pool")
            lead = self.nonzero[rng.integers(0, len(self.nonzero), size=n)]
            idx[:, 0] = np.where(lengths > 1, lead, idx[:, 0])
        return idx

    def _patches(self, rng, idx, used):
        """Digit patches (m, box, box), digit transform and scale jitter applied, and their ink bounds
        (col_lo, col_hi, row_lo, row_hi), each (m,). Only ``used`` patches are transformed:
        the others are never pasted."""
        c = self.config
        images, bounds = self.pool.images[idx], self.ink_bounds[:, idx]
        if self.digit_transform is not None:
            images[used] = self.digit_transform(images[used], rng)
            bounds[:, used] = _patch_ink_bounds(images[used])
        if c.scale == (1.0, 1.0):
            return images, bounds
        levels = np.round(rng.uniform(c.scale[0], c.scale[1], size=len(idx)) / SCALE_STEP) * SCALE_STEP
        levels = np.clip(levels, c.scale[0], c.scale[1])  # rounding may leave the range
        out = np.empty((len(idx), c.box, c.box), np.uint8)
        for s in np.unique(levels):
            sel = levels == s
            m = self._scale_matrix(float(s))
            out[sel] = np.clip(np.rint(m @ images[sel].astype(np.float32) @ m.T), 0, 255).astype(np.uint8)
        return out, _patch_ink_bounds(out)

    def _scale_matrix(self, s: float) -> np.ndarray:
        """Bilinear resampling matrix (box x 28) that scales a centred digit by ``s``."""
        if s not in self._scale_mats:
            box = self.config.box
            src = (np.arange(box) + 0.5 - box / 2) / s + DIGIT_SIZE / 2 - 0.5
            lo = np.floor(src).astype(int)
            frac = (src - lo).astype(np.float32)
            m = np.zeros((box, DIGIT_SIZE + 1), np.float32)
            rows = np.arange(box)
            for src_col, weight in ((lo, 1 - frac), (lo + 1, frac)):  # column DIGIT_SIZE collects the off-patch taps
                inside = (src_col >= 0) & (src_col < DIGIT_SIZE)
                np.add.at(m, (rows, np.clip(src_col, -1, DIGIT_SIZE) % (DIGIT_SIZE + 1)), np.where(inside, weight, 0))
            self._scale_mats[s] = m[:, :DIGIT_SIZE]
        return self._scale_mats[s]

    def _layout(self, rng, n, lengths, widths):
        """Left ink edge of each digit relative to the number's left edge, and the number's extent."""
        c = self.config
        valid = np.arange(c.max_len)[None, :] < lengths[:, None]
        widths = np.where(valid, np.maximum(widths, 1), 0)  # an empty glyph still takes a column
        if c.max_len == 1:
            return np.zeros((n, 1), np.int64), widths[:, 0], valid
        if c.gap[0] == c.gap[1]:
            gaps = np.full((n, c.max_len - 1), c.gap[0], np.int64)
        else:
            gaps = rng.integers(c.gap[0], c.gap[1] + 1, size=(n, c.max_len - 1))
        # Reading order must stay left to right: a digit may not start or end before its left neighbour.
        min_gap = 1 - np.minimum(widths[:, :-1], widths[:, 1:])
        if c.gap[0] < 0:
            gaps = np.maximum(gaps, min_gap)
        gaps = np.where(valid[:, 1:], gaps, 0)
        left, extent_lo, extent_hi = _positions(widths, gaps, valid)
        excess = extent_hi - extent_lo - c.width
        if (excess > 0).any():
            gaps = _shrink_gaps(gaps, np.maximum(c.gap[0], min_gap), excess, valid)
            left, extent_lo, extent_hi = _positions(widths, gaps, valid)
        return left - extent_lo[:, None], extent_hi - extent_lo, valid

    def _origin(self, rng, n, extent):
        c = self.config
        room_x = np.maximum(c.width - extent, 0)
        free_y = c.height - DIGIT_SIZE
        if c.placement == "random":
            return rng.integers(0, room_x + 1), rng.integers(0, free_y + 1, size=n)
        x0 = room_x // 2 if c.placement == "center" else np.zeros(n, np.int64)
        return x0, np.full(n, free_y // 2)

    # -- composition ------------------------------------------------------------
    def __call__(self, n: int, seed=0, max_bytes: int | None = None) -> Strips:
        if not _is_int(n) or n <= 0:
            raise ValueError(f"n must be a positive number of strips, got {n!r}")
        c, n = self.config, int(n)
        check_seed(seed)
        check_memory(
            n,
            strips_nbytes(1, c),
            f"n={n} strips of {c.height}x{c.width}",
            "generate them in chunks (chunk k with seed=[seed, k]) and save or use each in turn, "
            "or raise the limit with max_bytes=",
            max_bytes,
        )
        rng = np.random.default_rng(seed)
        lengths = self._sample_lengths(rng, n)
        idx = self._sample_digits(rng, n, lengths)
        used = np.arange(c.max_len)[None, :] < lengths[:, None]
        patches, bounds = self._patches(rng, idx.ravel(), used.ravel())
        box = patches.shape[-1]
        patches = patches.reshape(n, c.max_len, box, box)
        ink_lo, ink_hi, row_lo, row_hi = bounds.reshape(4, n, c.max_len)
        left, extent, valid = self._layout(rng, n, lengths, ink_hi - ink_lo)
        x0, y0 = self._origin(rng, n, extent)
        patch_x = x0[:, None] + left - ink_lo  # canvas column of each patch's column 0
        patch_y = np.broadcast_to((y0 - (box - DIGIT_SIZE) // 2)[:, None], (n, c.max_len))
        if c.jitter:
            patch_y = patch_y + rng.integers(-c.jitter, c.jitter + 1, size=(n, c.max_len))
        if c.jitter or box != DIGIT_SIZE:  # keep every digit's ink on the canvas (and in the padding)
            patch_y = np.minimum(np.maximum(patch_y, -row_lo), c.height - row_hi)
            patch_y = patch_y.clip(-self._pad_y, c.height + self._pad_y - box)
        images = self._paste(patches, patch_x, patch_y, valid)
        digit_labels = self.pool.labels[idx]
        return Strips(
            images=images,
            digits=np.where(valid, digit_labels, -1),
            digit_index=np.where(valid, self.pool.ids[idx], -1),
            lengths=lengths.astype(np.int64),
            boxes=self._boxes(patch_x, patch_y, (ink_lo, row_lo, ink_hi, row_hi), valid),
            config=c,
            seed=seed,
            source=self.pool.source,
            split=self.pool.split,
        )

    def _paste(self, patches, patch_x, patch_y, valid):
        """Max-blend patches into padded canvases, in cache-sized chunks."""
        c = self.config
        out = np.empty((len(patches), c.height, c.width), np.uint8)
        for start in range(0, len(patches), self.chunk):
            sl = slice(start, start + self.chunk)
            out[sl] = self._paste_chunk(patches[sl], patch_x[sl], patch_y[sl], valid[sl])
        return out

    def _paste_chunk(self, patches, patch_x, patch_y, valid):
        """Each canvas is seen through a (rows, cols, box, box) window view; digit slot ``j`` of
        all strips is pasted with one fancy-indexed read-max-write. Within a slot no two patches
        share a canvas, so the writes never collide."""
        c, n, box = self.config, len(patches), patches.shape[-1]
        canvas = np.zeros((n, self._hp, self._wp), np.uint8)
        s0, s1, s2 = canvas.strides
        windows = as_strided(canvas, (n, self._hp - box + 1, self._wp - box + 1, box, box), (s0, s1, s2, s1, s2))
        ys, xs = patch_y + self._pad_y, patch_x + self._pad_x
        all_rows = np.arange(n)
        for j in range(c.max_len):
            rows = all_rows if j < c.min_len else np.flatnonzero(valid[:, j])
            where = (rows, ys[rows, j], xs[rows, j])
            # slot 0 lands on an empty canvas; later slots blend with their neighbours
            windows[where] = patches[rows, j] if j == 0 else np.maximum(windows[where], patches[rows, j])
        return canvas[:, self._pad_y : self._pad_y + c.height, self._pad_x : self._pad_x + c.width]

    def _boxes(self, patch_x, patch_y, bounds, valid):
        x0, y0, x1, y1 = bounds
        boxes = np.stack([patch_x + x0, patch_y + y0, patch_x + x1, patch_y + y1], axis=-1)
        boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, self.config.height)
        return np.where(valid[..., None], boxes, -1).astype(np.int64)


def _patch_ink_bounds(patches: np.ndarray) -> np.ndarray:
    """(4, m) array of col_lo, col_hi, row_lo, row_hi (exclusive ends) of the ink in each patch."""
    ink = patches > INK_THRESHOLD
    col_lo, col_hi = _ink_bounds(ink.any(axis=1))
    row_lo, row_hi = _ink_bounds(ink.any(axis=2))
    return np.stack([col_lo, col_hi, row_lo, row_hi])


def _ink_bounds(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First ink index and one past the last, per row of a boolean (m, k) array; an empty row gives (k//2, k//2)."""
    k = ink.shape[-1]
    has = ink.any(axis=-1)
    lo = np.where(has, ink.argmax(axis=-1), k // 2)
    hi = np.where(has, k - ink[..., ::-1].argmax(axis=-1), k // 2)
    return lo.astype(np.int64), hi.astype(np.int64)


def _shrink_gaps(gaps, lowest, excess, valid):
    """Narrow the gaps of strips that do not fit by ``excess`` columns, each gap's room above
    ``lowest`` scaled by one factor, so wide gaps stay wider than narrow ones (collapsing them all
    to the smallest gap would leave long strips with the smallest gap only). Rounding down frees
    at least ``excess``; ``lowest`` fits by __init__'s check."""
    room = np.where(valid[:, 1:], gaps - lowest, 0)
    total = room.sum(axis=1)
    keep = np.clip(1 - excess / np.maximum(total, 1), 0, 1)
    shrunk = lowest + np.floor(room * keep[:, None]).astype(np.int64)
    return np.where((excess > 0)[:, None] & valid[:, 1:], shrunk, gaps)


def _positions(widths, gaps, valid):
    steps = np.concatenate([np.zeros((len(widths), 1), np.int64), np.cumsum(widths[:, :-1] + gaps, axis=1)], axis=1)
    lo = np.where(valid, steps, np.iinfo(np.int64).max).min(axis=1)
    hi = np.where(valid, steps + widths, np.iinfo(np.int64).min).max(axis=1)
    return steps, lo, hi


def make_strips(
    n: int,
    seed=0,
    split: str = "train",
    source: str = "auto",
    *,
    config: StripConfig | None = None,
    root=None,
    pool: DigitPool | None = None,
    max_bytes: int | None = None,
    **settings,
) -> Strips:
    """Generate ``n`` strips of handwritten digits (white ink on black). Same seed, same strips.

    ``config``: a StripConfig (default: the defaults); ``settings``: any StripConfig field by name
    (``min_len=1, gap=(-4, 6)``), applied on top of ``config``. ``seed``: an integer >= 0 or a sequence
    of them. Strips that would take more than half of the available memory (or more than ``max_bytes``)
    are refused before anything is allocated.

    >>> s = make_strips(8, seed=1, source="bundled")
    >>> s.images.shape, len(s.labels[0])
    ((8, 28, 140), 5)
    """
    if not _is_int(n) or n <= 0:
        raise ValueError(f"n must be a positive number of strips, got {n!r}")
    config = with_settings(config or StripConfig(), settings, "make_strips()")
    check_seed(seed)
    check_memory(
        n,
        strips_nbytes(1, config),
        f"make_strips(n={n}) of {config.height}x{config.width} strips",
        "generate them in chunks (make_strips(k, seed=[seed, i]) for chunk i) and save or use each in turn, "
        "or raise the limit with max_bytes=",
        max_bytes,
    )
    pool = pool if pool is not None else load_digits(source, split, root)
    return StripComposer(pool, config)(n, seed, max_bytes=max_bytes)


def with_settings(config: StripConfig, settings: dict, caller: str) -> StripConfig:
    """``config`` with the StripConfig fields in ``settings`` replaced (and validated); other names are a
    TypeError that lists the fields, as Python's own for an unknown keyword argument."""
    unknown = sorted(set(settings) - set(STRIP_SETTINGS))
    if unknown:
        raise TypeError(
            f"{caller} got unknown keyword argument(s) {unknown}; strip settings: {', '.join(STRIP_SETTINGS)}"
        )
    return dataclasses.replace(config, **settings) if settings else config

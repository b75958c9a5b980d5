"""Strips on disk: a dataset folder with ``strips.npz``, optional PNGs + ``labels.csv`` and a
``preview.png`` grid, written as a whole and swapped in atomically (see :mod:`seqrec.data.atomic`)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from . import atomic
from .samples import IMAGES_DIR, LABELS_CSV, image_filename, labels_csv
from .sources import DataSourceError
from .strips import StripConfig, Strips, labels_to_digits

NPZ_NAME = "strips.npz"
PREVIEW_NAME = "preview.png"
PREVIEW_COUNT = 16
FORMAT_VERSION = 1
NPZ_KEYS = ("images", "labels", "lengths", "digit_index", "boxes", "config", "seed", "source", "split")
_PNG_NAME = re.compile(r"strip_\d{7,}\.png")
_OLD_TMP = re.compile(r"\.(?:strips\.npz|labels\.csv|preview\.png)\..+\.tmp")  # temp files of older seqrec versions

log = logging.getLogger(__name__)


class StripsFileError(DataSourceError):
    """A strips file is missing or corrupt."""


# ---------------------------------------------------------------- writing
def save_strips(strips: Strips, out_dir, png: bool = False, preview: bool = True, *, progress: bool = False) -> Path:
    """Write the dataset folder ``out_dir``: ``strips.npz``, plus ``images/*.png`` + ``labels.csv`` when
    ``png`` and ``preview.png`` when ``preview``; returns the npz path.

    Everything is written into a temporary sibling folder that is then swapped in with a rename, so
    ``out_dir`` holds either the complete previous dataset or the complete new one, never a mix
    (Linux: one atomic exchange; elsewhere there is a moment with no folder at ``out_dir``). An existing
    seqrec dataset there is replaced as a whole; a folder holding anything else is refused. Temporary
    folders of killed runs are removed first. On KeyboardInterrupt the exception's ``dataset_replaced``
    says whether the new dataset was already in place."""
    given = Path(out_dir).expanduser()
    out = Path(os.path.realpath(given))  # through a symlinked folder: replace the folder it points to
    check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = atomic.new_sibling(out, "tmp", create=True)
    new_id = atomic.inode(tmp)
    try:
        if png:
            _write_pngs(strips, tmp, progress)
        if preview:
            atomic.write_file(tmp / PREVIEW_NAME, lambda f: preview_image(strips).save(f, format="PNG"))
        arrays = {
            "images": np.ascontiguousarray(strips.images, dtype=np.uint8),
            "labels": np.asarray(strips.labels, dtype=f"U{max(1, strips.config.max_len)}"),
            "lengths": np.asarray(strips.lengths, dtype=np.int64),
            "digit_index": np.asarray(strips.digit_index, dtype=np.int64),
            "boxes": np.asarray(strips.boxes, dtype=np.int64),
            "config": np.array(strips.config.to_json()),
            "seed": np.array(json.dumps(_jsonable(strips.seed))),
            "source": np.array(str(strips.source)),
            "split": np.array(str(strips.split)),
            "format_version": np.array(FORMAT_VERSION),
        }
        atomic.write_file(tmp / NPZ_NAME, lambda f: np.savez(f, **arrays), sync=True)
        atomic.fsync_dir(tmp)
        check_out_dir(out)  # again: another program may have put files there meanwhile
        cwd = os.getcwd()
        atomic.swap_in(tmp, out)
        if Path(cwd) == out or out in Path(cwd).parents:  # the old folder we stood in is gone: enter the new one
            os.chdir(cwd if os.path.isdir(cwd) else out)
    except BaseException as err:
        replaced = atomic.inode(out) == new_id
        if isinstance(err, KeyboardInterrupt):
            err.dataset_replaced = replaced
        if not replaced:
            atomic.remove(tmp)  # a second Ctrl-C may stop this; the next run removes what is left
        raise
    finally:
        atomic.release(tmp)
    return given / NPZ_NAME


def check_out_dir(out: Path) -> None:
    """Raise StripsFileError unless ``out`` is missing, an empty folder or a seqrec strips dataset
    (only strips.npz, labels.csv, preview.png, images/strip_*.png and older temp files), which
    :func:`save_strips` may replace as a whole."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise StripsFileError(f"output {out} exists and is not a folder")
    names = sorted(p.name for p in out.iterdir())
    foreign = [name for name in names if not _dataset_entry(out / name)]
    if LABELS_CSV in names and NPZ_NAME not in names:  # e.g. a folder of samples saved by `seqrec demo`
        foreign.insert(0, f"{LABELS_CSV} without {NPZ_NAME}")
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise StripsFileError(
            f"output folder {out} is not empty and not a seqrec strips dataset (it holds {shown}); the dataset "
            "replaces the whole folder, so choose a new or empty folder for out, or move those files away"
        )


def _dataset_entry(path: Path) -> bool:
    if path.is_symlink():
        return False
    if path.name in (NPZ_NAME, PREVIEW_NAME, LABELS_CSV) or _OLD_TMP.fullmatch(path.name):
        return path.is_file()
    if path.name == IMAGES_DIR and path.is_dir():
        return all(_PNG_NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink() for p in path.iterdir())
    return False


def remove_stale(out: Path) -> None:
    """Remove what killed runs left: ``<out>.tmp-*`` / ``<out>.old-*`` folders of processes that no
    longer run, and temp files of older seqrec versions inside ``out``."""
    atomic.remove_stale(out)
    if out.is_dir() and not out.is_symlink():
        for path in out.iterdir():
            if _OLD_TMP.fullmatch(path.name) and path.is_file():
                log.info("removing %s, left behind by an interrupted run", path)
                path.unlink()


def _jsonable(seed):
    if isinstance(seed, np.ndarray):
        return seed.tolist()
    if isinstance(seed, (list, tuple)):
        return [_jsonable(s) for s in seed]
    if isinstance(seed, np.integer):
        return int(seed)
    return seed if seed is None or isinstance(seed, (int, float, str)) else repr(seed)


def _write_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG", compress_level=1)


def _write_pngs(strips: Strips, out: Path, progress: bool) -> None:
    from tqdm import tqdm

    folder = out / IMAGES_DIR
    folder.mkdir()
    digits = max(7, len(str(len(strips) - 1)))
    names = [f"strip_{i:0{digits}d}.png" for i in range(len(strips))]
    # No fsync per PNG (~10x slower): a killed run never gets as far as swapping its folder in.
    bar = tqdm(
        zip(names, strips.images), total=len(names), desc="png", unit="img", disable=not progress, file=sys.stderr
    )
    for name, image in bar:
        _write_png(image, folder / name)
    text = labels_csv((image_filename(name), label) for name, label in zip(names, strips.labels))
    atomic.write_file(out / LABELS_CSV, lambda f: f.write(text.encode()), sync=True)
    atomic.fsync_dir(folder)


def preview_image(strips: Strips, count: int = PREVIEW_COUNT, zoom: int = 2):
    """A PIL image of the first ``count`` strips, each with its label to the right and every
    digit's class under the centre of its ink box."""
    from PIL import Image, ImageDraw, ImageFont

    k = min(count, len(strips))
    h, w = strips.images.shape[1:]
    try:
        font = ImageFont.load_default(size=8 * zoom)
        big = ImageFont.load_default(size=10 * zoom)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        font = big = ImageFont.load_default()
    cols = 2 if k > 8 else 1
    rows = -(-k // cols)
    label_w, under_h, pad = 7 * zoom * max(3, strips.config.max_len) + 40, 10 * zoom, 6
    cell_w, cell_h = w * zoom + label_w + 2 * pad, h * zoom + under_h + 2 * pad
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i in range(k):
        x, y = (i % cols) * cell_w + pad, (i // cols) * cell_h + pad
        strip = Image.fromarray(strips.images[i]).resize((w * zoom, h * zoom), Image.NEAREST)
        sheet.paste(strip.convert("RGB"), (x, y))
        draw.rectangle([x - 1, y - 1, x + w * zoom, y + h * zoom], outline=(160, 160, 160))
        label = strips.labels[i]
        draw.text((x + w * zoom + 10, y + h * zoom // 2), f"{i}: {label}", fill="black", font=big, anchor="lm")
        for j, char in enumerate(label):  # each digit's class under its ink box
            x0, _, x1, _ = strips.boxes[i, j]
            draw.text((x + (x0 + x1) * zoom // 2, y + h * zoom + 1), char, fill=(200, 0, 0), font=font, anchor="mt")
    return sheet


# ---------------------------------------------------------------- reading
def load_strips(path) -> Strips:
    """Read strips written by :func:`save_strips` (``path``: the npz or its folder)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / NPZ_NAME
    if not path.exists():
        raise StripsFileError(f"strips file {path} does not exist; write one with make_strips / save_strips")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise StripsFileError(
                    f"strips file {path} is corrupt or not a strips file: missing {missing} (has {npz.files})"
                )
            data = {k: npz[k] for k in NPZ_KEYS}
    except StripsFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as err:
        raise StripsFileError(
            f"strips file {path} is corrupt (not a readable npz: {type(err).__name__}: {err})"
        ) from err
    try:
        config = StripConfig.from_dict(json.loads(str(data["config"])))
        seed = json.loads(str(data["seed"]))
    except (ValueError, TypeError) as err:
        raise StripsFileError(f"strips file {path} is corrupt: bad config/seed ({err})") from err
    images, labels = data["images"], data["labels"]
    n, max_len = len(labels), config.max_len
    expected = {
        "images": (
            images.ndim == 3 and images.dtype == np.uint8 and images.shape == (n, config.height, config.width),
            f"uint8 ({n}, {config.height}, {config.width})",
        ),
        "lengths": (data["lengths"].shape == (n,), f"({n},)"),
        "digit_index": (data["digit_index"].shape == (n, max_len), f"({n}, {max_len})"),
        "boxes": (data["boxes"].shape == (n, max_len, 4), f"({n}, {max_len}, 4)"),
    }
    for key, (ok, shape) in expected.items():
        if not ok:
            raise StripsFileError(
                f"strips file {path} is corrupt: {key} has shape {data[key].shape} {data[key].dtype}, expected {shape}"
            )
    try:
        digits, lengths = labels_to_digits(labels, max_len) if labels.ndim == 1 else (None, None)
    except ValueError as err:
        raise StripsFileError(f"strips file {path} is corrupt: {err}") from None
    if lengths is None or not np.array_equal(lengths, data["lengths"]):
        raise StripsFileError(f"strips file {path} is corrupt: labels do not match lengths")
    return Strips(
        images=images,
        digits=digits,
        digit_index=data["digit_index"],
        lengths=data["lengths"],
        boxes=data["boxes"],
        config=config,
        seed=seed,
        source=str(data["source"]),
        split=str(data["split"]),
    )

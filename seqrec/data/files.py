"""Strips on disk: a dataset folder with ``strips.npz``, optional PNGs + ``labels.csv`` and a
``preview.png`` grid, written as a whole and swapped in atomically; and the ``make_strips`` /
``seqrec strips`` command-line front end."""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import errno
import json
import logging
import os
import re
import secrets
import shutil
import sys
import typing
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from .samples import IMAGES_DIR, LABELS_CSV, image_filename, labels_csv
from .sources import SOURCES, SPLITS, DataSourceError
from .strips import STRIP_SETTINGS, StripConfig, Strips, check_memory, labels_to_digits, strips_nbytes

NPZ_NAME = "strips.npz"
PREVIEW_NAME = "preview.png"
PREVIEW_COUNT = 16
CHUNK = 10_000  # strips per generation chunk; chunk k > 0 is seeded with [seed, k]
FORMAT_VERSION = 1
NPZ_KEYS = ("images", "labels", "lengths", "digit_index", "boxes", "config", "seed", "source", "split")
_PNG_NAME = re.compile(r"strip_\d{7,}\.png")
_OLD_TMP = re.compile(r"\.(?:strips\.npz|labels\.csv|preview\.png)\..+\.tmp")  # temp files of older seqrec versions
_ACTIVE: set[Path] = set()  # temporary folders this process is writing or removing right now

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
    tmp = _new_sibling(out, "tmp", create=True)
    new_id = _inode(tmp)
    try:
        if png:
            _write_pngs(strips, tmp, progress)
        if preview:
            _write_file(tmp / PREVIEW_NAME, lambda f: preview_image(strips).save(f, format="PNG"))
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
        _write_file(tmp / NPZ_NAME, lambda f: np.savez(f, **arrays), sync=True)
        _fsync_dir(tmp)
        check_out_dir(out)  # again: another program may have put files there meanwhile
        cwd = os.getcwd()
        _swap_in(tmp, out)
        if Path(cwd) == out or out in Path(cwd).parents:  # the old folder we stood in is gone: enter the new one
            os.chdir(cwd if os.path.isdir(cwd) else out)
    except BaseException as err:
        replaced = _inode(out) == new_id
        if isinstance(err, KeyboardInterrupt):
            err.dataset_replaced = replaced
        if not replaced:
            _remove(tmp)  # a second Ctrl-C may stop this; the next run removes what is left
        raise
    finally:
        _ACTIVE.discard(tmp)
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


def _stale_pattern(out: Path) -> re.Pattern:
    return re.compile(rf"{re.escape(out.name)}\.(?:tmp|old)-(\d+)-[0-9a-f]{{8}}")


def _new_sibling(out: Path, kind: str, create: bool) -> Path:
    """A fresh name ``<out>.<kind>-<pid>-<random>`` beside ``out`` (created as a folder if ``create``)."""
    while True:
        path = out.with_name(f"{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")
        if path.exists() or path.is_symlink():
            continue
        _ACTIVE.add(path)
        if create:
            os.mkdir(path)  # mode 0o777 less the umask, as any folder (mkdtemp would give 0o700)
        return path


def remove_stale(out: Path) -> None:
    """Remove what killed runs left: ``<out>.tmp-*`` / ``<out>.old-*`` folders of processes that no
    longer run, and temp files of older seqrec versions inside ``out``."""
    pattern = _stale_pattern(out)
    for path in out.parent.iterdir() if out.parent.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if match is None or path in _ACTIVE:
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _pid_alive(pid):  # another run writing to the same place
            continue
        log.info("removing %s, left behind by an interrupted run", path)
        _remove(path)
    if out.is_dir() and not out.is_symlink():
        for path in out.iterdir():
            if _OLD_TMP.fullmatch(path.name) and path.is_file():
                log.info("removing %s, left behind by an interrupted run", path)
                path.unlink()


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell: never remove another process's folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _inode(path: Path):
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _remove(path: Path) -> None:
    _ACTIVE.add(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    finally:
        _ACTIVE.discard(path)


def _swap_in(new: Path, out: Path) -> None:
    """Put the folder ``new`` at ``out`` and remove what was there."""
    if not out.exists() and not out.is_symlink():
        os.rename(new, out)
    elif _exchange(new, out):
        _remove(new)  # ``new`` now names the previous dataset
    else:  # no atomic exchange: a moment without a folder at ``out``, never a mixed one
        old = _new_sibling(out, "old", create=False)
        os.rename(out, old)
        os.rename(new, out)
        _remove(old)
    _fsync_dir(out.parent)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # libc without renameat2 (glibc < 2.28, some musl)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):  # kernel or file system without it
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _write_file(path: Path, write, sync: bool = False) -> None:
    with open(path, "xb") as f:  # a fresh file in the temporary folder: mode 0o666 less the umask
        write(f)
        if sync:
            f.flush()
            os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    bar = tqdm(zip(names, strips.images), total=len(names), desc="png", unit="img", disable=not progress,
               file=sys.stderr)
    for name, image in bar:
        _write_png(image, folder / name)
    text = labels_csv((image_filename(name), label) for name, label in zip(names, strips.labels))
    _write_file(out / LABELS_CSV, lambda f: f.write(text.encode()), sync=True)
    _fsync_dir(folder)


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


# ---------------------------------------------------------------- command line
USAGE = f"""usage: {{prog}} n=N [key=value ...]

Generate N strips of handwritten MNIST digits and write them to out/{NPZ_NAME}
(images, labels, lengths, digit_index, boxes, config, seed, source, split).

The dataset is written beside out and then swapped in as a whole: an earlier strips dataset in
out is replaced (no overwrite flag needed; its npz records the seed and options that made it),
and an interrupted run leaves out exactly as it was. A folder holding anything but a strips
dataset is refused. Temporary folders left by killed runs are removed by the next run.

keys (defaults in brackets):
{{keys}}

example: {{prog}} n=10000 out=data/strips seed=0 gap=-4,6 jitter=2 min_len=1 placement=random
"""


class UsageError(ValueError):
    """Bad command-line arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print its usage and exit; strips_main prints one line
        raise UsageError(message)


def _bad(key: str, text: str, what: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{key}={text!r}: {what}")


def _int(key: str, text: str, low: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _bad(key, text, "expected an integer") from None
    if low is not None and value < low:
        raise _bad(key, text, f"must be >= {low}")
    return value


def _bool(key: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "y", "t"):
        return True
    if value in ("0", "false", "no", "off", "n", "f"):
        return False
    raise _bad(key, text, "expected true or false")


def _pair(kind, key: str, text: str) -> tuple:
    try:
        values = [kind(p.strip()) for p in text.split(",")]
    except ValueError:
        raise _bad(key, text, f"expected LOW,HIGH {'integers' if kind is int else 'numbers'} (or one value)") from None
    if len(values) not in (1, 2):
        raise _bad(key, text, "expected LOW,HIGH (two values) or one value")
    return tuple(values * (3 - len(values)))


def _numbers(key: str, text: str) -> tuple[float, ...] | None:
    try:
        return tuple(float(w) for w in text.split(",")) if text.strip() else None
    except ValueError:
        raise _bad(key, text, "expected comma-separated numbers") from None


def _choice(allowed, key: str, text: str) -> str:
    if text not in allowed:
        raise _bad(key, text, f"allowed values are {', '.join(allowed)}")
    return text


@dataclass(frozen=True)
class _Option:
    key: str
    metavar: str
    convert: Callable  # (key, text) -> value, or argparse.ArgumentTypeError
    default: object
    help: str


def _strip_options() -> list[_Option]:
    """One option per StripConfig field, typed by its annotation, documented by its ``help``."""
    hints = typing.get_type_hints(StripConfig)
    kinds = {int: ("INT", _int), bool: ("BOOL", _bool), tuple[int, int]: ("LO,HI", partial(_pair, int)),
             tuple[float, float]: ("LO,HI", partial(_pair, float)), tuple[float, ...] | None: ("W,W,...", _numbers)}
    options = []
    for f in dataclasses.fields(StripConfig):
        choices = f.metadata.get("choices")
        metavar, convert = ("NAME", partial(_choice, choices)) if choices else kinds[hints[f.name]]
        text = f.metadata["help"] + (": " + "/".join(choices) if choices else "")
        options.append(_Option(f.name, metavar, convert, f.default, text))
    return options


def _options() -> list[_Option]:
    run = [
        _Option("n", "N", partial(_int, low=1), None, "number of strips (required)"),
        _Option("out", "DIR", lambda key, text: text, "data/strips",
                "output folder: new, empty, or an earlier strips dataset"),
        _Option("seed", "INT", partial(_int, low=0), 0, "random seed, >= 0; same seed and options give the same file"),
        _Option("split", "NAME", partial(_choice, SPLITS), "train", "digit pool, disjoint digits: " + "/".join(SPLITS)),
        _Option("source", "NAME", partial(_choice, SOURCES), "auto",
                "/".join(SOURCES) + " (auto: MNIST if present or downloadable, else bundled)"),
        _Option("root", "DIR", lambda key, text: text or None, None,
                "MNIST folder (holds MNIST/raw), or for source=folder the folder with 0/..9/"),
    ]
    output = [
        _Option("png", "BOOL", _bool, False, f"also write {IMAGES_DIR}/strip_*.png and {LABELS_CSV} (filename,label)"),
        _Option("preview", "BOOL", _bool, True, f"write {PREVIEW_NAME}, the first {PREVIEW_COUNT} strips with labels"),
    ]
    return run + _strip_options() + output


def _shown(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else str(value)


def usage(prog: str) -> str:
    """The ``--help`` text: key=VALUE lines, as users type them (argparse's own help shows --key VALUE)."""
    rows = [f"  {o.key}={o.metavar}".ljust(26) + o.help + ("" if o.default is None else f" [{_shown(o.default)}]")
            for o in _options()]
    return USAGE.format(prog=prog, keys="\n".join(rows))


def parse_args(argv: list[str]) -> dict:
    """``key=value`` arguments -> validated options (raises UsageError / ValueError)."""
    options = _options()
    allowed = ", ".join(o.key for o in options)
    parser = _Parser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for o in options:
        parser.add_argument(f"--{o.key}", dest=o.key, type=partial(o.convert, o.key), default=o.default)
    flags, seen = [], set()
    for arg in argv:  # argparse knows no key=value syntax (and lets a key repeat): each becomes --key=value
        key, sep, value = arg.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep:
            raise UsageError(f"argument {arg!r} is not key=value; allowed keys: {allowed}")
        if key in seen:
            raise UsageError(f"key {key!r} given twice")
        seen.add(key)
        flags.append(f"--{key}={value}")
    try:
        args, unknown = parser.parse_known_args(flags)
    except argparse.ArgumentError as err:
        raise UsageError(err.message) from None
    if unknown:
        raise UsageError(f"unknown key {unknown[0][2:].partition('=')[0]!r}; allowed keys: {allowed}")
    if args.n is None:
        raise UsageError("missing n=N (the number of strips to write)")
    if not args.out:
        raise UsageError("out= must name a folder")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"out={args.out!r} exists and is not a folder")
    check_out_dir(Path(os.path.realpath(out)))  # refuse a foreign folder before any work
    if args.source == "folder":
        if args.root is None:
            raise UsageError("source=folder needs root=DIR, a folder with sub-folders 0/ to 9/ of digit images")
        if not Path(args.root).expanduser().is_dir():
            raise UsageError(f"root={args.root!r} is not a folder")
    opts = {k: getattr(args, k) for k in ("n", "seed", "split", "source", "root", "png", "preview")}
    # StripConfig validates the geometry before any data is read.
    return {**opts, "out": out, "config": StripConfig(**{k: getattr(args, k) for k in STRIP_SETTINGS})}


def generate(
    config: StripConfig, n: int, seed: int, split: str = "train", source: str = "auto", root=None, progress: bool = True
) -> Strips:
    """``n`` strips in chunks of ``CHUNK``: chunk 0 is seeded with ``seed`` (so small runs equal
    ``make_strips(n, seed)``), chunk k > 0 with ``[seed, k]``. Deterministic for (config, n, seed)."""
    from tqdm import tqdm

    from .sources import load_digits
    from .strips import StripComposer

    # kept per strip: the image, digits, digit_index, boxes, length, and when saved the label (a str and a U array)
    per_strip = config.height * config.width + config.max_len * 52 + 8 + 80
    check_memory(n, per_strip, f"n={n} strips of {config.height}x{config.width}",
                 "write several smaller datasets (different out= and seed=) instead",
                 extra=strips_nbytes(min(n, CHUNK), config))
    pool = load_digits(source, split, root)
    composer = StripComposer(pool, config)
    images = np.empty((n, config.height, config.width), np.uint8)
    digits = np.empty((n, config.max_len), np.int64)
    lengths = np.empty(n, np.int64)
    digit_index = np.empty((n, config.max_len), np.int64)
    boxes = np.empty((n, config.max_len, 4), np.int64)
    with tqdm(total=n, unit="strip", desc="strips", disable=not progress or n <= CHUNK, file=sys.stderr) as bar:
        for k, start in enumerate(range(0, n, CHUNK)):
            part = composer(min(CHUNK, n - start), seed=seed if k == 0 else [seed, k])
            sl = slice(start, start + len(part))
            images[sl], lengths[sl] = part.images, part.lengths
            digits[sl], digit_index[sl], boxes[sl] = part.digits, part.digit_index, part.boxes
            bar.update(len(part))
    return Strips(images, digits, digit_index, lengths, boxes, config, seed, pool.source, pool.split)


def strips_main(argv: list[str] | None = None, prog: str = "make_strips") -> int:
    """Command-line front end: ``make_strips n=10000 out=data/strips seed=0``. Returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(usage(prog))
        return 0
    if not logging.getLogger().handlers:  # show which source 'auto' picked, and why
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    opts: dict = {}
    try:
        opts = parse_args(argv)
        config = opts["config"]
        replacing = (opts["out"] / NPZ_NAME).is_file()
        strips = generate(config, opts["n"], opts["seed"], opts["split"], opts["source"], opts["root"])
        npz = save_strips(strips, opts["out"], png=opts["png"], preview=opts["preview"], progress=opts["n"] > CHUNK)
    except KeyboardInterrupt as err:
        out = opts.get("out")
        if out is None:
            state = "nothing was written"
        elif getattr(err, "dataset_replaced", False):
            state = f"the new dataset was already complete in {out}"
        else:
            had = (out / NPZ_NAME).is_file()
            state = f"{out} was not changed" + ("; it still holds the previous dataset" if had else "")
        print(f"{prog}: interrupted; {state}", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:  # UsageError, DataSourceError, StripsFileError are ValueErrors
        hint = f"\nrun '{prog} --help' for the keys" if isinstance(err, UsageError) else ""
        print(f"{prog}: error: {err}{hint}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a command line prints, it does not dump tracebacks
        if os.environ.get("SEQREC_DEBUG") == "1":
            raise
        print(f"{prog}: error: {type(err).__name__}: {err} (set SEQREC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2
    out = npz.parent
    print(
        f"wrote {len(strips)} strips ({config.height}x{config.width}, {config.min_len}-{config.max_len} digits, "
        f"source {strips.source}/{strips.split}, seed {opts['seed']}) to {npz}"
        + (" (replacing the previous dataset there)" if replacing else "")
    )
    if opts["png"]:
        print(f"  PNGs: {out / IMAGES_DIR}/  labels: {out / LABELS_CSV}")
    if opts["preview"]:
        print(f"  preview: {out / PREVIEW_NAME}")
    return 0

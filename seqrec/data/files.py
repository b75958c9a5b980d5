"""Strips on disk: one ``strips.npz`` (written atomically), optional PNGs + ``labels.csv``,
a ``preview.png`` grid, and the ``make_strips`` / ``seqrec strips`` command-line front end."""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .sources import SOURCES, SPLITS, DataSourceError
from .strips import PLACEMENTS, StripConfig, Strips

NPZ_NAME = "strips.npz"
PREVIEW_NAME = "preview.png"
LABELS_CSV = "labels.csv"
PNG_DIR = "images"
PREVIEW_COUNT = 16
CHUNK = 10_000  # strips per generation chunk; chunk k > 0 is seeded with [seed, k]
FORMAT_VERSION = 1
NPZ_KEYS = ("images", "labels", "lengths", "digit_index", "boxes", "config", "seed", "source", "split")
_PNG_NAME = re.compile(r"strip_\d{7,}\.png")

log = logging.getLogger(__name__)


class StripsFileError(DataSourceError):
    """A strips file is missing or corrupt."""


# ---------------------------------------------------------------- writing
def save_strips(strips: Strips, out_dir, png: bool = False, preview: bool = True, *, progress: bool = False) -> Path:
    """Write ``out_dir/strips.npz`` (plus ``images/*.png`` + ``labels.csv`` when ``png``, and
    ``preview.png`` when ``preview``); returns the npz path. Every file is written to a temporary
    name in ``out_dir`` and renamed into place, and the npz comes last: if it exists, it is whole
    and so is everything written with it."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise StripsFileError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if png:
        _write_pngs(strips, out, progress)
    if preview:
        _atomic_write(out / PREVIEW_NAME, lambda f: preview_image(strips).save(f, format="PNG"))
    npz_path = out / NPZ_NAME
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
    _atomic_write(npz_path, lambda f: np.savez(f, **arrays))
    return npz_path


def _jsonable(seed):
    if isinstance(seed, np.ndarray):
        return seed.tolist()
    if isinstance(seed, (list, tuple)):
        return [_jsonable(s) for s in seed]
    if isinstance(seed, np.integer):
        return int(seed)
    return seed if seed is None or isinstance(seed, (int, float, str)) else repr(seed)


def _atomic_write(path: Path, write) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # includes KeyboardInterrupt: never leave the temp file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _write_pngs(strips: Strips, out: Path, progress: bool) -> None:
    from PIL import Image
    from tqdm import tqdm

    folder = out / PNG_DIR
    folder.mkdir(exist_ok=True)
    digits = max(7, len(str(len(strips) - 1)))
    names = [f"strip_{i:0{digits}d}.png" for i in range(len(strips))]
    # PNGs are written in place (a temp file + fsync each would be ~10x slower); labels.csv and
    # strips.npz, renamed into place after them, mark the set as complete.
    for name, image in tqdm(zip(names, strips.images), total=len(names), desc="png", unit="img", disable=not progress, file=sys.stderr):
        Image.fromarray(image).save(folder / name, format="PNG", compress_level=1)
    keep = set(names)
    for stale in folder.iterdir():  # PNGs of an earlier, larger run would contradict labels.csv
        if _PNG_NAME.fullmatch(stale.name) and stale.name not in keep:
            stale.unlink()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["filename", "label"])
    writer.writerows([f"{PNG_DIR}/{name}", label] for name, label in zip(names, strips.labels))
    _atomic_write(out / LABELS_CSV, lambda f: f.write(text.getvalue().encode()))


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
                raise StripsFileError(f"strips file {path} is corrupt or not a strips file: missing {missing} (has {npz.files})")
            data = {k: npz[k] for k in NPZ_KEYS}
    except StripsFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as err:
        raise StripsFileError(f"strips file {path} is corrupt (not a readable npz: {type(err).__name__}: {err})") from err
    try:
        config = StripConfig.from_dict(json.loads(str(data["config"])))
        seed = json.loads(str(data["seed"]))
    except (ValueError, TypeError) as err:
        raise StripsFileError(f"strips file {path} is corrupt: bad config/seed ({err})") from err
    images, labels = data["images"], data["labels"]
    n, max_len = len(labels), config.max_len
    expected = {
        "images": (images.ndim == 3 and images.dtype == np.uint8 and images.shape == (n, config.height, config.width), f"uint8 ({n}, {config.height}, {config.width})"),
        "lengths": (data["lengths"].shape == (n,), f"({n},)"),
        "digit_index": (data["digit_index"].shape == (n, max_len), f"({n}, {max_len})"),
        "boxes": (data["boxes"].shape == (n, max_len, 4), f"({n}, {max_len}, 4)"),
    }
    for key, (ok, shape) in expected.items():
        if not ok:
            raise StripsFileError(f"strips file {path} is corrupt: {key} has shape {data[key].shape} {data[key].dtype}, expected {shape}")
    if labels.ndim != 1 or (n and not np.array_equal(np.char.str_len(labels), data["lengths"])):
        raise StripsFileError(f"strips file {path} is corrupt: labels do not match lengths")
    return Strips(
        images=images,
        labels=labels.tolist(),
        digit_index=data["digit_index"],
        lengths=data["lengths"],
        boxes=data["boxes"],
        config=config,
        seed=seed,
        source=str(data["source"]),
        split=str(data["split"]),
    )


# ---------------------------------------------------------------- command line
_DEFAULTS = {
    "n": None,
    "out": "data/strips",
    "seed": "0",
    "split": "train",
    "source": "auto",
    "root": None,
    "min_len": "5",
    "max_len": "5",
    "width": "140",
    "height": "28",
    "gap": "0,0",
    "jitter": "0",
    "scale": "1,1",
    "placement": "center",
    "length_weights": None,
    "leading_zeros": "true",
    "png": "false",
    "preview": "true",
}

USAGE = f"""usage: {{prog}} n=N [key=value ...]

Generate N strips of handwritten MNIST digits and write them to out/{NPZ_NAME}
(images, labels, lengths, digit_index, boxes, config, seed, source, split).

keys (defaults in brackets):
  n=N               number of strips (required)
  out=DIR           output folder [data/strips]
  seed=INT          random seed, >= 0; same seed and options give the same file [0]
  split=NAME        digit pool: {'/'.join(SPLITS)} (disjoint digits) [train]
  source=NAME       {'/'.join(SOURCES)} [auto: MNIST if present or downloadable, else bundled]
  root=DIR          MNIST folder (holds MNIST/raw), or for source=folder the folder with 0/..9/
  min_len=INT       fewest digits per strip [5]
  max_len=INT       most digits per strip [5]
  length_weights=W,W,...  relative weight of each length min_len..max_len [uniform]
  leading_zeros=BOOL  allow a leading 0 in multi-digit labels [true]
  width=INT height=INT  canvas size in pixels [140, 28]
  gap=LO,HI         pixels between neighbouring digits' ink; negative overlaps [0,0]
  jitter=INT        vertical jitter per digit, +- pixels [0]
  scale=LO,HI       per-digit scale range [1,1]
  placement=NAME    {'/'.join(PLACEMENTS)} [center]
  png=BOOL          also write {PNG_DIR}/strip_*.png and {LABELS_CSV} (filename,label) [false]
  preview=BOOL      write {PREVIEW_NAME}, the first {PREVIEW_COUNT} strips with labels [true]

example: {{prog}} n=10000 out=data/strips seed=0 gap=-4,6 jitter=2 min_len=1 placement=random
"""


class UsageError(ValueError):
    """Bad command-line arguments."""


def _parse_int(key, text, low=None):
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{key}={text!r}: expected an integer") from None
    if low is not None and value < low:
        raise UsageError(f"{key}={text!r}: must be >= {low}")
    return value


def _parse_bool(key, text):
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "y", "t"):
        return True
    if value in ("0", "false", "no", "off", "n", "f"):
        return False
    raise UsageError(f"{key}={text!r}: expected true or false")


def _parse_pair(key, text, kind):
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [kind(p) for p in parts]
    except ValueError:
        raise UsageError(f"{key}={text!r}: expected LOW,HIGH {'integers' if kind is int else 'numbers'} (or one value)") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise UsageError(f"{key}={text!r}: expected LOW,HIGH (two values) or one value")
    return tuple(values)


def _choice(key, text, allowed):
    if text not in allowed:
        raise UsageError(f"{key}={text!r}: allowed values are {', '.join(allowed)}")
    return text


def parse_args(argv: list[str]) -> dict:
    """``key=value`` arguments -> validated options (raises UsageError / ValueError)."""
    given: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep:
            raise UsageError(f"argument {arg!r} is not key=value; allowed keys: {', '.join(_DEFAULTS)}")
        if key not in _DEFAULTS:
            raise UsageError(f"unknown key {key!r}; allowed keys: {', '.join(_DEFAULTS)}")
        if key in given:
            raise UsageError(f"key {key!r} given twice")
        given[key] = value
    if "n" not in given:
        raise UsageError("missing n=N (the number of strips to write)")
    raw = {**_DEFAULTS, **given}
    opts = {
        "n": _parse_int("n", raw["n"], low=1),
        "out": Path(raw["out"]).expanduser(),
        "seed": _parse_int("seed", raw["seed"], low=0),
        "split": _choice("split", raw["split"], SPLITS),
        "source": _choice("source", raw["source"], SOURCES),
        "root": None if raw["root"] in (None, "") else raw["root"],
        "png": _parse_bool("png", raw["png"]),
        "preview": _parse_bool("preview", raw["preview"]),
    }
    if not raw["out"]:
        raise UsageError("out= must name a folder")
    if opts["out"].exists() and not opts["out"].is_dir():
        raise UsageError(f"out={raw['out']!r} exists and is not a folder")
    if opts["source"] == "folder":
        if opts["root"] is None:
            raise UsageError("source=folder needs root=DIR, a folder with sub-folders 0/ to 9/ of digit images")
        if not Path(opts["root"]).expanduser().is_dir():
            raise UsageError(f"root={opts['root']!r} is not a folder")
    weights = raw["length_weights"]
    if weights not in (None, ""):
        try:
            weights = tuple(float(w) for w in weights.split(","))
        except ValueError:
            raise UsageError(f"length_weights={raw['length_weights']!r}: expected comma-separated numbers") from None
    else:
        weights = None
    opts["config"] = StripConfig(  # validates the geometry before any data is read
        min_len=_parse_int("min_len", raw["min_len"]),
        max_len=_parse_int("max_len", raw["max_len"]),
        length_weights=weights,
        leading_zeros=_parse_bool("leading_zeros", raw["leading_zeros"]),
        height=_parse_int("height", raw["height"]),
        width=_parse_int("width", raw["width"]),
        gap=_parse_pair("gap", raw["gap"], int),
        jitter=_parse_int("jitter", raw["jitter"]),
        scale=_parse_pair("scale", raw["scale"], float),
        placement=_choice("placement", raw["placement"], PLACEMENTS),
    )
    return opts


def generate(config: StripConfig, n: int, seed: int, split: str = "train", source: str = "auto", root=None, progress: bool = True) -> Strips:
    """``n`` strips in chunks of ``CHUNK``: chunk 0 is seeded with ``seed`` (so small runs equal
    ``make_strips(n, seed)``), chunk k > 0 with ``[seed, k]``. Deterministic for (config, n, seed)."""
    from tqdm import tqdm

    from .sources import load_digits
    from .strips import StripComposer

    pool = load_digits(source, split, root)
    composer = StripComposer(pool, config)
    images = np.empty((n, config.height, config.width), np.uint8)
    labels: list[str] = []
    lengths = np.empty(n, np.int64)
    digit_index = np.empty((n, config.max_len), np.int64)
    boxes = np.empty((n, config.max_len, 4), np.int64)
    with tqdm(total=n, unit="strip", desc="strips", disable=not progress or n <= CHUNK, file=sys.stderr) as bar:
        for k, start in enumerate(range(0, n, CHUNK)):
            part = composer(min(CHUNK, n - start), seed=seed if k == 0 else [seed, k])
            sl = slice(start, start + len(part))
            images[sl], lengths[sl], digit_index[sl], boxes[sl] = part.images, part.lengths, part.digit_index, part.boxes
            labels += part.labels
            bar.update(len(part))
    return Strips(images, labels, digit_index, lengths, boxes, config, seed, pool.source, pool.split)


def strips_main(argv: list[str] | None = None, prog: str = "make_strips") -> int:
    """Command-line front end: ``make_strips n=10000 out=data/strips seed=0``. Returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE.format(prog=prog))
        return 0
    if not logging.getLogger().handlers:  # show which source 'auto' picked, and why
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        opts = parse_args(argv)
        config = opts["config"]
        strips = generate(config, opts["n"], opts["seed"], opts["split"], opts["source"], opts["root"])
        npz = save_strips(strips, opts["out"], png=opts["png"], preview=opts["preview"], progress=opts["n"] > CHUNK)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no half-written {NPZ_NAME} was left behind", file=sys.stderr)
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
    )
    if opts["png"]:
        print(f"  PNGs: {out / PNG_DIR}/  labels: {out / LABELS_CSV}")
    if opts["preview"]:
        print(f"  preview: {out / PREVIEW_NAME}")
    return 0

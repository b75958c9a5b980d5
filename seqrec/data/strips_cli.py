"""The ``seqrec strips`` / ``scripts/make_strips.py`` command line: ``key=value`` arguments, chunked
generation, and writing the dataset folder with :func:`seqrec.data.files.save_strips`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from .files import NPZ_NAME, PREVIEW_COUNT, PREVIEW_NAME, check_out_dir, save_strips
from .samples import IMAGES_DIR, LABELS_CSV
from .sources import SOURCES, SPLITS
from .strips import STRIP_SETTINGS, StripConfig, Strips, check_memory, strips_nbytes

CHUNK = 10_000  # strips per generation chunk; chunk k > 0 is seeded with [seed, k]

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
    kinds = {
        int: ("INT", _int),
        bool: ("BOOL", _bool),
        tuple[int, int]: ("LO,HI", partial(_pair, int)),
        tuple[float, float]: ("LO,HI", partial(_pair, float)),
        tuple[float, ...] | None: ("W,W,...", _numbers),
    }
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
        _Option(
            "out",
            "DIR",
            lambda key, text: text,
            "data/strips",
            "output folder: new, empty, or an earlier strips dataset",
        ),
        _Option("seed", "INT", partial(_int, low=0), 0, "random seed, >= 0; same seed and options give the same file"),
        _Option("split", "NAME", partial(_choice, SPLITS), "train", "digit pool, disjoint digits: " + "/".join(SPLITS)),
        _Option(
            "source",
            "NAME",
            partial(_choice, SOURCES),
            "auto",
            "/".join(SOURCES) + " (auto: MNIST if present or downloadable, else bundled)",
        ),
        _Option(
            "root",
            "DIR",
            lambda key, text: text or None,
            None,
            "MNIST folder (holds MNIST/raw), or for source=folder the folder with 0/..9/",
        ),
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
    rows = [
        f"  {o.key}={o.metavar}".ljust(26) + o.help + ("" if o.default is None else f" [{_shown(o.default)}]")
        for o in _options()
    ]
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
    check_memory(
        n,
        per_strip,
        f"n={n} strips of {config.height}x{config.width}",
        "write several smaller datasets (different out= and seed=) instead",
        extra=strips_nbytes(min(n, CHUNK), config),
    )
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

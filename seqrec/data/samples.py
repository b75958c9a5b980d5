"""``labels.csv``: the one format of a folder of labelled strips, its reader and its writers.

    <root>/labels.csv       header ``filename,label``, then one row per strip
    <root>/images/<name>    the strip images

``filename`` is relative to the folder root, i.e. ``images/<name>`` (``seqrec strips png=true`` and
``seqrec demo`` both write it so); ``label`` is one or more ASCII digits 0-9.

Legacy rows: ``seqrec demo`` used to write the bare ``<name>``. A bare name that is not a file at the
root is looked up in ``images/``, so those folders still load.

A ``labels.csv`` may come from anyone: a row that names a file outside the folder (an absolute
path, ``..``, or a link that leads out) is refused, never read.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

LABELS_CSV = "labels.csv"
IMAGES_DIR = "images"
HEADER = ("filename", "label")
_LABEL = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SamplesError(ValueError):
    """A labels.csv row is malformed or names a file outside its folder."""


@dataclass(frozen=True)
class Sample:
    path: Path  # the image, resolved, inside the folder
    filename: str  # as written in labels.csv
    label: str


def image_filename(name: str) -> str:
    """The ``filename`` column for an image ``images/<name>``."""
    return f"{IMAGES_DIR}/{name}"


def check_label(label: str, max_len: int | None = None, where: str = "") -> str:
    """``label`` if it is 1 or more ASCII digits (at most ``max_len``), else a SamplesError."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label) or (max_len is not None and len(label) > max_len):
        most = "" if max_len is None else f" (at most {max_len})"
        raise SamplesError(f"{where}label {label!r} is not a number of digits 0-9{most}")
    return label


def check_filename(filename: str, where: str = "") -> str:
    """``filename`` if it is a relative path that stays inside the folder, else a SamplesError."""
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    if not filename or _CONTROL.search(filename) or PureWindowsPath(filename).anchor or ".." in parts:
        raise SamplesError(
            f"{where}filename {filename!r} is not a path inside the folder (relative, no '..'), e.g. images/x.png"
        )
    return filename


def labels_csv(rows: Iterable[tuple[str, str]]) -> str:
    """The text of a whole labels.csv: the header, then one ``filename,label`` row each."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((check_filename(name), check_label(label)) for name, label in rows)
    return text.getvalue()


def append_sample(root: str | os.PathLike, filename: str, label: str) -> int:
    """Append one row to ``root/labels.csv`` (the header first when the file is new or empty) and
    return how many rows it now holds. The row goes out in one write on an O_APPEND descriptor held
    under an exclusive lock (POSIX), so concurrent savers, threads or processes, never interleave rows
    or write the header twice."""
    row = labels_csv([(filename, label)]).split("\n", 1)[1]
    path = Path(root) / LABELS_CSV
    with open(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666), "ab") as f:
        _lock(f.fileno())
        new = os.fstat(f.fileno()).st_size == 0
        f.write(((",".join(HEADER) + "\n" if new else "") + row).encode("utf-8"))
        f.flush()
        with open(path, "rb") as g:  # still under the lock: the count includes exactly our row
            return sum(1 for _ in g) - 1


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: callers in one process (the demo) also hold their own lock
        return
    fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed


def read_samples(root: str | os.PathLike, max_len: int | None = None) -> list[Sample]:
    """Rows of ``root/labels.csv``, each with its image's resolved path. Errors name the file, the line
    and the bad value: a malformed label (SamplesError), a path outside the folder (SamplesError, before
    anything there is touched), an image that does not exist (FileNotFoundError)."""
    root = Path(root).expanduser()
    csv_path, base = root / LABELS_CSV, root.resolve()
    samples = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not set(HEADER) <= set(reader.fieldnames):
            raise SamplesError(
                f"{csv_path}: the first line must be the header {','.join(HEADER)}, got {reader.fieldnames}"
            )
        for row in reader:
            where = f"{csv_path}, line {reader.line_num}: "
            filename = check_filename(row["filename"] or "", where)
            label = check_label((row["label"] or "").strip(), max_len, where)
            samples.append(Sample(_image_path(base, filename, where), filename, label))
    return samples


def _image_path(base: Path, filename: str, where: str) -> Path:
    candidates = [base / filename]
    if "/" not in filename and "\\" not in filename:  # legacy demo rows: a bare name inside images/
        candidates.append(base / IMAGES_DIR / filename)
    for candidate in candidates:
        path = candidate.resolve()
        if not path.is_relative_to(base):  # a link that leads out of the folder
            raise SamplesError(f"{where}{filename!r} leads outside the folder {base}; refused")
        if path.is_file():
            return path
    raise FileNotFoundError(f"{where}{filename!r} names a file that does not exist")

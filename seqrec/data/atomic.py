"""Atomic replacement of a file or a whole folder: build the new contents in a temporary sibling, then swap it
in with one rename (for folders Linux renameat2 RENAME_EXCHANGE), so readers see the complete old or the complete
new one.
Temporary siblings are named ``<out>.tmp-<pid>-<random>`` / ``<out>.old-<pid>-<random>`` so that a later run can
remove those of killed processes."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

_ACTIVE: set[Path] = set()  # temporary folders this process is writing or removing right now

log = logging.getLogger(__name__)


def _stale_pattern(out: Path) -> re.Pattern:
    return re.compile(rf"{re.escape(out.name)}\.(?:tmp|old)-(\d+)-[0-9a-f]{{8}}")


def new_sibling(out: Path, kind: str, create: bool) -> Path:
    """A fresh name ``<out>.<kind>-<pid>-<random>`` beside ``out`` (created as a folder if ``create``)."""
    while True:
        path = out.with_name(f"{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")
        if path.exists() or path.is_symlink():
            continue
        _ACTIVE.add(path)
        if create:
            os.mkdir(path)  # mode 0o777 less the umask, as any folder (mkdtemp would give 0o700)
        return path


def release(path: Path) -> None:
    """Forget ``path`` from :func:`new_sibling`'s set of folders in use, once it is swapped in or removed."""
    _ACTIVE.discard(path)


def remove_stale(out: Path) -> None:
    """Remove ``<out>.tmp-*`` / ``<out>.old-*`` folders that killed runs left, unless their process still runs."""
    pattern = _stale_pattern(out)
    for path in out.parent.iterdir() if out.parent.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if match is None or path in _ACTIVE:
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _pid_alive(pid):  # another run writing to the same place
            continue
        log.info("removing %s, left behind by an interrupted run", path)
        remove(path)


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


def inode(path: Path):
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def remove(path: Path) -> None:
    _ACTIVE.add(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    finally:
        _ACTIVE.discard(path)


def swap_in(new: Path, out: Path) -> None:
    """Put the folder ``new`` at ``out`` and remove what was there."""
    if not out.exists() and not out.is_symlink():
        os.rename(new, out)
    elif _exchange(new, out):
        remove(new)  # ``new`` now names the previous dataset
    else:  # no atomic exchange: a moment without a folder at ``out``, never a mixed one
        old = new_sibling(out, "old", create=False)
        os.rename(out, old)
        os.rename(new, out)
        remove(old)
    fsync_dir(out.parent)


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


def replace_file(path, write, *, text: bool = False) -> Path:
    """Write ``path`` through ``write(f)`` into a hidden temporary sibling, then rename it over ``path``: readers
    see the old file or the new one, and a failed write leaves the old file and no temporary behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") if text else open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_file(path: Path, write, sync: bool = False) -> None:
    with open(path, "xb") as f:  # a fresh file in the temporary folder: mode 0o666 less the umask
        write(f)
        if sync:
            f.flush()
            os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

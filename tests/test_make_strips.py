"""Strips on disk: save/load, PNGs + labels.csv, preview, the make_strips command line."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seqrec.data import atomic, files, sources, strips_cli
from seqrec.data.files import StripsFileError, load_strips, save_strips
from seqrec.data.strips import make_strips
from seqrec.data.strips_cli import strips_main

REPO = Path(__file__).resolve().parents[1]
BUNDLED = ["source=bundled"]


def run(argv, capsys):
    code = strips_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_npz_that_round_trips(tmp_path, capsys):
    out_dir = tmp_path / "out"
    args = ["n=20", f"out={out_dir}", "seed=1", "gap=-4,6", "jitter=2", "min_len=1", "placement=random", *BUNDLED]
    code, out, err = run(args, capsys)
    assert code == 0, err
    npz = out_dir / "strips.npz"
    assert "wrote 20 strips" in out and str(npz) in out and "preview.png" in out
    with np.load(npz) as data:
        assert set(files.NPZ_KEYS) <= set(data.files)
        assert data["images"].shape == (20, 28, 140) and data["images"].dtype == np.uint8
    loaded = load_strips(out_dir)
    expected = make_strips(20, seed=1, source="bundled", gap=(-4, 6), jitter=2, min_len=1, placement="random")
    assert np.array_equal(loaded.images, expected.images) and loaded.labels == expected.labels
    for key in ("lengths", "digit_index", "boxes"):
        assert np.array_equal(getattr(loaded, key), getattr(expected, key)), key
    assert loaded.config == expected.config and loaded.seed == 1
    assert (loaded.source, loaded.split) == ("bundled", "train")
    assert sorted(p.name for p in out_dir.iterdir()) == ["preview.png", "strips.npz"]


def test_save_and_load_any_strips(tmp_path):
    strips = make_strips(
        12, seed=[4, 5], source="bundled", split="val", min_len=2, max_len=4, scale=(0.9, 1.1), width=150
    )
    path = save_strips(strips, tmp_path / "a" / "b", preview=False)
    assert path == tmp_path / "a" / "b" / "strips.npz" and not (path.parent / "preview.png").exists()
    loaded = load_strips(path)
    assert np.array_equal(loaded.images, strips.images) and loaded.labels == strips.labels
    assert loaded.config == strips.config and loaded.seed == [4, 5] and loaded.split == "val"


def test_png_and_labels_csv(tmp_path, capsys):
    code, out, err = run(
        ["n=15", f"out={tmp_path}", "png=true", "min_len=1", "max_len=3", "width=84", *BUNDLED], capsys
    )
    assert code == 0, err
    strips = load_strips(tmp_path / "strips.npz")
    with open(tmp_path / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["filename", "label"] and len(rows) == 16
    assert [r[1] for r in rows[1:]] == strips.labels
    for i, (name, _label) in enumerate(rows[1:]):
        assert np.array_equal(np.asarray(Image.open(tmp_path / name)), strips.images[i])
    # a smaller rerun into the same folder removes the PNGs labels.csv no longer lists
    code, *_ = run(["n=4", f"out={tmp_path}", "png=true", *BUNDLED], capsys)
    assert code == 0 and len(list((tmp_path / "images").glob("*.png"))) == 4


def test_preview_png(tmp_path, capsys):
    code, *_ = run(["n=40", f"out={tmp_path}", *BUNDLED], capsys)
    assert code == 0
    with Image.open(tmp_path / "preview.png") as im:
        im.load()
        assert im.format == "PNG" and im.width >= 2 * 280 and im.height >= 8 * 56
        pixels = np.asarray(im.convert("L"))
    assert (pixels < 50).mean() > 0.2 and (pixels > 200).mean() > 0.2  # strips (dark) on a white sheet


@pytest.mark.parametrize(
    "args, message",
    [
        (["n=10", "colour=red"], r"unknown key 'colour'; allowed keys: n, out, seed"),
        (["n=10", "verbose"], r"argument 'verbose' is not key=value"),
        (["seed=1"], r"missing n=N"),
        (["n=0"], r"n='0': must be >= 1"),
        (["n=ten"], r"n='ten': expected an integer"),
        (["n=5", "seed=-1"], r"seed='-1': must be >= 0"),
        (["n=5", "gap=1,2,3"], r"gap='1,2,3': expected LOW,HIGH"),
        (["n=5", "gap=a,b"], r"gap='a,b': expected LOW,HIGH integers"),
        (["n=5", "gap=4,1"], r"gap must be \(low, high\) with low <= high"),
        (["n=5", "scale=1.2,0.8"], r"scale must be \(low, high\)"),
        (["n=5", "placement=middle"], r"placement='middle': allowed values are center, random, left"),
        (["n=5", "split=dev"], r"split='dev': allowed values are train, val, test"),
        (["n=5", "source=web"], r"source='web': allowed values are auto, mnist, bundled, folder"),
        (["n=5", "png=maybe"], r"png='maybe': expected true or false"),
        (["n=5", "width=50"], r"width=50 is too narrow .*allowed: width >= 100"),
        (["n=5", "min_len=6"], r"need 1 <= min_len <= max_len, got min_len=6, max_len=5"),
        (["n=5", "min_len=1", "length_weights=1,2"], r"length_weights must be 5 non-negative weights"),
        (["n=5", "n=6"], r"key 'n' given twice"),
        (["n=5", "source=folder"], r"source=folder needs root=DIR"),
    ],
)
def test_bad_arguments_exit_2_before_reading_data(tmp_path, capsys, monkeypatch, args, message):
    def no_data(*a, **k):
        raise AssertionError("arguments must be validated before any data is read")

    monkeypatch.setattr(sources, "load_digits", no_data)
    out_dir = tmp_path / "out"
    code, out, err = run([*args, f"out={out_dir}"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("make_strips: error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert not out_dir.exists()


def test_data_errors_exit_2_with_message(tmp_path, capsys):
    code, out, err = run(["n=5", f"out={tmp_path / 'o'}", "source=mnist", f"root={tmp_path}"], capsys)
    assert code == 2 and "MNIST IDX files not found" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    (tmp_path / "file").write_text("x")
    code, out, err = run(["n=5", f"out={tmp_path / 'file'}", *BUNDLED], capsys)
    assert code == 2 and "exists and is not a folder" in err


def test_help(capsys):
    code, out, err = run(["--help"], capsys)
    assert code == 0 and "usage: make_strips n=N" in out and "gap=LO,HI" in out and "png=BOOL" in out


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name == "strips.npz")


def test_failure_mid_write_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    def broken_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    code, out, err = run(["n=30", f"out={tmp_path}", *BUNDLED], capsys)
    assert code == 2 and "No space left on device" in err
    assert _leftovers(tmp_path) == []


def test_interrupt_keeps_the_previous_file(tmp_path, capsys, monkeypatch):
    code, *_ = run(["n=10", f"out={tmp_path}", "seed=1", *BUNDLED], capsys)
    before = (tmp_path / "strips.npz").read_bytes()

    def interrupted(file, *args, **kwargs):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    code, out, err = run(["n=10", f"out={tmp_path}", "seed=2", *BUNDLED], capsys)
    assert code == 130 and "interrupted" in err
    assert _leftovers(tmp_path) == ["strips.npz"] and (tmp_path / "strips.npz").read_bytes() == before


def test_chunked_generation_is_deterministic(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(strips_cli, "CHUNK", 7)
    for name in ("a", "b"):
        assert run(["n=20", f"out={tmp_path / name}", "seed=3", "min_len=1", "preview=false", *BUNDLED], capsys)[0] == 0
    a, b = load_strips(tmp_path / "a"), load_strips(tmp_path / "b")
    assert np.array_equal(a.images, b.images) and a.labels == b.labels and len(a) == 20
    first = make_strips(7, seed=3, source="bundled", min_len=1)
    assert np.array_equal(a.images[:7], first.images)  # chunk 0 is make_strips(seed)
    assert not np.array_equal(a.images[7:14], a.images[:7])  # later chunks have their own seeds


@pytest.mark.parametrize(
    "content, message",
    [
        (None, r"does not exist"),
        (b"definitely not a zip", r"is corrupt \(not a readable npz"),
        ("truncate", r"is corrupt"),
        ("no_labels", r"is corrupt or not a strips file: missing \['labels'\]"),
        ("bad_shape", r"is corrupt: images has shape"),
    ],
)
def test_load_strips_errors_name_path_and_problem(tmp_path, content, message):
    path = tmp_path / "strips.npz"
    if content == "truncate":
        save_strips(make_strips(5, source="bundled"), tmp_path, preview=False)
        path.write_bytes(path.read_bytes()[:3000])
    elif content in ("no_labels", "bad_shape"):
        save_strips(make_strips(5, source="bundled"), tmp_path, preview=False)
        with np.load(path) as npz:
            data = dict(npz)
        if content == "no_labels":
            del data["labels"]
        else:
            data["images"] = data["images"][:, :, :100]
        np.savez(path, **data)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(StripsFileError, match=message) as err:
        load_strips(path)
    assert str(path) in str(err.value)


def test_script_runs_as_a_subprocess(tmp_path):
    env = {**os.environ, "SEQREC_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "make_strips.py"),
            "n=6",
            f"out={tmp_path}",
            "seed=0",
            "source=bundled",
            "png=true",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 6 strips" in result.stdout
    assert load_strips(tmp_path).labels == make_strips(6, seed=0, source="bundled").labels
    assert len(list((tmp_path / "images").glob("*.png"))) == 6
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_strips.py"), "n=6", "bogus=1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown key 'bogus'" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------- the dataset folder is replaced as a whole
def assert_consistent(folder: Path) -> list[str]:
    """labels.csv rows == npz labels == PNG files (names and pixels); returns the labels."""
    strips = load_strips(folder)
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert [label for _, label in rows] == strips.labels
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(Path(name).name for name, _ in rows)
    for i, (name, _) in enumerate(rows):
        assert np.array_equal(np.asarray(Image.open(folder / name)), strips.images[i]), name
    return strips.labels


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_kill_in_png_phase_keeps_the_complete_old_dataset(tmp_path, capsys, monkeypatch):
    out = tmp_path / "D"
    assert run(["n=30", f"out={out}", "png=true", "seed=0", *BUNDLED], capsys)[0] == 0
    old = assert_consistent(out)
    written = []
    real = files._write_png

    def killed_after_12(image, path):
        if len(written) == 12:
            raise KeyboardInterrupt
        written.append(path)
        real(image, path)

    monkeypatch.setattr(files, "_write_png", killed_after_12)
    code, out_text, err = run(["n=40", f"out={out}", "png=true", "seed=1", *BUNDLED], capsys)
    assert code == 130 and len(written) == 12
    assert f"interrupted; {out} was not changed; it still holds the previous dataset" in err
    assert written[0].parent.parent.name.startswith("D.tmp-")  # the new PNGs went to a temporary folder
    assert assert_consistent(out) == old and len(old) == 30
    assert siblings(out) == []  # the unfinished temporary folder was removed


def test_interrupt_after_the_swap_says_the_new_dataset_is_complete(tmp_path, capsys, monkeypatch):
    out = tmp_path / "D"
    assert run(["n=10", f"out={out}", "png=true", "seed=0", *BUNDLED], capsys)[0] == 0

    def interrupted_remove(path):
        raise KeyboardInterrupt  # while the previous dataset is being deleted

    monkeypatch.setattr(atomic, "remove", interrupted_remove)
    code, _, err = run(["n=12", f"out={out}", "png=true", "seed=5", *BUNDLED], capsys)
    assert code == 130 and "the new dataset was already complete" in err
    assert assert_consistent(out) == make_strips(12, seed=5, source="bundled").labels
    assert len(siblings(out)) == 1  # the old dataset, under its temporary name ...
    monkeypatch.undo()
    assert run(["n=3", f"out={out}", "seed=6", *BUNDLED], capsys)[0] == 0
    assert siblings(out) == []  # ... is removed by the next run


def test_stale_temporary_files_are_removed_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "D"
    assert run(["n=5", f"out={out}", *BUNDLED], capsys)[0] == 0
    gone = dead_pid()
    stale = [out.with_name(f"D.tmp-{gone}-0123abcd"), out.with_name(f"D.old-{gone}-89abcdef")]
    for folder in stale:
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "strip_0000000.png").write_bytes(b"x")
    (out / ".strips.npz.k2j3h4.tmp").write_bytes(b"\0" * 1000)  # what older versions left when killed
    running = out.with_name(f"D.tmp-{os.getppid()}-deadbeef")  # a live process's folder stays
    running.mkdir()
    other = tmp_path / "Dx.tmp-1-00000000"  # another dataset's name
    other.mkdir()
    assert run(["n=5", f"out={out}", "seed=2", *BUNDLED], capsys)[0] == 0
    assert not any(folder.exists() for folder in stale)
    assert running.exists() and other.exists()
    assert sorted(p.name for p in out.iterdir()) == ["preview.png", "strips.npz"]


def test_written_files_have_ordinary_permissions(tmp_path, capsys):
    old_umask = os.umask(0o022)
    try:
        assert run(["n=4", f"out={tmp_path / 'D'}", "png=true", *BUNDLED], capsys)[0] == 0
    finally:
        os.umask(old_umask)
    out = tmp_path / "D"
    for path in [out, *out.rglob("*")]:
        expected = 0o755 if path.is_dir() else 0o644
        assert path.stat().st_mode & 0o777 == expected, (path, oct(path.stat().st_mode))


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda d: (d / "notes.txt").write_text("mine"), "notes.txt"),
        (lambda d: ((d / "images").mkdir(), (d / "images" / "holiday.png").write_bytes(b"x")), "images"),
        (
            lambda d: ((d / "images").mkdir(), (d / "labels.csv").write_text("filename,label\n")),
            "labels.csv without strips.npz",
        ),
    ],
)
def test_a_folder_that_is_not_a_dataset_is_refused(tmp_path, capsys, monkeypatch, make, named):
    out = tmp_path / "D"
    out.mkdir()
    make(out)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    monkeypatch.setattr(sources, "load_digits", lambda *a, **k: pytest.fail("must refuse before reading data"))
    code, _, err = run(["n=4", f"out={out}", "png=true", *BUNDLED], capsys)
    assert code == 2 and "is not empty and not a seqrec strips dataset" in err and named in err, err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before and siblings(out) == []
    monkeypatch.undo()
    with pytest.raises(StripsFileError, match="not a seqrec strips dataset"):
        save_strips(make_strips(2, source="bundled"), out)


def test_replacing_a_dataset_drops_files_the_new_one_does_not_have(tmp_path, capsys):
    out = tmp_path / "D"
    assert run(["n=6", f"out={out}", "png=true", *BUNDLED], capsys)[0] == 0
    code, text, _ = run(["n=6", f"out={out}", "png=false", "preview=false", *BUNDLED], capsys)
    assert code == 0 and "replacing the previous dataset there" in text
    assert sorted(p.name for p in out.iterdir()) == ["strips.npz"]


def test_swap_without_atomic_exchange(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # e.g. macOS, or a file system without it
    out = tmp_path / "D"
    for seed in (0, 1):
        assert run(["n=7", f"out={out}", "png=true", f"seed={seed}", *BUNDLED], capsys)[0] == 0
    assert assert_consistent(out) == make_strips(7, seed=1, source="bundled").labels and siblings(out) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="atomic exchange is Linux-only")
def test_the_dataset_never_disappears_during_a_rewrite(tmp_path, capsys):
    import threading

    out = tmp_path / "D"
    assert run(["n=5", f"out={out}", *BUNDLED], capsys)[0] == 0
    missing, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            if not (out / "strips.npz").is_file():
                missing.append(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for seed in range(4):
            assert run(["n=5", f"out={out}", f"seed={seed}", *BUNDLED], capsys)[0] == 0
    finally:
        stop.set()
        watcher.join()
    assert missing == []


def test_too_many_strips_are_refused_before_allocating(tmp_path, capsys, monkeypatch):
    from seqrec.data import strips as strips_module

    monkeypatch.setattr(strips_module, "available_memory", lambda: 8 << 30)
    monkeypatch.setattr(sources, "load_digits", lambda *a, **k: pytest.fail("must refuse before reading data"))
    code, _, err = run(["n=1000000000", f"out={tmp_path / 'D'}", *BUNDLED], capsys)
    assert code == 2 and "n=1000000000 strips of 28x140 needs about" in err
    assert "half of the 8.0 GiB of memory available" in err and "smaller datasets" in err and "Traceback" not in err


def test_writing_into_the_current_folder_keeps_this_process_in_it(tmp_path, capsys, monkeypatch):
    out = tmp_path / "D"
    assert run(["n=3", f"out={out}", "png=true", *BUNDLED], capsys)[0] == 0
    for cwd, target in ((out, "."), (out / "images", "..")):
        monkeypatch.chdir(cwd)
        assert run(["n=4", f"out={target}", "png=true", *BUNDLED], capsys)[0] == 0
        assert Path.cwd() == cwd.resolve() and os.path.samefile(".", cwd)  # not a deleted folder
        assert len(load_strips(out)) == 4 and len(os.listdir(cwd)) > 0


# ---------------------------------------------------------------- one StripConfig, int digits, old files
def test_help_lists_every_strip_setting_from_strip_config(capsys):
    import dataclasses

    from seqrec.data.strips import StripConfig

    code, out, _ = run(["--help"], capsys)
    for f in dataclasses.fields(StripConfig):
        assert f"  {f.name}=" in out and f.metadata["help"] in out, f.name
    code, out, err = run(["n=2", f"out={Path('x')}", "length_weights=1,x"], capsys)
    assert code == 2 and "length_weights='1,x': expected comma-separated numbers" in err


def test_a_dataset_written_before_int_digits_still_loads(tmp_path):
    """The npz as seqrec wrote it before Strips carried int digits: labels only as a string array."""
    s = make_strips(9, seed=2, source="bundled", min_len=1, max_len=4, width=120)
    old = {
        "images": s.images,
        "labels": np.array(s.labels, dtype="U4"),
        "lengths": s.lengths,
        "digit_index": s.digit_index,
        "boxes": s.boxes,
        "config": np.array(s.config.to_json()),
        "seed": np.array("2"),
        "source": np.array("bundled"),
        "split": np.array("train"),
        "format_version": np.array(1),
    }
    np.savez(tmp_path / "strips.npz", **old)
    loaded = load_strips(tmp_path)
    assert np.array_equal(loaded.digits, s.digits) and loaded.labels == s.labels and loaded.config == s.config
    old["labels"] = np.array(["1x"] + s.labels[1:], dtype="U4")
    np.savez(tmp_path / "strips.npz", **old)
    with pytest.raises(StripsFileError, match=r"is corrupt: label '1x' is not 1 to 4 digits"):
        load_strips(tmp_path)

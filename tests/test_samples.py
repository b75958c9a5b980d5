"""labels.csv, the one format of a folder of labelled strips: writers, reader, legacy rows, refusals."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seqrec.data.samples import (
    LABELS_CSV,
    SamplesError,
    append_sample,
    check_filename,
    image_filename,
    labels_csv,
    read_samples,
)


def folder_with_images(root: Path, names) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((28, 140), i, np.uint8)).save(root / "images" / name)
    return root


def test_whole_file_round_trip(tmp_path):
    folder_with_images(tmp_path, ["a.png", "b.png"])
    rows = [(image_filename("a.png"), "0042"), (image_filename("b.png"), "7")]
    (tmp_path / LABELS_CSV).write_text(labels_csv(rows))
    assert (tmp_path / LABELS_CSV).read_text() == "filename,label\nimages/a.png,0042\nimages/b.png,7\n"
    samples = read_samples(tmp_path)
    assert [(s.filename, s.label) for s in samples] == rows
    assert [s.path for s in samples] == [(tmp_path / "images" / n).resolve() for n in ("a.png", "b.png")]


def test_append_writes_the_header_once_and_counts_rows(tmp_path):
    folder_with_images(tmp_path, ["a.png", "b.png"])
    assert append_sample(tmp_path, image_filename("a.png"), "12") == 1
    assert append_sample(tmp_path, image_filename("b.png"), "345") == 2
    assert (tmp_path / LABELS_CSV).read_text() == "filename,label\nimages/a.png,12\nimages/b.png,345\n"
    assert [s.label for s in read_samples(tmp_path)] == ["12", "345"]
    (tmp_path / LABELS_CSV).write_text("")  # an empty file gets its header too
    assert append_sample(tmp_path, image_filename("a.png"), "9") == 1
    assert (tmp_path / LABELS_CSV).read_text().splitlines() == ["filename,label", "images/a.png,9"]


def test_concurrent_appends_never_interleave_or_repeat_the_header(tmp_path):
    counts = []

    def save(k):
        for i in range(25):
            counts.append(append_sample(tmp_path, image_filename(f"t{k}_{i}.png"), str(10**k + i)))

    threads = [threading.Thread(target=save, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / LABELS_CSV).read_text().splitlines()
    assert lines[0] == "filename,label" and lines.count("filename,label") == 1 and len(lines) == 101
    assert sorted(counts) == list(range(1, 101))  # each append saw exactly the rows before it and its own


def test_legacy_demo_rows_with_a_bare_name_still_load(tmp_path):
    folder_with_images(tmp_path, ["old.png", "new.png"])
    (tmp_path / LABELS_CSV).write_text("filename,label\nold.png,123\nimages/new.png,45\n")
    samples = read_samples(tmp_path)
    assert [(s.filename, s.label) for s in samples] == [("old.png", "123"), ("images/new.png", "45")]
    assert [s.path.name for s in samples] == ["old.png", "new.png"]


@pytest.mark.parametrize(
    "row, message",
    [
        ("images/a.png,12a", r"line 2: label '12a' is not a number of digits 0-9"),
        ("images/a.png,", r"line 2: label '' is not"),
        ("images/a.png,123456", r"label '123456' is not a number of digits 0-9 \(at most 5\)"),
        ("images/a.png,²", r"label '²' is not"),
        ("../outside.png,1", r"line 2: filename '../outside.png' is not a path inside the folder"),
        ("images/../../outside.png,1", r"not a path inside the folder"),
        ("/etc/passwd,1", r"filename '/etc/passwd' is not a path inside the folder"),
        (",1", r"filename '' is not a path inside the folder"),
    ],
)
def test_bad_rows_are_refused_with_file_line_and_value(tmp_path, row, message):
    folder_with_images(tmp_path / "d", ["a.png"])
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "outside.png")
    (tmp_path / "d" / LABELS_CSV).write_text(f"filename,label\n{row}\n")
    with pytest.raises(SamplesError, match=message) as err:
        read_samples(tmp_path / "d", max_len=5)
    assert str(tmp_path / "d" / LABELS_CSV) in str(err.value)


def test_a_link_that_leads_outside_the_folder_is_refused(tmp_path):
    folder_with_images(tmp_path / "d", ["a.png"])
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "secret.png")
    os.symlink(tmp_path / "secret.png", tmp_path / "d" / "images" / "link.png")
    os.symlink(tmp_path, tmp_path / "d" / "up")
    for name in ("images/link.png", "link.png", "up/secret.png"):
        (tmp_path / "d" / LABELS_CSV).write_text(f"filename,label\n{name},1\n")
        with pytest.raises(SamplesError, match="leads outside the folder .*refused"):
            read_samples(tmp_path / "d")


def test_missing_image_header_and_writer_refusals(tmp_path):
    folder_with_images(tmp_path, [])
    (tmp_path / LABELS_CSV).write_text("filename,label\nimages/gone.png,1\n")
    with pytest.raises(FileNotFoundError, match=r"line 2: 'images/gone.png' names a file that does not exist"):
        read_samples(tmp_path)
    (tmp_path / LABELS_CSV).write_text("name,digits\nimages/gone.png,1\n")
    with pytest.raises(SamplesError, match=r"first line must be the header filename,label, got \['name', 'digits'\]"):
        read_samples(tmp_path)
    with pytest.raises(SamplesError, match="label 'x1' is not"):
        append_sample(tmp_path, image_filename("a.png"), "x1")
    with pytest.raises(SamplesError, match="not a path inside the folder"):
        labels_csv([("../a.png", "1")])
    with pytest.raises(SamplesError, match="not a path inside the folder"):
        check_filename("images/a.png\nevil.png,1")
    assert (tmp_path / LABELS_CSV).read_text().startswith("name,digits")  # refused rows were never written

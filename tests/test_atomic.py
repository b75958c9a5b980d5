"""seqrec.data.atomic.replace_file: readers see the old file or the new one, never a half-written one."""

import pytest

from seqrec.data.atomic import replace_file


def test_replace_file_writes_text_and_bytes(tmp_path):
    path = tmp_path / "a.csv"
    assert replace_file(path, lambda f: f.write("x,y\n1,2\n"), text=True) == path
    assert path.read_text() == "x,y\n1,2\n"
    replace_file(path, lambda f: f.write(b"\x00\x01"))
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # no temporary left


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"half of the new")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of torch.save

    with pytest.raises(KeyboardInterrupt):
        replace_file(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]

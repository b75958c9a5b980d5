"""seqrec.spec: the pretrained registry matches the bundled weights, and pretrained_path refuses clearly."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from seqrec import spec

BUNDLED = Path(__file__).resolve().parents[1] / "seqrec" / "pretrained"


def test_registry_names_match_the_bundled_files():
    bundled = sorted(p.stem for p in BUNDLED.glob("*.ckpt"))
    if not bundled:
        pytest.skip("no pretrained weights in this checkout")
    assert sorted(spec.PRETRAINED) == bundled
    assert all(isinstance(text, str) and text.strip() for text in spec.PRETRAINED.values())


@pytest.mark.parametrize("name", list(spec.PRETRAINED))
def test_pretrained_path_names_the_packaged_file(name):
    path = spec.pretrained_path(name, must_exist=False)
    assert path == BUNDLED / f"{name}.ckpt"
    if path.is_file():
        assert spec.pretrained_path(name) == path


def test_registry_matches_the_demo_page():
    page = (BUNDLED.parent / "demo" / "static" / "index.html").read_text(encoding="utf-8")
    for name, text in spec.PRETRAINED.items():
        assert f"<b>{name}</b>: {text}" in page


@pytest.mark.parametrize("name", ["transformer", "", "CTC", "../ctc", None, 3])
def test_pretrained_path_refuses_unknown_names(name):
    with pytest.raises(ValueError, match=r"unknown pretrained model .*valid names: ctc, multihead, multilabel"):
        spec.pretrained_path(name)
    with pytest.raises(ValueError, match="unknown pretrained model"):
        spec.pretrained_path(name, must_exist=False)


def test_pretrained_path_says_when_weights_are_not_bundled(monkeypatch, tmp_path):
    monkeypatch.setattr(resources, "files", lambda package: tmp_path)
    with pytest.raises(FileNotFoundError, match=r"'multihead' weights are not bundled in this install"):
        spec.pretrained_path("multihead")
    assert spec.pretrained_path("multihead", must_exist=False) == tmp_path / "pretrained" / "multihead.ckpt"


def test_spec_is_cheap_to_import():  # the command line reads it before any model loads
    import subprocess
    import sys

    code = "import sys, seqrec.spec; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_constants_still_copied_elsewhere_agree():  # until those modules import them from seqrec.spec
    from seqrec import checkpoint, imaging, recognizer
    from seqrec.data import sources, strips

    assert sources.DIGIT_SIZE == spec.DIGIT_SIZE
    assert imaging.INK_THRESHOLD == strips.INK_THRESHOLD / 255 == spec.INK_THRESHOLD
    assert checkpoint.CHECKPOINT_KEY == recognizer.META_KEY == spec.METADATA_KEY
    assert checkpoint.CHECKPOINT_FORMAT == recognizer.META_FORMAT == spec.METADATA_FORMAT
    assert set(recognizer.PRETRAINED) == set(spec.PRETRAINED)

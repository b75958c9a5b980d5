"""The ``seqrec`` command line: help, predict (text and JSON), strips -> predict end to end,
export, and bad input (exit code 2, a message naming the file, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from test_recognizer import stacked_digits, tiny_checkpoint

from seqrec import imaging
from seqrec.cli import main
from seqrec.data.strips import make_strips
from seqrec.recognizer import Recognizer

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("seqrec")


def seqrec(*args, timeout=120):
    """Run the installed console script (or python -m seqrec where it is not installed)."""
    cmd = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "seqrec"]
    env = {**os.environ, "SEQREC_OFFLINE": "1"}
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint("multihead", tmp_path_factory)


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pngs")
    strips = make_strips(3, seed=2, split="test", source="bundled")
    paths = []
    for i, img in enumerate(strips.images):
        paths.append(folder / f"s{i}.png")
        Image.fromarray(img if i != 1 else 255 - img).save(paths[-1])  # one dark-on-light
    return paths


def test_help_is_quick_and_lists_commands():
    t0 = time.perf_counter()
    r = seqrec("--help")
    assert r.returncode == 0, r.stderr
    assert time.perf_counter() - t0 < 20  # no torch import (a loaded CI box is slow; it takes ~0.3 s here)
    for command in ("predict", "strips", "export", "demo"):
        assert command in r.stdout
    code = "import sys, seqrec.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def run_main(argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse exits after --help and on usage errors
        return exc.code or 0


@pytest.mark.parametrize("command", ["predict", "export", "strips", "demo"])
def test_each_command_has_help(command, capsys):
    assert run_main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage" in out.lower() and f"seqrec {command}" in out


def test_predict_text_and_json(ckpt, pngs):
    r = seqrec("predict", "--model", ckpt, *pngs)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    rec = Recognizer.from_checkpoint(ckpt)
    expected = rec.predict(pngs)
    assert lines == [f"{p}\t{t}" for p, t in zip(pngs, expected)]
    r = seqrec("predict", "--json", "--model", ckpt, "--batch-size", "2", pngs[0], pngs[1])
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["path"] for row in rows] == [str(pngs[0]), str(pngs[1])]
    assert [row["text"] for row in rows] == expected[:2]
    for row in rows:
        assert 0.0 <= row["confidence"] <= 1.0
        assert [d["digit"] for d in row["digits"]] == list(row["text"])
        assert all(0.0 <= d["confidence"] <= 1.0 for d in row["digits"])


def test_predict_names_the_file_of_each_doubtful_image(ckpt, pngs, tmp_path, capsys):
    turned = tmp_path / "turned.png"
    Image.fromarray(stacked_digits()).save(turned)
    assert run_main(["predict", "--json", "--model", ckpt, pngs[0], turned]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [row["warning"] for row in rows] == [None, imaging.TALL]
    assert f"seqrec predict: {turned}: {imaging.TALL}" in err and "image 1" not in err


def test_predict_options_reach_the_recognizer(ckpt, pngs, capsys, monkeypatch):
    calls = []
    original = Recognizer.predict

    def spy(self, images, **kwargs):
        calls.append((self.name, list(images), kwargs))
        return original(self, images, **kwargs)

    monkeypatch.setattr(Recognizer, "predict", spy)
    for flags, invert in (([], None), (["--invert"], True), (["--no-invert"], False)):
        assert run_main(["predict", "--model", ckpt, "--batch-size", "7", "--beam-width", "1", *flags, pngs[1]]) == 0
        expected = dict(batch_size=7, invert=invert, return_confidence=True, beam_width=1, tta=False)
        assert calls[-1] == ("last", [str(pngs[1])], expected)
        path, text = capsys.readouterr().out.rstrip("\n").split("\t")  # text may be "" (a tiny model)
        assert path == str(pngs[1]) and text == original(Recognizer.from_checkpoint(ckpt), pngs[1], invert=invert)[0]


def test_tta_flag_reaches_the_recognizer(ckpt, pngs, capsys, monkeypatch):
    calls = []
    original = Recognizer.predict
    spy = lambda self, images, **kw: calls.append(kw) or original(self, images, **kw)  # noqa: E731
    monkeypatch.setattr(Recognizer, "predict", spy)
    assert run_main(["predict", "--model", ckpt, "--tta", pngs[0]]) == 0
    assert calls[-1]["tta"] is True and capsys.readouterr().out.startswith(str(pngs[0]))


def test_bad_files_exit_2_with_the_name(ckpt, pngs, tmp_path, capsys):
    r = seqrec("predict", "--model", ckpt, pngs[0], tmp_path / "missing.png")
    assert r.returncode == 2 and "missing.png" in r.stderr and "Traceback" not in r.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert main(["predict", "--model", str(ckpt), str(pngs[0]), str(notes)]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "not an image" in err and "Traceback" not in err
    assert main(["predict", "--model", str(notes), str(pngs[0])]) == 2  # a checkpoint that is not one
    assert "not a readable PyTorch checkpoint" in capsys.readouterr().err
    assert main(["predict", "--model", "resnet", str(pngs[0])]) == 2  # neither a name nor a file
    assert "neither a pretrained model" in capsys.readouterr().err
    assert run_main(["predict", "--batch-size", "0", pngs[0]]) == 2
    assert "positive integer" in capsys.readouterr().err


def test_strips_then_predict_end_to_end(ckpt, tmp_path):
    out = tmp_path / "strips"
    r = seqrec("strips", "n=4", f"out={out}", "png=true", "source=bundled", "seed=3")
    assert r.returncode == 0, r.stderr
    images = sorted((out / "images").glob("*.png"))
    assert len(images) == 4
    r = seqrec("predict", "--model", ckpt, images[0])
    assert r.returncode == 0, r.stderr
    path, text = r.stdout.strip().split("\t")
    assert path == str(images[0]) and (text.isdigit() or text == "")


def test_export_command(ckpt, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "model.onnx"
    assert main(["export", "--model", str(ckpt), str(out)]) == 0
    assert out.is_file() and "parity checked" in capsys.readouterr().err
    ts = tmp_path / "model.pt"
    assert main(["export", "--model", str(ckpt), "--no-check", str(ts)]) == 0  # format from the suffix
    assert Recognizer.from_checkpoint(ts).backend == "torchscript"
    assert main(["export", "--model", str(tmp_path / "nope.ckpt"), str(tmp_path / "x.onnx")]) == 2
    assert "nope.ckpt" in capsys.readouterr().err


def test_pretrained_cli_when_missing(pngs, capsys):
    if (REPO / "seqrec" / "pretrained" / "ctc.ckpt").is_file():
        pytest.skip("pretrained ctc weights are bundled; the missing-weights message cannot be shown")
    assert main(["predict", str(pngs[0])]) == 2
    assert "not bundled in this install" in capsys.readouterr().err

"""The ensemble: the vote on hand-made readings, its errors, Recognizer.pretrained("ensemble"),
the command line, and export refusing it."""

from __future__ import annotations

import json
import warnings

import pytest
from PIL import Image

from seqrec import Ensemble, make_strips
from seqrec.cli import main
from seqrec.ensemble import vote
from seqrec.recognizer import ImageWarning, Prediction, Recognizer


class Member:
    """A stand-in recognizer that reads fixed texts with fixed confidences."""

    def __init__(self, texts, confidences, head="multihead", name="m"):
        self.texts, self.confidences, self.head, self.name = texts, confidences, head, name
        self.max_len, self.image_size, self.beam_widths, self.ttas = 5, (28, 140), [], []

    def predict(self, images, batch_size=256, invert=None, return_confidence=False, beam_width=1, tta=False):
        self.beam_widths.append(beam_width)
        self.ttas.append(tta)
        return [Prediction(t, c, [c] * len(t)) for t, c in zip(self.texts, self.confidences)]


def test_vote_sums_confidences_breaks_ties_by_member_order_and_averages_digits():
    a, b, c = Prediction("12", 0.9, [0.9, 0.8]), Prediction("12", 0.5, [0.7, 0.6]), Prediction("17", 0.99, [1, 1])
    winner = vote([a, b, c], 3)
    assert winner.text == "12" and winner.confidence == pytest.approx(1.4 / 3)  # 0.9 + 0.5 beats 0.99
    assert winner.digit_confidences == pytest.approx([0.8, 0.7])  # mean over the two that read "12"
    lone = vote([Prediction("3", 0.6), Prediction("8", 0.6)], 2)  # a tie: the earlier member's reading
    assert lone.text == "3" and lone.confidence == pytest.approx(0.3) and lone.digit_confidences == []
    assert vote([Prediction("", 0.0), Prediction("", 0.0)], 2) == Prediction("", 0.0, [])


def test_ensemble_predicts_texts_and_confidences_and_sends_beams_to_ctc_only():
    ctc = Member(["12", "40"], [0.9, 0.3], head="ctc", name="ctc")
    flat = Member(["17", "40"], [0.8, 0.9], name="flat")
    other = Member(["17", "41"], [0.2, 0.9], name="other")
    ens = Ensemble([ctc, flat, other])
    assert ens.predict(["a", "b"]) == ["17", "40"]  # 0.8 + 0.2 > 0.9; 0.3 + 0.9 > 0.9
    preds = ens.predict(["a", "b"], return_confidence=True, beam_width=4)
    assert [p.confidence for p in preds] == pytest.approx([1.0 / 3, 1.2 / 3])
    assert ctc.beam_widths[-1] == 4 and flat.beam_widths[-1] == 1 and other.beam_widths[-1] == 1
    ens.predict(["a"], tta=True)
    assert ctc.ttas[-1] is flat.ttas[-1] is other.ttas[-1] is True  # each member votes over its views
    assert ens.max_len == 5 and ens.image_size == (28, 140) and "flat" in repr(ens)


def test_ensemble_warns_once_about_an_image_every_member_finds_odd():
    class Warner(Member):
        def predict(self, images, **kwargs):
            warnings.warn(ImageWarning(0, "rotated photo?"), stacklevel=2)
            warnings.warn(f"seqrec: {self.name} only", RuntimeWarning, stacklevel=2)
            return super().predict(images, **kwargs)

    ens = Ensemble([Warner(["1"], [0.9], name="a"), Warner(["1"], [0.8], name="b")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ens.predict(["x"]) == ["1"]
    assert [(str(w.message), w.category) for w in caught] == [
        ("seqrec: image 0: rotated photo?", ImageWarning),
        ("seqrec: a only", RuntimeWarning),
        ("seqrec: b only", RuntimeWarning),
    ]
    assert (caught[0].message.index, caught[0].message.note) == (0, "rotated photo?")  # re-raised as it was


def test_ensemble_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 recognizers, got 1"):
        Ensemble([Member([], [])])
    with pytest.raises(TypeError, match="must be recognizers.*str"):
        Ensemble([Member([], []), "ctc"])
    with pytest.raises(ValueError, match="beam search needs a ctc member"):
        Ensemble([Member(["1"], [1.0]), Member(["1"], [1.0])]).predict(["a"], beam_width=3)
    with pytest.raises(ValueError, match="valid names: ctc, multihead, multilabel, ensemble"):
        Recognizer.pretrained("ensembles")


def test_pretrained_ensemble_votes_the_bundled_heads(tmp_path):
    ens = Recognizer.pretrained("ensemble")
    assert isinstance(ens, Ensemble) and [m.name for m in ens.members] == ["ctc", "multihead", "multilabel"]
    assert Recognizer.load("ensemble").name == "ensemble" and Recognizer.load(ens) is ens
    strips = make_strips(16, seed=3, split="test", source="bundled", min_len=1, max_len=5, gap=(-2, 6))
    readings = [m.predict(strips.images, return_confidence=True) for m in ens.members]
    want = [vote(column, 3) for column in zip(*readings)]
    assert ens.predict(strips.images, return_confidence=True) == want
    assert sum(t == p.text for t, p in zip(strips.labels, want)) >= 14  # the bundled heads read these
    with pytest.raises(ValueError, match="is an ensemble of several models; export each member"):
        from seqrec.export import export

        export("ensemble", tmp_path / "e.onnx")


def test_command_line_reads_with_the_ensemble(tmp_path, capsys):
    strips = make_strips(2, seed=4, split="test", source="bundled")
    paths = []
    for i, img in enumerate(strips.images):
        paths.append(tmp_path / f"s{i}.png")
        Image.fromarray(img).save(paths[-1])
    assert main(["predict", "--model", "ensemble", "--json", *map(str, paths)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["text"] for r in rows] == list(strips.labels) and all(0 < r["confidence"] <= 1 for r in rows)


def test_bench_ensemble_tiny(capsys):
    from test_evaluation import _bench

    bench = _bench("bench_ensemble")
    assert bench.main(["--n", "24", "--boot", "50", "--members", "multihead,multilabel", "--speed-n", "32"]) == 0
    out = capsys.readouterr().out
    for row in ("| fixed | multihead |", "| variable | multilabel |", "| fixed | ensemble |"):
        assert row in out
    assert "predict() from uint8, batch 256, strips/s: multihead" in out and "ensemble" in out
    assert "coverage at 99.5% [95% CI]" in out
    assert bench.main(["--members", "ctc"]) == 2 and "at least 2 members" in capsys.readouterr().err

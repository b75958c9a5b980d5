"""Baselines (model=split, model=segment) and the benchmark suite's strip geometry."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from conftest import ROOT

from seqrec.baselines import SegmentNet, SplitNet, crop_digits, segment_strip
from seqrec.data.strips import make_strips
from seqrec.models import SmallCNN
from seqrec.train import train


def segment_boxes(images, max_segments: int = 8) -> list[list[tuple]]:
    """Ink boxes ``segment_strip`` finds in each uint8 strip (ink: above the strips' threshold)."""
    from seqrec.spec import INK_THRESHOLD

    return [segment_strip(np.asarray(img) > INK_THRESHOLD * 255, max_segments)[0] for img in images]


def load_bench_suite():
    spec = importlib.util.spec_from_file_location("bench_suite", ROOT / "benchmarks" / "bench_suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model", ["split", "segment"])
def test_baseline_fast_dev_run(make_cfg, model):
    metrics = train(make_cfg(f"model={model}", "debug=fdr"))
    assert 0 <= metrics["test/exact_match"] <= 1 and "test/cer" in metrics


@pytest.mark.parametrize("model", ["split", "segment"])
def test_baseline_checkpoint_loads_everywhere(make_cfg, tmp_path, model):
    """One tiny epoch with a checkpoint: load_system and Recognizer read it; the split net runs
    as a frozen TorchScript copy, the segment net (numpy inside) falls back to eager."""
    from seqrec.checkpoint import load_system
    from seqrec.recognizer import Recognizer

    cfg = make_cfg(
        f"model={model}", "data.min_len=1", "data.gap=[2,6]", "data.batches_per_epoch=2", "data.n_val=32", "test=false"
    )
    train(cfg)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    system = load_system(ckpt)
    assert system.head_name == model
    rec = Recognizer.from_checkpoint(ckpt)
    assert rec.head == model and rec.max_len == 5
    strips = make_strips(6, seed=3, split="test", source="bundled", min_len=1, max_len=5, gap=(2, 6))
    texts = rec.predict(strips.images)
    assert len(texts) == 6 and all(t.isdigit() or t == "" for t in texts) and all(len(t) <= 5 for t in texts)
    x = rec.preprocess(strips.images)
    runner = rec._runner()
    assert (runner.net is rec.model) == (model == "segment")  # segment cannot be frozen
    with torch.no_grad():
        assert torch.allclose(runner(x), system.net(x), atol=1e-4)


@pytest.mark.parametrize("gap", [2, 5])
def test_segmentation_finds_each_digit_on_clean_strips(gap):
    strips = make_strips(200, seed=gap, split="test", source="bundled", min_len=1, max_len=5, gap=(gap, gap))
    found = segment_boxes(strips.images)
    for boxes, true, n in zip(found, strips.boxes, strips.lengths):
        assert len(boxes) == n
        got, want = np.array([(b[0], b[2]) for b in boxes]), true[:n, [0, 2]]
        # Each found column range lies in its digit's ink box and covers most of it (a speck
        # under min_area pixels may be left out).
        assert (got[:, 0] >= want[:, 0]).all() and (got[:, 1] <= want[:, 1]).all()
        assert ((got[:, 1] - got[:, 0]) >= 0.75 * (want[:, 1] - want[:, 0])).all()


def test_segmentation_merges_overlapping_digits():
    """Heavy overlap (-8 px) fuses digits: the baseline's known failure."""
    strips = make_strips(100, seed=1, split="test", source="bundled", min_len=5, max_len=5, gap=(-8, -8))
    counts = [len(b) for b in segment_boxes(strips.images)]
    assert np.mean(np.array(counts) == 5) < 0.2


def test_segment_net_slots_and_empty_padding():
    net = SegmentNet(SmallCNN(), positions=5).eval()
    strips = make_strips(4, seed=0, split="test", source="bundled", min_len=3, max_len=3, gap=(3, 3))
    x = torch.from_numpy(strips.images).float().div(255).unsqueeze(1)
    with torch.no_grad():
        logits, counts = net.classify(x)  # the counts come back with the logits, nothing is stashed on the net
        assert torch.equal(net(x), logits)
    logits = logits.view(4, 5, 11)
    assert counts.tolist() == [3, 3, 3, 3]
    assert (logits[:, 3:].argmax(-1) == 10).all()  # slots without a segment say EMPTY
    with pytest.raises(RuntimeError, match="traced"):
        torch.jit.trace(net, x)


def test_split_net_cuts_the_ink_extent_into_equal_slices():
    net = SplitNet(SmallCNN(), positions=5, image_height=28, image_width=140)
    x = torch.zeros(1, 1, 28, 140)
    level = [0.2, 0.35, 0.5, 0.65, 0.8]
    for i in range(5):  # ink from column 20 to 120, each slice with its own brightness
        x[0, 0, 4:24, 20 + 20 * i : 40 + 20 * i] = level[i]
    boxes, valid = net.slices(x)
    assert valid.all()
    assert boxes[0, :, 0].tolist() == [20, 40, 60, 80, 100] and boxes[0, :, 2].tolist() == [40, 60, 80, 100, 120]
    assert boxes[0, :, 1].tolist() == [4] * 5 and boxes[0, :, 3].tolist() == [24] * 5
    crops = crop_digits(x, boxes)
    assert crops.shape == (5, 1, 28, 28)
    for i in range(5):  # each crop holds its own slice only (neighbours masked), centred, 20 px tall
        values = crops[i, 0][crops[i, 0] > 0.01]
        assert torch.allclose(values.min(), torch.tensor(level[i]), atol=1e-3)
        assert torch.allclose(values.max(), torch.tensor(level[i]), atol=1e-3)
        rows = torch.nonzero(crops[i, 0].amax(1) > 0.01).flatten()
        assert rows.min() == 4 and rows.max() == 23
    assert net(x).shape == (1, 55)
    pitched = SplitNet(SmallCNN(), positions=5, pitch=25.0)
    _, valid = pitched.slices(x)  # 100 px of ink / 25 px per digit = 4 slices
    assert valid[0].tolist() == [True, True, True, True, False]


def test_gap_minus_8_overlaps_ink_boxes_by_8_px():
    suite = load_bench_suite()
    strips = suite.strips_at_gap(300, -8, length=5, source="bundled")
    assert strips.split == "test" and strips.images.shape == (300, 28, 140)
    left, right = strips.boxes[:, :-1], strips.boxes[:, 1:]
    overlap = left[..., 2] - right[..., 0]  # px of the right digit's box inside the left one's
    narrow = np.minimum(left[..., 2] - left[..., 0], right[..., 2] - right[..., 0])
    wide = narrow > 8
    assert wide.mean() > 0.7 and (overlap[wide] == 8).all()
    # A digit narrower than 9 px would be swallowed whole: the composer keeps reading order.
    assert (overlap[~wide] == narrow[~wide] - 1).all()
    clean = suite.strips_at_gap(50, 4, length=5, source="bundled")
    assert ((clean.boxes[:, 1:, 0] - clean.boxes[:, :-1, 2]) == 4).all()


def test_segment_loss_skips_miscounted_strips_and_honours_focal_gamma():
    """The segment system's training loss is multihead's slot loss (focal_gamma included) over the
    strips whose segment count matches their length."""
    from seqrec.systems import SegmentSystem

    clean = make_strips(4, seed=4, split="test", source="bundled", min_len=2, max_len=5, gap=(4, 4))
    fused = make_strips(4, seed=4, split="test", source="bundled", min_len=5, max_len=5, gap=(-8, -8))
    batch = {
        key: torch.from_numpy(np.concatenate([getattr(clean, name), getattr(fused, name)]))
        for key, name in (("image", "images"), ("digits", "digits"), ("length", "lengths"))
    }
    batch["image"] = batch["image"][:, None]
    torch.manual_seed(0)
    plain = SegmentSystem(SegmentNet(SmallCNN(), positions=5), max_len=5).eval()
    focal = SegmentSystem(SegmentNet(SmallCNN(), positions=5), max_len=5, focal_gamma=2.0).eval()
    focal.load_state_dict(plain.state_dict())
    with torch.no_grad():
        logits, counts = plain.net.classify(plain.to_input(batch["image"]))
        keep = counts == batch["length"]
        assert 0 < int(keep.sum()) < len(keep)  # some strips fuse at -8 px: the test needs both kinds
        got = plain.training_loss(batch)
        assert torch.allclose(got, plain.loss(logits[keep], {k: v[keep] for k, v in batch.items()}))
        assert not torch.allclose(got, plain.loss(logits, batch))
        assert float(focal.training_loss(batch)) < float(got)  # focal down-weights every slot


def test_bench_suite_runs_tiny_and_on_a_folds_test_digits(tmp_path, capsys, monkeypatch):
    suite = load_bench_suite()
    out = ["--out", str(tmp_path)]
    assert suite.main(["--models", "ctc", "--fold", "0", *out]) == 2  # refused before loading a model
    assert "folds and fold go together" in capsys.readouterr().err
    assert suite.main(["--models", "ctc", "--folds", "3", "--fold", "3", *out]) == 2
    assert "fold" in capsys.readouterr().err

    import seqrec.data.sources as sources

    pools = []
    load = sources.load_digits
    monkeypatch.setattr(sources, "load_digits", lambda *a, **k: pools.append(load(*a, **k)) or pools[-1])
    tiny = ["--models", "ctc", "--suites", "length", "--n", "8", *out]
    assert suite.main([*tiny, "--folds", "3", "--fold", "1"]) == 0
    md = capsys.readouterr().out
    assert "from the `bundled` fold 1 of 3 of bench_cv.py's split" in md and "| ctc | " in md
    assert (tmp_path / "bench_suite.md").is_file() and (tmp_path / "bench_suite.json").is_file()
    fold_test = sources.load_digits("bundled", "test", folds=3, fold=1)
    assert set(pools[0].ids) == set(fold_test.ids) and len(pools[0]) > len(sources.load_digits("bundled", "test"))


def test_bench_suite_cv_reads_every_fold_with_its_own_model_and_pools(tmp_path, capsys, monkeypatch):
    import json

    suite = load_bench_suite()
    cv, out = tmp_path / "cv", ["--out", str(tmp_path / "out")]
    ckpt = ROOT / "seqrec" / "pretrained" / "ctc.ckpt"

    def save_fold(k, folds=3):
        (cv / f"fold_{k}").mkdir(parents=True, exist_ok=True)
        (cv / f"fold_{k}" / "fold.json").write_text(json.dumps({"folds": folds, "fold": k, "checkpoint": str(ckpt)}))

    # refused before any model is loaded: nothing saved, a missing fold, other flags, another source
    assert suite.main(["--cv", str(cv), *out]) == 2
    assert "no saved folds" in capsys.readouterr().err
    save_fold(0), save_fold(2)
    assert suite.main(["--cv", str(cv), *out]) == 2
    assert "folds [1] of 3 have no result yet" in capsys.readouterr().err
    save_fold(1)
    for extra in (["--models", "ctc"], ["--folds", "3", "--fold", "0"], ["--source", "mnist"]):
        assert suite.main(["--cv", str(cv), *extra, *out]) == 2
        assert "--cv" in capsys.readouterr().err

    # an ensemble (DIR+DIR) is refused before any model is loaded: a folder twice, another K, other digits
    def save_other(name, k, folds, test_ids=()):
        (tmp_path / name / f"fold_{k}").mkdir(parents=True, exist_ok=True)
        fold = {"folds": folds, "fold": k, "checkpoint": str(ckpt), "test_ids": list(test_ids)}
        (tmp_path / name / f"fold_{k}" / "fold.json").write_text(json.dumps(fold))

    for k in range(2):
        save_other("two", k, 2)
    for k in range(3):
        save_other("other", k, 3, test_ids=[k])
    refusals = {
        f"{cv}+{cv}": "a folder votes twice in one ensemble",
        f"{cv}+{tmp_path / 'two'}": "different fold counts; an ensemble needs one split",
        f"{cv}+{tmp_path / 'other'}": "fold 0 holds other test digits in each folder",
        f"{cv}+{tmp_path / 'none'}": "no saved folds",
    }
    for spec, message in refusals.items():
        assert suite.main(["--cv", spec, *out]) == 2
        assert message in capsys.readouterr().err

    import seqrec.data.sources as sources

    read = []
    load = sources.load_digits
    monkeypatch.setattr(sources, "load_digits", lambda *a, **k: read.append(k) or load(*a, **k))
    assert suite.main(["--cv", f"ctc3={cv}", "--suites", "length", "--n", "6", *out]) == 0
    md = capsys.readouterr().out
    assert "test digits of each of the 3 folds of bench_cv.py's split (per fold, pooled)" in md and "| ctc3 | " in md
    assert sorted(k["fold"] for k in read) == [0, 1, 2] and {k["folds"] for k in read} == {3}
    rows = json.loads((tmp_path / "out" / "bench_suite.json").read_text())["results"]
    assert {r["n"] for r in rows} == {18}  # 6 strips per fold, pooled
    one_digit = next(r for r in rows if r["value"] == 1)
    assert 6 < one_digit["n_digits"] <= 18  # more digits than one fold's 6 strips hold: folds pooled

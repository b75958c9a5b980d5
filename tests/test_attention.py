"""The attention head (model=attention): codec, loss, learning, checkpoint -> Recognizer, export."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from conftest import compose_train, overfit_one_batch

from seqrec.codecs import AttentionCodec, Codec
from seqrec.data.strips import make_strips
from seqrec.models import AttentionDecoder, SeqRecNet, SmallCNN
from seqrec.system import AttentionSystem

END, IGN = AttentionCodec.END, AttentionCodec.IGNORE


def confident_logits(rows, slots: int, seed: int = 0) -> torch.Tensor:
    """(B, slots, 11) random logits with a clear winner per slot: rows[b][k], or any class where rows[b][k] < 0."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.randn(len(rows), slots, 11, generator=gen)
    for b, row in enumerate(rows):
        for k, c in enumerate(row):
            out[b, k, c if c >= 0 else int(torch.randint(11, (1,), generator=gen))] += 12.0
    return out


def padded(labels: list[str], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    digits = torch.full((len(labels), width), -1, dtype=torch.long)
    for i, s in enumerate(labels):
        digits[i, : len(s)] = torch.tensor([int(c) for c in s], dtype=torch.long)
    return digits, torch.tensor([len(s) for s in labels])


def tiny_net(max_len: int = 5, **head) -> SeqRecNet:
    head = {"d_model": 32, "nhead": 4, "num_layers": 1, "dim_feedforward": 64, "dropout": 0.0, **head}
    backbone = SmallCNN(channels=(8, 16, 32, 32), dropout=0.0)
    return SeqRecNet(backbone, partial(AttentionDecoder, max_len=max_len, **head))


# ------------------------------------------------------------------ codec
def test_encode_digits_then_end_then_ignored():
    codec = AttentionCodec(3)
    digits, lengths = padded(["123", "4", "", "70"], 3)
    assert codec.slots == 4
    assert codec.encode(digits, lengths).tolist() == [
        [1, 2, 3, END],
        [4, END, IGN, IGN],
        [END, IGN, IGN, IGN],
        [7, 0, END, IGN],
    ]


def test_decode_round_trip_ignores_slots_after_end():
    codec = AttentionCodec(3)
    labels = ["123", "4", "", "70"]
    target = codec.encode(*padded(labels, 3))
    decoded = codec.decode(confident_logits(target.tolist(), codec.slots))  # IGNORE slots get a random class
    assert decoded.texts == labels
    assert [len(d) for d in decoded.digit_confidences] == [3, 1, 0, 2]
    assert (decoded.confidence > 0.99).all()


def test_decode_cuts_at_first_end_and_last_slot_is_always_end():
    codec = AttentionCodec(3)
    logits = confident_logits([[5, END, 3, 3], [1, 2, 3, 4], [END, 7, 7, 7]], codec.slots)
    decoded = codec.decode(logits)
    assert decoded.texts == ["5", "123", ""]
    # No END read anywhere: the forced END slot has a tiny probability, so the whole reading is doubtful.
    assert decoded.confidence[1] < 1e-3 < decoded.confidence[0]


def test_confidence_is_product_of_emitted_slots_including_end():
    codec = AttentionCodec(4)
    logits = torch.randn(3, codec.slots, 11, generator=torch.Generator().manual_seed(3))
    decoded = codec.decode(logits)
    p = logits.softmax(-1)
    for b, text in enumerate(decoded.texts):
        want = torch.prod(torch.stack([p[b, k, int(c)] for k, c in enumerate(text)] + [p[b, len(text), END]]))
        assert decoded.confidence[b] == pytest.approx(float(want), rel=1e-5)
        digits = [float(p[b, k, int(c)]) for k, c in enumerate(text)]
        assert decoded.digit_confidences[b] == pytest.approx(digits, rel=1e-5)
    # sequence_nll of the decoded text is -log of its confidence.
    nll = codec.sequence_nll(logits, *padded(decoded.texts, 4))
    assert torch.allclose(nll, -decoded.confidence.log(), atol=1e-5)


def test_temperature_changes_confidence_not_text():
    logits = torch.randn(4, 6, 11, generator=torch.Generator().manual_seed(1)) * 3
    cold, warm = AttentionCodec(5).decode(logits), AttentionCodec(5, temperature=2.0).decode(logits)
    assert cold.texts == warm.texts
    assert not torch.allclose(cold.confidence, warm.confidence)


def test_codec_serialises_through_from_dict():
    codec = Codec.from_dict(AttentionCodec(8).to_dict())
    assert isinstance(codec, AttentionCodec) and codec.max_len == 8 and codec.slots == 9


def test_codec_errors_name_the_bad_value():
    codec = AttentionCodec(3)
    with pytest.raises(ValueError, match=r"lengths must be in 0..max_len=3, got \[4\]"):
        codec.encode(*padded(["1234"], 4))
    with pytest.raises(ValueError, match=r"must be \(batch, 4, 11\) for max_len=3, got \(2, 3, 11\)"):
        codec.decode(torch.zeros(2, 3, 11))


# ------------------------------------------------------------------ net and system
def test_decoder_reads_any_width():
    net = tiny_net(max_len=8).eval()
    assert not net.fixed_width
    for width in (60, 140, 260):
        assert net(torch.rand(2, 1, 28, width)).shape == (2, 9, 11)


def test_loss_ignores_slots_after_end():
    system = AttentionSystem(tiny_net(max_len=3), max_len=3)
    digits, lengths = padded(["12", ""], 3)
    batch = {"digits": digits, "length": lengths}
    logits = torch.randn(2, 4, 11, generator=torch.Generator().manual_seed(0))
    base = system.loss(logits, batch)
    after_end = logits.clone()
    after_end[0, 3] += 5 * torch.randn(11)  # slot 3 of "12" is after its END
    after_end[1, 1:] += 5
    assert torch.allclose(system.loss(after_end, batch), base)
    at_end = logits.clone()
    at_end[0, 2, END] += 3.0
    assert system.loss(at_end, batch) < base


def test_system_errors():
    with pytest.raises(ValueError, match=r"attention head has 5 slots but max_len=5 needs 6"):
        AttentionSystem(tiny_net(max_len=4), max_len=5)
    with pytest.raises(ValueError, match="focal_gamma=2.0"):
        AttentionSystem(tiny_net(), max_len=5, focal_gamma=2.0)
    with pytest.raises(ValueError, match="d_model=30 must be divisible by nhead=4"):
        tiny_net(d_model=30)


def test_overfits_one_batch():
    torch.manual_seed(0)
    first, last, texts, labels = overfit_one_batch(AttentionSystem(tiny_net(), max_len=5))  # ~60 steps suffice
    assert last < 0.05 * first
    assert texts == labels


# ------------------------------------------------------------------ training, checkpoint, Recognizer, export
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from seqrec.train import train

    out = tmp_path_factory.mktemp("attention")
    overrides = [
        "model=attention",
        "data=variable",
        "data.batches_per_epoch=2",
        "data.n_val=32",
        "data.n_test=32",
        "~callbacks.progress_bar",
    ]
    metrics = train(compose_train(overrides, out))
    return out / "checkpoints" / "last.ckpt", metrics


def test_train_saves_checkpoint_that_recognizer_loads(trained):
    from seqrec.checkpoint import read_checkpoint
    from seqrec.recognizer import Recognizer

    ckpt, metrics = trained
    assert 0.0 <= metrics["test/exact_match"] <= 1.0 and metrics["test/loss"] > 0
    meta = read_checkpoint(ckpt)["seqrec"]
    assert meta["head"] == "attention" and meta["codec"] == {"name": "attention", "max_len": 5}
    rec = Recognizer.from_checkpoint(ckpt)
    assert rec.head == "attention" and not rec.fixed_width and rec.image_size == (28, 140)
    strips = make_strips(6, seed=4, split="test", source="bundled", min_len=1, placement="random")
    wide = make_strips(2, seed=5, split="test", source="bundled", min_len=1, width=200, placement="random")
    got = rec.predict([strips.images, wide.images], return_confidence=True)
    assert len(got) == 8
    for p in got:
        assert set(p.text) <= set("0123456789") and len(p.text) <= 5
        assert 0.0 <= p.confidence <= 1.0 and len(p.digit_confidences) == len(p.text)


def test_config_reads_longer_numbers_than_the_data(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg("model=attention", "model.max_len=8")
    system = instantiate(cfg.model, _convert_="all")
    assert system.codec.max_len == 8 and system.net.head.slots == 9


def test_onnx_export_parity_at_two_widths_and_reload(trained, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from seqrec.export import export
    from seqrec.recognizer import Recognizer

    ckpt, _ = trained
    rec = Recognizer.from_checkpoint(ckpt, optimize=False)
    path = export(rec, tmp_path / "attention.onnx", check=True)  # parity at 140 px and 1.2x wider
    loaded = Recognizer.from_checkpoint(path)
    assert loaded.head == "attention" and not loaded.fixed_width and loaded.codec.to_dict() == rec.codec.to_dict()
    narrow = make_strips(5, seed=6, split="test", source="bundled", min_len=1, placement="random").images
    wide = make_strips(3, seed=7, split="test", source="bundled", min_len=1, width=210, placement="random").images
    for batch in (narrow, [narrow[0], wide[0]]):
        assert loaded.predict(batch) == rec.predict(batch)
        x = rec.preprocess(batch)
        assert torch.allclose(loaded.logits(x), rec.logits(x), atol=1e-4)

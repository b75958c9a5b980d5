"""Slot heads for the flat systems: SlotDecoder (the default), SlotPoolHead, FlatHead (the published
weights' head), and the multilabel prior init."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from conftest import compose_train, overfit_one_batch

from seqrec.data.strips import make_strips
from seqrec.models import FlatHead, SeqRecNet, SlotDecoder, SlotPoolHead, SmallCNN
from seqrec.systems import MultiHeadSystem, MultiLabelSystem

SMALL = {  # small sizes of each slot head, for speed
    SlotDecoder: {"d_model": 32, "nhead": 4, "num_layers": 1, "dim_feedforward": 64},
    SlotPoolHead: {"hidden": 32},
    FlatHead: {"hidden": 32},
}


def tiny_net(head=SlotDecoder, **kwargs) -> SeqRecNet:
    return SeqRecNet(SmallCNN(channels=(8, 16, 32, 32), dropout=0.0), partial(head, **{**SMALL[head], **kwargs}))


@pytest.mark.parametrize("head", [SlotDecoder, SlotPoolHead, FlatHead])
def test_slot_heads_give_a_flat_heads_output(head):
    net = tiny_net(head, positions=4).eval()
    assert net.fixed_width and net.positions == 4
    assert net(torch.rand(3, 1, 28, 140)).shape == (3, 44)
    assert net(torch.rand(1, 1, 28, 140)).shape == (1, 44)


@pytest.mark.parametrize("head", [SlotDecoder, SlotPoolHead])
def test_slot_heads_are_batch_independent(head):
    net = tiny_net(head).eval()
    x = torch.rand(4, 1, 28, 140)
    with torch.no_grad():
        assert torch.allclose(net(x)[1:2], net(x[1:2]), atol=1e-5)


def test_slot_decoder_rejects_no_positions():
    with pytest.raises(ValueError, match="positions must be >= 1, got 0"):
        tiny_net(positions=0)


def test_new_trainings_use_the_slot_decoder_and_the_published_recipes_flat_head(tmp_path):
    for model in ("multihead", "multilabel"):
        assert compose_train([f"model={model}"], tmp_path).model.net.head._target_ == "seqrec.models.SlotDecoder"
        for stage in ("pretrained", "paper_finetune"):
            head = compose_train([f"experiment={stage}_{model}"], tmp_path).model.net.head
            assert head._target_ == "seqrec.models.FlatHead" and head.hidden == 256
            assert set(head) == {"_target_", "_partial_", "positions", "num_classes", "hidden"}


@pytest.mark.parametrize("head", [SlotDecoder, SlotPoolHead, FlatHead])
def test_multilabel_starts_at_the_class_prior(head):
    torch.manual_seed(0)
    system = MultiLabelSystem(tiny_net(head), max_len=5)
    bias = [m for m in system.net.modules() if isinstance(m, torch.nn.Linear)][-1].bias
    assert torch.allclose(bias, torch.full_like(bias, -math.log(10)))
    other = MultiHeadSystem(tiny_net(head), max_len=5)  # softmax heads keep torch's init
    assert not torch.allclose([m for m in other.net.modules() if isinstance(m, torch.nn.Linear)][-1].bias, bias)


def test_loaded_multilabel_keeps_its_trained_bias():
    from seqrec.checkpoint import load_system
    from seqrec.spec import pretrained_path

    system = load_system(pretrained_path("multilabel"))
    bias = [m for m in system.net.modules() if isinstance(m, torch.nn.Linear)][-1].bias
    assert not torch.allclose(bias, torch.full_like(bias, -math.log(10)))


@pytest.mark.parametrize("head", [SlotDecoder, SlotPoolHead])
def test_slot_head_multihead_overfits_one_batch(head):
    torch.manual_seed(0)
    system = MultiHeadSystem(tiny_net(head, dropout=0.0), max_len=5, label_smoothing=0.0)
    first, last, texts, labels = overfit_one_batch(system, steps=150)
    assert last < 0.05 * first
    assert texts == labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from seqrec.train import train

    out = tmp_path_factory.mktemp("slots")
    small = [f"+model.net.head.{k}={v}" for k, v in SMALL[SlotDecoder].items()]
    overrides = ["model=multilabel", *small, "data.batches_per_epoch=2", "data.n_val=32", "data.n_test=32"]
    train(compose_train([*overrides, "~callbacks.progress_bar"], out))
    return out / "checkpoints" / "last.ckpt"


def test_slot_decoder_checkpoint_loads_predicts_and_exports(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    from seqrec.export import export
    from seqrec.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(trained, optimize=False)
    assert rec.head == "multilabel" and rec.fixed_width
    strips = make_strips(5, seed=6, split="test", source="bundled", min_len=1, placement="random").images
    loaded = Recognizer.from_checkpoint(export(rec, tmp_path / "slot.onnx", check=True))
    assert loaded.predict(strips) == rec.predict(strips)
    x = rec.preprocess(strips)
    assert torch.allclose(loaded.logits(x), rec.logits(x), atol=1e-4)

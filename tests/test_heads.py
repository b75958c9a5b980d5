"""Slot heads for the flat systems: SlotPoolHead (attention pooling) and the multilabel prior init."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from conftest import compose_train, overfit_one_batch

from seqrec.data.strips import make_strips
from seqrec.models import FlatHead, SeqRecNet, SlotPoolHead, SmallCNN
from seqrec.systems import MultiHeadSystem, MultiLabelSystem

SLOT_HEAD = ["model.net.head._target_=seqrec.models.SlotPoolHead", "model.net.head.hidden=32"]


def tiny_net(head=SlotPoolHead, **kwargs) -> SeqRecNet:
    return SeqRecNet(SmallCNN(channels=(8, 16, 32, 32), dropout=0.0), partial(head, **kwargs))


def test_slot_pool_head_gives_a_flat_heads_output():
    net = tiny_net(positions=5, hidden=16).eval()
    assert net.fixed_width and net.positions == 5
    out = net(torch.rand(3, 1, 28, 140))
    assert out.shape == (3, 55)
    one = net(torch.rand(1, 1, 28, 140))
    assert one.shape == (1, 55)


def test_slot_pool_head_is_batch_independent():
    net = tiny_net(hidden=16).eval()
    x = torch.rand(4, 1, 28, 140)
    with torch.no_grad():
        assert torch.allclose(net(x)[1:2], net(x[1:2]), atol=1e-5)


@pytest.mark.parametrize("head", [SlotPoolHead, FlatHead])
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


def test_slot_pool_multihead_overfits_one_batch():
    torch.manual_seed(0)
    system = MultiHeadSystem(tiny_net(hidden=32, dropout=0.0), max_len=5, label_smoothing=0.0)
    first, last, texts, labels = overfit_one_batch(system, steps=150)
    assert last < 0.05 * first
    assert texts == labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from seqrec.train import train

    out = tmp_path_factory.mktemp("slotpool")
    overrides = ["model=multilabel", *SLOT_HEAD, "data.batches_per_epoch=2", "data.n_val=32", "data.n_test=32"]
    train(compose_train([*overrides, "~callbacks.progress_bar"], out))
    return out / "checkpoints" / "last.ckpt"


def test_slot_pool_checkpoint_loads_predicts_and_exports(trained, tmp_path):
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

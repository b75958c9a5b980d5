"""Backbone pretraining as a digit classifier: settings, determinism, cache, train(cfg) wiring."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from seqrec import pretrain
from seqrec.data.sources import load_digits
from seqrec.models.backbones import SmallCNN
from seqrec.models.digits import DigitClassifier
from seqrec.pretrain import PretrainSettings, pretrain_backbone, pretrained_backbone_state
from seqrec.train import train

CONFIG = {"_target_": "seqrec.models.SmallCNN", "channels": [8, 16, 16, 16]}


def small_backbone() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(channels=(8, 16, 16, 16))


@pytest.fixture(scope="module")
def pool():
    return load_digits("bundled", "train")


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_pretraining_is_deterministic_and_learns_digits(pool):
    settings = PretrainSettings(steps=80, batch_size=64)
    first, second = small_backbone(), small_backbone()
    state = pretrain_backbone(first, pool, settings, seed=3)
    assert same_state(state, pretrain_backbone(second, pool, settings, seed=3))
    assert not same_state(state, pretrain_backbone(small_backbone(), pool, settings, seed=4))
    # A linear read-out on the pretrained features beats one on random features by far.
    test = load_digits("bundled", "test")
    x = torch.from_numpy(test.images).float().div(255).unsqueeze(1)

    def probe(backbone) -> float:
        with torch.no_grad():
            feats = backbone((x - 0.5) / 0.5).mean(dim=(2, 3))
        y = torch.as_tensor(test.labels)
        fc = torch.nn.Linear(feats.shape[1], 10)
        opt = torch.optim.Adam(fc.parameters(), lr=0.05)
        for _ in range(200):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(fc(feats), y).backward()
            opt.step()
        return float((fc(feats).argmax(1) == y).float().mean())

    assert probe(first.eval()) > probe(small_backbone().eval()) + 0.1


def test_cache_is_reused_and_a_damaged_entry_is_recomputed(pool, tmp_path, monkeypatch):
    settings = PretrainSettings(steps=5, batch_size=16)
    state = pretrained_backbone_state(small_backbone(), CONFIG, pool, settings, 0, tmp_path)
    [cached] = list(tmp_path.glob("backbone-*.pt"))
    monkeypatch.setattr(pretrain, "pretrain_backbone", lambda *a, **k: pytest.fail("must come from the cache"))
    again = small_backbone()
    assert same_state(state, pretrained_backbone_state(again, CONFIG, pool, settings, 0, tmp_path))
    assert same_state(state, again.state_dict())  # loaded into the module, not only returned
    monkeypatch.undo()
    cached.write_bytes(b"not a checkpoint")
    fresh = pretrained_backbone_state(small_backbone(), CONFIG, pool, settings, 0, tmp_path)
    assert same_state(state, fresh) and cached.read_bytes() != b"not a checkpoint"
    other = pretrained_backbone_state(small_backbone(), CONFIG, pool, settings, 1, tmp_path)  # another seed
    assert len(list(tmp_path.glob("backbone-*.pt"))) == 2 and not same_state(state, other)
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith((".pt", ".lock"))]  # no temporaries left


def test_processes_that_share_a_cache_entry_pretrain_it_once(pool, tmp_path, monkeypatch):
    # torchrun and SLURM start every rank at once; without the lock each one pretrained.
    settings, calls, real = PretrainSettings(steps=5, batch_size=16), [], pretrain.pretrain_backbone

    def slow_pretrain(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)  # long enough that every other caller arrives while this one trains
        return real(*args, **kwargs)

    monkeypatch.setattr(pretrain, "pretrain_backbone", slow_pretrain)
    backbones = [small_backbone() for _ in range(3)]
    with ThreadPoolExecutor(3) as pool_of_ranks:
        states = list(
            pool_of_ranks.map(lambda b: pretrained_backbone_state(b, CONFIG, pool, settings, 0, tmp_path), backbones)
        )
    assert len(calls) == 1
    assert all(same_state(states[0], s) and same_state(states[0], b.state_dict()) for s, b in zip(states, backbones))


def test_cache_key_follows_the_digits_the_settings_and_the_config(pool):
    s = PretrainSettings(steps=5)
    key = pretrain.cache_key(CONFIG, pool, s, 0)
    assert key == pretrain.cache_key(dict(CONFIG), pool, s, 0)
    subset = type(pool)(pool.images[:100], pool.labels[:100], pool.ids[:100], pool.source, pool.split)
    assert len({key, pretrain.cache_key(CONFIG, subset, s, 0), pretrain.cache_key(CONFIG, pool, PretrainSettings(6), 0),
                pretrain.cache_key({**CONFIG, "depth": 2}, pool, s, 0)}) == 4  # fmt: skip
    # Weights made by GPU kernels get their own entry; CPU keys are what they were before devices.
    assert pretrain.cache_key(CONFIG, pool, s, 0, "cpu") == key != pretrain.cache_key(CONFIG, pool, s, 0, "cuda:1")
    assert pretrain.cache_key(CONFIG, pool, s, 0, "cuda:0") == pretrain.cache_key(CONFIG, pool, s, 0, "cuda:1")


@pytest.mark.parametrize(
    "trainer, env, gpus, device",
    [
        ({"accelerator": "cpu"}, {}, 1, "cpu"),
        ({"accelerator": "gpu"}, {}, 0, "cpu"),  # no GPU here: Lightning says so when it starts
        ({"accelerator": "gpu"}, {}, 1, "cuda:0"),
        ({"accelerator": "auto"}, {}, 1, "cuda:0"),
        ({"accelerator": "gpu", "strategy": "ddp"}, {"LOCAL_RANK": "1"}, 2, "cuda:1"),  # torchrun's second process
        ({"accelerator": "gpu", "strategy": "ddp"}, {"SLURM_LOCALID": "3"}, 4, "cuda:3"),
        ({"accelerator": "gpu", "devices": [2, 3]}, {}, 4, "cuda:2"),  # the GPUs the trainer was given
        ({"accelerator": "gpu", "devices": [2, 3]}, {"LOCAL_RANK": "1"}, 4, "cuda:3"),
        ({"accelerator": "gpu", "devices": "1,3"}, {"LOCAL_RANK": "1"}, 4, "cuda:3"),
        ({"accelerator": "gpu", "devices": 2}, {"LOCAL_RANK": "1"}, 2, "cuda:1"),  # a count, not ids
        ({"accelerator": "gpu", "strategy": "ddp_fork"}, {}, 2, "cpu"),  # CUDA must stay untouched before a fork
        ({"accelerator": "gpu", "strategy": "ddp_notebook"}, {}, 2, "cpu"),
    ],
)
def test_pretraining_runs_on_the_trainers_gpu(trainer, env, gpus, device, monkeypatch):
    from seqrec.train import pretrain_device

    for name in ("LOCAL_RANK", "SLURM_LOCALID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert pretrain_device(trainer) == device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_pretraining_on_a_gpu_leaves_the_backbone_and_its_state_on_the_cpu(pool):
    backbone = small_backbone()
    state = pretrain_backbone(backbone, pool, PretrainSettings(steps=5, batch_size=16), seed=0, device="cuda")
    assert {t.device.type for t in state.values()} == {"cpu"}
    assert {p.device.type for p in backbone.parameters()} == {"cpu"}


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(steps=0), r"backbone_pretrain.steps must be a positive integer, got 0"),
        (dict(batch_size=2.5), r"backbone_pretrain.batch_size must be a positive integer, got 2.5"),
        (dict(lr=0), r"backbone_pretrain.lr must be in \(0, 1\], got 0"),
        (dict(digit_augment=5), r"backbone_pretrain.digit_augment must be in \[0, 3\], got 5"),
        (dict(stpes=5), r"unknown backbone_pretrain keys \['stpes'\]; allowed: steps, batch_size, lr, digit_augment"),
    ],
)
def test_bad_settings_fail_before_any_data_or_model(settings, message, make_cfg, monkeypatch):
    import seqrec.train as train_module

    monkeypatch.setattr(train_module, "build", lambda *a, **k: pytest.fail("must fail before building anything"))
    items = ",".join(f"{k}:{v}" for k, v in settings.items())
    with pytest.raises(ValueError, match=message):
        train(make_cfg(f"backbone_pretrain={{{items}}}"))


def test_backbone_pretrain_and_init_from_conflict(make_cfg):
    with pytest.raises(ValueError, match=r"backbone_pretrain and init_from='ctc' both set the starting weights"):
        train(make_cfg("backbone_pretrain={steps:5}", "init_from=ctc"))


def test_train_starts_from_the_pretrained_backbone_and_the_checkpoint_loads(make_cfg, tmp_path, monkeypatch):
    from seqrec.recognizer import Recognizer

    seen = {}
    real = pretrain.pretrain_backbone

    def spy(backbone, pool, settings, seed, device):
        seen.update(pool=pool, settings=settings, seed=seed, device=device)
        return real(backbone, pool, settings, seed, device)

    monkeypatch.setattr(pretrain, "pretrain_backbone", spy)
    cfg = make_cfg("model=multihead", "backbone_pretrain={steps:4,batch_size:8}", "data.train_digits=200", "seed=5")
    train(cfg)
    assert seen["seed"] == 5 and seen["settings"] == PretrainSettings(steps=4, batch_size=8)
    assert seen["device"] == "cpu"  # the CPU trainer's
    assert len(seen["pool"]) == 200 and seen["pool"].split == "train"  # the run's own train digits only
    assert list((tmp_path / "logs" / ".cache" / "backbones").glob("backbone-*.pt"))
    [ckpt] = list((tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    assert Recognizer.from_checkpoint(ckpt).predict(np.zeros((28, 140), np.uint8)) is not None


def test_classifier_reads_any_backbone_width():
    model = DigitClassifier(small_backbone(), num_classes=10, pool=True)  # as pretraining builds it
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_a_model_without_a_cnn_backbone_is_refused(make_cfg):
    with pytest.raises(ValueError, match=r"backbone_pretrain needs a net with a CNN backbone; SegmentSystem has none"):
        train(make_cfg("model=segment", "backbone_pretrain={steps:2}"))


def test_digit_classifier_is_the_pretraining_and_reads_digits(pool):
    settings = PretrainSettings(steps=80, batch_size=64)
    backbone, twin = small_backbone(), small_backbone()
    model = pretrain.train_digit_classifier(backbone, pool, settings, seed=3)
    assert model.backbone is backbone and same_state(backbone.state_dict(), pretrain_backbone(twin, pool, settings, 3))
    test = load_digits("bundled", "test")
    with torch.inference_mode():
        preds = model.eval()(torch.from_numpy(test.images).float().div(255).unsqueeze(1)).argmax(1).numpy()
    assert (preds == test.labels).mean() > 0.3  # 80 steps of a tiny net: far above chance (0.1)

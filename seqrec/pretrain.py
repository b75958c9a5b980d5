"""Pretrain a strip net's CNN backbone as a single-digit classifier on the run's own train digits.

Features for digit shapes are what every head needs first; the flat heads learn them slowly
through their position slots (thousands of steps before they start to read). A few hundred
steps on single 28x28 digits, ~5x cheaper per image than a strip, give every head the same
start, so a short comparison measures the heads rather than how fast each finds digit features.
Only the train pool is used (the same digits the strips use), so val and test stay unseen.

Results are cached by everything that determines them (backbone config, digit ids, settings,
seed), so the heads of one seed in a sweep share one pretraining.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from torch import nn
from tqdm import tqdm

from .data.atomic import replace_file
from .data.augment import DigitWarp
from .data.sources import DigitPool
from .models.digits import DigitClassifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainSettings:
    steps: int = 600
    batch_size: int = 128
    lr: float = 3e-3
    digit_augment: float = 1.0  # DigitWarp strength; 0 disables

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"backbone_pretrain.{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr <= 1):
            raise ValueError(f"backbone_pretrain.lr must be in (0, 1], got {self.lr!r}")
        if not 0 <= self.digit_augment <= 3:
            raise ValueError(f"backbone_pretrain.digit_augment must be in [0, 3], got {self.digit_augment!r}")

    @classmethod
    def from_config(cls, config) -> PretrainSettings:
        items = dict(config)
        unknown = sorted(set(items) - set(cls.__dataclass_fields__))
        if unknown:
            allowed = ", ".join(cls.__dataclass_fields__)
            raise ValueError(f"unknown backbone_pretrain keys {unknown}; allowed: {allowed}")
        return cls(**items)


def pretrain_backbone(
    backbone: nn.Module, pool: DigitPool, settings: PretrainSettings, seed: int, device: str = "cpu"
) -> dict:
    """Train ``backbone`` in place as a digit classifier on ``device``; returns its state dict (on
    the CPU, where ``backbone`` is left). Depends on ``seed`` and the device type only."""
    train_digit_classifier(backbone, pool, settings, seed, device)
    return backbone.state_dict()


def train_digit_classifier(
    backbone: nn.Module,
    pool: DigitPool,
    settings: PretrainSettings,
    seed: int,
    device: str = "cpu",
    pooled_head: bool = True,
) -> DigitClassifier:
    """``backbone`` (trained in place) under a 10-way head: pooled and linear, as the pretraining
    trains it, or (``pooled_head=False``) flattened with a hidden layer, a classic digit CNN.
    Returned on the CPU, still in train mode. Initialisation and dropout draw from a forked,
    seeded torch RNG (the caller's streams are untouched)."""
    device = torch.device(device)
    forked = list(range(torch.cuda.device_count())) if device.type == "cuda" else []  # manual_seed seeds them all
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        model = DigitClassifier(backbone, num_classes=10, pool=pooled_head)
        try:
            _train(model, pool, settings, seed, device)
        finally:
            model.to("cpu")
    return model


def _train(model: DigitClassifier, pool: DigitPool, settings: PretrainSettings, seed: int, device) -> None:
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng([seed, 0xB0B])
    if model.pool:  # a seeded small head, as pretrained backbones (and their cache) have always had
        with torch.no_grad():
            model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=gen) * 0.01)
            model.fc.bias.zero_()
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=settings.steps, pct_start=0.1)
    warp = DigitWarp(settings.digit_augment) if settings.digit_augment > 0 else None
    labels = torch.as_tensor(pool.labels).to(device)
    model.train()
    # minutes of work before the first epoch's bar; disable=None: shown on a terminal only, not in logs
    bar = tqdm(range(settings.steps), desc="backbone pretraining", unit="step", file=sys.stderr, disable=None)
    for _ in bar:
        idx = rng.integers(0, len(pool), settings.batch_size)
        images = pool.images[idx]
        if warp is not None:
            images = warp(images, rng)
        x = torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255).unsqueeze(1)
        loss = nn.functional.cross_entropy(model(x), labels[torch.from_numpy(idx).to(device)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    log.info("seqrec: backbone pretrained on %d digits, %d steps, final loss %.3f", len(pool), settings.steps, loss)


def cache_key(
    backbone_config: dict, pool: DigitPool, settings: PretrainSettings, seed: int, device: str = "cpu"
) -> str:
    ids = hashlib.sha256(np.ascontiguousarray(pool.ids, np.int64).tobytes()).hexdigest()
    what = {"backbone": backbone_config, "ids": ids, "source": pool.source, "seed": seed, **asdict(settings)}
    kind = torch.device(device).type
    if kind != "cpu":  # other kernels, other weights; CPU keys stay as they were before devices
        what["device"] = kind
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:20]


def pretrained_backbone_state(
    backbone: nn.Module,
    backbone_config: dict,
    pool: DigitPool,
    settings: PretrainSettings,
    seed: int,
    cache_dir: str | os.PathLike | None,
    device: str = "cpu",
) -> dict:
    """The pretrained backbone weights, from ``cache_dir`` when an identical pretraining ran
    before, else trained now on ``device`` and cached (written atomically; read back as tensors only).
    Processes that need the same entry at once (torchrun or SLURM ranks, parallel sweep jobs) take
    turns on a lock file beside it: the first trains, the others wait and read its file."""
    if not cache_dir:
        return pretrain_backbone(backbone, pool, settings, seed, device)
    key = cache_key(backbone_config, pool, settings, seed, device)
    path = Path(cache_dir) / f"backbone-{key}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_suffix(".lock")):
        state = _cached_state(backbone, path)
        if state is None:
            state = pretrain_backbone(backbone, pool, settings, seed, device)
            replace_file(path, lambda f: torch.save(state, f))
    return state


def _cached_state(backbone: nn.Module, path: Path) -> dict | None:
    """The cached weights loaded into ``backbone``, or None when there are none or they are damaged."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        backbone.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - a damaged cache entry is recomputed
        log.warning("seqrec: ignoring unreadable cached backbone %s (%s)", path, err)
        return None
    log.info("seqrec: pretrained backbone from cache %s", path)
    return state

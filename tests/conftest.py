"""Shared fixtures: the real configs/train.yaml, composed with Hydra and shrunk to seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = str(ROOT / "configs")

os.environ.setdefault("SEQREC_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


def run_script(name: str, args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python scripts/NAME.py ARGS` as a user runs it, W&B offline without credentials."""
    env = dict(os.environ, WANDB_MODE="offline", SEQREC_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("WANDB_API_KEY", None)
    cmd = [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def compose_train(overrides: list[str] | None = None, tmp_path: Path | None = None) -> DictConfig:
    """configs/train.yaml with overrides, on bundled digits, tiny, CPU, output under tmp_path."""
    GlobalHydra.instance().clear()
    tiny = [
        "logger=none",
        "data.source=bundled",
        "data.num_workers=0",
        "data.batch_size=16",
        "data.batches_per_epoch=3",
        "data.n_val=64",
        "data.n_test=64",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "+trainer.enable_model_summary=false",
    ]
    if "data=samples" in (overrides or []):  # a folder of strips: no generator settings to shrink
        tiny = [t for t in tiny if not t.startswith("data.") or t.startswith(("data.num_workers", "data.batch_size"))]
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        # The caller's overrides come last, so they win over the shrinking ones.
        cfg = compose(config_name="train.yaml", return_hydra_config=True, overrides=[*tiny, *(overrides or [])])
    with open_dict(cfg):
        cfg.paths.root_dir = str(tmp_path or ROOT)
        cfg.paths.output_dir = str(tmp_path) if tmp_path else cfg.paths.output_dir
        cfg.hydra.runtime.output_dir = cfg.paths.output_dir
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg


@pytest.fixture
def make_cfg(tmp_path):
    """Factory: make_cfg("model=ctc", ...) -> a tiny composed train config writing into tmp_path."""

    def _make(*overrides: str) -> DictConfig:
        return compose_train(list(overrides), tmp_path)

    return _make


def overfit_one_batch(system, max_len: int = 5, steps: int = 100, lr: float = 3e-3):
    """Train ``system`` on 16 fixed strips; returns (first loss, last loss, decoded texts, labels)."""
    import torch

    from seqrec.data.datamodule import strips_to_batch
    from seqrec.data.strips import make_strips

    torch.manual_seed(0)
    strips = make_strips(16, seed=2, split="train", source="bundled", min_len=1, max_len=max_len, placement="random")
    batch = strips_to_batch(strips)
    images = batch.pop("image").float().div(255)
    opt = torch.optim.Adam(system.parameters(), lr=lr)
    first, threads = None, torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small only loses time to a second thread
    try:
        for _ in range(steps):
            loss = system.loss(system(images), batch)
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    system.eval()
    with torch.no_grad():
        texts = system.codec.decode(system(images)).texts
    return first, loss.item(), texts, strips.labels

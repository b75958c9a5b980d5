"""last.ckpt follows every epoch (not the metric), a killed run resumes from it, and a bad
ckpt_path / init_from fails before the run folder exists."""

import pytest
import pytorch_lightning as pl
import torch
from conftest import ROOT, compose_train
from omegaconf import open_dict

from seqrec.checkpoint import CheckpointError
from seqrec.train import LatestCheckpoint, train

STEPS = 2  # batches per epoch in these runs
# lr=0: val/exact_match never improves after epoch 0, so the monitored callback saves only epoch 0.
# A narrow net and no augmentation keep an epoch to about a second.
FROZEN = [
    "model=multihead",
    "scheduler=none",
    "model.optimizer.lr=0.0",
    f"data.batches_per_epoch={STEPS}",
    "data.batch_size=8",
    "data.n_val=16",
    "data.augment=0",
    "data.digit_augment=0",
    "test=false",
    "model.net.backbone.channels=[8,8,8,8]",
    "model.net.sequence.hidden_size=8",
    "+model.net.head.d_model=16",
    "+model.net.head.dim_feedforward=16",
    "~callbacks.progress_bar",
    "+trainer.enable_progress_bar=false",
]


class Crash(pl.Callback):
    """Stands in for a kill: fails when ``global_step`` reaches ``at_step``."""

    def __init__(self, at_step: int):
        self.at_step = at_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.at_step:
            raise RuntimeError(f"killed at step {self.at_step}")


class StartStep(pl.Callback):
    started_at: list[int] = []

    def on_train_start(self, trainer, pl_module):
        StartStep.started_at.append(trainer.global_step)


def _cfg(out, *overrides, callbacks: dict | None = None):
    cfg = compose_train([*FROZEN, *overrides], out)
    with open_dict(cfg):
        for name, target in (callbacks or {}).items():
            cfg.callbacks[name] = target
    return cfg


def test_killed_run_resumes_from_its_last_finished_epoch(tmp_path):
    run = tmp_path / "run"
    crash = {"crash": {"_target_": "test_resume.Crash", "at_step": 2 * STEPS + 1}}  # inside epoch 2
    with pytest.raises(RuntimeError, match="killed at step"):
        train(_cfg(run, "trainer.max_epochs=3", callbacks=crash))
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2 * STEPS  # epochs 0 and 1 finished, although the metric stopped improving
    assert sorted(p.name for p in (run / "checkpoints").glob("epoch_*.ckpt")) == ["epoch_000.ckpt"]
    assert not list((run / "checkpoints").glob(".*.tmp"))

    StartStep.started_at = []
    resumed = {"start": {"_target_": "test_resume.StartStep"}}
    train(_cfg(run, "trainer.max_epochs=3", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", callbacks=resumed))
    assert StartStep.started_at == [2 * STEPS]  # no finished epoch is repeated
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3 * STEPS


def test_every_n_train_steps_saves_within_epochs(tmp_path):
    run = tmp_path / "run"
    # 3 steps an epoch, a save every 2: epoch 0 ends at step 3, the step save at 4 is inside epoch 1.
    crash = {"crash": {"_target_": "test_resume.Crash", "at_step": 5}}
    with pytest.raises(RuntimeError):
        train(
            _cfg(
                run,
                "data.batches_per_epoch=3",
                "trainer.max_epochs=2",
                "callbacks.latest_checkpoint.every_n_train_steps=2",
                callbacks=crash,
            )
        )
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4


@pytest.mark.parametrize("steps", [0, -3, True, "x"])
def test_every_n_train_steps_must_be_positive(tmp_path, steps):
    with pytest.raises(ValueError):
        LatestCheckpoint(tmp_path, every_n_train_steps=steps)


# ------------------------------------------------------------------ ckpt_path / init_from checks
def _write_pretrained_copy(path, mutate=None):
    ckpt = torch.load(ROOT / "seqrec" / "pretrained" / "ctc.ckpt", weights_only=True)
    if mutate:
        mutate(ckpt)
    torch.save(ckpt, path)
    return path


def _crafted(ckpt, pwn):
    ckpt["seqrec"]["config"]["model"]["net"] = {"_target_": "pathlib.Path.write_text", "self": str(pwn), "data": "x"}


@pytest.mark.parametrize("key", ["ckpt_path", "init_from"])
@pytest.mark.parametrize(
    "kind, error, match",
    [
        ("corrupt", CheckpointError, "is not a readable PyTorch checkpoint"),
        ("foreign", CheckpointError, "is not a seqrec checkpoint"),
        ("crafted", CheckpointError, "names 'pathlib.Path.write_text', which a checkpoint may not build"),
        ("other_head", ValueError, "is a ctc model, but model=multihead"),
    ],
)
def test_bad_start_checkpoint_fails_before_the_run_folder(tmp_path, key, kind, error, match):
    bad = tmp_path / f"{kind}.ckpt"
    pwn = tmp_path / "pwn.txt"
    if kind == "corrupt":
        bad.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    elif kind == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 1}, bad)
    elif kind == "crafted":
        _write_pretrained_copy(bad, lambda c: _crafted(c, pwn))
    else:
        _write_pretrained_copy(bad)
    run = tmp_path / "run"
    model = "model=multihead" if kind == "other_head" else "model=ctc"
    with pytest.raises(error, match=match) as err:
        train(compose_train([model, f"{key}={bad}"], run))
    assert f"{key}=" in str(err.value)
    assert not run.exists() and not pwn.exists()


def test_weights_only_ckpt_path_cannot_resume(tmp_path):
    run = tmp_path / "run"
    slim = _write_pretrained_copy(tmp_path / "slim.ckpt")
    with pytest.raises(CheckpointError, match=r"holds weights only .*init_from="):
        train(compose_train(["model=ctc", f"ckpt_path={slim}"], run))
    assert not run.exists()


def test_unknown_init_from_names_the_pretrained_models(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match=r"init_from='ctcx' is neither a pretrained name \(ctc, multihead"):
        train(compose_train(["model=ctc", "init_from=ctcx"], run))
    assert not run.exists()


def test_init_from_with_other_shapes_is_a_clear_error(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(CheckpointError, match=r"init_from='ctc': its weights do not fit"):
        train(compose_train(["model=ctc", "init_from=ctc", "model.net.sequence.hidden_size=32"], run))
    assert not run.exists()

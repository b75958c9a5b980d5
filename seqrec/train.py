"""train(cfg): the whole training job, built from ``_target_`` configs. scripts/train.py and
the tests both call it."""

from __future__ import annotations

import logging
import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.callbacks import Checkpoint, ModelCheckpoint

from .checkpoint import CHECKPOINT_KEY, CheckpointError, best_checkpoint, load_weights, read_checkpoint
from .wandb_utils import has_wandb_credentials

log = logging.getLogger(__name__)
# What a full training checkpoint has beyond the weights; ckpt_path resumes from these.
RESUME_KEYS = ("epoch", "global_step", "loops", "optimizer_states")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then test the best checkpoint. Returns the logged metrics as floats."""
    check_config(cfg)
    pretrain = backbone_pretrain_settings(cfg)
    init = check_start_checkpoints(cfg)  # before the run folder, loggers or trainer exist
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    datamodule = build(cfg.data)
    model = build(cfg.model)
    check_compatible(datamodule, model)
    if init is not None:
        load_weights(model, init["state_dict"], f"init_from={cfg.init_from!r}")
        log.info("seqrec: initialised %s from %s", type(model).head_name, cfg.init_from)
    if pretrain is not None and cfg.get("train", True) and not cfg.get("ckpt_path"):  # resuming restores weights
        start_from_pretrained_backbone(cfg, model, datamodule, pretrain)
    model.seqrec_config = OmegaConf.to_container(cfg, resolve=True)
    model_name = type(model).head_name
    loggers = instantiate_loggers(cfg.get("logger"), model_name)
    callbacks = instantiate_callbacks(cfg)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    metrics: dict[str, Any] = {}
    try:
        for logger in loggers:
            logger.log_hyperparams({"model_name": model_name, **model.seqrec_config})
        if cfg.get("train", True):
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            metrics.update(trainer.callback_metrics)
        if cfg.get("test", True):
            # After fitting: the best checkpoint; test-only runs: the given checkpoint.
            best = tested_checkpoint(trainer) if cfg.get("train", True) else cfg.get("ckpt_path")
            trainer.test(model=model, datamodule=datamodule, ckpt_path=best, weights_only=True)
            metrics.update(trainer.callback_metrics)
            if best:
                log.info("seqrec: tested best checkpoint %s", best)
    finally:
        finish_wandb(loggers)
    return {k: float(v) for k, v in metrics.items()}


def instantiate_callbacks(cfg: DictConfig) -> list:
    """The configured callbacks. A final fit on train + val digits (``data.train_on_val``) keeps its
    last epoch: choosing an epoch by val digits it trained on would select on training data."""
    final_fit = bool(cfg.data.get("train_on_val"))
    callbacks = []
    for conf in (cfg.get("callbacks") or {}).values():
        if not conf or "_target_" not in conf:
            continue
        if final_fit and conf.get("monitor") and conf["_target_"].endswith(".ModelCheckpoint"):
            log.info("seqrec: data.train_on_val: keeping the last epoch, not the best %s", conf["monitor"])
            conf = OmegaConf.merge(conf, {"monitor": None})
        callbacks.append(instantiate(conf))
    return callbacks


def build(conf: DictConfig):
    """instantiate(), but a bad value surfaces as its own clear error, not wrapped by Hydra."""
    from hydra.errors import InstantiationException

    try:
        return instantiate(conf, _convert_="all")  # plain containers keep checkpoints weights-only loadable
    except InstantiationException as err:
        if isinstance(err.__cause__, (ValueError, FileNotFoundError)):
            raise err.__cause__ from None
        raise


def check_config(cfg: DictConfig) -> None:
    """Cheap checks that must fail before any data is read or model built."""
    missing = sorted(k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra."))
    if missing:  # a ??? the chosen configs leave to the command line (cfg.get would read it as None)
        raise ValueError(f"missing value for {', '.join(missing)}; give it on the command line, e.g. {missing[0]}=...")
    for group in ("data", "model", "trainer"):
        if cfg.get(group) is None or "_target_" not in cfg[group]:
            raise ValueError(
                f"config group {group!r} is missing or has no _target_; pick one, e.g. {group}=... (configs/{group}/)"
            )
    ckpt = cfg.get("ckpt_path")
    if ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt!r} does not exist; give the path of a checkpoint to resume from")


def backbone_pretrain_settings(cfg: DictConfig):
    """``backbone_pretrain`` (null, or steps/batch_size/lr/digit_augment) checked before any work."""
    conf = cfg.get("backbone_pretrain")
    if not conf:
        return None
    from .pretrain import PretrainSettings

    if cfg.get("init_from"):
        raise ValueError(
            f"backbone_pretrain and init_from={cfg.init_from!r} both set the starting weights; choose one "
            "(backbone_pretrain=null to fine-tune)"
        )
    return PretrainSettings.from_config(OmegaConf.to_container(conf, resolve=True))


def start_from_pretrained_backbone(cfg: DictConfig, model, datamodule, settings) -> None:
    """Load the backbone pretrained as a digit classifier on this run's train digits (cached)."""
    from .pretrain import pretrained_backbone_state

    backbone = getattr(getattr(model, "net", None), "backbone", None)
    if backbone is None:
        raise ValueError(f"backbone_pretrain needs a net with a CNN backbone; {type(model).__name__} has none")
    config = OmegaConf.to_container(cfg.model.net.backbone, resolve=True)
    cache = Path(str(cfg.paths.log_dir)) / ".cache" / "backbones" if cfg.get("paths") else None
    seed = int(cfg.get("seed") or 0)
    device = pretrain_device(cfg.get("trainer") or {})
    pretrained_backbone_state(backbone, config, datamodule.pool("train"), settings, seed, cache, device)


def pretrain_device(trainer_cfg) -> str:
    """Where the backbone pretraining runs: the trainer's GPU (this process's, under torchrun or
    SLURM; ``devices=[2, 3]`` names them), else the CPU. Strategies that fork after it
    (ddp_fork, ddp_notebook) need CUDA untouched."""
    import torch

    accelerator, strategy = str(trainer_cfg.get("accelerator", "cpu")), str(trainer_cfg.get("strategy", ""))
    wants_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if not wants_gpu or not torch.cuda.is_available() or "fork" in strategy or "notebook" in strategy:
        return "cpu"
    rank = int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0")))
    devices = trainer_cfg.get("devices")
    if isinstance(devices, str) and "," in devices:  # Lightning's "0,2"
        devices = [int(d) for d in devices.split(",") if d.strip()]
    named = list(devices) if isinstance(devices, Sequence) and not isinstance(devices, str) else None
    return f"cuda:{named[rank % len(named)] if named else rank % torch.cuda.device_count()}"


def check_start_checkpoints(cfg: DictConfig) -> dict | None:
    """Read ckpt_path and init_from up front: a corrupt, foreign, crafted or mismatched file fails
    here with a clear error, before anything is created. Returns init_from's checkpoint."""
    from hydra.utils import get_class

    head = getattr(get_class(cfg.model._target_), "head_name", None)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path:
        ckpt = _read_start_checkpoint(Path(ckpt_path), "ckpt_path", ckpt_path, head)
        missing = [k for k in RESUME_KEYS if k not in ckpt]
        if cfg.get("train", True) and missing:
            raise CheckpointError(
                f"ckpt_path={ckpt_path!r} holds weights only (no {', '.join(missing)}), so there is no training state "
                f"to resume; start from its weights with init_from={ckpt_path} instead"
            )
    source = cfg.get("init_from")
    if not source:
        return None
    from .spec import PRETRAINED, pretrained_path

    path = pretrained_path(source, must_exist=False) if source in PRETRAINED else Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"init_from={source!r} is neither a pretrained name ({', '.join(PRETRAINED)}) nor a checkpoint file"
        )
    return _read_start_checkpoint(path, "init_from", source, head)


def _read_start_checkpoint(path: Path, key: str, value: str, head: str | None) -> dict:
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as err:
        raise CheckpointError(f"{key}={value!r}: {err}") from err
    if head is not None and ckpt[CHECKPOINT_KEY].get("head") != head:
        raise ValueError(f"{key}={value!r} is a {ckpt[CHECKPOINT_KEY].get('head')} model, but model={head}")
    return ckpt


def check_compatible(datamodule, model) -> None:
    net = model.net
    if datamodule.max_len > model.codec.max_len:
        raise ValueError(f"data.max_len={datamodule.max_len} is above the model's max_len={model.codec.max_len}")
    if net.fixed_width and (net.image_height, net.image_width) != datamodule.image_size:
        raise ValueError(
            f"the {type(model).head_name} head takes {net.image_height}x{net.image_width} strips, "
            f"but the data gives {datamodule.image_size[0]}x{datamodule.image_size[1]}"
        )


def tested_checkpoint(trainer: pl.Trainer) -> str | None:
    """After fitting: the best checkpoint (checkpoint.best_checkpoint) in the checkpoints folder."""
    if trainer.fast_dev_run:
        return None
    callbacks = sorted(trainer.checkpoint_callbacks, key=lambda cb: not isinstance(cb, ModelCheckpoint))
    folders = [cb.dirpath for cb in callbacks if getattr(cb, "dirpath", None)]
    best = best_checkpoint(folders[0]) if folders else None
    return str(best) if best else None


class LatestCheckpoint(Checkpoint):
    """``<dirpath>/last.ckpt`` after every training epoch whatever the monitored metric does
    (Lightning's own ``save_last`` follows the metric), and every ``every_n_train_steps`` steps
    if set. Written atomically. Resume a killed run with ``ckpt_path=<dirpath>/last.ckpt``."""

    def __init__(self, dirpath: str | os.PathLike, every_n_train_steps: int | None = None, filename: str = "last.ckpt"):
        if every_n_train_steps is not None and (isinstance(every_n_train_steps, bool) or int(every_n_train_steps) < 1):
            raise ValueError(f"every_n_train_steps must be a positive step count or null, got {every_n_train_steps!r}")
        self.dirpath = Path(dirpath)
        self.path = self.dirpath / filename
        self.every_n_train_steps = None if every_n_train_steps is None else int(every_n_train_steps)
        self._saved_step = -1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = self.every_n_train_steps
        if n and trainer.global_step % n == 0 and trainer.global_step != self._saved_step:
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._save(trainer)

    def _save(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        self._saved_step = trainer.global_step
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)  # every rank takes part; rank 0 writes
        if trainer.is_global_zero:
            tmp.replace(self.path)


# ------------------------------------------------------------------ loggers / W&B
def sweep_group() -> tuple[str | None, str | None]:
    """(group, job suffix) from Hydra: a multirun's jobs share a group named after the sweep."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except Exception:  # not running under Hydra (e.g. called from Python)
        return None, None
    if hc.mode != RunMode.MULTIRUN:
        return None, None
    return f"sweep-{Path(hc.sweep.dir).name}", str(hc.job.num)


def instantiate_loggers(logger_cfg: DictConfig | None, model_name: str) -> list:
    loggers = []
    for conf in (logger_cfg or {}).values():
        if not conf or "_target_" not in conf:
            continue
        if conf._target_.endswith("WandbLogger"):
            conf = prepare_wandb(conf, model_name)
        loggers.append(instantiate(conf))
    return loggers


def prepare_wandb(conf: DictConfig, model_name: str) -> DictConfig:
    """Never prompt or hang: without credentials W&B runs offline."""
    conf = conf.copy()
    group, job = sweep_group()
    with open_dict(conf):
        conf.group = conf.get("group") or group
        conf.name = conf.get("name") or (f"{model_name}-{job}" if job else model_name)
        offline_env = os.environ.get("WANDB_MODE") in ("offline", "dryrun", "disabled")
        if not conf.get("offline") and (offline_env or not has_wandb_credentials()):
            conf.offline = True
            log.warning("seqrec: no W&B credentials found (WANDB_API_KEY or `wandb login`); logging offline")
        if conf.offline:
            conf.log_model = False  # WandbLogger refuses log_model in offline mode
    Path(conf.save_dir).mkdir(parents=True, exist_ok=True)
    return conf


def finish_wandb(loggers: list) -> None:
    """Close the W&B run even on errors, so the next multirun job gets its own run."""
    for logger in loggers:
        if type(logger).__name__ != "WandbLogger":
            continue
        run = getattr(logger, "_experiment", None)
        if run is not None and getattr(run.settings, "mode", None) in ("offline", "dryrun"):
            folder = Path(run.dir).parent
            print(f"seqrec: W&B run saved offline in {folder}\n        upload it with: wandb sync {folder}")
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except ImportError:
        pass


class _CallableModule(types.ModuleType):
    """Importing this module binds it as ``seqrec.train`` on the package, where the train()
    function is expected too (seqrec/__init__.py); so calling the module runs train()."""

    def __call__(self, cfg: DictConfig) -> dict[str, float]:
        return train(cfg)


sys.modules[__name__].__class__ = _CallableModule

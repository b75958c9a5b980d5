"""train(cfg): the whole training job, built from ``_target_`` configs. scripts/train.py and
the tests both call it."""
from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then test the best checkpoint. Returns the logged metrics as floats."""
    check_config(cfg)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    datamodule = build(cfg.data)
    model = build(cfg.model)
    check_compatible(datamodule, model)
    if cfg.get("init_from"):
        init_weights(model, cfg.init_from)
    model.seqrec_config = OmegaConf.to_container(cfg, resolve=True)
    model_name = type(model).head_name
    loggers = instantiate_loggers(cfg.get("logger"), model_name)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
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
            best = best_checkpoint(trainer) if cfg.get("train", True) else cfg.get("ckpt_path")
            trainer.test(model=model, datamodule=datamodule, ckpt_path=best, weights_only=True)
            metrics.update(trainer.callback_metrics)
            if best:
                log.info("seqrec: tested best checkpoint %s", best)
    finally:
        finish_wandb(loggers)
    return {k: float(v) for k, v in metrics.items()}


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
    for group in ("data", "model", "trainer"):
        if cfg.get(group) is None or "_target_" not in cfg[group]:
            raise ValueError(f"config group {group!r} is missing or has no _target_; pick one, e.g. {group}=... (see configs/{group}/)")
    ckpt = cfg.get("ckpt_path")
    if ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt!r} does not exist; give the path of a checkpoint to resume from")


def init_weights(model, source: str) -> None:
    """Start from a pretrained name (ctc, multihead, multilabel) or a checkpoint's net weights (fine-tuning)."""
    from importlib import resources

    from .checkpoint import CHECKPOINT_KEY, read_checkpoint
    from .recognizer import PRETRAINED

    with resources.as_file(resources.files("seqrec").joinpath("pretrained", f"{source}.ckpt")) as bundled:
        path = bundled if source in PRETRAINED else Path(source)
        ckpt = read_checkpoint(path)
    if ckpt[CHECKPOINT_KEY]["head"] != type(model).head_name:
        raise ValueError(f"init_from={source!r} is a {ckpt[CHECKPOINT_KEY]['head']} model, but model={type(model).head_name}")
    model.load_state_dict(ckpt["state_dict"])
    log.info("seqrec: initialised %s from %s", type(model).head_name, path)


def check_compatible(datamodule, model) -> None:
    net = model.net
    if datamodule.max_len > model.codec.max_len:
        raise ValueError(f"data.max_len={datamodule.max_len} is above the model's max_len={model.codec.max_len}")
    if net.fixed_width and (net.image_height, net.image_width) != datamodule.image_size:
        raise ValueError(
            f"the {type(model).head_name} head takes {net.image_height}x{net.image_width} strips, "
            f"but the data gives {datamodule.image_size[0]}x{datamodule.image_size[1]}"
        )


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    cb = trainer.checkpoint_callback
    if cb is None or trainer.fast_dev_run:
        return None
    path = cb.best_model_path or cb.last_model_path
    return path if path and Path(path).exists() else None


# ------------------------------------------------------------------ loggers / W&B
def has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


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
            print(f"seqrec: W&B run saved offline in {Path(run.dir).parent}\n        upload it with: wandb sync {Path(run.dir).parent}")
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except ImportError:
        pass

"""Self-contained checkpoints: the resolved config and codec travel with the weights, so a
checkpoint loads with no configs/ folder and no repeated flags.

A checkpoint is untrusted input: its config names the classes to build, so every ``_target_`` is
checked against the allowlists below before anything is imported or called, and the model is
built here without Hydra (no interpolation or resolver ever runs).

This module imports no Lightning at module level, so inference code can read checkpoints cheaply.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

import torch

from .data.atomic import replace_file
from .spec import METADATA_FORMAT, METADATA_KEY

CHECKPOINT_KEY = METADATA_KEY  # the checkpoint section and the exported models' metadata share one key
CHECKPOINT_FORMAT = METADATA_FORMAT

# What a checkpoint's model config may name, as written by configs/model/*.yaml. Adding a model
# or moving a class means adding its dotted path here (tests/test_checkpoint_security.py checks
# every config's targets against these lists). Names from before a move stay, so older
# checkpoints load: seqrec.system and seqrec.baselines re-export the moved classes.
SYSTEM_TARGETS = frozenset(
    {
        *(f"seqrec.systems.{name}" for name in ("CTCSystem", "MultiHeadSystem", "MultiLabelSystem", "AttentionSystem")),
        *(f"seqrec.systems.{name}" for name in ("SplitSystem", "SegmentSystem")),
        # before seqrec.systems
        *(f"seqrec.system.{name}" for name in ("CTCSystem", "MultiHeadSystem", "MultiLabelSystem", "AttentionSystem")),
        *(f"seqrec.baselines.{name}" for name in ("SplitSystem", "SegmentSystem")),
    }
)
NET_TARGETS = frozenset(
    {  # nets (model.net) and their parts: backbones, sequence models, heads
        *(
            f"seqrec.models.{name}"
            for name in (
                "SeqRecNet",
                "SplitNet",
                "SegmentNet",
                "SmallCNN",
                "ResNetBackbone",
                "BiRNN",
                "FrameHead",
                "FlatHead",
                "SlotPoolHead",
                "AttentionDecoder",
                "SlotDecoder",
            )
        ),
        "seqrec.baselines.SplitNet",  # before seqrec.models.digits
        "seqrec.baselines.SegmentNet",
    }
)
OPTIMIZER_TARGETS = frozenset(
    f"torch.optim.{name}"
    for name in (
        "AdamW",
        "Adam",
        "SGD",
        "RMSprop",
        "Adagrad",
        "Adadelta",
        "Adamax",
        "NAdam",
        "RAdam",
    )
)
SCHEDULER_TARGETS = frozenset(
    f"torch.optim.lr_scheduler.{name}"
    for name in (
        "OneCycleLR",
        "CosineAnnealingLR",
        "CosineAnnealingWarmRestarts",
        "ReduceLROnPlateau",
        "StepLR",
        "MultiStepLR",
        "ExponentialLR",
        "LinearLR",
        "ConstantLR",
        "PolynomialLR",
        "CyclicLR",
    )
)
# Where in model config each kind may appear; factories are built as partials, never called here.
_ROLES = {"net": NET_TARGETS, "optimizer": OPTIMIZER_TARGETS, "scheduler": SCHEDULER_TARGETS}
_FACTORIES = OPTIMIZER_TARGETS | SCHEDULER_TARGETS
_HYDRA_KEYS = ("_target_", "_partial_")  # _args_, _recursive_, _convert_ ... are refused


class CheckpointError(ValueError):
    """A file that is not a readable seqrec checkpoint, or one whose config is not allowed."""


def read_checkpoint(path) -> dict:
    """Load a checkpoint's tensors and metadata (no code runs) and check its config."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"checkpoint {str(path)!r} {what}")
    try:  # weights_only: a checkpoint from elsewhere cannot run code while loading
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and weights-only errors all mean: not ours
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from err
    meta = ckpt.get(CHECKPOINT_KEY) if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or not meta.get("config") or "codec" not in meta or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path} is not a seqrec checkpoint (no '{CHECKPOINT_KEY}' section with the run config); "
            "use a checkpoint written by scripts/train.py"
        )
    check_saved_config(meta["config"], str(path))
    return ckpt


def check_saved_config(config: Any, source: str = "checkpoint") -> None:
    """Refuse a checkpoint config that could do more than build seqrec's own model.

    Saved configs are fully resolved, so any ``${...}`` left in them was put there by hand;
    ``model`` may only name allowlisted classes, each in its place."""
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{source}: its config has no 'model' section; use a checkpoint from scripts/train.py")
    _check_no_interpolation(config, source, "config")
    model = config["model"]
    if model.get("_target_") not in SYSTEM_TARGETS or not isinstance(model.get("net"), dict):
        raise CheckpointError(_not_allowed(source, "model", model.get("_target_"), SYSTEM_TARGETS))
    _check_node(model, source, "model", SYSTEM_TARGETS)


def _check_no_interpolation(node: Any, source: str, where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _check_no_interpolation(key, source, where)
            _check_no_interpolation(value, source, f"{where}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _check_no_interpolation(value, source, f"{where}[{i}]")
    elif isinstance(node, str) and "${" in node:
        raise CheckpointError(f"{source}: {where} = {node!r} is an interpolation; saved configs have none")


def _check_node(node: Any, source: str, where: str, allowed: frozenset[str]) -> None:
    """Every dict with a ``_target_`` names a class in ``allowed`` (by role: see _ROLES)."""
    if isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _check_node(value, source, f"{where}[{i}]", allowed)
        return
    if not isinstance(node, dict):
        if not (node is None or isinstance(node, (str, int, float, bool))):
            raise CheckpointError(f"{source}: {where} is a {type(node).__name__}; a model config holds plain values")
        return
    for key in node:
        if not isinstance(key, str):
            raise CheckpointError(f"{source}: {where} has a non-text key {key!r}")
        if key.startswith("_") and key.endswith("_") and key not in _HYDRA_KEYS:
            raise CheckpointError(
                f"{source}: {where}.{key} is not allowed (a checkpoint may use {', '.join(_HYDRA_KEYS)})"
            )
    if "_target_" in node:
        target = node["_target_"]
        if target not in allowed:
            raise CheckpointError(_not_allowed(source, where, target, allowed))
        if not isinstance(node.get("_partial_", False), bool):
            raise CheckpointError(f"{source}: {where}._partial_ must be true or false, got {node['_partial_']!r}")
        if target in _FACTORIES and node.get("_partial_") is not True:
            raise CheckpointError(f"{source}: {where} ({target}) must be a factory (_partial_: true)")
    elif "_partial_" in node:
        raise CheckpointError(f"{source}: {where} has _partial_ but no _target_")
    top = where == "model"
    for key, value in node.items():
        if key not in _HYDRA_KEYS:
            role = _ROLES.get(key, frozenset()) if top else allowed
            _check_node(value, source, f"{where}.{key}", role)


def _not_allowed(source: str, where: str, target: Any, allowed: frozenset[str]) -> str:
    listed = ", ".join(sorted(allowed)) or "nothing (plain values only)"
    return f"{source}: {where} names {target!r}, which a checkpoint may not build here; allowed: {listed}"


def _build(node: Any, source: str) -> Any:
    """Hydra's instantiate for checked configs: dicts with ``_target_`` become objects (or
    partials), everything else stays plain data. Never resolves strings."""
    if isinstance(node, (list, tuple)):
        return [_build(value, source) for value in node]
    if not isinstance(node, dict):
        return node
    kwargs = {key: _build(value, source) for key, value in node.items() if key not in _HYDRA_KEYS}
    if "_target_" not in node:
        return kwargs
    target = node["_target_"]
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"{source} names {target}, which this version of seqrec does not have ({err})") from err
    if node.get("_partial_"):
        return functools.partial(cls, **kwargs)
    try:
        return cls(**kwargs)
    except CheckpointError:
        raise
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{source}: cannot build {target} from its config ({type(err).__name__}: {err})") from err


MAX_INPUT_PIXELS = 1 << 20  # a strip is 28 x 140; a net built for a bigger input is not a seqrec model


def _build_sized(node: dict, state: dict, source: str) -> Any:
    """Build ``node`` only if it fits ``state``: a probe on the meta device (no memory) first, so
    a crafted config with huge layers or input is refused before anything is allocated."""
    with torch.device("meta"):
        probe = _build(node, source)
    net = getattr(probe, "net", probe)
    pixels = int(getattr(net, "image_height", 0)) * int(getattr(net, "image_width", 0))
    if pixels > MAX_INPUT_PIXELS:
        raise CheckpointError(
            f"{source}: its net reads {net.image_height}x{net.image_width} inputs; at most "
            f"{MAX_INPUT_PIXELS} pixels are allowed"
        )
    want = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    if want != have:
        diff = sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))
        raise CheckpointError(
            f"{source}: its weights do not fit the model its config describes ({len(diff)} tensors differ, "
            f"first: {diff[0]!r}: config {want.get(diff[0])}, weights {have.get(diff[0])})"
        )
    return _build(node, source)


def load_weights(module: torch.nn.Module, state: dict, source: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{source}: its weights do not fit the model its config describes ({err})") from err


def build_net(ckpt: dict, source: str = "checkpoint") -> torch.nn.Module:
    """The plain nn.Module of a checkpoint, weights loaded, in eval mode (no Lightning import)."""
    config = ckpt[CHECKPOINT_KEY]["config"]
    check_saved_config(config, source)
    state = {k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    net = _build_sized(config["model"]["net"], state, source)
    load_weights(net, state, source)
    return net.eval()


def load_system(path, map_location: str | torch.device = "cpu"):
    """Rebuild the LightningModule from a checkpoint alone and load its weights (eval mode)."""
    ckpt = read_checkpoint(path)
    config = ckpt[CHECKPOINT_KEY]["config"]
    system = _build_sized(config["model"], ckpt["state_dict"], str(path))
    load_weights(system, ckpt["state_dict"], str(path))
    system.on_load_checkpoint(ckpt)  # the run config and the codec's fitted temperature
    return system.to(map_location).eval()


def best_checkpoint(run) -> Path | None:
    """The one rule for a run's best checkpoint.

    ``run`` is a run folder (with ``checkpoints/``), a checkpoints folder, or a checkpoint file
    (returned as is). The monitored ModelCheckpoint writes the only files not named ``last*``;
    the newest of them records in its callback state which one is best (with save_top_k=1 it is
    itself). With none of those: ``last.ckpt``; with nothing at all: None."""
    run = Path(run)
    if run.is_file():
        return run
    folder = run / "checkpoints" if (run / "checkpoints").is_dir() else run
    kept = sorted(
        (p for p in folder.glob("*.ckpt") if not p.name.startswith("last")),
        key=lambda p: (p.stat().st_mtime_ns, p.name),
    )
    if not kept:
        last = folder / "last.ckpt"
        return last if last.is_file() else None
    newest = kept[-1]
    if len(kept) > 1:
        try:
            states = torch.load(newest, map_location="cpu", weights_only=True).get("callbacks", {})
        except Exception:  # noqa: BLE001 - unreadable: fall back to the newest file
            states = {}
        for key, state in states.items():
            best = state.get("best_model_path") if key.startswith("ModelCheckpoint") and state.get("monitor") else None
            if best and (folder / Path(best).name).is_file():
                return folder / Path(best).name
    return newest


def save_slim(system, path) -> Path:
    """Weights + seqrec metadata only (no optimizer/loop state): what ships as a pretrained model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {"state_dict": {k: v.detach().cpu() for k, v in system.state_dict().items()}}
    system.on_save_checkpoint(ckpt)
    return replace_file(path, lambda f: torch.save(ckpt, f))

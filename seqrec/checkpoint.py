"""Self-contained checkpoints: the resolved config and codec travel with the weights, so a
checkpoint loads with no configs/ folder and no repeated flags.

This module imports no Lightning at module level, so inference code can read checkpoints cheaply.
"""
from __future__ import annotations

from pathlib import Path

import torch

CHECKPOINT_KEY = "seqrec"
CHECKPOINT_FORMAT = 1


class CheckpointError(ValueError):
    """A file that is not a readable seqrec checkpoint."""


def read_checkpoint(path) -> dict:
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
    return ckpt


def build_net(ckpt: dict) -> torch.nn.Module:
    """The plain nn.Module of a checkpoint, weights loaded, in eval mode (no Lightning import)."""
    from hydra.utils import instantiate

    net = instantiate(ckpt[CHECKPOINT_KEY]["config"]["model"]["net"])
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state, strict=True)
    return net.eval()


def load_system(path, map_location: str | torch.device = "cpu"):
    """Rebuild the LightningModule from a checkpoint alone and load its weights (eval mode)."""
    from hydra.utils import instantiate

    ckpt = read_checkpoint(path)
    system = instantiate(dict(ckpt[CHECKPOINT_KEY]["config"]["model"]))
    system.load_state_dict(ckpt["state_dict"])
    system.seqrec_config = ckpt[CHECKPOINT_KEY]["config"]
    return system.to(map_location).eval()


def save_slim(system, path) -> Path:
    """Weights + seqrec metadata only (no optimizer/loop state): what ships as a pretrained model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {"state_dict": {k: v.detach().cpu() for k, v in system.state_dict().items()}}
    system.on_save_checkpoint(ckpt)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    return path

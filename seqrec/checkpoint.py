"""Self-contained checkpoints: the resolved config and codec travel with the weights, so a
checkpoint loads with no configs/ folder and no repeated flags."""
from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate

from .codecs import Codec
from .system import CHECKPOINT_KEY, BaseSystem


class CheckpointError(ValueError):
    """A file that is not a readable seqrec checkpoint."""


def read_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and weights-only errors all mean: not ours
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from err
    meta = ckpt.get(CHECKPOINT_KEY) if isinstance(ckpt, dict) else None
    if not meta or not meta.get("config") or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path} is not a seqrec checkpoint (no '{CHECKPOINT_KEY}' section with the run config); "
            "use a checkpoint written by scripts/train.py"
        )
    return ckpt


def load_system(path, map_location: str | torch.device = "cpu") -> BaseSystem:
    """Rebuild the LightningModule from a checkpoint alone and load its weights (eval mode)."""
    ckpt = read_checkpoint(path)
    model_cfg = dict(ckpt[CHECKPOINT_KEY]["config"]["model"])
    system: BaseSystem = instantiate(model_cfg)
    system.load_state_dict(ckpt["state_dict"])
    system.seqrec_config = ckpt[CHECKPOINT_KEY]["config"]
    return system.to(map_location).eval()


def checkpoint_codec(path) -> Codec:
    return Codec.from_dict(read_checkpoint(path)[CHECKPOINT_KEY]["codec"])


def save_slim(system: BaseSystem, path) -> Path:
    """Weights + seqrec metadata only (no optimizer/loop state): what ships as a pretrained model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {"state_dict": {k: v.detach().cpu() for k, v in system.state_dict().items()}}
    system.on_save_checkpoint(ckpt)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    return path

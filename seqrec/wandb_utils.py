"""W&B helpers shared by training and the comparison: whether this machine can log online."""

from __future__ import annotations

import netrc
import os


def has_wandb_credentials() -> bool:
    """An API key in the environment or a ``wandb login`` entry in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False

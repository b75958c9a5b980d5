"""Constants shared across seqrec, defined once: strip geometry, ink threshold, metadata key, pretrained registry.

Cheap to import (no torch): the command line and the demo read it before any model loads.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DIGIT_SIZE = 28  # MNIST: a digit is 28 x 28 pixels, so a strip is 28 pixels tall
STRIP_SIZE = (DIGIT_SIZE, 5 * DIGIT_SIZE)  # (H, W) of the strips the default models read: up to 5 digits
INK_THRESHOLD = 30 / 255  # of white: a pixel above it is ink (strip composer, image pipeline)

# Model metadata (head, codec, input size) lives under this name: the checkpoint section, the ONNX
# metadata_props key and the TorchScript extra file stem. Bump the format when its fields change.
METADATA_KEY = "seqrec"
METADATA_FORMAT = 1

# The models bundled as seqrec/pretrained/<name>.ckpt, with what the demo page says about each.
PRETRAINED: dict[str, str] = {
    "ctc": "reads the strip left to right and finds the digits itself; any length.",
    "multihead": "one digit-or-empty guess per position, up to 5 digits.",
    "multilabel": "5 positions × 11 yes/no scores, the best per position.",
}
PRETRAINED_DIR = "pretrained"  # inside the package
# Pretrained ensembles (seqrec.ensemble): name -> the bundled models that vote, in tie-break order.
ENSEMBLES: dict[str, tuple[str, ...]] = {"ensemble": ("ctc", "multihead", "multilabel")}


def pretrained_path(name: str, *, must_exist: bool = True) -> Path:
    """The bundled weights of the pretrained model ``name`` (``seqrec/pretrained/<name>.ckpt``).

    ValueError for a name not in :data:`PRETRAINED`; FileNotFoundError when ``must_exist`` and the
    file is not in this install (a source checkout before the weights are added)."""
    if not isinstance(name, str) or name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; valid names: {', '.join(PRETRAINED)}")
    # seqrec is installed as plain files (wheel, sdist or checkout), so the resource is a filesystem path
    path = Path(str(resources.files("seqrec").joinpath(PRETRAINED_DIR, f"{name}.ckpt")))
    if must_exist and not path.is_file():
        raise FileNotFoundError(
            f"the pretrained {name!r} weights are not bundled in this install (no {path}); "
            "train a model with scripts/train.py and load it with Recognizer.from_checkpoint(PATH)"
        )
    return path

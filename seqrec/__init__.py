"""seqrec: read whole multi-digit numbers from one image, no segmentation step."""

from __future__ import annotations

from .data.strips import StripConfig, Strips, make_strips

__version__ = "0.1.0"
__all__ = ["make_strips", "Strips", "StripConfig", "Recognizer", "Ensemble", "train", "__version__"]


def __getattr__(name):  # heavy imports (Lightning, Hydra) only when asked for
    if name == "Recognizer":
        from .recognizer import Recognizer

        return Recognizer
    if name == "Ensemble":
        from .ensemble import Ensemble

        return Ensemble
    if name == "train":  # the module itself: importing it binds it here, so it is callable (runs train())
        import importlib

        return importlib.import_module(".train", __name__)
    raise AttributeError(f"module 'seqrec' has no attribute {name!r}")

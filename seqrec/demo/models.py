"""The demo's model switcher: named recognizers, each loaded on first use."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from seqrec.spec import STRIP_SIZE

from .errors import DemoError


class Models:
    """Named recognizers, each given as an object with ``predict``/``preprocess`` or as a
    zero-argument factory that builds one; factories run on first use."""

    def __init__(
        self,
        recognizers: Mapping[str, Any],
        default: str | None = None,
        sources: Mapping[str, str] | None = None,
        missing: Mapping[str, str] | None = None,
    ):
        if not recognizers:
            raise ValueError("need at least one recognizer")
        self._entries = dict(recognizers)
        self.default = default if default is not None else next(iter(self._entries))
        if self.default not in self._entries:
            raise ValueError(f"default model {self.default!r} is not among {list(self._entries)}")
        self.sources = dict(sources or {})
        self.missing = dict(missing or {})  # name -> why it cannot load (shown disabled in the switcher)
        self._loaded: dict[str, tuple[Any, tuple[int, int]]] = {}
        self._load_lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str | None) -> tuple[str, Any, tuple[int, int]]:
        name = name or self.default
        if name not in self._entries:
            raise DemoError(400, f"unknown model {name!r}; available: {', '.join(self._entries)}")
        with self._load_lock:
            if name not in self._loaded:
                obj = self._entries[name]
                try:
                    rec = obj if hasattr(obj, "predict") else obj()
                    size = input_size(rec)
                except DemoError:
                    raise
                except Exception as e:
                    raise DemoError(503, f"model {name!r} could not be loaded: {type(e).__name__}: {e}") from None
                self._loaded[name] = (rec, size)
            rec, size = self._loaded[name]
        return name, rec, size


def input_size(rec) -> tuple[int, int]:
    """(H, W) of the strips a recognizer takes."""
    for attr in ("input_size", "image_size"):
        v = getattr(rec, attr, None)
        if isinstance(v, (tuple, list)) and len(v) == 2:
            return int(v[0]), int(v[1])
    h, w = getattr(rec, "height", None), getattr(rec, "width", None)
    if isinstance(h, int) and isinstance(w, int):
        return h, w
    probe = rec.preprocess(np.zeros(STRIP_SIZE, np.uint8), invert=False)
    shape = tuple(getattr(probe, "shape", ()))
    return (int(shape[-2]), int(shape[-1])) if len(shape) >= 2 else STRIP_SIZE

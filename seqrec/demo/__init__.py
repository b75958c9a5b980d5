"""Local web demo: draw a number (or drop in a photo of one) and watch seqrec read it.

Start it with ``seqrec demo`` (or ``python -m seqrec.demo``). The HTTP API is described in
:mod:`seqrec.demo.server`, the layout of saved samples in :mod:`seqrec.demo.app`.
"""

from __future__ import annotations

__all__ = ["main", "make_server", "prepare_strip"]
_HOME = {"main": "cli", "make_server": "server", "prepare_strip": "images"}


def __getattr__(name):  # keep ``import seqrec.demo`` cheap
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module 'seqrec.demo' has no attribute {name!r}")

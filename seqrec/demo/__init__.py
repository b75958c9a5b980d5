"""Local web demo: draw a number (or drop in a photo of one) and watch seqrec read it.

Start it with ``seqrec demo`` (or ``python -m seqrec.demo.server``); see
:mod:`seqrec.demo.server` for the HTTP API and the layout of saved samples.
"""
from __future__ import annotations

__all__ = ["main", "make_server", "prepare_strip"]


def __getattr__(name):  # keep ``import seqrec.demo`` cheap
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'seqrec.demo' has no attribute {name!r}")

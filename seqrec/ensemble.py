"""``Ensemble``: several recognizers read every image, and a confidence-weighted vote picks the text.

    >>> from seqrec import Recognizer
    >>> Recognizer.pretrained("ensemble").predict("scan.jpg")     # the three bundled heads vote

Each member reads the image on its own (its own preprocessing, so fixed-width and any-width heads
can be mixed). A reading's score is the sum of the confidences of the members that read it; the
highest score wins (ties: the earlier member's reading). Its confidence is that score divided by
the number of members, so a member that read something else counts as 0: agreement is what makes
the ensemble sure. Costs the members' time added up (BENCHMARKS.md, "Ensemble").
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from .recognizer import vote as vote  # re-exported: the vote is shared with predict(tta=True)


class Ensemble:
    """A confidence-weighted vote of recognizers (see the module doc); ``predict`` as Recognizer's."""

    head = "ensemble"

    def __init__(self, members: Sequence, name: str = "ensemble"):
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 recognizers, got {len(members)}")
        bad = [type(m).__name__ for m in members if not callable(getattr(m, "predict", None))]
        if bad:
            raise TypeError(f"ensemble members must be recognizers (with .predict), got {', '.join(bad)}")
        self.members = members
        self.name = str(name)

    @property
    def max_len(self) -> int:
        return max(int(m.max_len) for m in self.members)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.members[0].image_size)

    def __repr__(self) -> str:
        return f"Ensemble(name={self.name!r}, members={[m.name for m in self.members]!r})"

    def predict(
        self,
        images,
        batch_size: int = 256,
        invert: bool | None = None,
        return_confidence: bool = False,
        beam_width: int = 1,
        tta: bool = False,
    ) -> list:
        """Read every image with every member and vote: a list of strings, or of Predictions.
        ``beam_width`` > 1 applies to the ctc members (beam search), the others read as usual;
        ``tta`` makes each member vote over its shifted views first."""
        if not any(m.head == "ctc" for m in self.members) and beam_width != 1:
            raise ValueError(f"beam_width={beam_width!r}: beam search needs a ctc member, this ensemble has none")
        with warnings.catch_warnings(record=True) as caught:  # each member warns about the same odd image
            warnings.simplefilter("always")
            readings = [
                m.predict(
                    images,
                    batch_size=batch_size,
                    invert=invert,
                    return_confidence=True,
                    beam_width=beam_width if m.head == "ctc" else 1,
                    tta=tta,
                )
                for m in self.members
            ]
        once = {}
        for w in caught:
            once.setdefault((str(w.message), w.category), w.message)  # kept as raised (an ImageWarning's fields)
        for message in once.values():
            warnings.warn(message, stacklevel=2)
        votes = [vote(column, len(self.members)) for column in zip(*readings)]
        return votes if return_confidence else [v.text for v in votes]

    def __call__(self, images, **kwargs) -> list:
        return self.predict(images, **kwargs)

    def preprocess(self, images, invert: bool | None = None):
        """What the first member sees (each member preprocesses for itself)."""
        return self.members[0].preprocess(images, invert=invert)

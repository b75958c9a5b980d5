"""Hydra callback: write the comparison of a multirun into its sweep folder when it ends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from .aggregate import LEARNED_AT
from .measure import GAPS, LONG

log = logging.getLogger(__name__)

try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover - Hydra is a dependency
    _HydraCallback = object


class CompareCallback(_HydraCallback):
    """Hydra callback: when a multirun ends, write the comparison into its sweep folder
    (configs/experiment/compare_heads.yaml). Failures are logged, never raised."""

    def __init__(
        self,
        n_gap: int = 200,
        n_speed: int = 256,
        gaps: Sequence[int] = GAPS,
        wandb_mode: str = "auto",
        optimize: bool = True,
        n_long: int = 300,
        long_lengths: Sequence[int] = LONG,
        learned_at: float = LEARNED_AT,
    ):
        self.n_gap, self.n_speed, self.gaps, self.wandb_mode = (
            int(n_gap),
            int(n_speed),
            [int(g) for g in gaps],
            wandb_mode,
        )
        self.optimize = bool(optimize)
        self.n_long, self.long_lengths, self.learned_at = int(n_long), [int(k) for k in long_lengths], float(learned_at)

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        from .comparison import compare

        try:
            report = compare(
                sweep_dir,
                sweep_dir,
                gaps=self.gaps,
                n_gap=self.n_gap,
                n_speed=self.n_speed,
                wandb_mode=self.wandb_mode,
                optimize=self.optimize,
                n_long=self.n_long,
                long_lengths=self.long_lengths,
                learned_at=self.learned_at,
                command=f"python scripts/compare.py {sweep_dir}",
            )
        except Exception as err:  # noqa: BLE001 - the sweep itself succeeded
            log.error(
                "seqrec: comparison of %s failed (%s: %s); run: python scripts/compare.py %s",
                sweep_dir,
                type(err).__name__,
                err,
                sweep_dir,
            )
            return
        print(f"seqrec: comparison of {len(report.runs)} runs written to {report.markdown} and {report.csv}")

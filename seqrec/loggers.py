"""Lightning's CSVLogger, made safe for strategies that re-create its writer (ddp_spawn).

With ``strategy=ddp_spawn`` (trainer=ddp_sim, trainer=ddp_spawn) fit and test each run in freshly
spawned processes. The test process gets a writer that has not seen the fit's columns: Lightning's
writer then rewrites metrics.csv with the test columns only and fails ("dict contains fields not in
fieldnames"), or deletes the fit's rows when it re-creates the writer. This one keeps every row.
"""

from __future__ import annotations

import csv

from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers.csv_logs import CSVLogger as _LightningCSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from .data.atomic import replace_file


class _KeepingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        """Keep metrics.csv: a writer re-created in a spawned process continues this version's log
        (a new run gets a new version folder, so nothing of another run is appended to)."""

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        """Rewrite with the union of the file's columns and ``fieldnames``: atomically on a local
        disk; on a remote store (s3://, gs://, ...) through fsspec, whose upload replaces the
        object whole when the file closes."""
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            rows = list(reader)
            on_file = reader.fieldnames or []
        self.metrics_keys[:] = sorted(set(on_file) | set(fieldnames))

        def write(file) -> None:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)

        if isinstance(self._fs, LocalFileSystem):  # a local disk: atomic rename
            replace_file(self.metrics_file_path, write, text=True)
        else:
            with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                write(file)


class CSVLogger(_LightningCSVLogger):
    """``pytorch_lightning.loggers.CSVLogger`` whose metrics.csv survives fit and test in spawned processes."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment

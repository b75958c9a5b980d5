"""The base Lightning system: the loop, metrics, test intervals, reports and checkpoint metadata.
Each head (``seqrec.systems.heads``) adds only its codec and loss."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from ..checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_KEY
from ..codecs import Codec, digits_to_texts
from ..metrics import SequenceMetrics, match_digits

MIN_SCHEDULE_STEPS = 50


class BaseSystem(pl.LightningModule):
    codec_cls: type[Codec] = Codec
    head_name = "base"

    def __init__(
        self,
        net: nn.Module,
        max_len: int = 5,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        label_smoothing: float = 0.0,
        focal_gamma: float = 0.0,
        n_samples: int = 16,
    ):
        super().__init__()
        # Factories stay out of hparams so checkpoints load with torch.load(weights_only=True).
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.net = net
        self.codec = self.codec_cls(max_len)
        self.check_net()
        self.init_head()
        self.metrics = nn.ModuleDict({s: SequenceMetrics(max_len) for s in ("val", "test")})
        self.samples: list[dict] = []  # worst test errors, kept on rank 0 for the report
        self.seqrec_config: dict | None = None  # resolved run config, saved in checkpoints

    def init_head(self) -> None:
        """Head-specific initialisation of fresh weights (a loaded checkpoint overwrites it)."""

    def check_net(self) -> None:
        """Fail before training when the net cannot express ``max_len`` digits."""

    # -- forward / loss ------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def to_input(images: torch.Tensor) -> torch.Tensor:
        return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()

    def training_loss(self, batch: dict) -> torch.Tensor:
        return self.loss(self(self.to_input(batch["image"])), batch)

    def training_step(self, batch, batch_idx):
        loss = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["image"]))
        return loss

    # -- shared evaluation -----------------------------------------------------------
    def _eval_step(self, batch, stage: str):
        outputs = self(self.to_input(batch["image"]))
        loss = self.loss(outputs, batch)
        decoded = self.codec.decode(outputs)
        self.metrics[stage].update(decoded.digits, decoded.lengths, batch["digits"], batch["length"])
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(batch["length"]))
        if stage == "test":
            exact, correct, _, _ = match_digits(
                decoded.digits, decoded.lengths, batch["digits"].long(), batch["length"].long(), self.codec.max_len
            )
            self._keep_samples(batch, decoded, exact)
            self._keep_outcomes(batch, decoded, exact, correct)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def _log_metrics(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.metrics[stage].compute()
        main = {"exact_match", "digit_acc", "cer"}
        per_class = {
            f"{stage}/{k}": float(v) for k, v in values.items() if k.startswith(("precision_", "recall_", "f1_"))
        }
        self.log_dict({f"{stage}/{k}": v for k, v in values.items() if k in main}, prog_bar=True)
        self.log_dict(
            {f"{stage}/{k}": v for k, v in values.items() if k not in main and f"{stage}/{k}" not in per_class}
        )
        # Per-class numbers go to the loggers only; they would flood the console table.
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            for logger in self.loggers:
                logger.log_metrics(per_class, step=self.global_step)
        return values

    def on_fit_start(self):
        self._fit_started = time.perf_counter()

    def on_validation_epoch_end(self):
        self._log_metrics("val")
        self.metrics["val"].reset()
        if not self.trainer.sanity_checking and hasattr(self, "_fit_started"):
            # Wall clock since fitting began, for accuracy-against-time curves (seqrec.evaluation).
            self.log("val/elapsed_s", time.perf_counter() - self._fit_started, rank_zero_only=True)

    def on_test_epoch_start(self):
        self.samples = []
        self._outcomes = {"exact": [], "slots": [], "conf": [], "digit_index": []}

    def on_test_epoch_end(self):
        values = self._log_metrics("test")
        self._log_intervals(values)
        from ..reports import log_test_report

        log_test_report(self, self.metrics["test"].confusion.cpu(), self.samples)
        self.metrics["test"].reset()

    def _keep_outcomes(self, batch, decoded, exact, correct) -> None:
        """Per-strip outcomes of the test epoch, for digit-bootstrap intervals and calibration."""
        out = getattr(self, "_outcomes", None)
        if out is None:
            return
        out["exact"] += exact.cpu().tolist()
        out["slots"].append(correct.cpu().numpy())
        out["conf"] += decoded.confidence.detach().float().clamp(0, 1).cpu().tolist()
        if "digit_index" in batch:
            out["digit_index"].append(batch["digit_index"][:, : self.codec.max_len].cpu().numpy())

    def _test_digit_index(self, n: int):
        """(n, max_len) source ids of the test strips' digits, in test order, or None where unknown
        (the batch has no ``digit_index``, and the datamodule's test strips do not line up, or
        the test ran on several ranks)."""
        import numpy as np

        out = self._outcomes
        if out["digit_index"] and sum(len(d) for d in out["digit_index"]) == n:
            return np.concatenate(out["digit_index"])
        dm = getattr(self.trainer, "datamodule", None)
        strips = getattr(getattr(dm, "test_set", None), "strips", None)
        if self.trainer.world_size != 1 or strips is None or len(strips) != n:
            return None
        return strips.digit_index[:, : self.codec.max_len]

    def _log_intervals(self, values: dict) -> None:
        """Log and print 95% digit-bootstrap intervals of exact match and per-digit accuracy, and
        the expected calibration error of the sequence confidence (test/ece)."""
        import numpy as np

        from ..evaluation import digit_bootstrap, expected_calibration_error, format_interval

        out = getattr(self, "_outcomes", None)
        if not out or not out["exact"] or self.trainer.world_size != 1:  # each rank holds only its share of strips
            return
        exact = np.array(out["exact"])
        extra = {"test/ece": expected_calibration_error(out["conf"], exact)}
        index = self._test_digit_index(len(exact))
        if index is None:
            self.log_dict(extra)
            return
        slots = np.concatenate(out["slots"])[:, : index.shape[1]] & (index >= 0)
        extra["test/exact_match_lo"], extra["test/exact_match_hi"] = digit_bootstrap(exact, index)
        extra["test/digit_acc_lo"], extra["test/digit_acc_hi"] = digit_bootstrap(slots, index)
        self.log_dict(extra)
        if self.trainer.is_global_zero:
            n_digits = len(np.unique(index[index >= 0]))
            em, da = (
                format_interval(float(values[k]), extra[f"test/{k}_lo"], extra[f"test/{k}_hi"], d)
                for k, d in (("exact_match", 1), ("digit_acc", 2))
            )
            print(
                f"seqrec: test exact match {em}, per-digit accuracy {da} (95% intervals from a bootstrap over "
                f"the {n_digits} distinct test digits of {len(exact)} strips); ECE {extra['test/ece']:.3f}"
            )

    def _keep_samples(self, batch, decoded, exact):
        """Keep a few samples per batch and every confident error, capped at n_samples each (as text: the
        report shows them to a person)."""
        n, images = self.hparams.n_samples, batch["image"]
        conf = decoded.confidence.detach().cpu().tolist()
        truth = digits_to_texts(batch["digits"], batch["length"])
        for i, (pred, t, right) in enumerate(zip(decoded.texts, truth, exact.tolist())):
            wrong = not right
            if wrong or sum(not s["wrong"] for s in self.samples) < n:
                self.samples.append(
                    {"image": images[i, 0].cpu(), "pred": pred, "truth": t, "confidence": conf[i], "wrong": wrong}
                )
        errors = sorted((s for s in self.samples if s["wrong"]), key=lambda s: -s["confidence"])[:n]
        self.samples = [s for s in self.samples if not s["wrong"]][:n] + errors

    # -- optimisation ---------------------------------------------------------------
    def configure_optimizers(self):
        make_opt = self.optimizer_factory or torch.optim.AdamW
        optimizer = make_opt(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer, **self._schedule_length(self.scheduler_factory))
        config = {"scheduler": scheduler, "interval": self.hparams.scheduler_interval}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config.update(monitor="val/loss", interval="epoch")
        return {"optimizer": optimizer, "lr_scheduler": config}

    def _schedule_length(self, factory) -> dict:
        """Fill a scheduler's length argument from the trainer, so it is never configured twice."""
        params = inspect.signature(getattr(factory, "func", factory)).parameters
        name = next(
            (
                n
                for n in ("total_steps", "T_max", "total_iters")
                if n in params and n not in getattr(factory, "keywords", {})
            ),
            None,
        )
        if name is None:
            return {}
        if self.hparams.scheduler_interval == "epoch":
            steps = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else float("inf")
        else:
            steps = self.trainer.estimated_stepping_batches
        if steps == float("inf"):
            raise ValueError(
                f"{getattr(factory, 'func', factory).__name__} needs a known run length, but the trainer has none "
                "(trainer.max_epochs=-1 and no max_steps); set one, or use scheduler=plateau or scheduler=none"
            )
        # OneCycle divides by its warm-up length: tiny debug runs get a schedule they only start.
        return {name: max(int(steps), MIN_SCHEDULE_STEPS)}

    # -- checkpoints -----------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "format": CHECKPOINT_FORMAT,
            "head": self.head_name,
            "codec": self.codec.to_dict(),
            "config": self.seqrec_config,
            "image_size": [self.net.image_height, self.net.image_width],
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta = checkpoint.get(CHECKPOINT_KEY, {})
        self.seqrec_config = meta.get("config", self.seqrec_config)
        # A calibrated checkpoint keeps its confidence temperature.
        self.codec.temperature = (meta.get("codec") or {}).get("temperature", self.codec.temperature)

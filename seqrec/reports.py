"""Test-time pictures: a confusion matrix and a table of sample strips, saved as PNGs and
logged to W&B when a WandbLogger is attached."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)
CLASS_NAMES = [str(d) for d in range(10)] + ["none"]


def plot_confusion(confusion: torch.Tensor, path: Path, title: str = "position-aligned digit confusion"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion.double()
    norm = cm / cm.sum(1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for (i, j), v in zip(((i, j) for i in range(cm.shape[0]) for j in range(cm.shape[1])), cm.flatten().tolist()):
        if v:
            ax.text(j, i, int(v), ha="center", va="center", fontsize=6, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_samples(samples: list[dict], path: Path, title: str = "test samples (errors: most confident first)"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(samples))
    fig, axes = plt.subplots(rows, 1, figsize=(4, 0.75 * rows + 0.5), squeeze=False)
    for ax, s in zip(axes[:, 0], samples):
        ax.imshow(s["image"].numpy(), cmap="gray")
        colour = "red" if s["wrong"] else "green"
        ax.set_title(
            f"pred {s['pred'] or '∅'}  true {s['truth']}  conf {s['confidence']:.2f}", fontsize=8, color=colour
        )
        ax.axis("off")
    for ax in axes[len(samples) :, 0]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report_dir(system) -> Path:
    trainer = system.trainer
    log_dir = trainer.log_dir  # a collective under DDP: every rank must ask
    return Path(trainer.default_root_dir if log_dir is None else log_dir) / "reports"


def log_test_report(system, confusion: torch.Tensor, samples: list[dict]) -> None:
    out = report_dir(system)
    if not system.trainer.is_global_zero:
        return
    out.mkdir(parents=True, exist_ok=True)
    cm_path = plot_confusion(confusion, out / "confusion_matrix.png")
    samples = samples[: 2 * system.hparams.n_samples]
    plot_samples(samples, out / "test_samples.png")
    log.info("seqrec: test report written to %s", out)
    for logger in system.loggers:
        if type(logger).__name__ == "WandbLogger":
            logger.log_image("test/confusion_matrix", [str(cm_path)])
            columns = ["image", "prediction", "truth", "confidence", "correct"]
            import wandb

            data = [
                [wandb.Image(s["image"].numpy()), s["pred"], s["truth"], s["confidence"], not s["wrong"]]
                for s in samples
            ]
            logger.log_table("test/samples", columns=columns, data=data)

"""Training throughput: scripts/train.py's pipeline vs a plain PyTorch loop.

    python benchmarks/bench_train.py [--model ctc] [--steps 60] [--batch-size 128] [--accelerator gpu]

Pipeline: StripDataModule (fresh strips + augmentation, 1 worker) + the LightningModule +
Trainer with its progress bar. Plain: the same net, loss, optimizer, clipping and batch size
over strips generated before the clock starts. The ratio is pipeline / plain strips/s.
``--accelerator gpu`` runs both on the first GPU (``--precision 16-mixed`` as trainer=gpu does;
the plain loop then uses torch.autocast, and CTC stays in fp32 in both).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import compose_train  # noqa: E402  (the real configs, composed like the tests do)
from hydra.utils import instantiate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import cpu_model  # noqa: E402


def build(model: str, batch_size: int, workers: int):
    overrides = [f"model={model}", f"data.batch_size={batch_size}", f"data.num_workers={workers}", "data.augment=1.0"]
    cfg = compose_train(overrides, Path(tempfile.mkdtemp(prefix="bench_train_")))
    torch.manual_seed(0)
    return instantiate(cfg.data, _convert_="all"), instantiate(cfg.model, _convert_="all")


class StepTimer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.steps = warmup, None, 0

    def on_train_batch_end(self, trainer, *args):
        self.steps += 1
        if self.steps == self.warmup:
            self.start = time.perf_counter()


def pipeline(
    model: str, steps: int, warmup: int, batch_size: int, workers: int, accelerator: str, precision: str
) -> float:
    dm, system = build(model, batch_size, workers)
    timer = StepTimer(warmup)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_steps=steps + warmup,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        callbacks=[timer],
        num_sanity_val_steps=0,
    )
    dm.hparams.batches_per_epoch = steps + warmup
    trainer.fit(system, datamodule=dm)
    return steps * batch_size / (time.perf_counter() - timer.start)


def plain(model: str, steps: int, warmup: int, batch_size: int, accelerator: str, precision: str) -> float:
    dm, system = build(model, batch_size, 0)
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    dataset = dm.train_dataloader().dataset
    batches = [dataset[k] for k in range(steps + warmup)]  # generated before timing
    batches = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()} for b in batches]
    system.to(device)
    optimizer = torch.optim.AdamW(system.parameters(), lr=1e-3)
    autocast = torch.autocast(device.type, dtype=torch.float16, enabled=precision == "16-mixed")
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
    system.train()
    for i, batch in enumerate(batches):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        with autocast:
            loss = system.loss(system(batch["image"].float() / 255.0), batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(system.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
    sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ctc", choices=["ctc", "multihead", "multilabel"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--precision", default="32-true", choices=["32-true", "16-mixed"])
    args = ap.parse_args(argv)
    if args.accelerator == "gpu" and not torch.cuda.is_available():
        ap.error("--accelerator gpu: torch sees no CUDA GPU here")
    if args.precision == "16-mixed" and args.accelerator != "gpu":
        ap.error("--precision 16-mixed: only with --accelerator gpu (fp16 autocast)")
    run = (args.model, args.steps, args.warmup, args.batch_size)
    rows = []
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits both alike
        p = plain(*run, args.accelerator, args.precision)
        q = pipeline(*run, args.workers, args.accelerator, args.precision)
        rows.append((q, p))
    best_q, best_p = max(r[0] for r in rows), max(r[1] for r in rows)
    print(f"\n# bench_train: {args.model}, batch {args.batch_size}, {args.steps} timed steps, best of {args.repeats}")
    gpu = f"{torch.cuda.get_device_name(0)}, {args.precision}; " if args.accelerator == "gpu" else ""
    print(
        f"hardware: {gpu}{cpu_model()}, {torch.get_num_threads()} torch threads; "
        f"torch {torch.__version__}, lightning {pl.__version__}"
    )
    print(
        f"command: python benchmarks/bench_train.py --model {args.model} --steps {args.steps} "
        f"--batch-size {args.batch_size} --workers {args.workers}"
        + (f" --accelerator gpu --precision {args.precision}" if args.accelerator == "gpu" else "")
        + "\n"
    )
    print("| set-up | strips/s |\n|---|---:|")
    print(
        f"| scripts/train.py pipeline (DataModule + augmentation, {args.workers} worker, LightningModule, Trainer) "
        f"| {best_q:,.0f} |"
    )
    print(f"| plain PyTorch loop, pre-generated strips | {best_p:,.0f} |")
    print(f"| **ratio** (target >= 0.9) | **{best_q / best_p:.3f}** |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""LightningDataModule: fresh training strips every epoch, fixed val/test strips per seed."""

from __future__ import annotations

import math
import sys
import zlib
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .augment import DigitWarp, PaperAugment, apply_augment, default_augment
from .samples import LABELS_CSV, read_samples
from .sources import DigitPool, check_folds, load_digits, subset_pool
from .strips import (
    StripComposer,
    StripConfig,
    Strips,
    check_seed,
    labels_to_digits,
    with_settings,
)

EVAL_STREAM = 0xE7A1


def strips_to_batch(strips: Strips, images: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Tensors for a model: uint8 images (n, 1, H, W), digits (n, max_len) padded with -1, lengths (n,)."""
    images = strips.images if images is None else images
    return {
        "image": torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1),
        "digits": torch.from_numpy(np.array(strips.digits, np.int64)),  # a copy: batches never alias the strips
        "length": torch.from_numpy(strips.lengths),
    }


def worker_options(workers: int) -> dict:
    """DataLoader options for ``workers`` worker processes. On Linux the workers are forked
    explicitly: inside a joblib-launched sweep job (experiment=compare_heads) the default start
    method is loky's, which cannot start them."""
    if workers <= 0:
        return {"num_workers": 0}
    options = {"num_workers": workers, "persistent_workers": True, "worker_init_fn": single_threaded_worker}
    if sys.platform.startswith("linux"):
        options["multiprocessing_context"] = "fork"
    return options


def single_threaded_worker(worker_id: int) -> None:
    """DataLoader worker init: one BLAS thread. Workers already get one torch thread, but numpy's
    OpenBLAS would start one thread per core and fight the training process for them."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


class TrainBatches(Dataset):
    """Item ``key`` is a whole augmented batch generated from ``(seed, key)``: the same
    keys give the same batches whatever the number of workers or ranks."""

    def __init__(self, composer: StripComposer, batch_size: int, seed: int, augment=None, paper=None):
        self.composer, self.batch_size, self.seed, self.augment = composer, batch_size, seed, augment
        self.paper = paper  # PaperAugment or None: photographed paper, read back by the predict pipeline

    def __len__(self) -> int:  # keys are unbounded; the sampler decides which are used
        return 2**62

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        strips = self.composer(self.batch_size, seed=[self.seed, int(key)])
        images = apply_augment(self.augment, strips.images, [self.seed, int(key), 1])
        if self.paper is not None:
            images = self.paper(images, [self.seed, int(key), 2])
        return strips_to_batch(strips, images)


class EpochKeySampler(DistributedSampler):
    """Yields this rank's batch keys for the current epoch. Subclassing DistributedSampler
    stops Lightning from wrapping it and makes Lightning call ``set_epoch``."""

    def __init__(self, batches_per_epoch: int, num_replicas: int = 1, rank: int = 0):
        self.batches_per_epoch = batches_per_epoch
        self.num_replicas, self.rank, self.epoch = num_replicas, rank, 0
        self.num_samples = math.ceil(batches_per_epoch / num_replicas)

    def __iter__(self):
        start = self.epoch * self.num_samples * self.num_replicas
        return iter(range(start + self.rank, start + self.num_samples * self.num_replicas, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


class FixedStrips(Dataset):
    """Pre-generated strips, one sample per item (for val/test)."""

    def __init__(self, strips: Strips):
        self.strips = strips
        self.batch = strips_to_batch(strips)

    def __len__(self) -> int:
        return len(self.strips)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.batch.items()}


class StripDataModule(pl.LightningDataModule):
    """Strips from one digit source. Train, val and test strips come from disjoint digit pools.

    ``strip_settings``: any StripConfig field by name (``min_len=1, gap=[-4, 6]``), flat as in
    ``configs/data/*.yaml``. ``folds=K, fold=k``: test digits are fold k of a stratified K-fold over all
    the source's digits, val a 10% slice of the rest (model selection only), train the remainder (see
    ``load_digits``). ``train_on_val``: train on train + val digits, for a final fit with a fixed epoch
    count (``train`` then keeps the last epoch); val strips still come from the val digits, so val
    metrics are then optimistic.
    ``train_digits=n``: train on a stratified, nested subset of n distinct train digits
    (sample-efficiency curves); val and test are unchanged."""

    def __init__(
        self,
        source: str = "auto",
        root: str | None = None,
        *,
        batch_size: int = 128,
        batches_per_epoch: int = 200,
        n_val: int = 2000,
        n_test: int = 5000,
        augment: float = 1.0,
        digit_augment: float = 1.0,
        paper_augment: float = 0.0,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
        folds: int | None = None,
        fold: int | None = None,
        train_on_val: bool = False,
        train_digits: int | None = None,
        **strip_settings,
    ):
        super().__init__()
        self.save_hyperparameters(logger=False)
        # Validate now, before any data is read.
        self.config = with_settings(StripConfig(), strip_settings, "StripDataModule()")
        self.hparams.update(self.config.to_dict())  # every strip setting, given or default, as before
        self.max_len, self.image_size = self.config.max_len, (self.config.height, self.config.width)
        sizes = [
            ("batch_size", batch_size),
            ("batches_per_epoch", batches_per_epoch),
            ("n_val", n_val),
            ("n_test", n_test),
        ]
        for name, value in sizes:
            if isinstance(value, bool) or int(value) != value or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in [("augment", augment), ("digit_augment", digit_augment), ("paper_augment", paper_augment)]:
            if not 0 <= value <= 3:
                raise ValueError(f"{name} strength must be in [0, 3] (0 disables), got {value!r}")
        check_folds(folds, fold)
        check_seed(seed)
        if train_digits is not None and (isinstance(train_digits, bool) or not isinstance(train_digits, int)):
            raise ValueError(f"train_digits must be a whole number of digits or null, got {train_digits!r}")
        if not isinstance(train_on_val, bool):
            raise ValueError(f"train_on_val must be true or false, got {train_on_val!r}")
        self.pools: dict[str, DigitPool] = {}
        self.val_set: FixedStrips | None = None
        self.test_set: FixedStrips | None = None

    def pool(self, split: str) -> DigitPool:
        if split not in self.pools:
            hp = self.hparams
            pool = load_digits(hp.source, split, hp.root, folds=hp.folds, fold=hp.fold)
            if split == "train" and hp.train_on_val:
                val = self.pool("val")
                merged = (np.concatenate([getattr(pool, k), getattr(val, k)]) for k in ("images", "labels", "ids"))
                pool = DigitPool(*merged, pool.source, "train+val")
            if split == "train":
                pool = subset_pool(pool, hp.train_digits)
            self.pools[split] = pool
        return self.pools[split]

    def fixed_strips(self, split: str, n: int) -> Strips:
        # A third seed word keeps these streams apart from the training batches' [seed, key].
        stream = [self.hparams.seed, {"val": 1, "test": 2}[split], EVAL_STREAM]
        return StripComposer(self.pool(split), self.config)(n, seed=stream)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = FixedStrips(self.fixed_strips("val", self.hparams.n_val))
        if stage in (None, "test") and self.test_set is None:
            self.test_set = FixedStrips(self.fixed_strips("test", self.hparams.n_test))

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        augment = default_augment(hp.augment) if hp.augment > 0 else None
        warp = DigitWarp(hp.digit_augment) if hp.digit_augment > 0 else None
        composer = StripComposer(self.pool("train"), self.config, digit_transform=warp)
        paper = PaperAugment(hp.paper_augment, *self.image_size) if hp.paper_augment > 0 else None
        dataset = TrainBatches(composer, hp.batch_size, hp.seed, augment, paper)
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = EpochKeySampler(hp.batches_per_epoch, num_replicas=world, rank=rank)
        return self._loader(dataset, batch_size=None, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None:
            self.setup("validate")
        return self._loader(self.val_set, batch_size=self.hparams.batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if self.test_set is None:
            self.setup("test")
        return self._loader(self.test_set, batch_size=self.hparams.batch_size, shuffle=False)

    def _loader(self, dataset, **kwargs) -> DataLoader:
        return DataLoader(
            dataset, pin_memory=self.hparams.pin_memory, **worker_options(self.hparams.num_workers), **kwargs
        )


class SampleFolderDataModule(pl.LightningDataModule):
    """Whole labelled strips from a folder in the labels.csv format of :mod:`seqrec.data.samples`, as
    written by ``seqrec demo`` (Save) or ``seqrec strips png=true``. For fine-tuning on your own
    handwriting: ``python scripts/train.py data=samples data.root=./seqrec_samples init_from=ctc``.
    Samples are split deterministically by file name into train/val/test (80/10/10)."""

    def __init__(
        self,
        root: str = "./seqrec_samples",
        max_len: int = 5,
        height: int = 28,
        width: int = 140,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.root = Path(root).expanduser()
        self.max_len, self.image_size = max_len, (height, width)
        if not (self.root / LABELS_CSV).is_file():
            raise FileNotFoundError(
                f"sample folder {str(self.root)!r} has no {LABELS_CSV} (expected columns filename,label)"
            )
        self.sets: dict[str, FixedStrips] = {}

    def _read(self) -> dict[str, Strips]:
        from PIL import Image

        samples = read_samples(self.root, self.max_len)
        parts: dict[str, tuple[list, list]] = {s: ([], []) for s in ("train", "val", "test")}
        for sample in samples:
            image = np.asarray(Image.open(sample.path).convert("L").resize((self.image_size[1], self.image_size[0])))
            bucket = zlib.crc32(sample.filename.encode()) % 10
            images, labels = parts["train" if bucket < 8 else "val" if bucket == 8 else "test"]
            images.append(image)
            labels.append(sample.label)
        if not parts["train"][1]:
            raise ValueError(f"sample folder {self.root} has too few samples to train on ({len(samples)})")
        return {s: _strips_from(imgs, labels, self.max_len) for s, (imgs, labels) in parts.items() if labels}

    def setup(self, stage: str | None = None) -> None:
        if not self.sets:
            self.sets = {split: FixedStrips(strips) for split, strips in self._read().items()}

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        self.setup()
        dataset = self.sets.get(split) or self.sets["train"]  # tiny folders: evaluate on train
        hp = self.hparams
        return DataLoader(dataset, batch_size=hp.batch_size, shuffle=shuffle, **worker_options(hp.num_workers))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


def _strips_from(images: list, labels: list[str], max_len: int) -> Strips:
    digits, lengths = labels_to_digits(labels, max_len)
    n = len(labels)
    return Strips(
        images=np.stack(images).astype(np.uint8),
        digits=digits,
        digit_index=np.full((n, max_len), -1, np.int64),
        lengths=lengths,
        boxes=np.full((n, max_len, 4), -1, np.int64),
    )

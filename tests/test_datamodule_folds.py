"""StripDataModule with k-fold splits (data.folds / data.fold) and training on train + val (data.train_on_val)."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from seqrec.data import datamodule, sources
from seqrec.data.datamodule import StripDataModule

SMALL = dict(source="bundled", batch_size=8, batches_per_epoch=2, n_val=300, n_test=300, num_workers=0)


def used_ids(strips) -> set[int]:
    return set(strips.digit_index[strips.digit_index >= 0].tolist())


def train_ids(dm: StripDataModule, n: int = 400) -> set[int]:
    """Digit ids of training strips, drawn through the real train loader's composer."""
    return used_ids(dm.train_dataloader().dataset.composer(n, seed=0))


def test_fold_pools_are_disjoint_and_strips_use_only_their_pool():
    dm = StripDataModule(**SMALL, folds=5, fold=2)
    dm.setup()
    ids = {s: set(dm.pool(s).ids.tolist()) for s in ("train", "val", "test")}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert len(ids["train"] | ids["val"] | ids["test"]) == 5000 and len(ids["test"]) == 1000
    assert ids["test"] == set(sources.load_digits("bundled", "test", folds=5, fold=2).ids.tolist())
    assert used_ids(dm.test_set.strips) <= ids["test"] and used_ids(dm.val_set.strips) <= ids["val"]
    assert train_ids(dm) <= ids["train"]
    _, labels = sources.load_bundled()  # digit_index holds global ids into the source's whole array
    strips = dm.test_set.strips
    first = strips.digit_index[:, 0]
    assert [label[0] for label in strips.labels] == [str(c) for c in labels[first]]


def test_every_digit_is_test_data_in_exactly_one_fold():
    tests = []
    for k in range(3):
        dm = StripDataModule(**SMALL, folds=3, fold=k)
        tests.append(dm.pool("test").ids)
    all_ids = np.concatenate(tests)
    assert len(all_ids) == 5000 and len(np.unique(all_ids)) == 5000


def test_train_on_val_trains_on_val_digits_but_never_on_test_digits():
    plain = StripDataModule(**SMALL, folds=5, fold=0)
    both = StripDataModule(**SMALL, folds=5, fold=0, train_on_val=True)
    val, test = set(both.pool("val").ids.tolist()), set(both.pool("test").ids.tolist())
    pool = both.pool("train")
    assert pool.split == "train+val" and set(pool.ids.tolist()) == set(plain.pool("train").ids.tolist()) | val
    assert np.array_equal(pool.images, sources.load_bundled()[0][pool.ids])
    seen = train_ids(both, 2000)
    assert seen & val and not seen & test
    assert not train_ids(plain, 2000) & val
    both.setup("validate")
    assert used_ids(both.val_set.strips) <= val  # val strips still come from the val digits
    fixed = StripDataModule(**SMALL, train_on_val=True)  # also without folds
    fixed_train = set(fixed.pool("train").ids.tolist())
    assert len(fixed_train) == 4500 and not fixed_train & set(fixed.pool("test").ids.tolist())


def test_train_digits_is_a_nested_stratified_subset_of_the_train_pool_only():
    full = StripDataModule(**SMALL).pool("train")
    pools = {n: StripDataModule(**SMALL, train_digits=n).pool("train") for n in (250, 500, 1000)}
    ids = {n: set(p.ids.tolist()) for n, p in pools.items()}
    assert {n: len(i) for n, i in ids.items()} == {250: 250, 500: 500, 1000: 1000}
    assert ids[250] < ids[500] < ids[1000] < set(full.ids.tolist())  # nested, from the train pool
    assert np.bincount(pools[250].labels, minlength=10).min() >= 22  # every class, near 25 each
    again = StripDataModule(**SMALL, train_digits=250, seed=7).pool("train")  # not tied to the run seed
    assert np.array_equal(again.ids, pools[250].ids)
    dm = StripDataModule(**SMALL, train_digits=250)
    assert train_ids(dm, 2000) <= ids[250]
    assert len(dm.pool("val")) == 500 and len(dm.pool("test")) == 500  # val and test untouched
    message = r"train_digits must be an integer from 10 to the 4000 .*got 5000"
    with pytest.raises(sources.DataSourceError, match=message):
        StripDataModule(**SMALL, train_digits=5000).pool("train")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(folds=5), r"folds and fold go together .*got folds=5, fold=None"),
        (dict(fold=1), r"folds and fold go together"),
        (dict(folds=1, fold=0), r"folds must be >= 2 .*got folds=1"),
        (dict(folds=4, fold=4), r"fold must be in \[0, 4\) for folds=4, got fold=4"),
        (dict(train_on_val="yes"), r"train_on_val must be true or false, got 'yes'"),
        (dict(train_digits=2.5), r"train_digits must be a whole number of digits or null, got 2.5"),
        (dict(train_digits=True), r"train_digits must be a whole number of digits or null, got True"),
        (dict(seed=-1), r"seed must be an integer >= 0 .*got seed=-1"),
    ],
)
def test_errors_come_before_any_data_is_read(kwargs, message, monkeypatch):
    monkeypatch.setattr(datamodule, "load_digits", lambda *a, **k: pytest.fail("must be checked before reading data"))
    with pytest.raises(ValueError, match=message):
        StripDataModule(**SMALL, **kwargs)


def test_hydra_config_exposes_folds(make_cfg):
    cfg = make_cfg()
    assert cfg.data.folds is None and cfg.data.fold is None and cfg.data.train_on_val is False
    dm = instantiate(make_cfg("data.folds=5", "data.fold=4", "data.train_on_val=true").data)
    assert (dm.hparams.folds, dm.hparams.fold, dm.hparams.train_on_val) == (5, 4, True)
    expected = sources.load_digits("bundled", "test", folds=5, fold=4).ids
    assert set(dm.pool("test").ids.tolist()) == set(expected.tolist())
    with pytest.raises(InstantiationException, match=r"fold must be in \[0, 5\) for folds=5, got fold=7"):
        instantiate(make_cfg("data.folds=5", "data.fold=7").data)
    variable = make_cfg("data=variable", "data.folds=3", "data.fold=0")
    assert variable.data.folds == 3


def test_strip_settings_travel_as_one_config(make_cfg, monkeypatch):
    from seqrec.data.strips import StripConfig

    monkeypatch.setattr(datamodule, "load_digits", lambda *a, **k: pytest.fail("must be checked before reading data"))
    dm = instantiate(make_cfg("data=variable").data)  # flat keys from configs/data/variable.yaml
    assert dm.config == StripConfig(min_len=1, max_len=5, gap=(-4, 6), jitter=2, placement="random")
    assert (dm.max_len, dm.image_size) == (5, (28, 140))
    assert dm.hparams.gap == (-4, 6) and dm.hparams.scale == (1.0, 1.0)  # every setting is recorded, given or not
    assert StripDataModule(**SMALL).config == StripConfig()
    with pytest.raises(TypeError, match=r"StripDataModule\(\) got unknown keyword argument\(s\) \['colour'\]"):
        StripDataModule(**SMALL, colour="red")
    with pytest.raises(ValueError, match=r"width=60 is too narrow"):
        StripDataModule(**SMALL, width=60)

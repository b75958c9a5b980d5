"""Digit sources: bundled, torchvision-layout MNIST IDX files, auto, and a user's folder."""

from __future__ import annotations

import gzip
import logging
import struct

import numpy as np
import pytest
from PIL import Image, ImageDraw

from seqrec.data import sources
from seqrec.data.sources import DataSourceError, load_digits, normalize_digit, read_idx

IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(root, n_train=60, n_test=20, gz=False, seed=0):
    """Tiny MNIST in torchvision's layout (root/MNIST/raw/*-ubyte); returns the arrays written."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    data = {}
    for part, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) + (3 if part == "test" else 0)) % 10
        data[part] = (images, labels)
        for kind, array in (("images", images), ("labels", labels)):
            payload = idx_bytes(array)
            name = IDX_NAMES[(part, kind)]
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(payload))
            else:
                (raw / name).write_bytes(payload)
    return data


# ---------------------------------------------------------------- bundled
def test_bundled_has_5000_digits_split_4000_500_500_stratified():
    images, labels = sources.load_bundled()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), [500] * 10)
    pools = {s: load_digits("bundled", s) for s in ("train", "val", "test")}
    assert [len(pools[s]) for s in ("train", "val", "test")] == [4000, 500, 500]
    for split, per_class in (("train", 400), ("val", 50), ("test", 50)):
        assert np.array_equal(np.bincount(pools[split].labels), [per_class] * 10), split
        assert np.array_equal(pools[split].images, images[pools[split].ids])
        assert np.array_equal(pools[split].labels, labels[pools[split].ids])
    ids = [set(pools[s].ids.tolist()) for s in ("train", "val", "test")]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    assert len(ids[0] | ids[1] | ids[2]) == 5000
    # white ink on black
    assert np.median(images) == 0 and images.max() == 255


# ---------------------------------------------------------------- MNIST IDX files
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files_load_with_disjoint_splits(tmp_path, gz):
    data = write_mnist(tmp_path, gz=gz)
    train, val, test = (load_digits("mnist", s, root=tmp_path) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (54, 6, 20)
    assert not set(train.ids.tolist()) & set(val.ids.tolist())
    assert sorted(train.ids.tolist() + val.ids.tolist()) == list(range(60))
    assert test.ids.tolist() == list(range(60000, 60020))  # test ids offset: never equal to a train id
    for pool, part in ((train, "train"), (val, "train")):
        images, labels = data[part]
        assert np.array_equal(pool.images, images[pool.ids]) and np.array_equal(pool.labels, labels[pool.ids])
    assert np.array_equal(test.images, data["test"][0]) and np.array_equal(test.labels, data["test"][1])
    assert train.source == "mnist" and test.split == "test" and train.labels.dtype == np.int64


def test_mnist_missing_files(tmp_path):
    with pytest.raises(DataSourceError, match=r"MNIST IDX files not found under .*MNIST.raw.*source='bundled'"):
        load_digits("mnist", "train", root=tmp_path)
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataSourceError, match="not found"):
        load_digits("mnist", "test", root=tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], r"corrupt: .*truncated"),
        (lambda b: b"this is not an IDX file at all" * 10, r"corrupt: not an IDX file"),
        (lambda b: b"", r"corrupt"),
        (lambda b: b + b"\x00" * 7, r"corrupt: .*trailing bytes"),
    ],
)
def test_mnist_corrupt_images_file(tmp_path, damage, message):
    write_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataSourceError, match=message) as err:
        load_digits("mnist", "train", root=tmp_path)
    assert str(path) in str(err.value)


def test_mnist_corrupt_labels(tmp_path):
    write_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(59)))
    with pytest.raises(DataSourceError, match=r"corrupt: .*labels for 60 images"):
        load_digits("mnist", "train", root=tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(20, 12)))
    with pytest.raises(DataSourceError, match=r"corrupt: label 12 outside 0-9"):
        load_digits("mnist", "test", root=tmp_path)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataSourceError, match="corrupt"):
        load_digits("mnist", "test", root=tmp_path)


def test_read_idx_roundtrip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(array))
    assert np.array_equal(read_idx(tmp_path / "a"), array)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)


def test_read_idx_refuses_other_element_types_and_bad_gzip(tmp_path):
    floats = bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 2) + np.ones(2, ">f4").tobytes()  # valid IDX of float32
    (tmp_path / "f").write_bytes(floats)
    with pytest.raises(DataSourceError, match=r"f is corrupt: not an IDX file of unsigned bytes"):
        read_idx(tmp_path / "f")
    (tmp_path / "b.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataSourceError, match=r"b.gz is corrupt or unreadable"):
        read_idx(tmp_path / "b.gz")


# ---------------------------------------------------------------- auto
@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("SEQREC_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("offline mode must not touch the network")

    monkeypatch.setattr(sources, "_host_reachable", no_network)
    monkeypatch.setattr(sources, "_mnist_dataset", no_network)
    sources.resolve_auto.cache_clear()
    yield
    sources.resolve_auto.cache_clear()


def test_auto_falls_back_to_bundled_offline_and_says_why(tmp_path, offline, caplog):
    with caplog.at_level(logging.INFO, logger="seqrec.data.sources"):
        pool = load_digits("auto", "val", root=tmp_path)
    assert pool.source == "bundled" and len(pool) == 500
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "'auto' -> 'bundled'" in text and f"no MNIST files in {tmp_path}" in text and "unreachable" in text
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_auto_uses_mnist_files_when_present(tmp_path, offline, caplog):
    load_digits("auto", "train", root=tmp_path)  # caches 'bundled' for this root ...
    write_mnist(tmp_path)
    with caplog.at_level(logging.INFO, logger="seqrec.data.sources"):
        pool = load_digits("auto", "train", root=tmp_path)  # ... which must not stick once files exist
    assert pool.source == "mnist" and len(pool) == 54
    assert any("'auto' -> 'mnist'" in r.getMessage() and "files found" in r.getMessage() for r in caplog.records)


def test_auto_download_failure_falls_back(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("SEQREC_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "_host_reachable", lambda *a, **k: True)

    def failing_download(root, train, download):
        raise RuntimeError("HTTP 503")

    monkeypatch.setattr(sources, "_mnist_dataset", failing_download)
    sources.resolve_auto.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="seqrec.data.sources"):
            assert load_digits("auto", "test", root=tmp_path).source == "bundled"
    finally:
        sources.resolve_auto.cache_clear()
    assert "download failed: HTTP 503" in caplog.text


# ---------------------------------------------------------------- folder
def draw_digit(cls: int, size, dark_on_light: bool, mode="L") -> Image.Image:
    """A class-specific bar pattern drawn at any size and polarity."""
    w, h = size
    bg, fg = (255, 0) if dark_on_light else (0, 255)
    im = Image.new("L", size, bg)
    d = ImageDraw.Draw(im)
    x0, x1 = int(w * 0.3), int(w * 0.3) + max(2, int(w * 0.04 * (cls + 1)))
    d.rectangle([x0, int(h * 0.2), x1, int(h * 0.8)], fill=fg)
    if cls % 2:
        d.rectangle([x0, int(h * 0.2), int(w * 0.7), int(h * 0.3)], fill=fg)
    return im.convert(mode)


def make_folder(root, per_class=10):
    sizes = [(28, 28), (64, 64), (40, 90), (120, 60), (33, 47)]
    for cls in range(10):
        (root / str(cls)).mkdir(parents=True)
        for i in range(per_class):
            im = draw_digit(cls, sizes[i % len(sizes)], dark_on_light=i % 2 == 0, mode="RGB" if i % 3 == 0 else "L")
            im.save(root / str(cls) / f"{i}.{'png' if i % 4 else 'jpg'}")
    (root / "README.txt").write_text("not an image")
    (root / "3" / "notes.txt").write_text("ignored")
    return root


def test_folder_loads_normalized_white_on_black(tmp_path):
    root = make_folder(tmp_path / "digits")
    images, labels = sources.load_folder(str(root))
    assert images.shape == (100, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), [10] * 10)
    for img in images:
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        assert np.median(border) == 0 and np.median(img) == 0 and img.max() > 200  # white ink on black
        ys, xs = np.nonzero(img > 30)
        assert ys.max() - ys.min() < 21 and xs.max() - xs.min() < 21  # fitted into 20x20
        assert abs((ys.mean() + 0.5) - 14) < 3 and abs((xs.mean() + 0.5) - 14) < 3  # centred by mass
    pools = {s: load_digits("folder", s, root=root) for s in ("train", "val", "test")}
    assert [len(pools[s]) for s in ("train", "val", "test")] == [80, 10, 10]
    ids = [set(pools[s].ids.tolist()) for s in ("train", "val", "test")]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]


def test_folder_polarity_and_size_do_not_matter():
    light = normalize_digit(np.asarray(draw_digit(7, (90, 90), dark_on_light=True)))
    dark = normalize_digit(np.asarray(draw_digit(7, (90, 90), dark_on_light=False)))
    assert np.array_equal(light, dark) and light.max() == 255 and light[0].max() == 0
    small = normalize_digit(np.asarray(draw_digit(7, (45, 45), dark_on_light=True)))
    assert ((small > 127) != (light > 127)).mean() < 0.05


def test_folder_transparent_png_uses_alpha_as_ink(tmp_path):
    root = tmp_path / "alpha"
    for cls in range(10):
        (root / str(cls)).mkdir(parents=True)
        for i in range(10):
            ink = np.asarray(draw_digit(cls, (50, 50), dark_on_light=False))
            rgba = np.zeros((50, 50, 4), np.uint8)
            rgba[..., 3] = ink  # black strokes on a transparent background
            Image.fromarray(rgba, "RGBA").save(root / str(cls) / f"{i}.png")
    images, _ = sources.load_folder(str(root))
    assert images.max() == 255 and np.median(images) == 0 and (images > 30).mean() < 0.3


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataSourceError, match=r"folder source .*empty is empty; expected sub-folders 0/ to 9/"):
        load_digits("folder", "train", root=empty)
    wrong = tmp_path / "wrong"
    (wrong / "cats").mkdir(parents=True)
    (wrong / "dogs").mkdir()
    with pytest.raises(DataSourceError, match=r"no sub-folders named 0 to 9 \(found: \['cats', 'dogs'\]\)"):
        load_digits("folder", "train", root=wrong)
    no_images = tmp_path / "no_images"
    (no_images / "4").mkdir(parents=True)
    (no_images / "4" / "a.txt").write_text("x")
    with pytest.raises(DataSourceError, match=r"has no images .* in 0/ to 9/"):
        load_digits("folder", "train", root=no_images)
    with pytest.raises(DataSourceError, match=r"folder source .*missing does not exist"):
        load_digits("folder", "train", root=tmp_path / "missing")
    with pytest.raises(DataSourceError, match=r"source='folder' needs root="):
        load_digits("folder", "train")
    few = tmp_path / "few"
    for cls in range(10):
        (few / str(cls)).mkdir(parents=True)
        draw_digit(cls, (28, 28), True).save(few / str(cls) / "0.png")
    with pytest.raises(DataSourceError, match=r"too few images to give a 'val' split"):
        load_digits("folder", "val", root=few)


def test_folder_corrupt_image_is_named(tmp_path):
    root = make_folder(tmp_path / "digits", per_class=3)
    bad = root / "5" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(DataSourceError, match=r"broken\.png is not a readable image"):
        sources.load_folder(str(root))


# ---------------------------------------------------------------- choices
def test_unknown_source_and_split_are_rejected_before_reading():
    with pytest.raises(DataSourceError, match=r"unknown source 'imagenet'; allowed: auto, mnist, bundled, folder"):
        load_digits("imagenet", "train")
    with pytest.raises(ValueError, match=r"unknown split 'validation'; allowed: train, val, test"):
        load_digits("bundled", "validation")


# ---------------------------------------------------------------- k-fold
@pytest.mark.parametrize("folds", [2, 5, 7])
def test_bundled_folds_are_disjoint_cover_every_digit_once_and_are_stratified(folds):
    _, labels = sources.load_bundled()
    tests = [load_digits("bundled", "test", folds=folds, fold=k) for k in range(folds)]
    ids = np.concatenate([t.ids for t in tests])
    assert len(ids) == 5000 and np.array_equal(np.sort(ids), np.arange(5000))  # each digit in exactly one fold
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for t in tests:  # every class within one digit of its share in every fold
        assert np.abs(np.bincount(t.labels, minlength=10) - 500 / folds).max() <= 1
        assert np.array_equal(t.labels, labels[t.ids])
    assert np.array_equal(sources.kfold_assignment(labels, folds)[tests[1].ids], np.ones(len(tests[1]), int))


def test_fold_train_val_test_are_disjoint_and_deterministic():
    pools = {s: load_digits("bundled", s, folds=5, fold=3) for s in ("train", "val", "test")}
    ids = {s: set(p.ids.tolist()) for s, p in pools.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert len(ids["train"] | ids["val"] | ids["test"]) == 5000
    assert [len(pools[s]) for s in ("train", "val", "test")] == [3600, 400, 1000]
    assert np.array_equal(np.bincount(pools["val"].labels), [40] * 10)  # val: a stratified 10% of the rest
    again = load_digits("bundled", "val", folds=5, fold=3)
    assert np.array_equal(again.ids, pools["val"].ids) and again.split == "val"
    other = load_digits("bundled", "val", folds=5, fold=2)
    assert not np.array_equal(other.ids, pools["val"].ids)


def test_mnist_and_folder_folds_use_global_ids(tmp_path):
    data = write_mnist(tmp_path, n_train=60, n_test=20)
    tests = [load_digits("mnist", "test", root=tmp_path, folds=3, fold=k) for k in range(3)]
    assert sorted(np.concatenate([t.ids for t in tests]).tolist()) == list(range(60))  # folds over the training set
    for pool in [*tests, load_digits("mnist", "train", root=tmp_path, folds=3, fold=0)]:
        assert np.array_equal(pool.images, data["train"][0][pool.ids])  # ids index MNIST's training set
    root = make_folder(tmp_path / "digits", per_class=6)
    images, _ = sources.load_folder(str(root))
    tests = [load_digits("folder", "test", root=root, folds=4, fold=k) for k in range(4)]
    assert sorted(np.concatenate([t.ids for t in tests]).tolist()) == list(range(60))
    assert all(np.array_equal(t.images, images[t.ids]) for t in tests)


@pytest.mark.parametrize(
    "folds, fold, message",
    [
        (5, None, r"folds and fold go together .*got folds=5, fold=None"),
        (None, 0, r"folds and fold go together .*got folds=None, fold=0"),
        (1, 0, r"folds must be >= 2 .*got folds=1"),
        (5, 5, r"fold must be in \[0, 5\) for folds=5, got fold=5"),
        (5, -1, r"fold must be in \[0, 5\) for folds=5, got fold=-1"),
        (2.5, 0, r"folds must be an integer, got 2.5"),
        (5, True, r"fold must be an integer, got True"),
    ],
)
def test_fold_errors_name_the_values(folds, fold, message, monkeypatch):
    monkeypatch.setattr(sources, "load_bundled", lambda: pytest.fail("must be checked before reading data"))
    with pytest.raises(ValueError, match=message):
        load_digits("bundled", "test", folds=folds, fold=fold)


def test_more_folds_than_digits(tmp_path):
    few = tmp_path / "few"
    for cls in range(3):
        (few / str(cls)).mkdir(parents=True)
        draw_digit(cls, (28, 28), True).save(few / str(cls) / "0.png")
    with pytest.warns(UserWarning):
        with pytest.raises(DataSourceError, match=r"folds=4 needs at least 4 digits, the source has 3"):
            load_digits("folder", "test", root=few, folds=4, fold=0)


def test_folder_with_missing_classes_warns_and_names_them(tmp_path):
    root = make_folder(tmp_path / "digits", per_class=10)
    for cls in (3, 7):
        for path in (root / str(cls)).iterdir():
            path.unlink()
        (root / str(cls)).rmdir()
    (root / "5" / "0.png").unlink(missing_ok=True)
    with pytest.warns(UserWarning, match=r"has no images of digit class\(es\) \[3, 7\]") as record:
        pool = load_digits("folder", "train", root=root)
    assert len(record) == 1 and set(pool.labels.tolist()) == {0, 1, 2, 4, 5, 6, 8, 9}
    full = make_folder(tmp_path / "full", per_class=10)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_digits("folder", "train", root=full)  # all ten classes: no warning

"""A checkpoint is untrusted input: loading one builds only seqrec's own classes, nothing else runs.

The crafted files are the bundled ctc.ckpt (written before the allowlist existed) with one
config entry replaced by a call that would write a file."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIG_DIR, ROOT, compose_train
from omegaconf import OmegaConf

from seqrec.checkpoint import (
    NET_TARGETS,
    OPTIMIZER_TARGETS,
    SCHEDULER_TARGETS,
    SYSTEM_TARGETS,
    CheckpointError,
    best_checkpoint,
    build_net,
    check_saved_config,
    load_system,
    read_checkpoint,
)

PRETRAINED = ROOT / "seqrec" / "pretrained"
BUNDLED = torch.load(PRETRAINED / "ctc.ckpt", map_location="cpu", weights_only=True)


def _writers(out: Path) -> dict[str, dict]:
    """Calls that would create a file under ``out`` if a loader ran them."""
    return {
        "pathlib.Path.write_text": {"_target_": "pathlib.Path.write_text", "self": str(out / "pwn.pth"), "data": "x"},
        "builtins.open": {"_target_": "builtins.open", "file": str(out / "open.txt"), "mode": "w"},
        "shutil.copyfile": {"_target_": "shutil.copyfile", "src": str(PRETRAINED / "ctc.ckpt"), "dst": str(out / "c")},
        "os.makedirs": {"_target_": "os.makedirs", "name": str(out / "made")},
        "torch.save": {"_target_": "torch.save", "obj": [1], "f": str(out / "saved.pt")},
        "numpy.savetxt": {"_target_": "numpy.savetxt", "fname": str(out / "a.txt"), "X": [1.0]},
    }


def _place(model: dict, where: str, node: dict) -> None:
    if where == "net":
        model["net"] = node
    elif where == "head":  # a partial: Hydra would still call a non-partial nested target
        model["net"]["head"] = node
    elif where == "sequence_partial":
        model["net"]["sequence"] = {**node, "_partial_": True}
    elif where == "backbone_list":
        model["net"]["backbone"]["channels"] = [16, node]
    elif where == "optimizer":
        model["optimizer"] = {**node, "_partial_": True}
    elif where == "scheduler":
        model["scheduler"] = node
    elif where == "system":
        model.clear()
        model.update(node)
    elif where == "extra_kwarg":
        model["loss"] = node


def _crafted(tmp_path: Path, mutate) -> Path:
    ckpt = copy.deepcopy(BUNDLED)
    mutate(ckpt["seqrec"]["config"])
    path = tmp_path / "crafted.ckpt"
    torch.save(ckpt, path)
    return path


def _files(tmp_path: Path) -> set[str]:
    return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}


def _all_loaders_refuse(path: Path, match: str) -> None:
    from seqrec import Recognizer

    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match=match):
        build_net(torch.load(path, weights_only=True))
    with pytest.raises(CheckpointError, match=match):
        load_system(path)
    with pytest.raises(CheckpointError, match=match):
        Recognizer.from_checkpoint(path)


PLACES = ["net", "head", "sequence_partial", "backbone_list", "optimizer", "scheduler", "system", "extra_kwarg"]


@pytest.mark.parametrize("target", list(_writers(Path("."))))
@pytest.mark.parametrize("where", PLACES)
def test_crafted_target_creates_no_file(tmp_path, where, target):
    out = tmp_path / "out"
    out.mkdir()
    path = _crafted(tmp_path, lambda cfg: _place(cfg["model"], where, _writers(out)[target]))
    before = _files(tmp_path)
    _all_loaders_refuse(path, rf"names '{target}', which a checkpoint may not build here; allowed: ")
    assert _files(tmp_path) == before
    assert not any(out.iterdir())


def test_error_lists_what_is_allowed(tmp_path):
    path = _crafted(tmp_path, lambda cfg: _place(cfg["model"], "net", _writers(tmp_path)["os.makedirs"]))
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    message = str(err.value)
    assert "model.net names 'os.makedirs'" in message
    assert all(name in message for name in NET_TARGETS)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda m: m["net"].update(_args_=["/tmp/x"]), r"model.net._args_ is not allowed"),
        (lambda m: m["net"].update(_recursive_=False), r"model.net._recursive_ is not allowed"),
        (lambda m: m.update(_convert_="all"), r"model._convert_ is not allowed"),
        (lambda m: m["net"].update(_partial_="yes"), r"_partial_ must be true or false"),
        (
            lambda m: m["net"]["backbone"].pop("_target_") and m["net"]["backbone"].update(_partial_=True),
            r"has _partial_ but no _target_",
        ),
        (lambda m: m["optimizer"].update(_partial_=False), r"torch.optim.AdamW\) must be a factory"),
        (
            lambda m: m.update(scheduler={"_target_": "torch.optim.AdamW", "_partial_": True}),
            r"model.scheduler names 'torch.optim.AdamW'",
        ),
        (
            lambda m: m.update(optimizer={"_target_": "seqrec.models.SmallCNN", "_partial_": True}),
            r"model.optimizer names 'seqrec.models.SmallCNN'",
        ),
        (lambda m: m["net"].update(_target_="seqrec.system.CTCSystem"), r"model.net names 'seqrec.system.CTCSystem'"),
        (lambda m: m.update(_target_="seqrec.models.SeqRecNet"), r"model names 'seqrec.models.SeqRecNet'"),
        (lambda m: m["net"].update(image_height="${oc.env:HOME}"), r"model.net.image_height = '\$\{oc.env:HOME\}'"),
        (lambda m: m["net"]["sequence"].update(cell="${oc.decode:'{_target_: os.makedirs}'}"), r"is an interpolation"),
        (lambda m: m["net"].update(image_width=b"\x00"), r"model.net.image_width is a bytes"),
    ],
)
def test_hydra_tricks_are_refused(tmp_path, mutate, match):
    path = _crafted(tmp_path, lambda cfg: mutate(cfg["model"]))
    before = _files(tmp_path)
    _all_loaders_refuse(path, match)
    assert _files(tmp_path) == before


def test_resolver_anywhere_in_the_config_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_SECRET", "hunter2")
    path = _crafted(tmp_path, lambda cfg: cfg["data"].update(root="${oc.env:SEQREC_SECRET}"))
    with pytest.raises(CheckpointError, match=r"config.data.root = '\$\{oc.env:SEQREC_SECRET\}' is an interpolation"):
        read_checkpoint(path)


def test_unbuildable_allowed_config_is_a_checkpoint_error(tmp_path):
    path = _crafted(tmp_path, lambda cfg: cfg["model"]["net"].update(bogus=1))
    with pytest.raises(CheckpointError, match=r"cannot build seqrec.models.SeqRecNet .*bogus"):
        build_net(read_checkpoint(path))
    shapes = _crafted(tmp_path, lambda cfg: cfg["model"]["net"]["sequence"].update(hidden_size=32))
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_system(shapes)


@pytest.mark.parametrize(
    "mutate, match",
    [  # each would need tens of GB if built: refused from a probe on the meta device
        (lambda net: net["backbone"].update(channels=[16, 32, 64, 10**7]), "weights do not fit"),
        (lambda net: net["head"].update(num_classes=10**9), "weights do not fit"),
        (lambda net: net.update(image_height=28, image_width=10**8), "at most 1048576 pixels"),
    ],
)
def test_a_huge_model_is_refused_before_it_is_built(tmp_path, mutate, match):
    path = _crafted(tmp_path, lambda cfg: mutate(cfg["model"]["net"]))
    with pytest.raises(CheckpointError, match=match):
        build_net(read_checkpoint(path))
    with pytest.raises(CheckpointError, match=match):
        load_system(path)


def test_cli_refuses_crafted_checkpoint_cleanly(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SEQREC_DEBUG", raising=False)
    from PIL import Image

    out = tmp_path / "out"
    out.mkdir()
    path = _crafted(tmp_path, lambda cfg: _place(cfg["model"], "net", _writers(out)["pathlib.Path.write_text"]))
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((28, 140), np.uint8)).save(image)
    env = dict(os.environ, SEQREC_OFFLINE="1")
    env.pop("SEQREC_DEBUG", None)
    cmd = [sys.executable, "-m", "seqrec", "predict", "--model", str(path), str(image)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "seqrec predict: error: " in run.stderr and "'pathlib.Path.write_text'" in run.stderr, run.stderr
    from seqrec.cli import main

    assert main(["export", str(tmp_path / "x.onnx"), "--model", str(path)]) != 0
    assert "seqrec export: error: " in capsys.readouterr().err
    assert not any(out.iterdir()) and not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("name", ["ctc", "multihead", "multilabel"])
def test_bundled_checkpoints_from_before_the_allowlist_still_load(name):
    """The bundled files were written before these checks and the Hydra-free builder existed."""
    from seqrec import Recognizer

    path = PRETRAINED / f"{name}.ckpt"
    ckpt = read_checkpoint(path)
    state = ckpt["state_dict"]
    net = build_net(ckpt)
    assert all(torch.equal(v, state[f"net.{k}"]) for k, v in net.state_dict().items())
    system = load_system(path)
    assert type(system).head_name == name and system.seqrec_config == ckpt["seqrec"]["config"]
    assert all(torch.equal(v, state[k]) for k, v in system.state_dict().items())
    assert callable(system.optimizer_factory) and callable(system.scheduler_factory)
    rec = Recognizer.pretrained(name)
    # the fitted confidence temperature comes back on both paths (bundled models are calibrated)
    assert system.codec.temperature == rec.codec.temperature == ckpt["seqrec"]["codec"]["temperature"] != 1.0
    images = torch.rand(2, 1, 28, 140)
    with torch.no_grad():
        assert torch.allclose(rec.model(images), system.net(images), atol=1e-5)


def _config_targets(node) -> list[tuple[str, str]]:
    """(role, target) of every _target_ under a composed model config."""
    found = []
    for role, part in (
        ("system", {k: v for k, v in node.items() if k not in ("net", "optimizer", "scheduler")}),
        ("net", node.get("net")),
        ("optimizer", node.get("optimizer")),
        ("scheduler", node.get("scheduler")),
    ):
        stack = [part]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if "_target_" in item:
                    found.append((role, item["_target_"]))
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return found


ALLOWED = {"system": SYSTEM_TARGETS, "net": NET_TARGETS, "optimizer": OPTIMIZER_TARGETS, "scheduler": SCHEDULER_TARGETS}


GROUPS = [
    f"{group}={p.stem}" for group in ("model", "backbone", "scheduler") for p in Path(CONFIG_DIR, group).glob("*.yaml")
]


@pytest.mark.parametrize("override", sorted(GROUPS))
def test_every_shipped_config_is_allowed(override, tmp_path):
    """A new model, backbone or scheduler config must be added to the allowlists, or its checkpoints
    would not load: this fails first."""
    config = OmegaConf.to_container(compose_train([override], tmp_path), resolve=True)
    for role, target in _config_targets(config["model"]):
        assert target in ALLOWED[role], (override, role, target)
    check_saved_config(config, override)


@pytest.mark.parametrize("model", ["split", "segment", "ctc"])
def test_names_from_before_the_move_still_build(model, tmp_path):
    """Checkpoints written before seqrec.systems / seqrec.models.digits name seqrec.system.* and
    seqrec.baselines.*: those names stay allowed and build the same classes."""
    from seqrec.checkpoint import _build

    config = OmegaConf.to_container(compose_train([f"model={model}"], tmp_path), resolve=True)
    old = copy.deepcopy(config)
    system = old["model"]["_target_"].rsplit(".", 1)[1]
    old["model"]["_target_"] = f"seqrec.{'baselines' if model in ('split', 'segment') else 'system'}.{system}"
    if model in ("split", "segment"):
        old["model"]["net"]["_target_"] = "seqrec.baselines." + old["model"]["net"]["_target_"].rsplit(".", 1)[1]
    check_saved_config(old, "old names")
    new, built = _build(config["model"], "new"), _build(old["model"], "old")
    assert type(built) is type(new) and type(built.net) is type(new.net)
    assert built.state_dict().keys() == new.state_dict().keys()


@pytest.mark.parametrize("target", sorted(SYSTEM_TARGETS | NET_TARGETS | OPTIMIZER_TARGETS | SCHEDULER_TARGETS))
def test_every_allowed_target_is_a_class(target):
    import importlib

    module, _, name = target.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name), type)


# ------------------------------------------------------------------ best_checkpoint
def _fake_ckpt(path: Path, best: str | None = None) -> None:
    state = {"monitor": "val/exact_match", "best_model_path": best} if best else {}
    torch.save({"callbacks": {"ModelCheckpoint{'monitor': 'val/exact_match'}": state}}, path)


def test_best_checkpoint_rule(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    assert best_checkpoint(tmp_path) is None
    _fake_ckpt(folder / "last.ckpt")
    assert best_checkpoint(tmp_path) == folder / "last.ckpt"
    _fake_ckpt(folder / "epoch_000.ckpt")
    assert best_checkpoint(tmp_path) == folder / "epoch_000.ckpt"  # the monitored one beats last.ckpt
    assert best_checkpoint(folder) == folder / "epoch_000.ckpt"  # the checkpoints folder itself works too
    os.utime(folder / "epoch_000.ckpt", ns=(1, 1_000_000_000))
    _fake_ckpt(folder / "epoch_002.ckpt", best=str(folder / "epoch_000.ckpt"))  # newest, records epoch 0 as best
    assert best_checkpoint(tmp_path) == folder / "epoch_000.ckpt"
    _fake_ckpt(folder / "epoch_002.ckpt")  # no record: the newest
    assert best_checkpoint(tmp_path) == folder / "epoch_002.ckpt"
    assert best_checkpoint(folder / "last.ckpt") == folder / "last.ckpt"  # a file is taken as given

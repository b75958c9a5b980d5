"""Training through train(cfg): every head, learning, DDP, resume, checkpoints, W&B, errors."""

import csv
import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, compose_train, run_script
from hydra.errors import MissingConfigException
from pytorch_lightning.callbacks import ModelCheckpoint

from seqrec.checkpoint import best_checkpoint, load_system, read_checkpoint
from seqrec.train import instantiate_callbacks, train


@pytest.mark.parametrize("model", ["ctc", "multihead", "multilabel"])
def test_fast_dev_run_each_model(make_cfg, model):
    metrics = train(make_cfg(f"model={model}", "debug=fdr"))
    assert "test/exact_match" in metrics
    assert 0.0 <= metrics["test/exact_match"] <= 1.0
    assert metrics["test/loss"] > 0


@pytest.mark.parametrize("backbone", ["small", "resnet"])
def test_backbones_and_schedulers(make_cfg, backbone):
    for scheduler in ("cosine", "plateau", "none"):
        metrics = train(make_cfg("model=multihead", f"backbone={backbone}", f"scheduler={scheduler}", "debug=fdr"))
        assert "test/exact_match" in metrics


def test_learns_single_digits_well_above_chance(make_cfg):
    """1-digit strips: chance is 10%; a tiny model must clearly beat it within ~120 steps."""
    cfg = make_cfg(
        "model=multihead",
        "data.min_len=1",
        "data.max_len=1",
        "data.width=40",
        "data.augment=0",
        "data.digit_augment=0",
        "data.batch_size=32",
        "data.batches_per_epoch=40",
        "data.n_val=200",
        "data.n_test=300",
        "trainer.max_epochs=3",
        "model.optimizer.lr=0.003",
    )
    metrics = train(cfg)
    assert metrics["test/exact_match"] > 0.6, metrics


def test_checkpoint_carries_config_and_loads_without_configs_folder(make_cfg, tmp_path):
    train(make_cfg("model=ctc", "debug=limit"))
    ckpt_path = tmp_path / "checkpoints" / "last.ckpt"
    meta = read_checkpoint(ckpt_path)["seqrec"]
    assert meta["head"] == "ctc" and meta["codec"] == {"name": "ctc", "max_len": 5}
    assert meta["config"]["model"]["_target_"] == "seqrec.systems.CTCSystem"
    # A fresh interpreter in a folder without configs/ rebuilds the model from the file alone.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import torch; from seqrec.checkpoint import load_system; "
        f"s = load_system({str(ckpt_path)!r}); "
        "print(type(s).__name__, s.codec.decode(s(torch.zeros(2, 1, 28, 140))).texts.__len__())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["CTCSystem", "2"]


def test_loaded_checkpoint_matches_trained_weights(make_cfg, tmp_path):
    train(make_cfg("model=multilabel", "debug=limit"))
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    system = load_system(ckpt)
    state = read_checkpoint(ckpt)["state_dict"]
    for name, value in system.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_resume_continues_from_checkpoint(make_cfg, tmp_path):
    # OneCycle fixes its length at the start; extending a run needs a schedule that can continue.
    train(make_cfg("model=multihead", "scheduler=cosine", "trainer.max_epochs=1"))
    first = tmp_path / "checkpoints" / "last.ckpt"
    first_state = torch.load(first, weights_only=True)
    steps_after_first = first_state["global_step"]
    resumed = tmp_path / "resume.ckpt"
    first.rename(resumed)
    train(make_cfg("model=multihead", "scheduler=cosine", "trainer.max_epochs=2", f"ckpt_path={resumed}"))
    second = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert second["global_step"] == 2 * steps_after_first


def test_ema_weights_are_what_checkpoints_serve_and_resume_keeps_both(make_cfg, tmp_path):
    run = ("model=ctc", "callbacks=ema", "scheduler=cosine", "callbacks.ema.decay=0.9")
    train(make_cfg(*run, "trainer.max_epochs=1"))
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    averaged, raw = ckpt["state_dict"], ckpt["current_model_state"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in averaged)  # the average is not the raw weights
    system = load_system(last)  # what Recognizer and bench_cv read: the averaged weights
    assert all(torch.equal(v, averaged[k]) for k, v in system.state_dict().items())
    resumed = tmp_path / "resume.ckpt"
    last.rename(resumed)
    train(make_cfg(*run, "trainer.max_epochs=2", f"ckpt_path={resumed}"))
    again = torch.load(last, weights_only=True)
    assert again["global_step"] == 2 * ckpt["global_step"] and "current_model_state" in again


def test_final_fit_on_train_and_val_keeps_its_last_epoch(make_cfg, tmp_path):
    # val digits are trained on: picking an epoch by them would be selection on training data
    def selector(cfg):
        return next(cb for cb in instantiate_callbacks(cfg) if isinstance(cb, ModelCheckpoint))

    assert selector(make_cfg("model=multihead")).monitor == "val/exact_match"
    final_fit = make_cfg("model=multihead", "data.train_on_val=true", "trainer.max_epochs=2")
    assert selector(final_fit).monitor is None
    train(final_fit)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    assert kept == ["epoch_001.ckpt"]
    assert best_checkpoint(tmp_path) == tmp_path / "checkpoints" / "epoch_001.ckpt"


@pytest.mark.parametrize("where", ["local", "memory"])
def test_csv_log_keeps_its_rows_when_a_new_process_writes_on(tmp_path, where, monkeypatch):
    """ddp_spawn tests in a new process, whose writer has not seen the fit's columns (Lightning's
    CSVLogger then failed, or deleted the fit's rows). Also on a remote store (fsspec's memory://)."""
    import fsspec

    from seqrec import loggers
    from seqrec.loggers import CSVLogger

    atomic, original = [], loggers.replace_file  # rewrites through the temporary-file-and-rename path

    def replace_file(path, write, **kw):
        atomic.append(path)
        return original(path, write, **kw)

    monkeypatch.setattr(loggers, "replace_file", replace_file)

    root = str(tmp_path) if where == "local" else f"memory://{tmp_path.name}"
    fit = CSVLogger(root, name="csv")
    fit.log_metrics({"train/loss": 1.0, "val/exact_match": 0.5}, step=0)
    fit.save()
    test = CSVLogger(root, name="csv", version=fit.version)  # a fresh writer on the same log
    test.log_metrics({"test/cer": 0.1}, step=1)
    test.save()
    test.log_metrics({"test/cer": 0.2, "test/exact_match": 0.9}, step=2)
    test.save()
    fs, log_dir = fsspec.core.url_to_fs(f"{root}/csv/version_0")
    with fs.open(f"{log_dir}/metrics.csv", "r", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["step", "test/cer", "test/exact_match", "train/loss", "val/exact_match"]
    assert [r["val/exact_match"] for r in rows] == ["0.5", "", ""]
    assert [r["test/cer"] for r in rows] == ["", "0.1", "0.2"]
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(log_dir, detail=False)] == ["metrics.csv"]  # no temporaries left
    assert CSVLogger(root, name="csv").version == 1  # a new run still starts its own log
    assert len(atomic) == (2 if where == "local" else 0)  # a local disk renames; a remote store uploads whole


@pytest.mark.slow
def test_ddp_sim_two_cpu_processes_sync_metrics(make_cfg, tmp_path):
    """DDP over gloo with 2 processes; test metrics must equal a 1-process test of the same weights."""
    metrics = train(make_cfg("model=multihead", "trainer=ddp_sim", "debug=limit", "data.n_test=64", "logger=csv"))
    assert "test/exact_match" in metrics
    rows = list(csv.DictReader(open(tmp_path / "csv" / "version_0" / "metrics.csv")))  # fit and test: spawned apart
    assert any(r.get("val/exact_match") for r in rows) and sum(bool(r.get("test/cer")) for r in rows) == 1
    best = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert best["seqrec"]["head"] == "multihead"
    single = train(
        make_cfg(
            "model=multihead",
            "debug=limit",
            "data.n_test=64",
            "train=false",
            f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}",
        )
    )
    assert single["test/exact_match"] == pytest.approx(metrics["test/exact_match"])
    assert single["test/cer"] == pytest.approx(metrics["test/cer"])
    assert single["test/digit_acc"] == pytest.approx(metrics["test/digit_acc"])


def test_unknown_model_lists_choices():
    with pytest.raises(MissingConfigException, match="ctc"):
        compose_train(["model=transformerx"])


def test_ctc_too_narrow_fails_before_training(make_cfg, tmp_path):
    with pytest.raises(ValueError, match=r"image width 32 gives 8 CTC frames.*needs >= 11"):
        train(make_cfg("model=ctc", "model.net.image_width=32"))
    assert not (tmp_path / "checkpoints").exists()


def test_ctc_rejects_focal_gamma_before_training(make_cfg, tmp_path):
    with pytest.raises(ValueError, match=r"focal_gamma=2.0: the ctc head supports only focal_gamma=0"):
        train(make_cfg("model=ctc", "+model.focal_gamma=2.0"))
    assert not (tmp_path / "checkpoints").exists()


def test_max_len_above_head_positions(make_cfg):
    with pytest.raises(ValueError, match="max_len=5 is above the head's 3 positions"):
        train(make_cfg("model=multihead", "model.net.head.positions=3"))
    with pytest.raises(ValueError, match=r"data.max_len=5 is above the model's max_len=4"):
        train(make_cfg("model=multihead", "model.max_len=4", "model.net.head.positions=4"))


def test_schedule_without_run_length_is_refused(make_cfg):
    with pytest.raises(ValueError, match="needs a known run length"):
        train(make_cfg("model=multihead", "trainer.max_epochs=-1"))


def test_onecycle_survives_tiny_runs(make_cfg):
    metrics = train(make_cfg("model=multihead", "data.batches_per_epoch=10", "trainer.max_epochs=1"))
    assert metrics["test/loss"] > 0


def test_missing_checkpoint_path(make_cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        train(make_cfg(f"ckpt_path={tmp_path / 'nope.ckpt'}"))
    assert not (tmp_path / "checkpoints").exists()


def test_bad_data_values_fail_before_training(make_cfg):
    with pytest.raises(ValueError, match="min_len"):
        train(make_cfg("data.min_len=6"))
    with pytest.raises(ValueError, match="batch_size"):
        train(make_cfg("data.batch_size=0"))


def test_wandb_offline_run_writes_files_and_metrics(make_cfg, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc credentials either
    metrics = train(make_cfg("model=multihead", "logger=wandb", "debug=limit"))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("run-*.wandb"))
    assert "wandb sync" in capsys.readouterr().out
    rows = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text()
    assert "test/exact_match" in rows and "val/exact_match" in rows
    assert "val/elapsed_s" in rows  # wall clock of fitting, for accuracy-against-time plots
    assert metrics["test/exact_match"] >= 0


@pytest.mark.slow
def test_script_multirun_three_heads_three_grouped_runs(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "model=ctc,multihead,multilabel", "debug=fdr", "data.source=bundled", "logger=wandb"]
    out = run_script("train", [*args, f"hydra.sweep.dir={sweep}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = sorted(sweep.glob("*/wandb/offline-run-*"))
    assert len(runs) == 3, runs
    configs = []
    for run in runs:
        found = list(run.glob("files/wandb-metadata.json"))
        meta = json.loads(found[0].read_text()) if found else {}
        configs.append((run.name, meta))
    assert len({name.split("-")[-1] for name, _ in configs}) == 3  # three distinct run ids
    text = out.stdout + out.stderr
    assert text.count("wandb sync") >= 3


def test_script_runs_main_job_offline(tmp_path):
    """`python scripts/train.py model=ctc` as a user runs it (shrunk with debug=fdr), default loggers."""
    args = ["model=ctc", "debug=fdr", "data.source=auto", f"hydra.run.dir={tmp_path / 'run'}"]
    out = run_script("train", args, tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "test/exact_match" in out.stdout
    assert "'auto' -> 'bundled'" in out.stdout + out.stderr


def test_fine_tune_on_saved_samples_from_pretrained(make_cfg, tmp_path):
    """The demo's save layout (images/<name>.png + labels.csv) trains, starting from the bundled weights."""
    from PIL import Image

    from seqrec import make_strips

    folder = tmp_path / "samples"
    (folder / "images").mkdir(parents=True)
    strips = make_strips(40, seed=5, split="test", source="bundled")
    rows = ["filename,label"]
    for i, (image, label) in enumerate(zip(strips.images, strips.labels)):
        Image.fromarray(image).save(folder / "images" / f"s{i:02d}.png")
        rows.append(f"s{i:02d}.png,{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    metrics = train(make_cfg("model=ctc", "data=samples", f"data.root={folder}", "init_from=ctc", "train=false"))
    assert metrics["test/exact_match"] >= 0.5  # the pretrained model reads held-out strips
    tuned = train(make_cfg("model=ctc", "data=samples", f"data.root={folder}", "init_from=ctc", "trainer.max_epochs=1"))
    assert "test/exact_match" in tuned
    with pytest.raises(ValueError, match="is a ctc model, but model=multihead"):
        train(make_cfg("model=multihead", "data=samples", f"data.root={folder}", "init_from=ctc"))
    with pytest.raises(FileNotFoundError, match="no labels.csv"):
        train(make_cfg("model=ctc", "data=samples", f"data.root={tmp_path / 'empty'}"))


@pytest.mark.parametrize(
    "code",
    [
        "import seqrec; f = seqrec.train; import seqrec.train as m; g = seqrec.train",
        "from seqrec.train import train; import seqrec; f = g = seqrec.train; m = sys.modules['seqrec.train']",
        "from seqrec import train as f; import seqrec; g = seqrec.train; m = sys.modules['seqrec.train']",
    ],
)
def test_seqrec_train_stays_callable_whatever_the_import_order(code):
    """`seqrec.train` names the function and its module; importing the module must not leave a
    non-callable in its place (a fresh interpreter each time: import order is the point)."""
    check = (
        f"import sys; {code}; "
        "assert callable(f) and callable(g) and g is seqrec.train, (f, g); "
        "assert m.train.__name__ == 'train' and m.LatestCheckpoint; "
        "from hydra.utils import get_class; assert get_class('seqrec.train.LatestCheckpoint') is m.LatestCheckpoint"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("head", ["ctc", "multihead", "multilabel"])
def test_paper_finetune_is_stage_one_plus_paper_at_a_lower_rate(head, tmp_path):
    """The published models' stage 2: stage 1's data and net, paper augmentation, a lower lr."""
    from omegaconf import OmegaConf

    stage1 = compose_train([f"experiment=pretrained_{head}"], tmp_path)
    stage2 = compose_train([f"experiment=paper_finetune_{head}"], tmp_path)
    assert stage2.init_from == head  # by default: the bundled weights, trained on
    assert stage1.data.paper_augment == 0 < stage2.data.paper_augment <= 1
    assert stage2.model.optimizer.lr < stage1.model.optimizer.lr and stage2.seed == stage1.seed
    assert OmegaConf.to_container(stage2.model.net) == OmegaConf.to_container(stage1.model.net)
    assert (stage2.data.source, stage2.data.length_weights) == (stage1.data.source, stage1.data.length_weights)
    assert stage2.backbone_pretrain is None  # it starts from init_from's weights (both together are refused)


def test_the_ctc_recipe_has_its_levers_and_fits_finally_on_train_and_val_only_when_asked(tmp_path):
    """The bundled ctc's recipe (BENCHMARKS.md, "Recipe levers"): EMA weights, a digit-pretrained
    backbone and 100 epochs; its cross-validation folds select an epoch on val, the final fit asks
    for train + val."""
    recipe = compose_train(["experiment=pretrained_ctc"], tmp_path)
    assert "ema" in recipe.callbacks and recipe.backbone_pretrain.steps == 4000
    from omegaconf import OmegaConf

    yaml = ROOT / "configs" / "experiment" / "pretrained_ctc.yaml"
    assert OmegaConf.load(yaml).trainer.max_epochs == 100  # (the tiny test config shrinks the composed one)
    assert recipe.data.train_on_val is False


def test_a_missing_value_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"missing value for init_from; give it on the command line"):
        train(compose_train(["experiment=paper_finetune_ctc", "init_from=???"], tmp_path))
    assert not (tmp_path / "checkpoints").exists()

"""scripts/compare.py on a tiny offline sweep; the W&B group reader; experiment=compare_heads."""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import CONFIG_DIR, ROOT, compose_train
from omegaconf import OmegaConf, open_dict

from seqrec.train import train

HEADS = ["ctc", "multihead", "multilabel"]
TINY = ["logger=csv", "data.batches_per_epoch=2", "data.n_val=32", "data.n_test=32", "trainer.max_epochs=1"]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """What `scripts/train.py -m model=ctc,multihead,multilabel` leaves: job folders 0/ 1/ 2/ with
    .hydra/config.yaml, overrides.yaml, csv/version_0/metrics.csv and checkpoints/."""
    root = tmp_path_factory.mktemp("sweep")
    for job, head in enumerate(HEADS):
        out = root / str(job)
        cfg = compose_train([f"model={head}", *TINY], out)
        (out / ".hydra").mkdir(parents=True)
        job_cfg = cfg.copy()
        with open_dict(job_cfg):
            del job_cfg["hydra"]
        OmegaConf.save(job_cfg, out / ".hydra" / "config.yaml")
        OmegaConf.save(OmegaConf.create([f"model={head}"]), out / ".hydra" / "overrides.yaml")
        train(cfg)
    return root


def test_compare_three_rows_finite_numbers_files_and_plots(sweep, tmp_path):
    out = tmp_path / "report"
    rc = load_script("compare").main(
        [str(sweep), "--out", str(out), "--gaps", "-8,0,8", "--n-gap", "24", "--n-speed", "64", "--no-optimize"]
    )
    assert rc == 0
    with open(out / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == HEADS
    numeric = [
        "exact_match",
        "digit_acc",
        "cer",
        "acc_len5",
        "params",
        "train_time_s",
        "steps",
        "predict_strips_per_s",
        "acc_gap-8",
        "acc_gap+0",
        "acc_gap+8",
    ]
    for r in rows:
        assert r["metrics_from"] == "test"
        for col in numeric:
            assert math.isfinite(float(r[col])), (r["model"], col, r[col])
        assert 0 <= float(r["exact_match"]) <= 1 and float(r["params"]) > 1000 and float(r["predict_strips_per_s"]) > 0
        for key in ("exact_match", "digit_acc", "acc_gap-8", "acc_gap+0", "acc_gap+8"):  # 95% intervals travel too
            assert float(r[f"{key}_lo"]) <= float(r[key]) <= float(r[f"{key}_hi"]), (r["model"], key)
    md = (out / "comparison.md").read_text()
    for head in HEADS:
        assert f"| {head} |" in md
    for png in ("val_accuracy.png", "accuracy_by_length.png", "accuracy_by_gap.png"):
        assert (out / png).stat().st_size > 1000 and f"]({png})" in md


def test_compare_without_checkpoint_leaves_columns_empty(sweep, tmp_path):
    """A run that produced no checkpoint (e.g. fast_dev_run): its row is there, the measured
    columns are empty, nothing crashes."""
    import shutil

    from seqrec.compare import compare

    copy = tmp_path / "sweep"
    shutil.copytree(sweep / "0", copy / "0")
    shutil.rmtree(copy / "0" / "checkpoints")
    report = compare(copy, tmp_path / "out", n_gap=8, gaps=[0], n_speed=0, wandb_mode="off")
    (run,) = report.runs
    assert math.isnan(run.params) and not run.gap_acc and math.isfinite(run.metrics["exact_match"])
    assert "| ctc |" in report.markdown.read_text()


class FakeRun(SimpleNamespace):
    def history(self, keys, pandas=False):
        return [
            {"trainer/global_step": 10, "val/exact_match": 0.2},
            {"trainer/global_step": 20, "val/exact_match": 0.5},
        ]


def test_wandb_group_runs_and_summary_run_offline(tmp_path, monkeypatch):
    """--wandb-group reads summary/history/config of each run (a stand-in for wandb.Api here),
    skips an earlier summary run, and logs the new summary run into the group (offline)."""
    from seqrec.compare import compare

    runs = [
        FakeRun(
            name=f"{h}-{i}",
            job_type="train",
            config={"model_name": h, "data": {"max_len": 5}},
            summary={
                "test/exact_match": 0.5 + i / 10,
                "test/digit_acc": 0.9,
                "test/cer": 0.05,
                "test/acc_len5": 0.5,
                "_runtime": 12.5,
            },
        )
        for i, h in enumerate(HEADS)
    ]
    runs.append(FakeRun(name="comparison", job_type="compare", config={}, summary={}))
    api = SimpleNamespace(
        runs=lambda path, filters: runs if path == "me/seqrec" and filters == {"group": "sweep-x"} else []
    )
    monkeypatch.setenv("WANDB_MODE", "offline")
    report = compare(wandb_group="me/seqrec/sweep-x", out=tmp_path, api=api, n_gap=0, n_speed=0, wandb_mode="offline")
    assert [r.head for r in report.runs] == HEADS
    assert report.runs[2].metrics["exact_match"] == pytest.approx(0.7)
    assert report.runs[0].curve == [(10, 0.2), (20, 0.5)] and report.runs[0].train_time_s == 12.5
    assert report.wandb_run and list((tmp_path / "wandb").glob("offline-run-*"))
    assert (tmp_path / "val_accuracy.png").is_file()


def test_compare_heads_experiment_composes_a_five_way_multirun(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose(config_name="train.yaml", return_hydra_config=True, overrides=["experiment=compare_heads"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert set(cfg.hydra.sweeper.params.model.split(",")) == {"ctc", "multihead", "multilabel", "split", "segment"}
    assert cfg.data.source == "bundled" and "wandb" in cfg.logger and cfg.data.min_len == 1
    assert cfg.hydra.callbacks.compare._target_ == "seqrec.compare.CompareCallback"
    for head in cfg.hydra.sweeper.params.model.split(","):
        job = compose_train(["experiment=compare_heads", f"model={head}"], tmp_path)
        system = instantiate(job.model, _convert_="all")
        assert system.head_name == head


@pytest.mark.slow
def test_real_multirun_then_compare_script(tmp_path):
    """scripts/train.py -m (three heads, W&B offline) then scripts/compare.py as a user runs them."""
    env = dict(os.environ, WANDB_MODE="offline", SEQREC_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("WANDB_API_KEY", None)
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "-m",
        "model=ctc,split,segment",
        "debug=limit",
        "data.source=bundled",
        "logger=wandb",
        "trainer.max_epochs=1",
        "data.batches_per_epoch=2",
        f"hydra.sweep.dir={sweep}",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    cmd = [sys.executable, str(ROOT / "scripts" / "compare.py"), str(sweep), "--n-gap", "16", "--gaps", "-8..8..8"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(sweep / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["head"] for r in rows] == ["ctc", "split", "segment"]
    assert all(math.isfinite(float(r["exact_match"])) and math.isfinite(float(r["acc_gap-8"])) for r in rows)
    assert "wandb sync" in out.stdout  # the summary run went into the sweep's (offline) group

"""scripts/compare.py on a tiny offline sweep; the W&B group reader; experiment=compare_heads."""

from __future__ import annotations

import csv
import importlib.util
import math
from types import SimpleNamespace

import pytest
from conftest import CONFIG_DIR, ROOT, compose_train, run_script
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
        + ["--n-long", "16"]
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
    ctc, flat = rows[0], rows[1]  # ctc reads any width; multihead is fixed-width
    for k in (6, 7, 8):
        assert float(ctc[f"acc_long{k}_lo"]) <= float(ctc[f"acc_long{k}"]) <= float(ctc[f"acc_long{k}_hi"])
        assert flat[f"acc_long{k}"] == ""
    assert flat["long_note"] == "n/a (fixed width)" and "| n/a (fixed width) |" in md
    assert "Seed variation is **unmeasured**" in md  # one seed per head
    assert "- multihead, multilabel: fixed-width heads" in md
    for png in ("val_accuracy.png", "val_accuracy_time.png", "accuracy_by_length.png", "accuracy_by_gap.png"):
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


def _compose_experiment(name: str):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        return compose(config_name="train.yaml", return_hydra_config=True, overrides=[f"experiment={name}"])


def test_compare_heads_experiment_sweeps_four_heads_times_three_seeds(tmp_path):
    """Issue 13: the comparison runs every head (attention included) with repeated seeds."""
    from hydra.utils import instantiate

    cfg = _compose_experiment("compare_heads")
    assert cfg.hydra.mode.name == "MULTIRUN"
    params = cfg.hydra.sweeper.params
    assert set(params.model.split(",")) == {"ctc", "multihead", "multilabel", "attention"}
    assert str(params.seed).split(",") == ["0", "1", "2"]
    assert cfg.data.source == "bundled" and "wandb" in cfg.logger and cfg.data.min_len == 1
    callback = cfg.hydra.callbacks.compare
    assert callback._target_.endswith("CompareCallback") and callback.learned_at == 0.85 and callback.n_long > 0
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    for head in params.model.split(","):
        job = compose_train(["experiment=compare_heads", f"model={head}"], tmp_path)
        system = instantiate(job.model, _convert_="all")
        assert system.head_name == head
    fold = compose_train(["experiment=compare_heads", "model=ctc", "seed=2"], tmp_path).data
    assert (fold.folds, fold.fold) == (3, 2)  # cross-validated: seed k tests on fold k


def test_compare_heads_data_experiment_sweeps_training_digits():
    cfg = _compose_experiment("compare_heads_data")
    params = cfg.hydra.sweeper.params
    assert str(params["data.train_digits"]).split(",") == ["250", "500", "1000", "2000", "4000"]
    assert cfg.data.folds is None and cfg.data.fold is None  # subsets of the fixed split's 4,000 train digits
    assert set(params.model.split(",")) == {"ctc", "multihead", "multilabel", "attention"}


@pytest.mark.slow
def test_real_multirun_then_compare_script(tmp_path):
    """A tiny real sweep as a user runs it -- scripts/train.py -m over heads x two seeds x two
    training-set sizes (W&B offline, backbone pretraining on) -- then scripts/compare.py: the report
    has arms with intervals over seeds, the pairs, the sample-efficiency table and learned flags."""
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "model=ctc,multihead",
        "seed=0,1",
        "data.train_digits=250,4000",
        "debug=limit",
        "trainer.max_epochs=1",
        "data.batches_per_epoch=2",
        "data.n_val=32",
        "data.n_test=64",
        "data.source=bundled",
        "logger=wandb",
        "backbone_pretrain={steps:2,batch_size:8}",
        f"hydra.sweep.dir={sweep}",
    ]
    out = run_script("train", args, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    out = run_script("compare", [str(sweep), "--n-gap", "16", "--gaps", "-8..8..8"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(sweep / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["head"] for r in rows) == ["ctc"] * 4 + ["multihead"] * 4
    assert all(math.isfinite(float(r["exact_match"])) and math.isfinite(float(r["acc_gap-8"])) for r in rows)
    with open(sweep / "comparison_arms.csv") as f:
        arms = list(csv.DictReader(f))
    assert len(arms) == 4 and all(a["n_seeds"] == "2" for a in arms)  # seeds are repeats, not arms
    assert all(float(a["exact_match_lo"]) <= float(a["exact_match_mean"]) <= float(a["exact_match_hi"]) for a in arms)
    with open(sweep / "comparison_sample_efficiency.csv") as f:
        assert sorted({int(r["train_digits"]) for r in csv.DictReader(f)}) == [250, 4000]
    text = (sweep / "comparison.md").read_text()
    assert "## Sample efficiency" in text and "## Differences between heads" in text
    assert "has not learned" in text  # two tiny steps: nothing has learned, and the report says so
    assert (sweep / "sample_efficiency.png").is_file()
    assert "wandb sync" in out.stdout  # the summary run went into the sweep's (offline) group


@pytest.mark.slow
def test_compare_heads_runs_its_jobs_side_by_side_with_data_workers(tmp_path):
    """experiment=compare_heads launches jobs two at a time (joblib): each job's DataLoader worker
    still starts (loky's start method cannot start it; the data module forks it on Linux)."""
    sweep = tmp_path / "sweep"
    args = [
        "experiment=compare_heads",
        'hydra.sweeper.params={seed: "0", model: "ctc,multihead"}',
        "~hydra.callbacks.compare",
        *TINY,
        "data.num_workers=1",
        "backbone_pretrain={steps:2,batch_size:8}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep}",
    ]
    out = run_script("train", args, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in out.stdout + out.stderr
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert (sweep / job / "csv" / "version_0" / "metrics.csv").is_file()


# ---------------------------------------------------------------------- repeated seeds, fabricated runs
FAB_HEADS = {"ctc": (0.90, 0.94), "multihead": (0.02, 0.03)}  # exact match of seeds 0 and 1
FAB_DIGITS = (250, None)  # None: the whole train pool (4,000 bundled digits)


def fabricate_run(out, head, seed, em, digits, elapsed=True, wandb=False):
    """A run folder as a training leaves it (config, overrides, metrics.csv), without training: the
    test metrics carry a digit-bootstrap interval of +-0.02."""
    (out / ".hydra").mkdir(parents=True)
    (out / "csv" / "version_0").mkdir(parents=True)
    config = {
        "seed": seed,
        "data": {"source": "bundled", "batch_size": 16, "batches_per_epoch": 5, "train_digits": digits},
        "trainer": {"max_epochs": 2},
        "backbone_pretrain": {"steps": 300, "batch_size": 64},
        "logger": {"wandb": {"project": "seqrec", "group": "fab"}} if wandb else {"csv": {}},
    }
    OmegaConf.save(OmegaConf.create(config), out / ".hydra" / "config.yaml")
    overrides = [f"model={head}", f"seed={seed}"] + ([f"data.train_digits={digits}"] if digits else [])
    OmegaConf.save(OmegaConf.create(overrides), out / ".hydra" / "overrides.yaml")
    cols = ["epoch", "step", "val/exact_match", "val/elapsed_s", "test/exact_match", "test/exact_match_lo"]
    cols += ["test/exact_match_hi", "test/digit_acc", "test/cer"]
    rows = [
        {"epoch": 0, "step": 4, "val/exact_match": em / 2, "val/elapsed_s": 3.0 + seed},
        {"epoch": 1, "step": 9, "val/exact_match": em, "val/elapsed_s": 6.0 + seed},
        {"epoch": 1, "step": 10, "test/exact_match": em, "test/exact_match_lo": em - 0.02,
         "test/exact_match_hi": em + 0.02, "test/digit_acc": em, "test/cer": 1 - em},
    ]  # fmt: skip
    if not elapsed:
        cols.remove("val/elapsed_s")
        rows = [{k: v for k, v in r.items() if k != "val/elapsed_s"} for r in rows]
    with open(out / "csv" / "version_0" / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def fabricate_sweep(root, **kwargs):
    job = 0
    for digits in FAB_DIGITS:
        for head, ems in FAB_HEADS.items():
            for seed, em in enumerate(ems):
                fabricate_run(root / str(job), head, seed, em, digits, **kwargs)
                job += 1
    return root


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_seeds_sweep_report_arms_intervals_pairs_sample_efficiency(tmp_path):
    from seqrec.compare import compare
    from seqrec.evaluation.aggregate import arm_interval

    sweep = fabricate_sweep(tmp_path / "sweep")
    report = compare(sweep, tmp_path / "out", n_gap=0, n_speed=0, n_long=0, wandb_mode="off")
    runs = read_csv(report.csv)
    assert len(runs) == 8 and [r["seed"] for r in runs[:2]] == ["0", "1"]
    assert {r["train_digits"] for r in runs} == {"250", ""} and runs[0]["arm"] == "ctc (data.train_digits=250)"
    assert runs[0]["learned"] == "True" and runs[2]["learned"] == "False"
    arms = read_csv(report.csvs["arms"])
    assert [a["arm"] for a in arms] == [
        "ctc (data.train_digits=250)",
        "multihead (data.train_digits=250)",
        "ctc",
        "multihead",
    ]
    assert [a["train_digits"] for a in arms] == ["250", "250", "4000", "4000"]  # null: the whole bundled pool
    want = arm_interval([0.90, 0.94], [0.88, 0.92], [0.92, 0.96])
    for key in ("mean", "lo", "hi", "s_seed", "se_test"):
        assert float(arms[0][f"exact_match_{key}"]) == pytest.approx(getattr(want, key)), key
    assert arms[0]["n_seeds"] == "2" and arms[0]["seeds"] == "0 1" and float(arms[0]["exact_match_lo"]) < 0.92
    pairs = read_csv(report.csvs["pairs"])
    assert [(p["a"], p["b"], p["settings"]) for p in pairs] == [
        ("ctc (data.train_digits=250)", "multihead (data.train_digits=250)", "data.train_digits=250"),
        ("ctc", "multihead", ""),
    ]
    assert all(p["verdict"] == "real" and float(p["lo"]) > 0 for p in pairs)
    eff = read_csv(report.csvs["sample_efficiency"])
    assert [(e["curve"], e["train_digits"]) for e in eff] == [
        ("ctc", "250"),
        ("ctc", "4000"),
        ("multihead", "250"),
        ("multihead", "4000"),
    ]
    md = report.markdown.read_text()
    assert "# Comparison of 8 runs (4 arms)" in md
    assert "Budget of each run: at most 2 epochs of 5 batches, batch 16, after 300 steps of batch 64 pretraining" in md
    assert "**multihead has not learned** at this budget (mean exact match 2.5% < 85%)" in md
    assert "**multihead (data.train_digits=250) has not learned** at this budget and training data" in md
    assert "| ctc | 92.0% [" in md and "| setting | first | second | difference | 95% interval | verdict |" in md
    assert "| data.train_digits=250 | ctc | multihead | +89.5 | [+63.2, +100.0] | real |" in md
    assert (
        "- defaults: ctc leads multihead by 89.5 points [63.2, 100.0]: larger than the noise (not learned: multihead;"
        in md
    )
    assert "| head | 250 | 4,000 |" in md and "| multihead | 2.5% [0.0, 9.2]* | 2.5% [0.0, 9.2]* |" in md
    assert "| ctc (seed=1, data.train_digits=250) | 94.0% [92.0, 96.0] |" in md  # the per-run table
    for key, png in (
        ("val_curve", "val_accuracy.png"),
        ("val_time", "val_accuracy_time.png"),
        ("sample_efficiency", "sample_efficiency.png"),
    ):
        assert report.plots[key].stat().st_size > 1000 and f"]({png})" in md
    assert "Seed variation is **unmeasured**" not in md and "no `val/elapsed_s`" not in md


def test_runs_without_elapsed_time_skip_the_wall_clock_plot(tmp_path):
    from seqrec.compare import compare

    sweep = tmp_path / "sweep"
    fabricate_run(sweep / "0", "ctc", 0, 0.9, None, elapsed=False)
    fabricate_run(sweep / "1", "ctc", 1, 0.92, None, elapsed=False)
    report = compare(sweep, tmp_path / "out", n_gap=0, n_speed=0, n_long=0, wandb_mode="off")
    md = report.markdown.read_text()
    assert "val_time" not in report.plots and "no `val/elapsed_s`" in md and "val_curve" in report.plots
    assert "Every arm has learned" in md and "sample_efficiency" not in report.csvs  # one data size
    assert "## Differences between heads" not in md  # one head: nothing to compare


def test_summary_run_logs_arm_pair_and_sample_efficiency_tables_offline(tmp_path, monkeypatch):
    import wandb

    from seqrec.compare import compare

    logged = {}
    real_init = wandb.init

    def init(**kwargs):
        run = real_init(**kwargs)
        real_log = run.log
        run.log = lambda payload, **kw: (logged.update(payload), real_log(payload, **kw))
        return run

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.setenv("WANDB_MODE", "offline")
    sweep = fabricate_sweep(tmp_path / "sweep", wandb=True)
    report = compare(sweep, tmp_path / "out", n_gap=0, n_speed=0, n_long=0, wandb_mode="offline")
    assert report.wandb_run and list((tmp_path / "out" / "wandb").glob("offline-run-*"))
    for key in ("table", "arms_table", "pairs_table", "sample_efficiency_table"):
        assert isinstance(logged[f"comparison/{key}"], wandb.Table), key
    assert len(logged["comparison/arms_table"].data) == 4 and len(logged["comparison/pairs_table"].data) == 2
    for key in ("val_curve", "val_time", "sample_efficiency"):
        assert isinstance(logged[f"comparison/{key}"], wandb.Image), key


def test_compare_rejects_bad_learned_at_and_n_long(tmp_path, capsys):
    from seqrec.compare import compare

    sweep = tmp_path / "sweep"
    fabricate_run(sweep / "0", "ctc", 0, 0.9, None)
    with pytest.raises(ValueError, match="learned_at"):
        compare(sweep, tmp_path / "out", learned_at=85, wandb_mode="off")
    with pytest.raises(ValueError, match="n_long"):
        compare(sweep, tmp_path / "out", n_long=-1, wandb_mode="off")
    assert load_script("compare").main([str(sweep), "--learned-at", "0", "--n-gap", "0"]) == 2
    assert "learned_at must be" in capsys.readouterr().err


class SlotReader:
    """A stand-in Recognizer whose outputs are max_len + 1 slots at any width (an attention head):
    it reads the first max_len digits of each strip right and drops the rest."""

    fixed_width, max_len, image_size = False, 5, (28, 140)

    def __init__(self):
        self.labels = []

    def logits(self, x):
        import torch

        return torch.zeros(len(x), self.max_len + 1, 11)

    def predict(self, images, batch_size=256):
        return [t[: self.max_len] for t in self.labels[: len(images)]]


def test_length_generalisation_of_a_slot_head_is_measured_and_explained(monkeypatch):
    from seqrec.data.sources import load_digits
    from seqrec.evaluation import measure as measure_mod
    from seqrec.evaluation.runs import Run

    reader, real = SlotReader(), measure_mod.evaluate

    def evaluate(rec, strips, **kw):
        rec.labels = list(strips.labels)
        return real(rec, strips, **kw)

    monkeypatch.setattr(measure_mod, "evaluate", evaluate)
    run = Run(path=None, head="attention", config={"data": {"height": 28, "width": 140, "min_len": 1, "gap": [0, 2]}})
    pool = load_digits("bundled", "test")
    measure_mod.measure_long(run, reader, pool, 12, (5, 6), seed=1)
    assert run.long_acc == {5: 1.0, 6: 0.0}  # 0% on 6 digits is the honest number
    assert run.long_ci[6] == (0.0, 0.0) and "reads at most 5 digits" in run.long_note
    fixed = Run(path=None, head="multihead")
    reader.fixed_width = True
    measure_mod.measure_long(fixed, reader, pool, 12, (6,))
    assert fixed.long_acc == {} and fixed.long_note == "n/a (fixed width)"


def test_a_cross_validated_run_is_measured_on_its_own_fold(monkeypatch, tmp_path):
    """Gap and long-strip tests of a fold's run use that fold's test digits: the fixed test split
    overlaps the fold's training digits."""
    from seqrec.data.sources import load_digits
    from seqrec.evaluation import measure as measure_mod
    from seqrec.evaluation.runs import Run
    from seqrec.recognizer import Recognizer

    reader, seen = SlotReader(), set()
    reader.model = None  # no parameters to count

    def evaluate(rec, strips, **kw):
        seen.update(int(i) for i in strips.digit_index.ravel() if i >= 0)
        return {"exact_match": 1.0, "exact_match_lo": 1.0, "exact_match_hi": 1.0}

    monkeypatch.setattr(measure_mod, "evaluate", evaluate)
    monkeypatch.setattr(Recognizer, "from_checkpoint", classmethod(lambda cls, *a, **k: reader))
    data = {"source": "bundled", "height": 28, "width": 140, "min_len": 1, "folds": 3, "fold": 1}
    run = Run(path=None, head="attention", config={"data": data}, checkpoint=tmp_path / "x.ckpt")
    measure_mod.measure(run, gaps=(0, 4), n_gap=40, n_speed=0, n_long=10, long_lengths=(6,))
    fold = set(load_digits("bundled", "test", folds=3, fold=1).ids.tolist())
    train = set(load_digits("bundled", "train", folds=3, fold=1).ids.tolist())
    assert seen and seen <= fold and not seen & train and set(run.gap_acc) == {0, 4} and 6 in run.long_acc


def test_compare_callback_passes_its_settings(tmp_path):
    """The Hydra callback after a multirun: learned_at and n_long reach the report."""
    from seqrec.compare import CompareCallback

    sweep = fabricate_sweep(tmp_path / "sweep")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    CompareCallback(n_gap=0, n_speed=0, n_long=0, learned_at=0.02, wandb_mode="off").on_multirun_end(config)
    md = (sweep / "comparison.md").read_text()
    assert "Every arm has learned: mean exact match at least 2%" in md and (sweep / "comparison_arms.csv").is_file()

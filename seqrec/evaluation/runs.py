"""Trained runs: read from a Hydra run folder (config, metrics.csv, best checkpoint) or from a W&B group."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUMMARY_JOB_TYPE = "compare"  # W&B job_type of the comparison's own summary run


@dataclass
class Run:
    """One trained run, from its local files or from W&B."""

    path: Path | None
    head: str
    overrides: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)  # resolved run config where known
    metrics: dict[str, float] = field(default_factory=dict)  # exact_match, digit_acc, cer, acc_len{k}
    metrics_from: str = ""  # "test", "val" or ""
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, val exact match)
    elapsed: dict[int, float] = field(default_factory=dict)  # step -> val/elapsed_s (wall clock since fit start)
    seed: int | None = None  # the run's top-level seed; runs that differ only in it are repeats of one arm
    checkpoint: Path | None = None
    params: float = math.nan
    train_time_s: float = math.nan
    steps: float = math.nan
    predict_sps: float = math.nan
    gap_acc: dict[int, float] = field(default_factory=dict)
    gap_ci: dict[int, tuple[float, float]] = field(default_factory=dict)  # 95% interval of gap_acc
    long_acc: dict[int, float] = field(default_factory=dict)  # exact match on wide strips of k > max_len digits
    long_ci: dict[int, tuple[float, float]] = field(default_factory=dict)  # 95% interval of long_acc
    long_note: str = ""  # why long_acc is missing or capped (fixed width, output slots)
    name: str = ""
    wandb: dict = field(default_factory=dict)  # project, entity, group of the run's W&B logger

    @property
    def data(self) -> dict:
        return dict(self.config.get("data") or {})

    @property
    def train_digits(self) -> int | None:
        """``data.train_digits``: distinct training digits (None: the whole train pool)."""
        n = self.data.get("train_digits")
        return None if n is None else int(n)

    @property
    def test_fold(self) -> tuple[int, int] | None:
        """(folds, fold) when the run was tested on a cross-validation fold; None: the fixed split."""
        folds, fold = self.data.get("folds"), self.data.get("fold")
        return None if folds is None or fold is None else (int(folds), int(fold))


def find_run_dirs(path: Path) -> list[Path]:
    """Job folders (with .hydra/config.yaml) of a sweep folder, in job order; a run folder itself."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"sweep folder {str(path)!r} does not exist")
    if (path / ".hydra" / "config.yaml").is_file():
        return [path]
    dirs = [p.parent.parent for p in path.glob("*/.hydra/config.yaml")]
    if not dirs:
        raise FileNotFoundError(
            f"{path} holds no runs (no */.hydra/config.yaml); "
            "give a multirun folder such as logs/train/multiruns/<time>"
        )
    return sorted(dirs, key=lambda p: (0, int(p.name)) if p.name.isdigit() else (1, p.name))


def read_metrics_csv(path: Path) -> list[dict[str, float]]:
    """Rows of a Lightning CSVLogger metrics.csv with empty cells dropped."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            parsed = {}
            for k, v in row.items():
                if k is None or v in (None, ""):
                    continue
                try:
                    parsed[k] = float(v)
                except ValueError:
                    continue
            rows.append(parsed)
    return rows


def summarise_metrics(rows: Iterable[dict[str, float]]) -> tuple[dict[str, float], str, list[tuple[int, float]], float]:
    """(final metrics, "test"/"val"/"", validation curve, last step) from metrics rows."""
    rows = list(rows)
    curve = [(int(r.get("step", i)), r["val/exact_match"]) for i, r in enumerate(rows) if "val/exact_match" in r]
    steps = max((r["step"] for r in rows if "step" in r), default=math.nan)
    test: dict[str, float] = {}
    for r in rows:
        test.update({k[5:]: v for k, v in r.items() if k.startswith("test/")})
    if "exact_match" in test:
        return test, "test", curve, steps
    val_rows = [r for r in rows if "val/exact_match" in r]
    if val_rows:
        best = max(val_rows, key=lambda r: r["val/exact_match"])
        return {k[4:]: v for k, v in best.items() if k.startswith("val/")}, "val", curve, steps
    return {}, "", curve, steps


def elapsed_by_step(rows: Iterable[dict[str, float]]) -> dict[int, float]:
    """step -> ``val/elapsed_s`` (seconds of wall clock since fitting started) of the validation rows."""
    return {int(r["step"]): r["val/elapsed_s"] for r in rows if "val/elapsed_s" in r and "step" in r}


def seed_of(conf_seed, overrides: Sequence[str]) -> int | None:
    """The run's seed: a ``seed=`` override, else the config's top-level ``seed``."""
    for o in overrides:
        k, _, v = str(o).partition("=")
        if k.lstrip("+~") == "seed":
            conf_seed = v
    try:
        return None if conf_seed is None else int(conf_seed)
    except (TypeError, ValueError):
        return None


def launcher_note(sweep_dir: Path) -> str:
    """How the sweep's jobs shared the machine, from Hydra's multirun.yaml (its launcher): a
    sentence for the report, or "" when that is unknown or one job ran at a time."""
    try:
        conf = _load_yaml(Path(sweep_dir) / "multirun.yaml")
        launcher = (conf or {}).get("hydra", {}).get("launcher", {}) or {}
        n_jobs = int(launcher.get("n_jobs") or 1)
    except Exception:  # noqa: BLE001 - an unreadable or odd multirun.yaml: say nothing
        return ""
    if n_jobs <= 1:
        return ""
    return (
        f"The sweep ran {n_jobs} jobs at a time ({str(launcher.get('_target_', 'its launcher')).rsplit('.', 1)[-1]}), "
        "so each run's training time is its wall clock while it shared the machine with the other jobs."
    )


def _load_yaml(path: Path) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.load(path) if path.is_file() else None


def _plain(conf, key: str) -> dict:
    """A config section as a plain dict, resolved where it can be (Hydra's own ${hydra:...} cannot)."""
    from omegaconf import OmegaConf

    if conf is None or conf.get(key) is None:
        return {}
    try:
        return OmegaConf.to_container(conf[key], resolve=True)
    except Exception:  # noqa: BLE001 - interpolations that need Hydra's runtime
        return OmegaConf.to_container(conf[key], resolve=False)


def pick_checkpoint(run_dir: Path) -> Path | None:
    """The run's best checkpoint, by the one rule of ``seqrec.checkpoint.best_checkpoint``."""
    from ..checkpoint import best_checkpoint

    return best_checkpoint(run_dir) if (Path(run_dir) / "checkpoints").is_dir() else None


def training_time(run_dir: Path) -> float:
    """Wall-clock seconds of the job: from its start (.hydra/config.yaml written) to the last
    file it wrote (metrics.csv, checkpoints, test reports) -- fitting plus the final test."""
    start = run_dir / ".hydra" / "config.yaml"
    ends = [*run_dir.glob("checkpoints/*.ckpt"), *run_dir.glob("csv/version_*/metrics.csv"), *run_dir.glob("reports/*")]
    if not start.is_file() or not ends:
        return math.nan
    return max(p.stat().st_mtime for p in ends) - start.stat().st_mtime


def head_of(config: dict, overrides: Sequence[str], meta_head: str | None = None) -> str:
    for o in overrides:
        if o.startswith("model="):
            return o.split("=", 1)[1]
    if meta_head:
        return meta_head
    target = str((config.get("model") or {}).get("_target_", "model"))
    return target.rsplit(".", 1)[-1].removesuffix("System").lower() or "model"


def read_run(run_dir: Path) -> Run:
    """A run from its folder: config, overrides, metrics.csv and the best checkpoint's metadata."""
    run_dir = Path(run_dir)
    conf = _load_yaml(run_dir / ".hydra" / "config.yaml")
    overrides = list(_load_yaml(run_dir / ".hydra" / "overrides.yaml") or [])
    sections = ("data", "model", "trainer", "logger", "backbone_pretrain")
    config = {k: _plain(conf, k) for k in sections} if conf is not None else {}
    metrics_csv = sorted(run_dir.glob("csv/version_*/metrics.csv"))
    rows = read_metrics_csv(metrics_csv[-1]) if metrics_csv else []
    metrics, source, curve, steps = summarise_metrics(rows)
    ckpt = pick_checkpoint(run_dir)
    meta_head = None
    if ckpt is not None:
        try:
            from ..checkpoint import read_checkpoint

            meta = read_checkpoint(ckpt)["seqrec"]
            config = {
                **config,
                **{k: v for k, v in (meta.get("config") or {}).items() if k in ("data", "model", "trainer", "logger")},
            }
            meta_head = meta.get("head")
        except Exception as err:  # noqa: BLE001 - a broken checkpoint: report the run without it
            log.warning("seqrec: cannot read checkpoint %s (%s); its columns stay empty", ckpt, err)
            ckpt = None
    wandb_conf = dict((config.get("logger") or {}).get("wandb") or {})
    run = Run(
        path=run_dir,
        head=head_of(config, overrides, meta_head),
        overrides=[str(o) for o in overrides],
        config=config,
        metrics=metrics,
        metrics_from=source,
        curve=curve,
        elapsed=elapsed_by_step(rows),
        seed=seed_of(conf.get("seed") if conf is not None else None, overrides),
        checkpoint=ckpt,
        train_time_s=training_time(run_dir),
        steps=steps,
    )
    if wandb_conf:
        run.wandb = {
            "project": wandb_conf.get("project"),
            "entity": wandb_conf.get("entity"),
            "group": wandb_conf.get("group") or f"sweep-{run_dir.parent.name}",
        }
    return run


def runs_from_wandb(spec: str, api=None) -> list[Run]:
    """Runs of a W&B group ``ENTITY/PROJECT/GROUP`` (or ``PROJECT/GROUP``): metrics from each
    run's summary, the validation curve from its history, config from its config. Where the
    run's output folder (``paths.output_dir``) exists here, its checkpoint is used as well."""
    parts = spec.strip("/").split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"--wandb-group must be ENTITY/PROJECT/GROUP or PROJECT/GROUP, got {spec!r}")
    *owner, group = parts
    if api is None:
        import wandb

        api = wandb.Api()
    runs = []
    for r in api.runs("/".join(owner), filters={"group": group}):
        if getattr(r, "job_type", None) == SUMMARY_JOB_TYPE:
            continue
        config = dict(r.config or {})
        summary = dict(r.summary or {})
        local = Path(str((config.get("paths") or {}).get("output_dir", ""))) if config.get("paths") else None
        if local is not None and (local / ".hydra" / "config.yaml").is_file():
            run = read_run(local)
        else:
            run = Run(path=None, head=str(config.get("model_name") or head_of(config, [])), config=config)
            run.metrics = {k[5:]: float(v) for k, v in summary.items() if k.startswith("test/") and is_number(v)}
            run.metrics_from = "test" if "exact_match" in run.metrics else ""
            run.train_time_s = (
                float(summary.get("_runtime", math.nan)) if is_number(summary.get("_runtime")) else math.nan
            )
            try:
                run.curve = _history(r, "val/exact_match")
                # its own query: W&B returns only rows holding every key, and older runs lack elapsed_s
                run.elapsed = dict(_history(r, "val/elapsed_s"))
            except Exception as err:  # noqa: BLE001 - history is optional
                log.warning("seqrec: no history for W&B run %s (%s)", getattr(r, "name", "?"), err)
            run.steps = max((s for s, _ in run.curve), default=math.nan)
            run.seed = seed_of(config.get("seed"), [])
        run.name = str(getattr(r, "name", "") or run.head)
        run.wandb = {"project": owner[-1], "entity": owner[0] if len(owner) == 2 else None, "group": group}
        runs.append(run)
    if not runs:
        raise ValueError(f"W&B group {spec!r} has no runs")
    return runs


def _history(r, key: str) -> list[tuple[int, float]]:
    """(step, value) of one metric of a W&B run's history."""
    hist = r.history(keys=[key, "trainer/global_step"], pandas=False)
    return [
        (int(h.get("trainer/global_step", h.get("_step", i))), float(h[key]))
        for i, h in enumerate(hist)
        if is_number(h.get(key))
    ]


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def label_runs(runs: list[Run]) -> None:
    """``name``: the head, plus the overrides that differ between runs where heads repeat."""
    given = [dict((k.lstrip("+~"), v) for k, _, v in (o.partition("=") for o in r.overrides)) for r in runs]
    keys = {k for g in given for k in g}
    # a key varies when its values differ, or some runs set it and others do not
    varying = {k for k in keys if len({g.get(k) for g in given}) > 1 and k != "model"}
    for r in runs:
        extra = [o for o in r.overrides if o.partition("=")[0].lstrip("+~") in varying]
        if extra:
            r.name = f"{r.head} ({', '.join(extra)})"
        elif not r.name or r.name == r.head:
            r.name = r.head
    names = [r.name for r in runs]
    for r in runs:  # still ambiguous: add the job folder's name
        if names.count(r.name) > 1 and r.path is not None:
            r.name = f"{r.name} [{r.path.name}]"

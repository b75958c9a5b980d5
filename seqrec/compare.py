"""Compare trained runs side by side: one row per run of a Hydra sweep (or of a W&B group).

    python scripts/compare.py logs/compare_heads/multiruns/2026-01-01_12-00-00
    python scripts/compare.py --wandb-group ENTITY/seqrec/sweep-2026-01-01_12-00-00

For each run (a job folder with ``.hydra/config.yaml``, ``csv/version_0/metrics.csv`` and
``checkpoints/*.ckpt``) the report has: exact match, per-digit accuracy, CER and accuracy per
length on the run's test strips (``test/*`` of metrics.csv; the best validation epoch when the
run was not tested), the parameter count (from the best checkpoint), the training time (wall
clock of the job: fitting and the final test), predict throughput (``Recognizer.predict`` on
the CPU, strips/s) and the exact match on strips of held-out test digits at each gap from -8
(8 px of overlap) to +8 px. It writes comparison.md, comparison.csv and three PNG plots, and, when the runs
logged to W&B, logs the table and the plots into their group as a summary run (``job_type``
compare). Everything but the W&B upload works offline from the local run files.

The benchmark strips (``benchmark_strips``, ``strips_at_gap``) and ``evaluate`` are shared
with benchmarks/bench_suite.py.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

log = logging.getLogger(__name__)

GAPS = tuple(range(-8, 9))
BASE = {"min_len": 5, "max_len": 5, "gap": (0, 2), "jitter": 0, "placement": "center"}  # clean benchmark strips
SUMMARY_JOB_TYPE = "compare"
PLOTS = {"val_curve": "val_accuracy.png", "length": "accuracy_by_length.png", "gap": "accuracy_by_gap.png"}


# ---------------------------------------------------------------------- benchmark strips
def benchmark_strips(n: int, *, min_len: int = BASE["min_len"], max_len: int = BASE["max_len"], gap=BASE["gap"],
                     width: int = 140, height: int = 28, jitter: int = BASE["jitter"], placement: str = BASE["placement"],
                     scale: float | Sequence[float] = 1.0, rotate: float = 0.0, noise: float = 0.0,
                     source: str = "bundled", root=None, seed: int = 0, pool=None):
    """Strips built only from held-out (test split) digits, for benchmarks.

    Defaults are the clean base condition (5 digits, gap 0..2 px, centred, no jitter); each
    benchmark changes one factor: ``gap`` (an int g means exactly g px between neighbouring ink
    boxes; negative overlaps them -- the composer keeps reading order, so a digit narrower
    than the overlap limits it to its width - 1), ``min_len``/``max_len``, ``scale`` (per-digit
    scale factor, or a (low, high) range), ``rotate`` (each digit rotated by +-``rotate``
    degrees, random sign) and ``noise`` (Gaussian pixel noise, std as a fraction of white).
    """
    from .data.sources import DigitPool, load_digits
    from .data.strips import StripComposer, StripConfig

    gap = (int(gap), int(gap)) if np.isscalar(gap) else tuple(int(g) for g in gap)
    scale = (float(scale), float(scale)) if np.isscalar(scale) else tuple(float(s) for s in scale)
    pool = pool if pool is not None else load_digits(source, "test", root)
    if pool.split != "test":
        raise ValueError(f"benchmark strips must come from held-out test digits, got a {pool.split!r} pool")
    rng = np.random.default_rng([int(seed), 0xBE4C])
    if rotate:
        pool = DigitPool(rotate_digits(pool.images, rotate, rng), pool.labels, pool.ids, pool.source, pool.split)
    config = StripConfig(min_len=min_len, max_len=max_len, width=width, height=height, gap=gap, jitter=jitter,
                         placement=placement, scale=scale)
    strips = StripComposer(pool, config)(int(n), seed=[int(seed), 0xBE4C, 1])
    if noise:
        noisy = strips.images.astype(np.float32) + rng.normal(0.0, 255.0 * float(noise), strips.images.shape).astype(np.float32)
        strips.images = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return strips


def strips_at_gap(n: int, gap: int, length: int = 5, **kwargs):
    """``n`` strips of ``length`` test digits with exactly ``gap`` px between neighbouring ink boxes."""
    return benchmark_strips(n, min_len=length, max_len=length, gap=(gap, gap), **kwargs)


def rotate_digits(images: np.ndarray, degrees: float, rng) -> np.ndarray:
    """Each 28x28 digit rotated about its centre by +-``degrees`` (random sign), bilinear."""
    import cv2

    out = np.empty_like(images)
    signs = rng.choice([-1.0, 1.0], size=len(images))
    h, w = images.shape[1:]
    for i, (img, s) in enumerate(zip(images, signs)):
        m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), float(s * degrees), 1.0)
        out[i] = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def evaluate(rec, strips, batch_size: int = 256, n_boot: int = 1000) -> dict[str, float]:
    """Read the strips with a Recognizer; the shared sequence metrics as floats, plus 95% intervals
    of exact match and per-digit accuracy from a bootstrap over the strips' distinct digits
    (``exact_match_lo``/``_hi``, ``digit_acc_lo``/``_hi``) and their number (``n_digits``)."""
    from .evaluation import strip_accuracy
    from .metrics import SequenceMetrics

    preds = rec.predict(strips.images, batch_size=batch_size)
    metrics = SequenceMetrics(max(int(strips.lengths.max()), rec.max_len))
    metrics.update(preds, list(strips.labels))
    out = {k: float(v) for k, v in metrics.compute().items() if not k.startswith(("precision_", "recall_", "f1_"))}
    bounds = strip_accuracy(preds, list(strips.labels), strips.digit_index, n_boot=n_boot)
    out.update({k: v for k, v in bounds.items() if k not in out})
    return out


def predict_rate(rec, images: np.ndarray, repeats: int = 3, batch_size: int = 256) -> float:
    """Strips/s of ``rec.predict`` on uint8 strips: best of ``repeats`` after a warm-up."""
    rec.predict(images[: min(len(images), batch_size)], batch_size=batch_size)
    best = math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        rec.predict(images, batch_size=batch_size)
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


# ---------------------------------------------------------------------- runs
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
    checkpoint: Path | None = None
    params: float = math.nan
    train_time_s: float = math.nan
    steps: float = math.nan
    predict_sps: float = math.nan
    gap_acc: dict[int, float] = field(default_factory=dict)
    name: str = ""
    wandb: dict = field(default_factory=dict)  # project, entity, group of the run's W&B logger

    @property
    def data(self) -> dict:
        return dict(self.config.get("data") or {})


def find_run_dirs(path: Path) -> list[Path]:
    """Job folders (with .hydra/config.yaml) of a sweep folder, in job order; a run folder itself."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"sweep folder {str(path)!r} does not exist")
    if (path / ".hydra" / "config.yaml").is_file():
        return [path]
    dirs = [p.parent.parent for p in path.glob("*/.hydra/config.yaml")]
    if not dirs:
        raise FileNotFoundError(f"{path} holds no runs (no */.hydra/config.yaml); give a multirun folder such as logs/train/multiruns/<time>")
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


def pick_checkpoint(run_dir: Path, rows: list[dict[str, float]]) -> Path | None:
    """The best checkpoint of a run: the ``epoch_*`` one with the best val/exact_match (the
    callback keeps the best), else the newest; ``last.ckpt`` when no other exists."""
    ckpts = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    best = [p for p in ckpts if p.name != "last.ckpt"]
    if not best:
        return ckpts[0] if ckpts else None
    val = {int(r["epoch"]): r["val/exact_match"] for r in rows if "val/exact_match" in r and "epoch" in r}

    def score(p: Path):
        digits = "".join(ch for ch in p.stem if ch.isdigit())
        return (val.get(int(digits), -1.0) if digits else -1.0, p.stat().st_mtime)

    return max(best, key=score)


def training_time(run_dir: Path) -> float:
    """Wall-clock seconds of the job: from its start (.hydra/config.yaml written) to the last
    file it wrote (metrics.csv, checkpoints, test reports) -- fitting plus the final test.
    (last.ckpt is not rewritten when no epoch improves, so it cannot mark the end of fitting.)"""
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
    config = {k: _plain(conf, k) for k in ("data", "model", "trainer", "logger")} if conf is not None else {}
    metrics_csv = sorted(run_dir.glob("csv/version_*/metrics.csv"))
    rows = read_metrics_csv(metrics_csv[-1]) if metrics_csv else []
    metrics, source, curve, steps = summarise_metrics(rows)
    ckpt = pick_checkpoint(run_dir, rows)
    meta_head = None
    if ckpt is not None:
        try:
            from .checkpoint import read_checkpoint

            meta = read_checkpoint(ckpt)["seqrec"]
            config = {**config, **{k: v for k, v in (meta.get("config") or {}).items() if k in ("data", "model", "trainer", "logger")}}
            meta_head = meta.get("head")
        except Exception as err:  # noqa: BLE001 - a broken checkpoint: report the run without it
            log.warning("seqrec: cannot read checkpoint %s (%s); its columns stay empty", ckpt, err)
            ckpt = None
    wandb_conf = dict((config.get("logger") or {}).get("wandb") or {})
    run = Run(path=run_dir, head=head_of(config, overrides, meta_head), overrides=[str(o) for o in overrides], config=config,
              metrics=metrics, metrics_from=source, curve=curve, checkpoint=ckpt, train_time_s=training_time(run_dir), steps=steps)
    if wandb_conf:
        run.wandb = {"project": wandb_conf.get("project"), "entity": wandb_conf.get("entity"),
                     "group": wandb_conf.get("group") or f"sweep-{run_dir.parent.name}"}
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
            run.metrics = {k[5:]: float(v) for k, v in summary.items() if k.startswith("test/") and _is_number(v)}
            run.metrics_from = "test" if "exact_match" in run.metrics else ""
            run.train_time_s = float(summary.get("_runtime", math.nan)) if _is_number(summary.get("_runtime")) else math.nan
            try:
                hist = r.history(keys=["val/exact_match", "trainer/global_step"], pandas=False)
                run.curve = [(int(h.get("trainer/global_step", h.get("_step", i))), float(h["val/exact_match"]))
                             for i, h in enumerate(hist) if _is_number(h.get("val/exact_match"))]
            except Exception as err:  # noqa: BLE001 - history is optional
                log.warning("seqrec: no history for W&B run %s (%s)", getattr(r, "name", "?"), err)
            run.steps = max((s for s, _ in run.curve), default=math.nan)
        run.name = str(getattr(r, "name", "") or run.head)
        run.wandb = {"project": owner[-1], "entity": owner[0] if len(owner) == 2 else None, "group": group}
        runs.append(run)
    if not runs:
        raise ValueError(f"W&B group {spec!r} has no runs")
    return runs


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def label_runs(runs: list[Run]) -> None:
    """``name``: the head, plus the overrides that differ between runs where heads repeat."""
    keys: dict[str, set] = {}
    for r in runs:
        for o in r.overrides:
            k, _, v = o.partition("=")
            keys.setdefault(k.lstrip("+~"), set()).add(v)
    varying = {k for k, vs in keys.items() if len(vs) > 1 and k != "model"}
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


# ---------------------------------------------------------------------- measuring
def measure(run: Run, gaps: Sequence[int] = GAPS, n_gap: int = 200, n_speed: int = 256, source: str | None = None,
            seed: int = 0, repeats: int = 3, optimize: bool = True) -> None:
    """Parameters, predict strips/s and accuracy by gap, from the run's best checkpoint.
    ``optimize``: the Recognizer's default frozen TorchScript copy (False: the eager net)."""
    if run.checkpoint is None:
        return
    from .recognizer import Recognizer

    rec = Recognizer.from_checkpoint(run.checkpoint, optimize=optimize)
    model = rec.model
    run.params = float(sum(p.numel() for p in model.parameters())) if hasattr(model, "parameters") else math.nan
    data = run.data
    src = source or data.get("source", "bundled")
    root = data.get("root")
    from .data.sources import load_digits

    pool = load_digits(src, "test", root)
    height, width = int(data.get("height", rec.image_size[0])), int(data.get("width", rec.image_size[1]))
    if n_speed:
        from .data.strips import StripComposer, StripConfig

        cfg = {k: data[k] for k in ("min_len", "max_len", "gap", "jitter", "scale", "placement", "length_weights", "leading_zeros") if k in data}
        strips = StripComposer(pool, StripConfig(height=height, width=width, **cfg))(int(n_speed), seed=[seed, 0x5BED])
        run.predict_sps = predict_rate(rec, strips.images, repeats=repeats)
    length = int(data.get("max_len", rec.max_len))
    for g in gaps if n_gap else ():
        try:
            strips = strips_at_gap(int(n_gap), int(g), length=length, width=width, height=height, pool=pool, seed=seed)
        except ValueError as err:  # e.g. the canvas is too narrow for this gap
            log.warning("seqrec: gap %+d skipped for %s: %s", g, run.name, err)
            continue
        run.gap_acc[int(g)] = evaluate(rec, strips)["exact_match"]


# ---------------------------------------------------------------------- report
def max_length(runs: list[Run]) -> int:
    lengths = [int(k[7:]) for r in runs for k in r.metrics if k.startswith("acc_len") and k[7:].isdigit()]
    return max(lengths, default=0)


def table_rows(runs: list[Run]) -> tuple[list[str], list[dict[str, Any]]]:
    """CSV columns and one row per run (numbers stay numbers; missing ones are NaN)."""
    L = max_length(runs)
    gaps = sorted({g for r in runs for g in r.gap_acc})
    columns = ["model", "head", "exact_match", "digit_acc", "cer", *[f"acc_len{k}" for k in range(1, L + 1)],
               "params", "train_time_s", "steps", "predict_strips_per_s", *[f"acc_gap{g:+d}" for g in gaps],
               "metrics_from", "run_dir", "checkpoint"]
    rows = []
    for r in runs:
        row = {"model": r.name, "head": r.head, "metrics_from": r.metrics_from,
               "run_dir": str(r.path or ""), "checkpoint": str(r.checkpoint or "")}
        for k in ("exact_match", "digit_acc", "cer", *[f"acc_len{k}" for k in range(1, L + 1)]):
            row[k] = r.metrics.get(k, math.nan)
        row.update(params=r.params, train_time_s=r.train_time_s, steps=r.steps, predict_strips_per_s=r.predict_sps)
        for g in gaps:
            row[f"acc_gap{g:+d}"] = r.gap_acc.get(g, math.nan)
        rows.append(row)
    return columns, rows


def _pct(v) -> str:
    return "–" if not _is_number(v) else f"{100 * v:.1f}%"


def _pct_ci(metrics: dict, key: str) -> str:
    """``96.9% [95.8, 97.7]``: the value with its 95% digit-bootstrap interval where the run has one."""
    from .evaluation import format_interval

    v = metrics.get(key)
    if not _is_number(v):
        return "–"
    lo, hi = metrics.get(f"{key}_lo"), metrics.get(f"{key}_hi")
    return format_interval(v, lo if _is_number(lo) else None, hi if _is_number(hi) else None)


def _num(v, fmt="{:,.0f}") -> str:
    return "–" if not _is_number(v) else fmt.format(v)


def _params(v) -> str:
    if not _is_number(v):
        return "–"
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k"


def _duration(v) -> str:
    if not _is_number(v):
        return "–"
    return f"{v:.0f} s" if v < 120 else f"{v / 60:.1f} min"


def markdown(runs: list[Run], title: str, source: str, plots: dict[str, str], command: str | None = None) -> str:
    L = max_length(runs)
    head = ["model", "exact match", "per-digit acc", "CER", *[f"len {k}" for k in range(1, L + 1)],
            "params", "training time", "predict strips/s"]
    lines = [f"# {title}", "", f"Runs: `{source}`" + (f"  \nCommand: `{command}`" if command else ""), "",
             "Exact match, per-digit accuracy, CER and accuracy per length (len k: exact match on strips of k digits) "
             "are on each run's test strips (held-out test digits); brackets: 95% interval from a bootstrap over the "
             "test digits (strips reuse digits, so the digits, not the strips, are the sample); `(val)` marks a run "
             "that was not tested (best "
             "validation epoch). Training time: wall clock of the job (fitting and the final test). Predict: `Recognizer.predict` on the "
             "CPU from uint8 strips, batch 256.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for r in runs:
        tag = " (val)" if r.metrics_from == "val" else ""
        cells = [r.name + tag, _pct_ci(r.metrics, "exact_match"), _pct_ci(r.metrics, "digit_acc"),
                 _num(r.metrics.get("cer"), "{:.3f}"), *[_pct(r.metrics.get(f"acc_len{k}")) for k in range(1, L + 1)],
                 _params(r.params), _duration(r.train_time_s), _num(r.predict_sps)]
        lines.append("| " + " | ".join(cells) + " |")
    gaps = sorted({g for r in runs for g in r.gap_acc})
    if gaps:
        lines += ["", "Exact match by gap between neighbouring digits (px; negative = overlap), "
                  "strips of max_len held-out test digits:", "",
                  "| model | " + " | ".join(f"{g:+d}" for g in gaps) + " |", "|---|" + "---:|" * len(gaps)]
        for r in runs:
            lines.append(f"| {r.name} | " + " | ".join(_pct(r.gap_acc.get(g)) for g in gaps) + " |")
    lines.append("")
    for key, caption in (("val_curve", "Validation exact match against training step"),
                         ("length", "Test exact match by number length"), ("gap", "Exact match by gap / overlap")):
        if key in plots:
            lines += [f"![{caption}]({plots[key]})", ""]
    return "\n".join(lines)


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})


def plot_all(runs: list[Run], out: Path) -> dict[str, str]:
    """The three PNGs (file names relative to ``out``); a plot with nothing to show is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = {}

    def save(fig, ax, key, title, xlabel, ylabel="exact match"):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / PLOTS[key], dpi=110)
        plt.close(fig)
        written[key] = PLOTS[key]

    if any(r.curve for r in runs):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for r in runs:
            if r.curve:
                steps, values = zip(*r.curve)
                ax.plot(steps, values, marker="o", ms=3, label=r.name)
        save(fig, ax, "val_curve", "validation exact match", "training step")
    L = max_length(runs)
    if L:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for r in runs:
            ks = [k for k in range(1, L + 1) if _is_number(r.metrics.get(f"acc_len{k}"))]
            if ks:
                ax.plot(ks, [r.metrics[f"acc_len{k}"] for k in ks], marker="o", label=r.name)
        ax.set_xticks(range(1, L + 1))
        save(fig, ax, "length", "test exact match by number length", "digits in the strip")
    if any(r.gap_acc for r in runs):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for r in runs:
            if r.gap_acc:
                gs = sorted(r.gap_acc)
                ax.plot(gs, [r.gap_acc[g] for g in gs], marker="o", label=r.name)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        save(fig, ax, "gap", "exact match by gap (negative: overlap)", "gap between neighbouring ink boxes (px)")
    return written


@dataclass
class Report:
    runs: list[Run]
    out: Path
    markdown: Path
    csv: Path
    plots: dict[str, Path]
    wandb_run: str | None = None


def compare(source: str | os.PathLike | None = None, out: str | os.PathLike | None = None, *, wandb_group: str | None = None,
            gaps: Sequence[int] = GAPS, n_gap: int = 200, n_speed: int = 256, data_source: str | None = None,
            wandb_mode: str = "auto", command: str | None = None, api=None, optimize: bool = True) -> Report:
    """Build the comparison of a sweep folder (``source``) or a W&B group (``wandb_group``) and
    write it to ``out`` (default: the sweep folder, or ./comparison-<group>). ``wandb_mode``:
    ``auto`` (log a summary run into the runs' W&B group: online with credentials, else offline
    when the runs themselves logged to W&B), ``online``, ``offline`` or ``off``."""
    if (source is None) == (wandb_group is None):
        raise ValueError("give either a sweep folder or a W&B group")
    if wandb_mode not in ("auto", "online", "offline", "off"):
        raise ValueError(f"wandb_mode must be auto, online, offline or off, got {wandb_mode!r}")
    if source is not None:
        runs = [read_run(d) for d in find_run_dirs(Path(source))]
        where = str(source)
        out = Path(out) if out is not None else Path(source)
    else:
        runs = runs_from_wandb(wandb_group, api=api)
        where = f"W&B group {wandb_group}"
        out = Path(out) if out is not None else Path(f"comparison-{wandb_group.rstrip('/').rsplit('/', 1)[-1]}")
    out.mkdir(parents=True, exist_ok=True)
    label_runs(runs)
    for r in runs:
        try:
            measure(r, gaps=gaps, n_gap=n_gap, n_speed=n_speed, source=data_source, optimize=optimize)
        except Exception as err:  # noqa: BLE001 - one broken run must not sink the report
            log.warning("seqrec: could not measure %s from %s (%s: %s)", r.name, r.checkpoint, type(err).__name__, err)
    columns, rows = table_rows(runs)
    csv_path = out / "comparison.csv"
    write_csv(csv_path, columns, rows)
    plots = plot_all(runs, out)
    title = f"Comparison of {len(runs)} runs"
    md_path = out / "comparison.md"
    md_path.write_text(markdown(runs, title, where, plots, command))
    report = Report(runs, out, md_path, csv_path, {k: out / v for k, v in plots.items()})
    report.wandb_run = log_summary_run(report, columns, rows, wandb_mode)
    return report


# ---------------------------------------------------------------------- W&B summary run
def _wandb_target(runs: list[Run]) -> dict | None:
    for r in runs:
        if r.wandb.get("project") and r.wandb.get("group"):
            return r.wandb
    return None


def resolve_wandb_mode(mode: str, runs: list[Run]) -> str:
    """auto -> online with credentials, offline when the runs logged to W&B without them, else off."""
    if mode != "auto":
        return mode
    if _wandb_target(runs) is None:
        return "off"
    try:
        import wandb  # noqa: F401
    except ImportError:
        return "off"
    from .train import has_wandb_credentials

    env = os.environ.get("WANDB_MODE")
    if env == "disabled":
        return "off"
    if env in ("offline", "dryrun") or not has_wandb_credentials():
        return "offline"
    return "online"


def log_summary_run(report: Report, columns: list[str], rows: list[dict], mode: str = "auto") -> str | None:
    """Log the table and plots into the runs' W&B group as one run with job_type ``compare``.
    Returns the run's path (online) or its offline folder; None when not logged."""
    mode = resolve_wandb_mode(mode, report.runs)
    target = _wandb_target(report.runs)
    if mode == "off":
        return None
    if target is None:
        log.warning("seqrec: the runs did not log to W&B (no logger.wandb in their config); no summary run")
        return None
    import wandb

    run = wandb.init(project=target["project"], entity=target.get("entity"), group=target["group"], name="comparison",
                     job_type=SUMMARY_JOB_TYPE, dir=str(report.out), mode=mode,
                     config={"runs": [r.name for r in report.runs]})
    try:
        data = [[("" if isinstance(row[c], float) and math.isnan(row[c]) else row[c]) for c in columns] for row in rows]
        payload: dict[str, Any] = {"comparison/table": wandb.Table(columns=columns, data=data)}
        for key, path in report.plots.items():
            payload[f"comparison/{key}"] = wandb.Image(str(path))
        run.log(payload)
        where = run.path if mode == "online" else str(Path(run.dir).parent)
    finally:
        run.finish()
    if mode == "offline":
        print(f"seqrec: comparison logged offline in {where}\n        upload it with: wandb sync {where}")
    else:
        print(f"seqrec: comparison logged to W&B run {where} (group {target['group']})")
    return str(where)


# ---------------------------------------------------------------------- Hydra callback
try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover - Hydra is a dependency
    _HydraCallback = object


class CompareCallback(_HydraCallback):
    """Hydra callback: when a multirun ends, write the comparison into its sweep folder
    (configs/experiment/compare_heads.yaml). Failures are logged, never raised."""

    def __init__(self, n_gap: int = 200, n_speed: int = 256, gaps: Sequence[int] = GAPS, wandb_mode: str = "auto",
                 optimize: bool = True):
        self.n_gap, self.n_speed, self.gaps, self.wandb_mode = int(n_gap), int(n_speed), [int(g) for g in gaps], wandb_mode
        self.optimize = bool(optimize)

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            report = compare(sweep_dir, sweep_dir, gaps=self.gaps, n_gap=self.n_gap, n_speed=self.n_speed,
                             wandb_mode=self.wandb_mode, optimize=self.optimize,
                             command=f"python scripts/compare.py {sweep_dir}")
        except Exception as err:  # noqa: BLE001 - the sweep itself succeeded
            log.error("seqrec: comparison of %s failed (%s: %s); run: python scripts/compare.py %s",
                      sweep_dir, type(err).__name__, err, sweep_dir)
            return
        print(f"seqrec: comparison of {len(report.runs)} runs written to {report.markdown} and {report.csv}")

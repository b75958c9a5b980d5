"""Compare the runs of a sweep: comparison.md, CSVs and plots (see seqrec/evaluation/comparison.py).

python scripts/compare.py logs/compare_heads/multiruns/<time>          # a Hydra multirun folder
python scripts/compare.py --wandb-group ENTITY/PROJECT/GROUP --out DIR # a W&B group (online)

Runs that differ only in their seed are repeats of one arm (a head under one setting, e.g.
data.train_digits=500): the report gives each arm's mean with a 95% interval (seed spread plus the
test's digit-sampling error), the differences between heads with a verdict (real / within noise),
flags arms below --learned-at mean exact match, and the sample-efficiency table and plot when arms
differ in data.train_digits. Files: comparison.md, comparison.csv (one row per run),
comparison_arms.csv, comparison_pairs.csv, comparison_sample_efficiency.csv and PNG plots.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path


def parse_gaps(text: str) -> list[int]:
    """'-8..8' (every px), '-8..8..2' (step 2) or '-8,-4,0,4,8'."""
    try:
        if ".." in text:
            parts = [int(p) for p in text.split("..")]
            lo, hi, step = (parts + [1])[:3]
            if step <= 0 or lo > hi:
                raise ValueError
            return list(range(lo, hi + 1, step))
        return [int(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"gaps must look like -8..8, -8..8..2 or -8,0,8; got {text!r}") from None


def join_negative_values(argv: list[str], option: str) -> list[str]:
    """``--gaps -8..8`` -> ``--gaps=-8..8``: argparse would take the value for an option."""
    out = []
    i = 0
    while i < len(argv):
        if argv[i] == option and i + 1 < len(argv):
            out.append(f"{option}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "sweep_dir",
        nargs="?",
        metavar="SWEEP_DIR",
        help="multirun folder (its job folders 0/, 1/, ... are the runs) or one run folder",
    )
    p.add_argument(
        "--wandb-group",
        metavar="ENTITY/PROJECT/GROUP",
        help="read the runs of this W&B group instead (needs W&B online)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="where to write the report (default: SWEEP_DIR, or ./comparison-<group>)"
    )
    p.add_argument("--gaps", type=parse_gaps, default="-8..8", help="gaps (px) for accuracy by gap (default: -8..8)")
    p.add_argument("--n-gap", type=int, default=200, help="test strips per gap and run; 0 skips (default: 200)")
    p.add_argument("--n-speed", type=int, default=256, help="strips timed for predict strips/s; 0 skips (default: 256)")
    p.add_argument(
        "--n-long",
        type=int,
        default=300,
        help="test strips per length 6, 7, 8 for length generalisation (heads that read any width); 0 skips "
        "(default: 300)",
    )
    p.add_argument(
        "--learned-at",
        type=float,
        default=0.85,
        help="mean exact match below which an arm is flagged as not learned (default: 0.85)",
    )
    p.add_argument(
        "--source", default=None, help="digit source for the measured strips (default: each run's data.source)"
    )
    p.add_argument(
        "--wandb",
        dest="wandb_mode",
        choices=("auto", "online", "offline", "off"),
        default="auto",
        help="summary run in the runs' W&B group: auto = online with credentials, offline without "
        "(only when the runs logged to W&B); default: auto",
    )
    p.add_argument(
        "--no-optimize",
        dest="optimize",
        action="store_false",
        help="run the eager nets instead of the Recognizer's frozen TorchScript copies (faster to start)",
    )
    args = p.parse_args(join_negative_values(list(sys.argv[1:] if argv is None else argv), "--gaps"))
    if (args.sweep_dir is None) == (args.wandb_group is None):
        p.error("give SWEEP_DIR or --wandb-group (one of them)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from seqrec.compare import compare

    script = Path(sys.argv[0]).as_posix() if argv is None else "scripts/compare.py"
    command = "python " + shlex.join([script, *(sys.argv[1:] if argv is None else argv)])
    try:
        report = compare(
            args.sweep_dir,
            args.out,
            wandb_group=args.wandb_group,
            gaps=args.gaps,
            n_gap=args.n_gap,
            n_speed=args.n_speed,
            data_source=args.source,
            wandb_mode=args.wandb_mode,
            command=command,
            optimize=args.optimize,
            n_long=args.n_long,
            learned_at=args.learned_at,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"compare: {err}", file=sys.stderr)
        return 2
    print(report.markdown.read_text())
    print(f"wrote {report.markdown}, {report.csv}" + "".join(f", {p}" for p in report.plots.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

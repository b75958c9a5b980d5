"""``seqrec`` command line: predict, strips, export, demo.

Heavy imports (torch, Lightning) happen inside the commands, so ``seqrec --help`` is quick.
Exit codes: 0 ok, 2 bad input (message, no traceback), 1 unexpected error
(set SEQREC_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from .spec import ENSEMBLES, PRETRAINED

FORWARDED = ("strips", "demo")  # their own parsers take every argument after the command

DESCRIPTION = "Read whole multi-digit numbers from images (segmentation-free recognizers)."
EPILOG = """examples:
  seqrec predict number.png scan.jpg                 read images with the pretrained CTC model
  seqrec predict --model runs/last.ckpt --json a.png a checkpoint from scripts/train.py, JSON output
  seqrec strips n=100 out=data/demo png=true         generate strips (seqrec strips --help)
  seqrec export --model ctc --format onnx ctc.onnx   export for onnxruntime
  seqrec demo                                        local web app (seqrec demo --help)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seqrec", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    pr = sub.add_parser(
        "predict",
        help="read the number in each image",
        description="Read the number in each image and print `path<TAB>text` lines (or JSON).",
    )
    pr.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    _model_arg(pr)
    pr.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"path", "text", "confidence", "digits": [{"digit", "confidence"}]}',
    )
    pr.add_argument(
        "--invert",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force (--invert) or forbid (--no-invert) inverting dark-on-light images "
        "(default: decide per image from its border)",
    )
    pr.add_argument("--batch-size", type=_positive_int, default=256, help="images per model call (default: 256)")
    pr.add_argument(
        "--beam-width", type=_positive_int, default=1, help="CTC prefix beam search width (default: 1, greedy)"
    )
    pr.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: read each image 5 times, shifted by a pixel, and vote (5x slower)",
    )
    pr.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")

    ex = sub.add_parser(
        "export",
        help="export a model to ONNX or TorchScript",
        description="Export a model to ONNX (dynamic batch; dynamic width for CTC) or TorchScript, "
        "then check the exported file against PyTorch on generated strips.",
    )
    ex.add_argument("out", metavar="OUT", help="output file, e.g. ctc.onnx")
    _model_arg(ex)
    ex.add_argument(
        "--format",
        choices=("onnx", "torchscript"),
        default=None,
        help="default: from OUT's suffix (.pt/.ts/.torchscript -> torchscript), else onnx",
    )
    ex.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default: 17)")
    ex.add_argument("--no-check", dest="check", action="store_false", help="skip the parity check")

    sub.add_parser("strips", add_help=False, help="generate strips of handwritten digits (seqrec strips --help)")
    sub.add_parser("demo", add_help=False, help="local web app to draw or upload a number (seqrec demo --help)")
    return p


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="ctc",
        metavar="|".join([*PRETRAINED, *ENSEMBLES, "PATH"]),
        help="a pretrained model, the ensemble of them (a vote), or a checkpoint (.ckpt from scripts/train.py, "
        ".onnx, TorchScript) (default: ctc)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _version() -> str:
    from . import __version__

    return __version__


# ---------------------------------------------------------------------- commands
def cmd_predict(args) -> int:
    import json
    from pathlib import Path

    for name in args.images:  # cheap checks before the model loads
        path = Path(name).expanduser()
        if not path.exists():
            return _fail("predict", f"no such file: {name}")
        if path.is_dir():
            return _fail("predict", f"{name} is a folder, not an image file")
    from .recognizer import ImageWarning, Recognizer

    rec = Recognizer.load(args.model, device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImageWarning)
        preds = rec.predict(
            list(args.images),
            batch_size=args.batch_size,
            invert=args.invert,
            return_confidence=True,
            beam_width=args.beam_width,
            tta=args.tta,
        )
    notes = _image_notes(caught, args.images)
    if args.json:
        rows = [
            {
                "path": name,
                "text": p.text,
                "confidence": p.confidence,
                "digits": [{"digit": d, "confidence": c} for d, c in zip(p.text, p.digit_confidences)],
                "warning": notes.get(i),
            }
            for i, (name, p) in enumerate(zip(args.images, preds))
        ]
        print(json.dumps(rows, indent=2))
    else:
        for name, p in zip(args.images, preds):
            print(f"{name}\t{p.text}")
    return 0


def _image_notes(caught: list, names: list[str]) -> dict[int, str]:
    """Each image's warning by its index, said on stderr with the file's name; other warnings
    are shown as usual."""
    from .recognizer import ImageWarning

    notes = {}
    for w in caught:
        if isinstance(w.message, ImageWarning):
            notes.setdefault(w.message.index, w.message.note)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for i, note in sorted(notes.items()):
        print(f"seqrec predict: {names[i]}: {note}", file=sys.stderr)
    return notes


def cmd_export(args) -> int:
    from .export import export

    fmt = args.format or ("torchscript" if args.out.lower().endswith((".pt", ".ts", ".torchscript")) else "onnx")
    path = export(args.model, args.out, format=fmt, check=args.check, opset=args.opset)
    print(f"seqrec export: wrote {path} ({fmt}{', parity checked' if args.check else ''})", file=sys.stderr)
    return 0


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"seqrec {command}: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in FORWARDED:
        rest = argv[1:]
        if argv[0] == "strips":
            from .data.strips_cli import strips_main

            return strips_main(rest, prog="seqrec strips")
        from .demo.cli import main as demo_main

        return demo_main(rest)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    command = {"predict": cmd_predict, "export": cmd_export}[args.command]
    try:
        return command(args)
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", 130)
    except (ValueError, OSError, ImportError, TypeError) as err:  # includes CheckpointError, FileNotFoundError
        if os.environ.get("SEQREC_DEBUG") == "1":
            raise
        return _fail(args.command, str(err))
    except Exception as err:  # noqa: BLE001 - a command line prints, it does not dump tracebacks
        if os.environ.get("SEQREC_DEBUG") == "1":
            raise
        return _fail(args.command, f"{type(err).__name__}: {err} (set SEQREC_DEBUG=1 for a traceback)", 1)


if __name__ == "__main__":
    raise SystemExit(main())

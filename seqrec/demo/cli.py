"""``seqrec demo`` (also ``python -m seqrec.demo``): parse the arguments, build the model switcher, serve."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqrec.spec import PRETRAINED, pretrained_path

from .app import DEFAULT_MAX_UPLOAD
from .errors import DemoError
from .server import is_loopback, make_server


def bundled_weights_missing(name: str) -> bool:
    """True when the package holds no ``seqrec/pretrained/<name>.ckpt`` (a source checkout
    before the weights are added): the head is listed but disabled in the switcher."""
    return not pretrained_path(name, must_exist=False).is_file()


def build_recognizers(models: list[str] | None) -> tuple[dict[str, Callable[[], Any]], dict[str, str], str]:
    """Switcher entries for ``--model`` values: every pretrained head plus each checkpoint
    path given, as lazy factories. Returns (factories, sources, default name)."""
    factories: dict[str, Callable[[], Any]] = {}
    sources: dict[str, str] = {}

    def pretrained(n):
        from seqrec.recognizer import Recognizer

        return Recognizer.pretrained(n)

    def checkpoint(p):
        from seqrec.recognizer import Recognizer

        return Recognizer.from_checkpoint(p)

    for n in PRETRAINED:
        factories[n] = lambda n=n: pretrained(n)
        sources[n] = "pretrained"
    chosen = list(models or ["ctc"])
    default = None
    for m in chosen:
        if m in PRETRAINED:
            name = m
        else:
            path = Path(m).expanduser()
            if not path.is_file():
                raise SystemExit(f"seqrec demo: --model {m!r} is neither {', '.join(PRETRAINED)} nor a checkpoint file")
            name, i = path.stem, 2
            while name in factories and sources.get(name) != str(path.resolve()):
                name, i = f"{path.stem}-{i}", i + 1
            factories[name] = lambda p=str(path.resolve()): checkpoint(p)
            sources[name] = str(path.resolve())
        default = default or name
    return factories, sources, default


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="seqrec demo",
        description="Local web app: draw a number or drop in a photo of one, watch seqrec read it, "
        "and save corrected samples for fine-tuning.",
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="|".join([*PRETRAINED, "PATH"]),
        help="model selected at start; PATH is a training checkpoint. Repeat to add several "
        "checkpoints; every pretrained head is in the switcher too (default: ctc)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument(
        "--save-dir",
        default="./seqrec_samples",
        help="where 'Save' writes images/<uuid>.png and labels.csv (default: ./seqrec_samples)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD / 2**20,
        help="largest accepted upload in MB (default: 5)",
    )
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port must be 0..65535, got {args.port}")
    try:
        factories, sources, default = build_recognizers(args.model)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    try:
        missing = {
            n: "weights not bundled in this install" for n in PRETRAINED if n != default and bundled_weights_missing(n)
        }
        server = make_server(
            factories,
            args.host,
            args.port,
            args.save_dir,
            int(args.max_upload_mb * 2**20),
            default=default,
            sources=sources,
            missing=missing,
            quiet=True,
        )
    except OSError as e:
        print(f"seqrec demo: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    try:
        print(f"seqrec demo: loading {default} ...", file=sys.stderr, flush=True)
        try:
            server.app.models.get(default)
        except DemoError as e:
            print(f"seqrec demo: {e.message}", file=sys.stderr)
            return 2
        if not is_loopback(args.host):
            print(f"seqrec demo: warning: listening on {args.host}, reachable from other machines", file=sys.stderr)
        print(
            f"seqrec demo: open {server.url}  (model {default}; samples go to {server.app.save_dir}; Ctrl+C stops)",
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nseqrec demo: stopped", file=sys.stderr)
        return 0
    finally:
        server.server_close()

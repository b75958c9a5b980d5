"""python -m seqrec.demo: the same as ``seqrec demo``."""

from .cli import main

raise SystemExit(main())

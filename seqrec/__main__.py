"""python -m seqrec: the seqrec command line."""

from .cli import main

raise SystemExit(main())

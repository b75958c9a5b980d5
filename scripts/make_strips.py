"""Write strips of handwritten digits to disk: python scripts/make_strips.py n=10000 out=data/strips seed=0

Run with --help for every key (gap=-4,6 jitter=2 placement=random png=true ...)."""

from seqrec.data.strips_cli import strips_main

raise SystemExit(strips_main())

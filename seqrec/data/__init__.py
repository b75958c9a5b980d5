from .sources import SOURCES, SPLITS, DataSourceError, DigitPool, load_digits
from .strips import StripComposer, StripConfig, Strips, make_strips

__all__ = [
    "SOURCES",
    "SPLITS",
    "DataSourceError",
    "DigitPool",
    "load_digits",
    "StripComposer",
    "StripConfig",
    "Strips",
    "make_strips",
]

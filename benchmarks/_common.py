"""Helpers shared by the benchmark scripts (run them as `python benchmarks/<name>.py`)."""

import argparse
import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name, for the hardware line of every benchmark table."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(accelerator=None) -> str:
    """This machine in words (CPU, cores, torch), with its GPU first when ``accelerator`` asks for
    one and it has one: the hardware line of the benchmark tables."""
    import torch

    words = f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}"
    if str(accelerator) in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        words = f"{torch.cuda.get_device_name()}, {words}"
    return words


def compose_run(overrides: list[str], out: Path, job: int = 0):
    """configs/train.yaml with ``overrides``, writing into ``out`` as job ``job`` of scripts/train.py would
    (Hydra's compose API; ${hydra:...} interpolations resolve as in a real run)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "configs")):
        cfg = compose(config_name="train.yaml", return_hydra_config=True, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.hydra.runtime.output_dir = str(out)
        cfg.hydra.job.num = job
    HydraConfig().set_config(cfg)
    return cfg


def doc_parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose help is a script's docstring: first paragraph, then the rest."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

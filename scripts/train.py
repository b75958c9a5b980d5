"""Train a recognizer: python scripts/train.py model=ctc (see configs/train.yaml)."""

import hydra
from omegaconf import DictConfig

from seqrec.train import train


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()

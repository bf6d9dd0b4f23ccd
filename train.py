"""Train a homogeneous ensemble, then write its per-subgroup fairness report.

    python train.py ensemble.size=10
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from fairens.cli import exit_on_error
from fairens.pipeline import train


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@exit_on_error
def main(cfg: DictConfig) -> Path:
    return train(cfg)


if __name__ == "__main__":
    main()

"""Train a homogeneous ensemble, then write its per-subgroup fairness report.

    python train.py ensemble.size=10
    python train.py --help          the settings (docs: README.md, "Settings")
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from fairens.cli import exit_on_error
from fairens.pipeline import train
from fairens.settings import hydra_errors_in_one_line


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@exit_on_error
def main(cfg: DictConfig) -> Path:
    return train(cfg)


if __name__ == "__main__":
    with hydra_errors_in_one_line():
        main()

"""Saving and loading member checkpoints (weights and the configuration that rebuilds them)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytorch_lightning as pl
import torch

from ..errors import bad_file
from ..ownership import OwnedFolder
from .module import MemberModule


def save_member(trainer: pl.Trainer, models: OwnedFolder, relative: str) -> Path:
    """Write the trained member's weights and hyper-parameters to ``relative`` in the
    run's models folder, atomically."""
    with models.writing(relative, by="train") as tmp:
        trainer.save_checkpoint(tmp, weights_only=True)
    return models.path / relative


def readable_checkpoint(path: Path) -> bool:
    """Whether ``path`` holds a checkpoint with a state dict that loads with
    ``weights_only=True``; missing, truncated and foreign files are not."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # any failure means: train (this part of) the member again
        return False
    return isinstance(checkpoint, dict) and "state_dict" in checkpoint


def load_member(path: str | Path, map_location: str = "cpu") -> MemberModule:
    """Rebuild a member from its checkpoint, reading it with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise bad_file(path, "no such checkpoint")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        hparams = dict(checkpoint["hyper_parameters"])
        # the trained weights follow: do not read the starting weights again
        hparams["model_options"] = {key: value for key, value in
                                    (hparams.get("model_options") or {}).items()
                                    if key != "checkpoint"}
        module = MemberModule(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, EOFError, OSError, KeyError, TypeError, pickle.UnpicklingError,
            zipfile.BadZipFile) as exc:
        raise bad_file(path, f"not a readable fairens member checkpoint ({exc})") from exc
    return module.eval()

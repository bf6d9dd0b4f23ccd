"""One registry of architectures: ``model=<name>`` looks its spec up here.

Everything other code needs to know about an architecture (how to build it, which input
sizes it runs at, whether it has a deploy form) lives in its :class:`ModelSpec`.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FairensError, bad_file, unknown_name

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """How to build one architecture and what it accepts.

    Attributes:
        name: registry name (``model=<name>``).
        build: ``build(num_classes=, in_chans=, img_size=, **options)`` returns the module.
        family: what kind of network, for tables (``cnn``, ``vit``, ``hybrid``).
        min_size: smallest input side in pixels the network runs at.
        multiple: the input side must be a multiple of this.
        rule: a further condition on the side, or None; ``rule_text`` says it in words.
        takes_img_size: whether the builder is told the input side (networks with position
            embeddings or attention biases sized at construction).
        canonical_size: the ImageNet input side of its paper, for ``fairens zoo``.
        deploy: turns a trained module into its inference form (re-parameterisation), or None.
        paper_params: parameter count in its paper at the canonical setting, or None.
        source: where the architecture comes from (``fairens`` or ``timm``).
    """

    name: str
    build: Builder
    family: str
    min_size: int = 1
    multiple: int = 1
    rule: Callable[[int], bool] | None = None
    rule_text: str = ""
    takes_img_size: bool = False
    canonical_size: int = 224
    deploy: Callable[[nn.Module], nn.Module] | None = None
    paper_params: float | None = None
    source: str = "fairens"

    def supports(self, size: int) -> bool:
        """Whether the network trains at ``size`` x ``size`` inputs."""
        return (size >= self.min_size and size % self.multiple == 0
                and (self.rule is None or self.rule(size)))

    def smallest_size(self, size: int) -> int:
        """The smallest supported side >= ``size``."""
        side = max(size, self.min_size)
        while not self.supports(side):
            side += 1
        return side

    def describe_sizes(self) -> str:
        """The supported sides in words, for messages and tables."""
        text = f">= {self.min_size}"
        text += f" and a multiple of {self.multiple}" if self.multiple > 1 else ""
        return text + (f" with {self.rule_text}" if self.rule_text else "")

    def check_size(self, size: int) -> None:
        """Refuse a size the network cannot run at, naming the supported ones."""
        if not self.supports(size):
            raise FairensError(
                f"model={self.name} cannot run at {size}x{size} inputs: it supports sides "
                f"{self.describe_sizes()}; set data.image_size={self.smallest_size(size)} "
                "to upsample the images")


_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (a name can be registered once)."""
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _MODELS[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_MODELS)


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; an unknown name lists the known ones."""
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS)
    return _MODELS[name]


def create_model(name: str, *, num_classes: int, in_chans: int, img_size: int,
                 checkpoint: str | None = None, **options: Any) -> nn.Module:
    """Build model ``name`` for inputs [B, in_chans, img_size, img_size]: random weights, or
    the weights of a local ``checkpoint`` (a state dict, read with ``weights_only=True``)."""
    spec = get_spec(name)
    spec.check_size(img_size)
    return spec.build(num_classes=num_classes, in_chans=in_chans, img_size=img_size,
                      checkpoint=checkpoint, **options)


def load_weights(module: nn.Module, checkpoint: str | Path | None) -> nn.Module:
    """Load a state dict file (``state_dict`` or ``model`` entry, or the dict itself) into
    ``module``, strictly, reading it with ``weights_only=True``; None keeps the random
    initial weights."""
    if checkpoint is None:
        return module
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        module.load_state_dict(state)
    except (OSError, RuntimeError, pickle.UnpicklingError, AttributeError, KeyError, ValueError,
            TypeError, EOFError, zipfile.BadZipFile) as exc:  # what torch.load of junk raises
        raise bad_file(checkpoint, f"cannot load it into {type(module).__name__} "
                                   f"(model.checkpoint must be a matching state dict: {exc})"
                       ) from exc
    return module

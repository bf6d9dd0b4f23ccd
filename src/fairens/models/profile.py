"""Parameter and multiply-accumulate counts of a network at a given input size."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .registry import create_model, get_spec


def count_params(module: nn.Module) -> int:
    """Number of parameters (trainable or not), counting shared tensors once."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on a zero input of ``input_shape``.

    Counted by ``torch.utils.flop_counter`` (2 FLOPs per MAC for matmuls, convolutions and
    attention, the operations that dominate); the module runs in eval mode and is left as
    it was.
    """
    was_training = module.training
    module.eval()
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            module(torch.zeros(input_shape, device=device))
    finally:
        module.train(was_training)
    return counter.get_total_flops() // 2


def profile_model(name: str, *, num_classes: int, in_chans: int, img_size: int,
                  **options: Any) -> dict[str, Any]:
    """Parameters and MACs of model ``name`` at one setting, in its training form and, for
    re-parameterisable models, in its deploy form (what papers count and what is exported).
    """
    spec = get_spec(name)
    options.pop("checkpoint", None)  # counts do not depend on starting weights
    network = create_model(name, num_classes=num_classes, in_chans=in_chans, img_size=img_size,
                           **options)
    shape = (1, in_chans, img_size, img_size)
    out = {"name": name, "input": list(shape[1:]), "num_classes": num_classes,
           "params": count_params(network), "macs": count_macs(network, shape)}
    deployed = spec.deploy(copy.deepcopy(network).eval()) if spec.deploy else network
    out["deploy_params"] = count_params(deployed)
    out["deploy_macs"] = count_macs(deployed, shape) if spec.deploy else out["macs"]
    return out

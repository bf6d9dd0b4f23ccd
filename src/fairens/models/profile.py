"""Parameter and multiply-accumulate counts of a network at a given input size."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(module: nn.Module) -> int:
    """Number of parameters (trainable or not), counting shared tensors once."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on a zero input of ``input_shape``.

    Counted by ``torch.utils.flop_counter`` (2 FLOPs per MAC for matmuls and convolutions,
    the operations that dominate); the module is run in eval mode and left as it was.
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

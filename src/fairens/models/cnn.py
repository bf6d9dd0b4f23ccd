"""The project's own small CNNs: a small CNN for tiny inputs (8x8 digits) and ResNet-9.

ResNet-9 is the FAIR-Ensemble workhorse (Page 2018, "How to train your ResNet", as in
the ffcv CIFAR recipe): prep, two residual stages, max-pool head, logits scaled by 1/8.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import ModelSpec, load_weights, register_model


def conv_bn(in_chans: int, out_chans: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """``x + block(x)``."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class SmallCNN(nn.Sequential):
    """Four 3x3 conv-BN-ReLU layers, one 2x2 max pool, global average pool, linear head."""

    def __init__(self, num_classes: int, in_chans: int, width: int = 32) -> None:
        super().__init__(
            conv_bn(in_chans, width), conv_bn(width, width), nn.MaxPool2d(2),
            conv_bn(width, 2 * width), conv_bn(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))


class ResNet9(nn.Module):
    """ResNet-9 with ``width`` channels in the prep layer (64 in the original)."""

    def __init__(self, num_classes: int, in_chans: int, width: int = 64) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn(in_chans, w),
            conv_bn(w, 2 * w), nn.MaxPool2d(2), Residual(nn.Sequential(conv_bn(2 * w, 2 * w),
                                                                       conv_bn(2 * w, 2 * w))),
            conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
            conv_bn(4 * w, 8 * w), nn.MaxPool2d(2), Residual(nn.Sequential(conv_bn(8 * w, 8 * w),
                                                                           conv_bn(8 * w, 8 * w))),
            nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(8 * w, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)) * 0.125


def _small_cnn(*, num_classes: int, in_chans: int, img_size: int, width: int = 32,
               checkpoint: str | None = None) -> nn.Module:
    return load_weights(SmallCNN(num_classes, in_chans, width), checkpoint)


def _resnet9(*, num_classes: int, in_chans: int, img_size: int, width: int = 64,
             checkpoint: str | None = None) -> nn.Module:
    return load_weights(ResNet9(num_classes, in_chans, width), checkpoint)


register_model(ModelSpec(name="small_cnn", build=_small_cnn, family="cnn", min_size=2,
                         canonical_size=8))
register_model(ModelSpec(name="resnet9", build=_resnet9, family="cnn", min_size=8,
                         canonical_size=32))

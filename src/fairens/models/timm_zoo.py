"""Small mobile-targeted ViTs (and mobile CNN baselines) from timm, with random weights.

What each architecture accepts was found by building it at every side from 8 to 256
pixels (timm 1.0): some must be told ``img_size`` (their position embeddings or attention
biases are sized at construction) and some reject that argument; the rules are encoded
here and nowhere else. timm itself is imported when one of them is built: importing it
costs about 1 s, a third of what fairens adds to Lightning's import (``python -X importtime``),
and the default run never uses it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import bad_file
from .registry import ModelSpec, register_model


def _builder(timm_name: str, takes_img_size: bool):
    def build(*, num_classes: int, in_chans: int, img_size: int, checkpoint: str | None = None,
              **options: Any) -> nn.Module:
        import timm

        kwargs = dict(num_classes=num_classes, in_chans=in_chans, **options)
        if takes_img_size:
            kwargs["img_size"] = img_size
        if checkpoint is None:
            return timm.create_model(timm_name, pretrained=False, **kwargs)
        # timm loads the file (weights_only), drops a classifier of another class count,
        # adapts the first convolution to in_chans and resamples position embeddings
        try:
            return timm.create_model(timm_name, pretrained=True,
                                     pretrained_cfg_overlay={"file": str(checkpoint)}, **kwargs)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise bad_file(checkpoint, f"cannot load it as {timm_name} weights (model.checkpoint "
                                       f"must be a timm state dict: {exc})") from exc
    return build


def _reparameterize(module: nn.Module) -> nn.Module:
    from timm.utils import reparameterize_model

    return reparameterize_model(module)


def _register(name: str, family: str, *, takes_img_size: bool = False, min_size: int = 8,
              multiple: int = 1, canonical_size: int = 224, deploy: bool = False,
              paper_params: float | None = None, **rule: Any) -> None:
    register_model(ModelSpec(
        name=name, build=_builder(name, takes_img_size), family=family, min_size=min_size,
        multiple=multiple, takes_img_size=takes_img_size, canonical_size=canonical_size,
        deploy=_reparameterize if deploy else None, paper_params=paper_params,
        source="timm", **rule))


_register("mobilevit_xxs", "hybrid", canonical_size=256, paper_params=1.3e6)
_register("mobilevitv2_050", "hybrid", canonical_size=256, paper_params=1.4e6)
_register("efficientformerv2_s0", "hybrid", takes_img_size=True, min_size=20,
          paper_params=3.5e6, rule=lambda side: -(-side // 16) % 2 == 0,
          rule_text="an even stride-16 feature map (ceil(side / 16) even)")
_register("levit_128s", "hybrid", takes_img_size=True, min_size=16, multiple=16, deploy=True,
          paper_params=7.8e6)
_register("edgenext_xx_small", "hybrid", min_size=32, canonical_size=256, paper_params=1.33e6)
_register("fastvit_t8", "hybrid", canonical_size=256, deploy=True, paper_params=3.6e6)
_register("tiny_vit_5m_224", "vit", deploy=True, paper_params=5.4e6)
_register("repvit_m0_9", "cnn", deploy=True, paper_params=5.1e6)
_register("deit_tiny_patch16_224", "vit", takes_img_size=True, min_size=16, paper_params=5.7e6)
_register("mobilenetv3_small_050", "cnn")
_register("mobilenetv4_conv_small", "cnn", paper_params=3.8e6)

"""Every registered model trains at small sizes; counts match the module and the papers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch

from fairens.cli import main
from fairens.errors import FairensError
from fairens.models import count_params, create_model, get_spec, list_models, profile_model
from fairens.pipeline import train


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize(("channels", "classes"), [(3, 10), (1, 2)])
def test_forward_and_backward_at_32(name: str, channels: int, classes: int) -> None:
    torch.manual_seed(0)
    network = create_model(name, num_classes=classes, in_chans=channels, img_size=32).train()
    images = torch.randn(2, channels, 32, 32)
    logits = network(images)
    assert logits.shape == (2, classes)
    logits.logsumexp(dim=1).sum().backward()
    grads = [p.grad for p in network.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    profile = profile_model(name, num_classes=classes, in_chans=channels, img_size=32)
    assert profile["params"] == count_params(network) == sum(p.numel() for p in
                                                              network.parameters())
    assert profile["macs"] > 0 and profile["deploy_params"] <= profile["params"]


PAPERS = {"mobilevit_xxs": 1.3e6, "mobilevitv2_050": 1.4e6, "efficientformerv2_s0": 3.5e6,
          "levit_128s": 7.8e6, "edgenext_xx_small": 1.33e6, "tiny_vit_5m_224": 5.4e6,
          "repvit_m0_9": 5.1e6}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_imagenet_parameter_counts_match_the_papers(name: str) -> None:
    spec = get_spec(name)
    counts = profile_model(name, num_classes=1000, in_chans=3, img_size=spec.canonical_size)
    assert counts["deploy_params"] == pytest.approx(PAPERS[name], rel=0.05)


def test_repvit_reports_both_forms() -> None:
    counts = profile_model("repvit_m0_9", num_classes=1000, in_chans=3, img_size=224)
    assert counts["params"] == pytest.approx(5.49e6, rel=0.01)
    assert counts["deploy_params"] == pytest.approx(5.07e6, rel=0.01)


def test_size_rules() -> None:
    levit, former, edge = (get_spec(n) for n in ("levit_128s", "efficientformerv2_s0",
                                                  "edgenext_xx_small"))
    assert levit.supports(32) and not levit.supports(40) and levit.smallest_size(8) == 16
    assert former.supports(32) and not former.supports(40) and former.smallest_size(36) == 49
    assert edge.smallest_size(8) == 32
    with pytest.raises(FairensError) as error:
        create_model("edgenext_xx_small", num_classes=10, in_chans=3, img_size=16)
    assert str(error.value) == ("model=edgenext_xx_small cannot run at 16x16 inputs: it supports "
                                "sides >= 32; set data.image_size=32 to upsample the images")


def test_model_upsamples_images_it_cannot_take(train_config, tmp_path: Path, capsys) -> None:
    train(train_config("model=levit_128s", "ensemble.size=1", "trainer.limit_train_batches=2",
                       "trainer.limit_val_batches=1", "report.intervals=false"))
    meta = json.loads((tmp_path / "results" / "test" / "run.json").read_text())
    assert meta["data"]["image_size"] == 16 and meta["model"]["input"] == [1, 16, 16]
    assert "model=levit_128s cannot run at 8x8" in capsys.readouterr().out


def test_checkpoint_starts_from_local_timm_weights(tmp_path: Path) -> None:
    source = timm.create_model("mobilenetv3_small_050", num_classes=1000)
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    network = create_model("mobilenetv3_small_050", num_classes=2, in_chans=1, img_size=32,
                           checkpoint=str(path))
    block = "blocks.2.0.conv_pw.weight"
    assert torch.equal(network.state_dict()[block], source.state_dict()[block])
    assert network.conv_stem.weight.shape[1] == 1  # the first convolution adapted to 1 channel
    assert network.classifier.out_features == 2


def test_checkpoint_for_an_own_model_must_match(tmp_path: Path) -> None:
    path = tmp_path / "cnn.pth"
    torch.save(create_model("small_cnn", num_classes=10, in_chans=1, img_size=8).state_dict(), path)
    assert create_model("small_cnn", num_classes=10, in_chans=1, img_size=8, checkpoint=str(path))
    with pytest.raises(FairensError, match="cannot load it into SmallCNN"):
        create_model("small_cnn", num_classes=3, in_chans=1, img_size=8, checkpoint=str(path))


def test_zoo_command_json(capsys) -> None:
    main(["zoo", "repvit_m0_9", "levit_128s", "--size", "24", "--json"])
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["levit_128s"]["at_size"] is None  # 24 is not a multiple of 16
    repvit = entries["repvit_m0_9"]
    assert repvit["deploy_form"] and repvit["canonical"]["deploy_params"] < \
        repvit["canonical"]["params"]
    assert abs(repvit["params_vs_paper"]) < 0.05 and repvit["at_size"]["input"] == [3, 24, 24]

"""The words a report uses: the dataset's and the target's own names, grouping names that
say what they group, and verdicts in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ..fairness.result import Outcome

DATASETS = {"digits": "digits (scikit-learn)", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
            "cifar10s": "CIFAR-10S", "utkface": "UTKFace", "celeba": "CelebA",
            "cifar10-jpg": "CIFAR-10"}
MODELS = {"small_cnn": "small CNN", "resnet9": "ResNet-9",
          "efficientformerv2_s0": "EfficientFormerV2-S0", "repvit_m0_9": "RepViT-M0.9",
          "mobilevit_xxs": "MobileViT-XXS", "mobilevitv2_050": "MobileViTv2-0.5",
          "levit_128s": "LeViT-128S", "edgenext_xx_small": "EdgeNeXt-XXS",
          "fastvit_t8": "FastViT-T8", "tiny_vit_5m_224": "TinyViT-5M",
          "deit_tiny_patch16_224": "DeiT-Tiny", "mobilenetv3_small_050": "MobileNetV3-S-0.5",
          "mobilenetv4_conv_small": "MobileNetV4-Conv-S"}
SCALE_WORDS = {"gain": "gain in points", "rel_gain": "relative gain",
               "error_reduction": "error-rate reduction"}
RANKING_WORDS = {
    "validation": "chosen on the members' validation predictions, measured on the test set",
    "crossfit": "chosen on one half of the test set and measured on the other, both ways",
    "same_data": "chosen and measured on the same test predictions (biased: see "
                 "docs/statistics.md)"}


PLAIN = {"class", "digit"}  # targets whose values need no "group" after them


def dataset_title(meta: dict[str, Any]) -> str:
    """'CIFAR-10' for an imagefolder of data/cifar10; the configured name otherwise."""
    config = (meta.get("config") or {}).get("data") or {}
    name = config.get("name") or (meta.get("data") or {}).get("name") or "the test set"
    if name in ("imagefolder", "manifest") and config.get("root"):
        folder = PurePath(str(config["root"])).name
        return DATASETS.get(folder.lower(), folder)
    return DATASETS.get(str(name), str(name))


def model_title(meta: dict[str, Any], plural: bool = False) -> str:
    """'ResNet-9 (width 16)' ('ResNet-9s (width 16)' in the plural), 'small CNN', or a
    timm name as it is."""
    config = (meta.get("config") or {}).get("model") or {}
    name = str(config.get("name") or (meta.get("model") or {}).get("name") or "model")
    width = (config.get("options") or {}).get("width") if name == "resnet9" else None
    return MODELS.get(name, name) + ("s" if plural else "") + \
        (f" (width {width})" if width else "")


@dataclass(frozen=True)
class Names:
    """How one run's report names things: the target (``class`` in the data), its
    groupings, and the dataset and model."""

    target: str = "class"
    dataset: str = "the test set"
    model: str = "model"
    plural: str = "models"

    @classmethod
    def of_run(cls, meta: dict[str, Any]) -> Names:
        config = (meta.get("config") or {}).get("data") or {}
        target = config.get("target") or ("digit" if config.get("name") == "digits"
                                           else "class")
        return cls(str(target).replace("_", " "), dataset_title(meta), model_title(meta),
                   model_title(meta, plural=True))

    @property
    def test_set(self) -> str:
        """'UTKFace test' ('test' where the dataset is not known)."""
        return "test" if self.dataset == "the test set" else f"{self.dataset} test"

    def grouping(self, name: str) -> str:
        """'class&race' of a gender target -> 'gender × race'; 'age_group' -> 'age group'."""
        parts = [self.target if part == "class" else part.replace("_", " ")
                 for part in name.split("&")]
        return " × ".join(parts)

    def group_of(self, name: str) -> str:
        """'race group', 'age group' (not 'age group group'), 'gender × race group'; a
        class or a digit is itself the group: 'class', 'digit'."""
        title = self.grouping(name)
        return title if title.endswith(" group") or title in PLAIN else f"{title} group"

    def groups_of(self, name: str) -> str:
        """The plural of :meth:`group_of`: 'classes', 'digits', 'race groups'."""
        one = self.group_of(name)
        return one + ("es" if one.endswith("s") else "s")


def verdict_words(outcome: Outcome, k: int | None = None) -> str:
    """A verdict as a reader says it."""
    sets = f"-{k}" if k else "-k"
    return {Outcome.BOTTOM_MORE: f"ensembling helps the bottom{sets} more",
            Outcome.TOP_MORE: f"ensembling helps the top{sets} more",
            Outcome.MINORITY_MORE: "ensembling helps the minority more",
            Outcome.MAJORITY_MORE: "ensembling helps the majority more",
            Outcome.LARGER: "larger than the reference's",
            Outcome.SMALLER: "smaller than the reference's",
            Outcome.NO_DIFFERENCE: "the data do not separate them",
            Outcome.NOT_TESTED: "not tested (too few errors or right answers)"}[outcome]

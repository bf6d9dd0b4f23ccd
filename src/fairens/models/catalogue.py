"""``fairens zoo``: every registered model with its sizes, parameters and MACs."""

from __future__ import annotations

from typing import Any

from .profile import profile_model
from .registry import get_spec, list_models


def describe(name: str, *, size: int = 32, num_classes: int = 10, in_chans: int = 3,
             canonical: bool = True) -> dict[str, Any]:
    """One model: its spec, its counts at ``size`` (``None`` where it cannot run there)
    and, with ``canonical``, at its paper's ImageNet setting (1000 classes, 3 channels)."""
    spec = get_spec(name)
    entry: dict[str, Any] = {
        "name": name, "source": spec.source, "family": spec.family,
        "sizes": spec.describe_sizes(), "takes_img_size": spec.takes_img_size,
        "deploy_form": spec.deploy is not None, "canonical_size": spec.canonical_size,
        "paper_params": spec.paper_params}
    entry["at_size"] = (profile_model(name, num_classes=num_classes, in_chans=in_chans,
                                      img_size=size) if spec.supports(size) else None)
    if canonical:
        counts = profile_model(name, num_classes=1000, in_chans=3, img_size=spec.canonical_size)
        entry["canonical"] = counts
        entry["params_vs_paper"] = (None if spec.paper_params is None else
                                    counts["deploy_params"] / spec.paper_params - 1)
    return entry


def describe_zoo(names: list[str] | None = None, **options: Any) -> list[dict[str, Any]]:
    """:func:`describe` for ``names`` (default: every registered model)."""
    return [describe(name, **options) for name in (names or list_models())]

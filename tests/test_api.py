"""The package's public API resolves without importing everything up front."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fairens


@pytest.mark.parametrize("name", fairens.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(fairens, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        fairens.nothing  # noqa: B018


def test_importing_the_package_does_not_load_torch() -> None:
    code = "import sys, fairens, fairens.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False"

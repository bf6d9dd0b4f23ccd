"""ONNX graphs of members and ensembles: export, full check, and parity with PyTorch.

Every graph takes ``images`` float32 [batch, C, H, W] with pixel values in 0..255 (the
batch axis is dynamic) and returns ``probs`` float32 [batch, classes]: normalisation
and softmax are inside the graph, and an ensemble graph averages its members' softmax.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from ..ensemble import MemberModule
from ..errors import FairensError, UsageError, bad_file
from ..files import atomic_path
from ..models import get_spec

OPSET = 18
PARITY_TOLERANCE = 1e-4
EXPORTERS = ("dynamo", "torchscript")


class ProbabilityGraph(nn.Module):
    """Mean of the members' softmax: one member, or a whole ensemble as one graph."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        probs = [torch.softmax(member(images), dim=1) for member in self.members]
        return torch.stack(probs).mean(dim=0)


def deploy_form(member: MemberModule) -> MemberModule:
    """A copy of the member in eval mode, re-parameterised where its model has a deploy
    form (RepViT, FastViT, LeViT, TinyViT: timm's ``reparameterize_model``)."""
    member = copy.deepcopy(member).eval()
    spec = get_spec(member.hparams.model)
    if spec.deploy is not None:
        member.net = spec.deploy(member.net)
    return member


def export_onnx(module: nn.Module, path: Path, sample: torch.Tensor,
                exporter: str = "dynamo") -> Path:
    """Export ``module`` (eval mode) to ``path`` with a dynamic batch axis, check it with
    ``onnx.checker`` (full check) and write it atomically."""
    if exporter not in EXPORTERS:
        raise UsageError(f"exporter={exporter!r} is not allowed: one of {', '.join(EXPORTERS)}")
    module.eval()
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):  # the dynamo exporter prints progress
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(module, (sample,), str(tmp), input_names=["images"],
                          output_names=["probs"], opset_version=OPSET,
                          dynamo=exporter == "dynamo", external_data=False,
                          dynamic_axes={"images": {0: "batch"}, "probs": {0: "batch"}})
        onnx.checker.check_model(onnx.load(str(tmp)), full_check=True)
    return path


_MISSING_KERNEL = re.compile(r"implementation for (\S+?)\(|(\S+?)\(-?\d+\) is not a registered")


def open_session(path: Path, threads: int = 1, model: str = "") -> ort.InferenceSession:
    """An ONNX Runtime CPU session; a graph it cannot run is named with its operator."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception classes for every failure
        raise describe_session_error(path, str(exc), model) from exc


def describe_session_error(path: Path, message: str, model: str) -> FairensError:
    """ONNX Runtime's failure to load or run a graph, naming the operator when it is one."""
    match = _MISSING_KERNEL.search(message)
    operator = next((g for g in match.groups() if g), None) if match else None
    if operator:
        return bad_file(path, f"ONNX Runtime cannot run operator {operator} of model="
                              f"{model or path.stem}")
    first = (message.strip().splitlines() or ["unknown error"])[0]
    return bad_file(path, f"ONNX Runtime cannot load or run this graph of model="
                          f"{model or path.stem} ({first})")


def run_session(session: ort.InferenceSession, images: np.ndarray,
                batch_size: int = 256) -> np.ndarray:
    """Outputs [N, C] of ``session`` on float32 images [N, C, H, W], in batches."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i:i + batch_size]})[0]
                           for i in range(0, len(images), batch_size)])


def parity(path: Path, module: nn.Module, images: np.ndarray, model: str,
           tolerance: float = PARITY_TOLERANCE) -> float:
    """Max abs difference between the probabilities of ONNX Runtime and PyTorch on real
    images; a difference above ``tolerance`` fails the export."""
    with torch.no_grad():
        expected = module(torch.from_numpy(images)).numpy()
    actual = run_session(open_session(path, model=model), images)
    difference = float(np.abs(actual - expected).max())
    if not difference <= tolerance:
        raise FairensError(f"{path}: ONNX Runtime's probabilities differ from PyTorch's by "
                           f"{difference:.2e} (> {tolerance:g}) on real test images; the "
                           f"export of model={model} is wrong")
    return difference

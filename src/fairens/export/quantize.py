"""int8 graphs with ``onnxruntime.quantization`` and the ORT format for ORT Mobile."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.tools.convert_onnx_models_to_ort import (
    OptimizationStyle,
    convert_onnx_models_to_ort,
)

from ..errors import bad_file
from ..files import atomic_path
from .graphs import open_session, run_session

PRECISIONS = ("fp32", "int8_dynamic", "int8_static")


class ImageReader(CalibrationDataReader):
    """Feeds calibration images float32 [N, C, H, W] to static quantization in batches."""

    def __init__(self, images: np.ndarray, batch_size: int = 32) -> None:
        self.batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
        self.position = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position == len(self.batches):
            return None
        self.position += 1
        return {"images": self.batches[self.position - 1]}

    def rewind(self) -> None:
        self.position = 0


def activation_type() -> QuantType:
    """Unsigned activations on x86 (u8s8 kernels), signed on ARM, as ONNX Runtime advises."""
    machine = platform.machine().lower()
    return QuantType.QInt8 if machine.startswith(("arm", "aarch")) else QuantType.QUInt8


def _pre_process(fp32: Path, prepared: Path) -> None:
    """``quant_pre_process`` run inside ``prepared``'s folder: when ORT's symbolic shape
    inference gives up it dumps the graph and its weights into the working directory."""
    previous = os.getcwd()
    os.chdir(prepared.parent)
    try:
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=False)
    except Exception:  # ORT raises a bare Exception when its inference gives up
        # it fails on some dynamo-exported graphs (ResNet-9's pooled head, EdgeNeXt,
        # MobileViT, EfficientFormerV2); ONNX's own shape inference suffices there
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    finally:
        os.chdir(previous)


def quantize(fp32: Path, calibration: np.ndarray) -> dict[str, Path]:
    """``<stem>.int8_dynamic.onnx`` (weights int8, activations quantized at run time) and
    ``<stem>.int8_static.onnx`` (QDQ, per-channel int8 weights, activations calibrated on
    ``calibration`` images), both after ``quant_pre_process``."""
    logging.getLogger("root").setLevel(logging.ERROR)  # the quantizer logs through root
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        _pre_process(fp32.resolve(), prepared)
        dynamic = fp32.with_name(f"{fp32.stem}.int8_dynamic.onnx")
        with atomic_path(dynamic) as tmp:
            quantize_dynamic(str(prepared), str(tmp), weight_type=QuantType.QInt8)
        out["int8_dynamic"] = dynamic
        static = fp32.with_name(f"{fp32.stem}.int8_static.onnx")
        with atomic_path(static) as tmp:
            quantize_static(str(prepared), str(tmp), ImageReader(calibration),
                            quant_format=QuantFormat.QDQ, activation_type=activation_type(),
                            weight_type=QuantType.QInt8, per_channel=True)
        out["int8_static"] = static
    return out


def to_ort_format(graph: Path, check_images: np.ndarray) -> Path:
    """``<graph>.ort`` for ORT Mobile, loaded back and checked to give the same outputs
    (within 1e-4) as the ``.onnx`` on ``check_images``."""
    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        convert_onnx_models_to_ort(graph, output_dir=Path(folder),
                                   optimization_styles=[OptimizationStyle.Fixed])
        produced = Path(folder) / f"{graph.stem}.ort"
        target = graph.with_suffix(".ort")
        with atomic_path(target) as tmp:
            shutil.copyfile(produced, tmp)
    expected = run_session(open_session(graph), check_images)
    actual = run_session(open_session(target), check_images)
    if not np.abs(actual - expected).max() <= 1e-4:
        raise bad_file(target, "the ORT-format graph does not reproduce its .onnx outputs")
    return target

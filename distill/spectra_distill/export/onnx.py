"""ONNX export of a FusionNet with parity verification against PyTorch."""

from __future__ import annotations

import copy
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from spectra_distill.errors import ExportError
from spectra_distill.models.net import FusionNet

INPUT_NAMES = ("lrhsi", "hrmsi")
OUTPUT_NAME = "hrhsi"
DEFAULT_OPSET = 17
PARITY_ATOL = 1e-4


class _CubeOnly(nn.Module):
    """The deployed graph returns the cube only; features exist for distillation."""

    def __init__(self, model: FusionNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> torch.Tensor:
        return self.model(lrhsi, hrmsi).cube


@dataclass(frozen=True)
class ParityCheck:
    """One PyTorch vs onnxruntime comparison.

    Attributes:
        batch: N of the check input.
        lr_size: (h, w) of the LR-HSI.
        max_abs_diff: Largest absolute difference of the outputs.
    """

    batch: int
    lr_size: tuple[int, int]
    max_abs_diff: float


def cpu_copy(model: FusionNet) -> FusionNet:
    """An eval-mode float32 CPU copy, so exporting never moves or retypes the caller's (training) model."""
    return copy.deepcopy(model).to("cpu", torch.float32).eval()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _random_inputs(
    model: FusionNet, batch: int, lr_size: tuple[int, int], seed: int
) -> tuple[torch.Tensor, ...]:
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    h, w = lr_size
    lrhsi = torch.rand(batch, cfg.hsi_bands, h, w, generator=gen)
    hrmsi = torch.rand(batch, cfg.msi_bands, h * cfg.scale, w * cfg.scale, generator=gen)
    return lrhsi, hrmsi


def verify_onnx(
    model: FusionNet,
    onnx_path: str | Path,
    checks: tuple[tuple[int, tuple[int, int]], ...] = ((1, (8, 8)), (2, (6, 10))),
    atol: float = PARITY_ATOL,
) -> list[ParityCheck]:
    """Compare onnxruntime (CPU) with PyTorch on random 0..1 inputs at the given (batch, (h, w)).

    Raises:
        ExportError: a comparison exceeds `atol` or onnxruntime rejects a shape.
    """
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    results = []
    model = cpu_copy(model)
    for i, (batch, lr_size) in enumerate(checks):
        lrhsi, hrmsi = _random_inputs(model, batch, lr_size, seed=1234 + i)
        with torch.no_grad():
            expected = model(lrhsi, hrmsi).cube.numpy()
        try:
            (got,) = session.run([OUTPUT_NAME], {"lrhsi": lrhsi.numpy(), "hrmsi": hrmsi.numpy()})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ExportError(
                f"onnxruntime failed at batch {batch}, LR size {lr_size}: {exc}", onnx_path
            ) from exc
        if got.shape != expected.shape:
            raise ExportError(
                f"ONNX output shape {got.shape} differs from PyTorch {expected.shape} at LR size {lr_size}",
                onnx_path,
            )
        diff = float(np.max(np.abs(got - expected)))
        if not diff <= atol:
            raise ExportError(
                f"ONNX output differs from PyTorch by {diff:.3g} (max abs) at batch {batch}, LR size "
                f"{lr_size}; tolerance {atol:g}",
                onnx_path,
            )
        results.append(ParityCheck(batch=batch, lr_size=lr_size, max_abs_diff=diff))
    return results


def export_onnx(model: FusionNet, out_path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` as ONNX with inputs lrhsi [N,B,h,w], hrmsi [N,b,H,W] and output hrhsi [N,B,H,W].

    Batch and spatial axes are dynamic (H = scale * h). Uses the TorchScript exporter: the graph is
    small and clean (Conv, Resize with constant scales, MatMul, Softmax) and needs no onnxscript
    rewriting. Runs the ONNX checker; does not verify numerics (see `verify_onnx`).

    Raises:
        ExportError: the checker rejects the graph.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = cpu_copy(model)
    example = _random_inputs(model, 1, (8, 8), seed=0)
    dynamic_axes = {
        "lrhsi": {0: "N", 2: "h", 3: "w"},
        "hrmsi": {0: "N", 2: "H", 3: "W"},
        OUTPUT_NAME: {0: "N", 2: "H", 3: "W"},
    }
    # The TorchScript exporter is deprecated in favour of torch.export, but for this graph it emits the
    # plain Conv/Resize/MatMul graph we want (see module docs); silence its per-call deprecation notice.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _CubeOnly(model),
            example,
            str(out),
            dynamo=False,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    try:
        onnx.checker.check_model(str(out), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"ONNX checker rejected the graph: {exc}", out) from exc
    return out

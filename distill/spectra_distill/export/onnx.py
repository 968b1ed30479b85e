"""ONNX export of a FusionNet with parity verification against PyTorch."""

from __future__ import annotations

import copy
import hashlib
import json
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
STATS_NAME = "frame_stats"
"""Third input of graphs with per-image statistics (`FusionNet.frame_statistics_length` > 0), and the output
of their statistics graph `<stem>.stats.onnx`, which measures it on a whole frame."""
OUTPUT_NAME = "hrhsi"
DEFAULT_OPSET = 17
PARITY_ATOL = 1e-4
# (batch, (h, w)) LR sizes checked at export: a batch, a non-square frame, and more LR rows than one block of
# the per-frame blur (`physics.DEGRADE_BLOCK`), whose block count the graph computes from each frame's shape
PARITY_CHECKS = ((1, (8, 8)), (2, (6, 10)), (1, (20, 12)))


class _CubeOnly(nn.Module):
    """The deployed graph returns the cube only; features exist for distillation."""

    def __init__(self, model: FusionNet) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, lrhsi: torch.Tensor, hrmsi: torch.Tensor, frame_stats: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.model(lrhsi, hrmsi, frame_stats).cube


class _StatsOnly(nn.Module):
    """The statistics graph: whole-frame inputs to the `frame_stats` vector every tile then takes."""

    def __init__(self, model: FusionNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, lrhsi: torch.Tensor, hrmsi: torch.Tensor) -> torch.Tensor:
        return self.model.frame_statistics(lrhsi, hrmsi)


def card_path_for(onnx_path: str | Path) -> Path:
    """`models/x.onnx` -> `models/x.card.json`."""
    p = Path(onnx_path)
    return p.with_name(p.stem + ".card.json")


def stats_path_for(onnx_path: str | Path) -> Path:
    """`models/x.onnx` -> `models/x.stats.onnx`, the statistics graph beside a fuse graph."""
    p = Path(onnx_path)
    return p.with_name(p.stem + ".stats.onnx")


class StatisticsGraph:
    """The statistics graph beside a fuse graph that takes `frame_stats` (`stats_path_for`), on the CPU.

    Raises:
        ExportError: the file is missing.
    """

    def __init__(self, onnx_path: str | Path) -> None:
        path = stats_path_for(onnx_path)
        # a variant (x.fp16.onnx) shares the fp32 model's statistics graph, which its card names
        card = card_path_for(onnx_path)
        if card.is_file():
            graph = (json.loads(card.read_text()).get("frame_statistics") or {}).get("graph")
            path = path.with_name(graph) if graph else path
        if not path.is_file():
            name = Path(onnx_path).name
            raise ExportError(f"{name} takes {STATS_NAME}; its statistics graph is missing", path)
        # its worker threads must not spin after a run: they would take the cores from the fuse graph that runs
        # next (40 % of a 206-band frame's time, results/distill/generalisation/README.md)
        options = session_options()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def measure(self, lr: np.ndarray, msi: np.ndarray) -> np.ndarray:
        """The (N, S) statistics of whole frames (N, B, h, w) / (N, b, H, W)."""
        return self.session.run(None, {INPUT_NAMES[0]: lr, INPUT_NAMES[1]: msi})[0]


def session_options() -> ort.SessionOptions:
    """Options of every session that runs an exported graph (the SDK's defaults too).

    Optimisation level 'extended', not 'all': the NCHWc layout transformation 'all' adds converts the convs'
    layout at every boundary, which made the 206-band students 10-20 % slower at 32-64 LR px (all three
    variants) and the CAVE-grid ones no faster (`scripts/bench/graph_optimization.py`,
    `results/bench/graph-optimization.json`).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    return options


def takes_statistics(session: ort.InferenceSession) -> bool:
    """Whether a fuse graph's session takes the `frame_stats` input."""
    return STATS_NAME in [i.name for i in session.get_inputs()]


class OnnxFusion:
    """An exported fuse graph (and its statistics graph, if it has one) run through onnxruntime.

    `fuse(lr, msi)` runs whole frames; `tile_fn(lr, msi)` returns a per-tile function that feeds every tile
    the statistics of this whole frame, so tiles fuse as the whole image does.

    Raises:
        ExportError: the graph takes `frame_stats` and its statistics graph is missing.
    """

    def __init__(self, onnx_path: str | Path, providers: list[str] | None = None) -> None:
        self.session = ort.InferenceSession(
            str(onnx_path), session_options(), providers=providers or ["CPUExecutionProvider"]
        )
        self.stats = StatisticsGraph(onnx_path) if takes_statistics(self.session) else None

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def statistics(self, lr: np.ndarray, msi: np.ndarray) -> np.ndarray | None:
        """The whole frame's (N, S) statistics, or None for a graph that takes none."""
        return None if self.stats is None else self.stats.measure(lr, msi)

    def run(self, lr: np.ndarray, msi: np.ndarray, stats: np.ndarray | None) -> np.ndarray:
        feeds = {INPUT_NAMES[0]: lr, INPUT_NAMES[1]: msi}
        if stats is not None:
            n = lr.shape[0]
            feeds[STATS_NAME] = stats if stats.shape[0] == n else np.repeat(stats[:1], n, axis=0)
        return self.session.run([OUTPUT_NAME], feeds)[0]

    def fuse(self, lr: np.ndarray, msi: np.ndarray) -> np.ndarray:
        return self.run(lr, msi, self.statistics(lr, msi))

    def tile_fn(self, lr: np.ndarray, msi: np.ndarray):  # noqa: ANN201 - a closure over one frame
        stats = self.statistics(lr, msi)
        return lambda lr_tile, msi_tile: self.run(lr_tile, msi_tile, stats)


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
    checks: tuple[tuple[int, tuple[int, int]], ...] = PARITY_CHECKS,
    atol: float = PARITY_ATOL,
) -> list[ParityCheck]:
    """Compare onnxruntime (CPU) with PyTorch on random 0..1 inputs at the given (batch, (h, w)).

    Raises:
        ExportError: a comparison exceeds `atol` or onnxruntime rejects a shape.
    """
    runner = OnnxFusion(onnx_path)
    results = []
    model = cpu_copy(model)
    for i, (batch, lr_size) in enumerate(checks):
        lrhsi, hrmsi = _random_inputs(model, batch, lr_size, seed=1234 + i)
        with torch.no_grad():
            expected = model(lrhsi, hrmsi).cube.numpy()
        try:
            got = runner.fuse(lrhsi.numpy(), hrmsi.numpy())
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

    A network with per-image statistics also takes frame_stats [N,S], and its statistics graph
    (lrhsi, hrmsi) -> frame_stats is written beside it (`stats_path_for`). Batch and spatial axes are dynamic
    (H = scale * h). Uses the TorchScript exporter: the graph is
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
    names = list(INPUT_NAMES)
    if model.frame_statistics_length:
        with torch.no_grad():
            example = (*example, model.frame_statistics(*example))
        names.append(STATS_NAME)
        dynamic_axes[STATS_NAME] = {0: "N"}
        _export(
            _StatsOnly(model),
            example[:2],
            stats_path_for(out),
            list(INPUT_NAMES),
            STATS_NAME,
            {**{k: dynamic_axes[k] for k in INPUT_NAMES}, STATS_NAME: {0: "N"}},
            opset,
        )
    _export(_CubeOnly(model), example, out, names, OUTPUT_NAME, dynamic_axes, opset)
    return out


def _export(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    out: Path,
    input_names: list[str],
    output_name: str,
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    # The TorchScript exporter is deprecated in favour of torch.export, but for this graph it emits the
    # plain Conv/Resize/MatMul graph we want (see module docs); silence its per-call deprecation notice.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            example,
            str(out),
            dynamo=False,
            input_names=input_names,
            output_names=[output_name],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    try:
        onnx.checker.check_model(str(out), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"ONNX checker rejected the graph: {exc}", out) from exc

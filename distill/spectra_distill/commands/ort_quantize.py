"""Anchor for `spectra quantize`: onnxruntime quantize_static (QDQ, per-channel, symmetric int8), same data.

The calibration directory holds `<stem>.lrhsi.npy` + `<stem>.hrmsi.npy` pairs, float32 (bands, H, W) in the
model's physical units: the layout `spectra quantize` reads, and what `npm run bench:quantize` writes for its
samples, so both quantizers see identical tensors.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from spectra_distill.errors import DatasetError
from spectra_distill.export.onnx import STATS_NAME, StatisticsGraph

logger = logging.getLogger(__name__)

METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
}


@dataclass(frozen=True)
class OrtQuantizeConfig:
    """What to quantize and how.

    Attributes:
        model: float32 ONNX model.
        calib: Directory of `<stem>.lrhsi.npy` / `<stem>.hrmsi.npy` pairs, float32 (bands, H, W).
        out: Output ONNX path.
        method: One of `minmax`, `percentile`, `entropy`.
        percentile: Percentile for `percentile` (onnxruntime's `CalibPercentile`).
        preprocess: Run onnxruntime's `quant_pre_process` (shape inference + optimisation) first.
        op_types: Operator types to quantize (onnxruntime's `op_types_to_quantize`); empty = its default, all.
        exclude: Node names left float (`nodes_to_exclude`), e.g. the layers our quantizer keeps float.
    """

    model: Path
    calib: Path
    out: Path
    method: str = "percentile"
    percentile: float = 99.99
    preprocess: bool = True
    op_types: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class PairReader(CalibrationDataReader):
    """Feeds the calibration pairs one at a time (batch 1), in file-name order."""

    def __init__(self, calib: Path, model: Path | None = None) -> None:
        stems = sorted(p.name[: -len(".lrhsi.npy")] for p in calib.glob("*.lrhsi.npy"))
        if not stems:
            raise DatasetError("empty calibration set: no <stem>.lrhsi.npy files", calib)
        self._items = list(self._load(calib, stems))
        # a model with a statistics graph takes each sample's own statistics as its third input
        graph_inputs = [] if model is None else onnx.load(str(model), load_external_data=False).graph.input
        inputs = [i.name for i in graph_inputs]
        if STATS_NAME in inputs:
            graph = StatisticsGraph(model)
            for item in self._items:
                item[STATS_NAME] = graph.measure(item["lrhsi"], item["hrmsi"])
        self._iter: Iterator[dict[str, np.ndarray]] = iter(self._items)

    @staticmethod
    def _load(calib: Path, stems: list[str]) -> Iterator[dict[str, np.ndarray]]:
        for stem in stems:
            msi = calib / f"{stem}.hrmsi.npy"
            if not msi.exists():
                raise DatasetError(f"{stem}.lrhsi.npy has no partner {msi.name}", calib)
            lr = np.load(calib / f"{stem}.lrhsi.npy").astype(np.float32)
            hr = np.load(msi).astype(np.float32)
            if lr.ndim != 3 or hr.ndim != 3:
                raise DatasetError(
                    f"expected (bands, H, W) arrays, got {lr.shape} and {hr.shape}", calib / stem
                )
            yield {"lrhsi": lr[None], "hrmsi": hr[None]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def ort_quantize(config: OrtQuantizeConfig) -> dict[str, float | int | str]:
    """Quantizes with onnxruntime's static QDQ quantizer (int8 symmetric weights per channel and activations).

    Returns:
        Facts for the benchmark: samples, seconds, output path.
    """
    if config.method not in METHODS:
        raise ValueError(f"Unknown method '{config.method}'; known: {', '.join(METHODS)}")
    if not config.model.exists():
        raise DatasetError("model not found", config.model)
    reader = PairReader(config.calib, config.model)
    if config.exclude:
        names = {n.name for n in onnx.load(str(config.model), load_external_data=False).graph.node}
        unknown = sorted(set(config.exclude) - names)
        if unknown:
            listed = ", ".join(unknown[:5])
            raise DatasetError(f"--exclude names no node of the model: {listed}", config.model)
        if config.preprocess:
            raise ValueError("--exclude needs --no-preprocess: quant_pre_process renames and fuses nodes")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        source = config.model
        if config.preprocess:
            source = Path(tmp) / "preprocessed.onnx"
            quant_pre_process(str(config.model), str(source), skip_symbolic_shape=True)
        config.out.parent.mkdir(parents=True, exist_ok=True)
        partial = config.out.with_suffix(".partial.onnx")
        quantize_static(
            str(source),
            str(partial),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=METHODS[config.method],
            op_types_to_quantize=list(config.op_types) or None,
            nodes_to_exclude=list(config.exclude) or None,
            extra_options={
                "ActivationSymmetric": True,
                "WeightSymmetric": True,
                "CalibPercentile": config.percentile,
                "CalibTensorRangeSymmetric": True,
            },
        )
        onnx.checker.check_model(onnx.load(str(partial)))
        partial.replace(config.out)
    return {"samples": len(reader), "seconds": time.perf_counter() - started, "out": str(config.out)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="float32 .onnx")
    parser.add_argument(
        "--calib", type=Path, required=True, help="directory of <stem>.lrhsi.npy/.hrmsi.npy pairs"
    )
    parser.add_argument("--out", type=Path, required=True, help="output .onnx")
    parser.add_argument(
        "--method", choices=sorted(METHODS), default="percentile", help="activation calibration method"
    )
    parser.add_argument(
        "--percentile", type=float, default=99.99, help="percentile method: the percentile of |x| kept"
    )
    parser.add_argument("--no-preprocess", action="store_true", help="skip quant_pre_process")
    parser.add_argument(
        "--op-types", nargs="+", default=[], metavar="OP", help="quantize only these op types (Conv MatMul)"
    )
    parser.add_argument(
        "--exclude", nargs="+", default=[], metavar="NODE", help="nodes left float (needs --no-preprocess)"
    )


def run(args: argparse.Namespace) -> int:
    facts = ort_quantize(
        OrtQuantizeConfig(
            model=args.model,
            calib=args.calib,
            out=args.out,
            method=args.method,
            percentile=args.percentile,
            preprocess=not args.no_preprocess,
            op_types=tuple(args.op_types),
            exclude=tuple(args.exclude),
        )
    )
    logger.info("wrote %s (%d samples, %.1f s)", facts["out"], facts["samples"], facts["seconds"])
    return 0

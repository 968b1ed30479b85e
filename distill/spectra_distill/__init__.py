"""Spectra Edge host side: data, Wald degradation, CSAKD distillation, evaluation and ONNX export."""

__version__ = "0.1.0"

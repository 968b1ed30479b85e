"""ONNX export with a verified model card."""

from spectra_distill.export.card import CARD_SCHEMA, CardFacts, build_card, write_card
from spectra_distill.export.model import ExportResult, card_path_for, export_model, load_checkpoint_model
from spectra_distill.export.onnx import ParityCheck, export_onnx, sha256_file, verify_onnx

__all__ = [
    "CARD_SCHEMA",
    "CardFacts",
    "ExportResult",
    "ParityCheck",
    "build_card",
    "card_path_for",
    "export_model",
    "export_onnx",
    "load_checkpoint_model",
    "sha256_file",
    "verify_onnx",
    "write_card",
]

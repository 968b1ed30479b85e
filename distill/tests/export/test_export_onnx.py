"""ONNX export: parity with PyTorch, dynamic axes, model card, checkpoint loading, the committed fixture."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from spectra_distill.commands import export as export_command
from spectra_distill.commands import fixture as fixture_command
from spectra_distill.errors import BandCountError, CheckpointError, ExportError, ScaleError, WavelengthError
from spectra_distill.export import CARD_SCHEMA, export_model, export_onnx, sha256_file, verify_onnx
from spectra_distill.models import FUSIONS, create_model

B, b, S = 8, 3, 4
FIXTURE = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "tiny"


def _facts(bands: int = B, msi_bands: int = b, scale: int = S) -> dict[str, Any]:
    srf = np.random.default_rng(0).uniform(0.1, 1.0, (msi_bands, bands))
    return {
        "wavelengths": list(np.linspace(450.0, 800.0, bands)),
        "fwhm": [20.0] * bands,
        "band_valid": [True] * (bands - 1) + [False],
        "msi": {
            "preset": "rgb",
            "band_names": [f"m{i}" for i in range(msi_bands)],
            "srf": (srf / srf.sum(axis=1, keepdims=True)).tolist(),
            "srf_file": "nikon_d700_srf.csv",
        },
        "psf": {"type": "gaussian", "sigma": 2.0, "kernel_size": 8},
        "scale": scale,
        "value_scale": {"cave": 65535.0},
        "datasets": ["cave_kbr"],
        "split": "default",
    }


def _student(seed: int = 0, **overrides: Any) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("student", "test_tiny", hsi_bands=B, msi_bands=b, scale=S, **overrides).eval()


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_onnx_matches_pytorch_at_two_sizes_and_batches(tmp_path: Path, fusion: str) -> None:
    model = _student(fusion=fusion)
    path = export_onnx(model, tmp_path / "m.onnx")
    checks = verify_onnx(model, path, checks=((1, (8, 8)), (3, (5, 7))))
    assert [c.batch for c in checks] == [1, 3]
    assert all(c.max_abs_diff <= 1e-4 for c in checks)


def test_onnx_parity_with_lr_skip_and_grouped_head(tmp_path: Path) -> None:
    model = _student(lr_skip=True, head_out_groups=B)
    path = export_onnx(model, tmp_path / "m.onnx")
    checks = verify_onnx(model, path, checks=((1, (8, 8)), (2, (5, 7))))
    assert all(c.max_abs_diff <= 1e-4 for c in checks)


def test_onnx_parity_with_border_pad_at_two_sizes(tmp_path: Path) -> None:
    """The mirror frame is built from slices of the dynamic H and W, so it must hold at any size."""
    model = _student(lr_skip=True, border_pad=2)
    path = export_onnx(model, tmp_path / "m.onnx")
    checks = verify_onnx(model, path, checks=((1, (8, 8)), (2, (5, 7))))
    assert all(c.max_abs_diff <= 1e-4 for c in checks)


def test_export_leaves_the_callers_model_alone(tmp_path: Path) -> None:
    model = _student().train().double()
    export_model(model, _facts(), tmp_path / "s.onnx")
    assert model.training
    assert next(model.parameters()).dtype == torch.float64


def test_graph_io_names_and_dynamic_axes(tmp_path: Path) -> None:
    graph = onnx.load(export_onnx(_student(), tmp_path / "m.onnx")).graph

    def dims(value: onnx.ValueInfoProto) -> list[str | int]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert {i.name: dims(i) for i in graph.input} == {
        "lrhsi": ["N", B, "h", "w"],
        "hrmsi": ["N", b, "H", "W"],
    }
    assert {o.name: dims(o) for o in graph.output} == {"hrhsi": ["N", B, "H", "W"]}


def test_parity_failure_is_loud(tmp_path: Path) -> None:
    model = _student()
    path = export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        model.head.body[-1].weight.add_(0.01)
    with pytest.raises(ExportError, match=r"differs from PyTorch by .* tolerance 0.0001") as info:
        verify_onnx(model, path)
    assert info.value.path == path


def test_export_model_writes_verified_card(tmp_path: Path) -> None:
    result = export_model(
        _student(), _facts(), tmp_path / "s.onnx", preset="test_tiny", validation={"per_dataset": {}}
    )
    card = json.loads((tmp_path / "s.card.json").read_text())
    assert card == result.card
    assert card["schema"] == CARD_SCHEMA
    assert card["onnx"] == "s.onnx" and card["name"] == "s"
    assert card["onnx_sha256"] == sha256_file(tmp_path / "s.onnx")
    assert card["hsi"]["bands"] == B and card["msi"]["bands"] == b
    assert card["hsi"]["band_valid"][-1] is False
    assert card["scale"] == S and card["spatial_multiple"] == S
    assert card["io"]["inputs"]["lrhsi"]["shape"] == ["N", B, "h", "w"]
    assert card["params"] == sum(p.numel() for p in _student().parameters())
    assert card["macs_per_hr_pixel"] > 0
    assert card["normalisation"]["inside_graph"] is True
    assert card["training"]["datasets"] == ["cave_kbr"]


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        ({"wavelengths": [500.0] * 3}, WavelengthError, "3 wavelengths for a 8-band model"),
        ({"scale": 8}, ScaleError, "card scale 8 differs"),
        ({"fwhm": [10.0]}, BandCountError, "fwhm has 1 entries"),
        ({"psf": None}, CheckpointError, "lack psf"),
    ],
)
def test_card_facts_that_do_not_fit_are_rejected_before_writing(
    tmp_path: Path, change: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        export_model(_student(), {**_facts(), **change}, tmp_path / "s.onnx", source=tmp_path / "ck.pt")
    assert not (tmp_path / "s.onnx").exists()


def test_srf_shape_and_rows_are_checked(tmp_path: Path) -> None:
    facts = _facts()
    facts["msi"] = {**facts["msi"], "srf": facts["msi"]["srf"][:2]}
    with pytest.raises(BandCountError, match=r"msi.srf has shape \(2, 8\); expected \(3, 8\)"):
        export_model(_student(), facts, tmp_path / "s.onnx")
    facts = _facts()
    facts["msi"] = {**facts["msi"], "srf": (np.asarray(facts["msi"]["srf"]) * 2).tolist()}
    with pytest.raises(BandCountError, match="rows must sum to 1"):
        export_model(_student(), facts, tmp_path / "s.onnx")


def _checkpoint(tmp_path: Path) -> Path:
    teacher = create_model("teacher", "test_tiny", hsi_bands=B, msi_bands=b)
    student = _student(seed=3)
    path = tmp_path / "last.pt"
    torch.save(
        {
            "config": {"model": {"preset": "test_tiny"}},
            "teacher": teacher.state_dict(),
            "student": student.state_dict(),
            "model_config": {"teacher": teacher.config.to_dict(), "student": student.config.to_dict()},
            "card": _facts(),
            "metrics": {"cave_kbr": {"psnr": 30.0}},
            "teacher_metrics": {"cave_kbr": {"psnr": 31.0}},
            "epoch": 7,
            "step": 70,
        },
        path,
    )
    return path


def test_export_command_from_checkpoint(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "models" / "student-x.onnx"
    args = argparse.Namespace(
        checkpoint=ckpt, role="student", out=out, name=None, preset=None, opset=17, srf_estimate=False,
        shift_estimate=False, msi_denoise=False,
    )  # fmt: skip
    assert export_command.run(args) == 0
    card = json.loads(out.with_name("student-x.card.json").read_text())
    assert card["preset"] == "test_tiny" and card["training"]["epochs"] == 7
    assert card["validation"] == {"per_dataset": {"cave_kbr": {"psnr": 30.0}}}
    lrhsi = np.random.default_rng(1).random((1, B, 4, 4), dtype=np.float32)
    hrmsi = np.random.default_rng(2).random((1, b, 16, 16), dtype=np.float32)
    (got,) = ort.InferenceSession(str(out)).run(None, {"lrhsi": lrhsi, "hrmsi": hrmsi})
    with torch.no_grad():
        expected = _student(seed=3)(torch.from_numpy(lrhsi), torch.from_numpy(hrmsi)).cube.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    args.role, args.out = "teacher", tmp_path / "models" / "teacher-x.onnx"
    assert export_command.run(args) == 0
    card = json.loads(out.with_name("teacher-x.card.json").read_text())
    assert card["role"] == "teacher"
    assert card["validation"] == {"per_dataset": {"cave_kbr": {"psnr": 31.0}}}


def test_checkpoint_without_card_names_the_file(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path)
    data = torch.load(ckpt, weights_only=False)
    del data["card"]
    torch.save(data, ckpt)
    args = argparse.Namespace(
        checkpoint=ckpt,
        role="student",
        out=tmp_path / "x.onnx",
        name=None,
        preset=None,
        opset=17,
        srf_estimate=False,
        shift_estimate=False,
        msi_denoise=False,
    )
    with pytest.raises(CheckpointError, match="lacks card") as info:
        export_command.run(args)
    assert info.value.path == ckpt


def test_committed_fixture_is_current_and_consistent(tmp_path: Path) -> None:
    card = json.loads((FIXTURE / "tiny-student.card.json").read_text())
    assert card["onnx_sha256"] == sha256_file(FIXTURE / card["onnx"])
    ref = {k: np.load(FIXTURE / f"reference-{k}.npy") for k in ("lrhsi", "hrmsi", "hrhsi")}
    session = ort.InferenceSession(str(FIXTURE / card["onnx"]))
    (got,) = session.run(None, {"lrhsi": ref["lrhsi"], "hrmsi": ref["hrmsi"]})
    np.testing.assert_allclose(got, ref["hrhsi"], atol=1e-4)
    # Regenerating must reproduce the committed files: the fixture follows the model code.
    args = argparse.Namespace(out=tmp_path, seed=0, srf_dir=fixture_command.DEFAULT_SRF_DIR)
    if not args.srf_dir.is_dir():
        pytest.skip(f"shared SRF data not present at {args.srf_dir}")
    assert fixture_command.run(args) == 0
    fresh = json.loads((tmp_path / "tiny-student.card.json").read_text())
    fresh["training"]["command"] = card["training"]["command"]  # names the output folder
    # torch.save writes a random serialization id, so the weights' hash differs per run; their content may not
    assert card["weights"]["sha256"] == sha256_file(FIXTURE / card["weights"]["file"])
    fresh_weights = torch.load(tmp_path / fresh["weights"]["file"], weights_only=True)
    committed_weights = torch.load(FIXTURE / card["weights"]["file"], weights_only=True)
    for key, value in committed_weights["student"].items():
        torch.testing.assert_close(fresh_weights["student"][key], value, rtol=0, atol=0)
    fresh["weights"]["sha256"] = card["weights"]["sha256"]
    assert fresh == card
    for key, value in ref.items():
        np.testing.assert_allclose(np.load(tmp_path / f"reference-{key}.npy"), value, atol=1e-6)

"""CUDA checks: the same weights give the same cube on GPU as on CPU, and a CUDA model exports."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spectra_distill.export import export_onnx, verify_onnx
from spectra_distill.models import create_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_cuda_matches_cpu(role: str) -> None:
    torch.manual_seed(0)
    model = create_model(role, "cpu_small", hsi_bands=31, msi_bands=3).eval()
    lrhsi, hrmsi = torch.rand(2, 31, 16, 16), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        cpu = model(lrhsi, hrmsi)
        # TF32 convolutions would make the comparison about precision, not correctness.
        allow = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            gpu = model.cuda()(lrhsi.cuda(), hrmsi.cuda())
        finally:
            torch.backends.cudnn.allow_tf32 = allow
    torch.testing.assert_close(gpu.cube.cpu(), cpu.cube, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gpu.features.cpu(), cpu.features, atol=1e-4, rtol=1e-4)


def test_cuda_model_exports(tmp_path: Path) -> None:
    model = create_model("student", "test_tiny", hsi_bands=8, msi_bands=3).cuda()
    path = export_onnx(model, tmp_path / "m.onnx")
    assert max(c.max_abs_diff for c in verify_onnx(model, path)) <= 1e-4

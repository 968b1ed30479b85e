"""Interpolation as a convolution: the same numbers as PyTorch's, exported without Resize."""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from spectra_distill.models.layers import _phase_taps, upsample


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("size", [(1, 1), (1, 5), (7, 3), (16, 12)])
def test_upsample_equals_interpolate(mode: str, scale: int, size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(scale))
    expected = F.interpolate(x, scale_factor=scale, mode=mode, align_corners=False)
    assert torch.allclose(upsample(x, scale, mode), expected, atol=1e-12)


def test_upsample_gradients_equal_interpolate() -> None:
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(1, 2, 20, 24, dtype=torch.float64)
    (g1,) = torch.autograd.grad((upsample(x, 4) * w).sum(), x)
    (g2,) = torch.autograd.grad((F.interpolate(x, scale_factor=4, mode="bicubic") * w).sum(), x)
    assert torch.allclose(g1, g2, atol=1e-12)


def test_upsample_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="known: bicubic, bilinear"):
        upsample(torch.zeros(1, 1, 2, 2), 2, "nearest")


def test_upsample_exports_without_resize() -> None:
    class Up(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return upsample(x, 4)

    _phase_taps.cache_clear()  # built inside the trace, the stencil must still be one constant
    buf = io.BytesIO()
    torch.onnx.export(
        Up(), (torch.zeros(1, 3, 4, 5),), buf, input_names=["x"], dynamic_axes={"x": {2: "h", 3: "w"}},
        dynamo=False,
    )  # fmt: skip
    ops = {n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node}
    assert "Resize" not in ops and "Conv" in ops
    assert not ops & {"ScatterND", "Where", "Expand"}, ops
    # traced at 4 x 5, the graph must still upsample other sizes exactly
    x = torch.randn(1, 3, 7, 3, generator=torch.Generator().manual_seed(0))
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x.numpy()})
    expected = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert np.allclose(got, expected.numpy(), atol=1e-5)

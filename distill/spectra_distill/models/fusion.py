"""Fusion of the four DTS streams: Cross Self-Attention (CSAKD Sec. 3.3) and the paper's ablations.

Every fusion module takes the four streams x1..x4 = (HSI, MSI, joint LR, joint HR), each (N, nf, H, W),
and returns the fused features (N, nf, H, W). Build them by name with `build_fusion`.
"""

from __future__ import annotations

import inspect
import math
from typing import Literal

import torch
from torch import nn

from spectra_distill.models.layers import conv1x1

QKNorm = Literal["l2", "none"]
Gate = Literal["sigmoid", "softmax"]
GATES: tuple[str, ...] = ("sigmoid", "softmax")
QK_NORMS: tuple[str, ...] = ("l2", "none")


class ChannelCrossAttention(nn.Module):
    """Multi-head attention across channels, with Q, K, V from three different streams.

    Each head holds `attn_dim // heads` channels, each flattened over the H*W pixels; the attention map
    is (channels x channels) per head, so the cost is linear in the pixel count.

    `qk_norm='l2'` (default) L2-normalises every Q and K channel over the pixels and multiplies the
    cosine similarities by a learned per-head temperature (initialised to 1). The paper's scaled dot
    product ('none') sums over thousands of pixels, so its logits grow with the image size and the
    softmax saturates to one-hot maps (and the map would change with tile size at inference); the
    cosine form does not depend on the pixel count. Either way the map is a statistic of the whole
    input, so tiled inference uses one map per tile and differs slightly from whole-image inference.

    `degenerate=True` reproduces the authors' released code, whose contraction of the map with V uses
    mismatched indices: each output channel becomes the plain sum of V's channels in its head. Since
    softmax rows sum to one the map drops out and Q/K receive no gradient. Only for ablations.

    Args:
        nf: Channels of the input streams and of the output.
        attn_dim: Channels of Q, K and V (64 in the paper).
        heads: Number of heads (4 in the paper); must divide attn_dim.
        qk_norm: 'l2' (cosine + learned temperature) or 'none' (dot product / sqrt(head_dim)).
        degenerate: Reproduce the authors' no-op attention.

    Shape:
        q_src, k_src, v_src (N, nf, H, W) -> (N, nf, H, W) (without residual)
    """

    def __init__(
        self, nf: int, attn_dim: int = 64, heads: int = 4, qk_norm: QKNorm = "l2", degenerate: bool = False
    ) -> None:
        super().__init__()
        if attn_dim % heads:
            raise ValueError(f"heads={heads} must divide attn_dim={attn_dim}")
        if qk_norm not in QK_NORMS:
            raise ValueError(f"Unknown qk_norm {qk_norm!r}; known: {', '.join(QK_NORMS)}")
        self.heads = heads
        self.qk_norm = qk_norm
        self.degenerate = degenerate
        self.q = conv1x1(nf, attn_dim)
        self.k = conv1x1(nf, attn_dim)
        self.v = conv1x1(nf, attn_dim)
        self.proj = conv1x1(attn_dim, nf)
        if qk_norm == "l2":
            self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.scale = 1.0 / math.sqrt(attn_dim // heads)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        return x.reshape(n, self.heads, c // self.heads, -1)

    def forward(self, q_src: torch.Tensor, k_src: torch.Tensor, v_src: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.q(q_src)), self._split(self.k(k_src)), self._split(self.v(v_src))
        if self.qk_norm == "l2":
            q = nn.functional.normalize(q, dim=-1)
            k = nn.functional.normalize(k, dim=-1)
            logits = (q @ k.transpose(-2, -1)) * self.temperature
        else:
            logits = (q @ k.transpose(-2, -1)) * self.scale
        attn = logits.softmax(dim=-1)
        out = torch.einsum("nhij,nhkp->nhip", attn, v) if self.degenerate else attn @ v
        return self.proj(out.reshape(v_src.shape[0], -1, v_src.shape[2], v_src.shape[3]))


class _StreamGate(nn.Module):
    """1x1 conv over the concatenated streams -> four gate maps -> weighted sum of four streams.

    `gate='sigmoid'` is the paper's: each map through its own sigmoid. Nothing stops all four from
    saturating at 0 together, and then the fused features are zero and no gradient reaches the streams
    again. It happens: 206-band networks gated every stream off (mean logits -6 to -39) on Salinas-A and
    Moffett Field, whose stream activations are larger than the other scenes', and so added no detail there;
    an H200 run at batch 32 froze its teacher this way for good. `gate='softmax'` normalises the four maps
    across the streams, so the weights sum to one at every pixel and the fused features cannot vanish.
    Softmax alone still let the 206-band student give one stream all the weight ([0, 1, 0, 0] at every pixel,
    so its output ignored the LR-HSI); `gate_floor` f keeps every weight in [f, 1 - 3f].
    """

    def __init__(self, nf: int, gate: Gate = "sigmoid", gate_floor: float = 0.0) -> None:
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"Unknown gate {gate!r}; known: {', '.join(GATES)}")
        self.conv = conv1x1(4 * nf, 4)
        self.softmax = gate == "softmax"
        self.floor = float(gate_floor)
        self.last_gates: torch.Tensor | None = None

    def weights(self, gate_inputs: list[torch.Tensor]) -> torch.Tensor:
        """(N, 4, H, W) stream weights."""
        logits = self.conv(torch.cat(gate_inputs, dim=1))
        if not self.softmax:
            return torch.sigmoid(logits)
        return self.floor + (1.0 - 4.0 * self.floor) * logits.softmax(dim=1)

    def forward(self, gate_inputs: list[torch.Tensor], streams: list[torch.Tensor]) -> torch.Tensor:
        gates = self.weights(gate_inputs)
        # kept for `evaluate`'s per-stream report; detached so it holds no graph
        self.last_gates = gates.detach()
        fused = gates[:, 0:1] * streams[0]
        for i in range(1, 4):
            fused = fused + gates[:, i : i + 1] * streams[i]
        return fused


class CrossSelfAttentionFusion(nn.Module):
    """CSA fusion (the paper's "adaptive_fuse = 3"): cross attention, x4 residual, sigmoid stream gating.

    attended = x4 + proj(softmax(Q(x1) K(x2)^T) V(x3)); gates = sigmoid(conv1x1([x1, x2, x3, attended]));
    fused = g1*x1 + g2*x2 + g3*x3 + g4*attended. The fourth summand is the attended joint-HR stream,
    so the attention contributes features, not only gates.

    Args:
        nf: Stream channels.
        attn_dim: Q/K/V channels.
        heads: Attention heads.
        qk_norm: See `ChannelCrossAttention`.
        degenerate: See `ChannelCrossAttention` (ablation of the authors' no-op).
        gate: 'sigmoid' (the paper's) or 'softmax' across the four streams; see `_StreamGate`.
        gate_floor: Least weight of each stream with 'softmax'; see `_StreamGate`.

    Shape:
        four (N, nf, H, W) -> (N, nf, H, W)
    """

    def __init__(
        self,
        nf: int,
        attn_dim: int = 64,
        heads: int = 4,
        qk_norm: QKNorm = "l2",
        degenerate: bool = False,
        gate: Gate = "sigmoid",
        gate_floor: float = 0.0,
    ) -> None:
        super().__init__()
        self.attention = ChannelCrossAttention(nf, attn_dim, heads, qk_norm, degenerate)
        self.gate = _StreamGate(nf, gate, gate_floor)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        attended = x4 + self.attention(x1, x2, x3)
        return self.gate([x1, x2, x3, attended], [x1, x2, x3, attended])


class SumFusion(nn.Module):
    """Ablation: the plain sum of the four streams.

    Shape:
        four (N, nf, H, W) -> (N, nf, H, W)
    """

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        return x1 + x2 + x3 + x4


class SigmoidWeightFusion(nn.Module):
    """Ablation: learned per-stream, per-channel weights (4 x nf) through a sigmoid, image-independent.

    Args:
        nf: Stream channels.

    Shape:
        four (N, nf, H, W) -> (N, nf, H, W)
    """

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(4, nf, 1, 1))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.logits)
        return w[0] * x1 + w[1] * x2 + w[2] * x3 + w[3] * x4


class ConcatAttentionFusion(nn.Module):
    """Ablation: the CSA gating on [x1, x2, x3, x4] without the attention branch.

    Args:
        nf: Stream channels.
        gate: See `_StreamGate`.
        gate_floor: See `_StreamGate`.

    Shape:
        four (N, nf, H, W) -> (N, nf, H, W)
    """

    def __init__(self, nf: int, gate: Gate = "sigmoid", gate_floor: float = 0.0) -> None:
        super().__init__()
        self.gate = _StreamGate(nf, gate, gate_floor)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        streams = [x1, x2, x3, x4]
        return self.gate(streams, streams)


class CrossAttentionFusion(nn.Module):
    """Ablation: multi-head cross attention (Q from x1, K from x2, V from x3) plus x4, no gating.

    Args:
        nf: Stream channels.
        attn_dim: Q/K/V channels.
        heads: Attention heads.
        qk_norm: See `ChannelCrossAttention`.

    Shape:
        four (N, nf, H, W) -> (N, nf, H, W)
    """

    def __init__(self, nf: int, attn_dim: int = 64, heads: int = 4, qk_norm: QKNorm = "l2") -> None:
        super().__init__()
        self.attention = ChannelCrossAttention(nf, attn_dim, heads, qk_norm)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        return x4 + self.attention(x1, x2, x3)


FUSIONS: dict[str, type[nn.Module]] = {
    "csa": CrossSelfAttentionFusion,
    "sum": SumFusion,
    "sigmoid_weight": SigmoidWeightFusion,
    "concat_attention": ConcatAttentionFusion,
    "cross_attention": CrossAttentionFusion,
}


def build_fusion(
    name: str,
    nf: int,
    *,
    attn_dim: int = 64,
    heads: int = 4,
    qk_norm: QKNorm = "l2",
    degenerate: bool = False,
    gate: Gate = "sigmoid",
    gate_floor: float = 0.0,
) -> nn.Module:
    """Build a registered fusion module by name.

    Options a variant does not have (e.g. `heads` for 'sum') are not passed to it; asking for the
    degenerate attention on a variant without it is an error rather than a silent no-op.

    Raises:
        ValueError: unknown name, `degenerate=True` for a variant other than 'csa', or a non-default `gate`
            for a variant without a stream gate.
    """
    if name not in FUSIONS:
        raise ValueError(f"Unknown fusion {name!r}; known: {', '.join(FUSIONS)}")
    cls = FUSIONS[name]
    accepted = inspect.signature(cls).parameters
    if degenerate and "degenerate" not in accepted:
        raise ValueError(f"Fusion {name!r} has no degenerate attention; only 'csa' does")
    if gate != "sigmoid" and "gate" not in accepted:
        raise ValueError(f"Fusion {name!r} has no stream gate; only 'csa' and 'concat_attention' do")
    options = {
        "attn_dim": attn_dim,
        "heads": heads,
        "qk_norm": qk_norm,
        "degenerate": degenerate,
        "gate": gate,
        "gate_floor": gate_floor,
    }
    kwargs = {k: v for k, v in options.items() if k in accepted}
    return cls(nf, **kwargs) if "nf" in accepted else cls()

"""CSAKD teacher/student networks: one configurable `FusionNet`, presets and a factory."""

from spectra_distill.models.clra import CLRABlock, CLRAGroup, DenseSubBlock
from spectra_distill.models.dts import DualTwoStreamBody, Streams
from spectra_distill.models.factory import PRESETS, ROLES, create_model, model_config
from spectra_distill.models.fusion import (
    FUSIONS,
    ChannelCrossAttention,
    ConcatAttentionFusion,
    CrossAttentionFusion,
    CrossSelfAttentionFusion,
    SigmoidWeightFusion,
    SumFusion,
    build_fusion,
)
from spectra_distill.models.heads import FusionHead
from spectra_distill.models.net import FusionNet, FusionNetConfig, FusionOutput, InputStatistics

__all__ = [
    "FUSIONS",
    "PRESETS",
    "ROLES",
    "CLRABlock",
    "CLRAGroup",
    "ChannelCrossAttention",
    "ConcatAttentionFusion",
    "CrossAttentionFusion",
    "CrossSelfAttentionFusion",
    "DenseSubBlock",
    "DualTwoStreamBody",
    "FusionHead",
    "FusionNet",
    "FusionNetConfig",
    "FusionOutput",
    "InputStatistics",
    "SigmoidWeightFusion",
    "Streams",
    "SumFusion",
    "build_fusion",
    "create_model",
    "model_config",
]

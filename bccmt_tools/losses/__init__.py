"""Training losses: AAM-softmax (with a margin schedule) and knowledge-distillation terms."""

from bccmt_tools.losses.aam import AAMSoftmax, MarginSchedule
from bccmt_tools.losses.kd import (
    AttentionKD,
    EmbeddingKD,
    LambdaWarmup,
    logit_kd_loss,
    match_attention_maps,
    uniform_layer_mapping,
)

__all__ = [
    "AAMSoftmax",
    "MarginSchedule",
    "AttentionKD",
    "EmbeddingKD",
    "LambdaWarmup",
    "logit_kd_loss",
    "match_attention_maps",
    "uniform_layer_mapping",
]

"""Conformer transducer: config + presets, encoder, stateless decoder, joiner, pruned-loss model."""

from rnnt_kd.model.config import PRESETS, TransducerConfig
from rnnt_kd.model.transducer import Transducer, TransducerOutput

__all__ = ["PRESETS", "Transducer", "TransducerConfig", "TransducerOutput"]

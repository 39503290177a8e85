"""Conformer transducer: config + presets, encoder, stateless decoder, joiner, pruned-loss model."""

from rnnt_kd.model.config import PRESETS, TransducerConfig
from rnnt_kd.model.transducer import BandScores, Transducer, TransducerOutput

__all__ = ["BandScores", "PRESETS", "Transducer", "TransducerConfig", "TransducerOutput"]

"""``TransducerConfig``: the hyper-parameters of a Conformer transducer, and named size presets.

Presets (``TransducerConfig.from_preset(name, vocab_size)``); exact parameter counts of
``Transducer`` for ``vocab_size=500`` (encoder + decoder + joiner + the two "simple" projections;
checked by ``tests/test_model.py``):

============  =====  ======  =====  =====  ======  =======  =======  ============
preset        dim    layers  heads  ff     kernel  decoder  joiner   params (V=500)
============  =====  ======  =====  =====  ======  =======  =======  ============
``tiny``      96     2       4      384    15      128      128           995,244
``small``     96     4       4      384    15      160      160         1,507,052
``medium``    176    6       4      704    15      256      256         5,563,260
``large``     512    17      8      2048   31      640      640       110,746,572
============  =====  ======  =====  =====  ======  =======  =======  ============

``tiny`` is for tests, ``small`` (about a quarter of ``medium``) is a CPU student, ``medium`` the
CPU recipe's teacher and ``large`` a Conformer-L-like model for GPU users.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict

# the front-ends of ``rnnt_kd.model.conformer.SUBSAMPLING`` (validated here)
SUBSAMPLING_KINDS = ("conv2d", "conv1d")


@dataclass
class TransducerConfig:
    """Hyper-parameters of ``rnnt_kd.model.Transducer``.

    Attributes:
      vocab_size: number of output symbols including blank.
      blank_id: index of blank (also the decoder's padding / start-of-sequence symbol).
      feature_dim: input feature dimension (80-dim fbank).
      encoder_dim: Conformer model dimension ``C``.
      num_encoder_layers: number of Conformer blocks.
      num_heads: attention heads; must divide ``encoder_dim``.
      feedforward_dim: hidden size of each macaron feed-forward module.
      conv_kernel_size: depthwise convolution kernel in the conv module (odd).
      dropout: dropout probability inside the encoder.
      decoder_dim: stateless decoder embedding dimension.
      joiner_dim: joiner hidden dimension.
      context_size: number of previous tokens the stateless decoder sees (>= 1).
      subsampling: the x4 time-subsampling front-end, ``conv2d`` (icefall's) or ``conv1d``
        (same lengths and receptive field, ~4x cheaper; what the CPU recipe uses).
      layer_scale: initial per-channel gain of every residual branch in the Conformer blocks
        (LayerScale); 0 disables it. A small value (0.1) makes a fresh encoder start close to
        the identity and learn much faster from scratch.
      use_ctc: add a CTC head on the encoder (an auxiliary training loss that speeds up
        convergence; not used in decoding, not pruned).
    """

    vocab_size: int
    blank_id: int = 0
    feature_dim: int = 80
    encoder_dim: int = 144
    num_encoder_layers: int = 4
    num_heads: int = 4
    feedforward_dim: int = 576
    conv_kernel_size: int = 15
    dropout: float = 0.1
    decoder_dim: int = 256
    joiner_dim: int = 256
    context_size: int = 2
    use_ctc: bool = False
    subsampling: str = "conv2d"
    layer_scale: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent field."""
        positive = (
            "vocab_size",
            "feature_dim",
            "encoder_dim",
            "num_encoder_layers",
            "num_heads",
            "feedforward_dim",
            "conv_kernel_size",
            "decoder_dim",
            "joiner_dim",
            "context_size",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TransducerConfig.{name} must be a positive int, got {value!r}")
        if self.vocab_size < 2:
            raise ValueError(f"TransducerConfig.vocab_size must be >= 2, got {self.vocab_size}")
        if not 0 <= self.blank_id < self.vocab_size:
            raise ValueError(
                f"TransducerConfig.blank_id={self.blank_id} is outside [0, vocab_size="
                f"{self.vocab_size})"
            )
        if self.encoder_dim % self.num_heads != 0:
            raise ValueError(
                f"TransducerConfig.encoder_dim={self.encoder_dim} must be divisible by "
                f"num_heads={self.num_heads}"
            )
        if self.conv_kernel_size % 2 != 1:
            raise ValueError(
                f"TransducerConfig.conv_kernel_size must be odd (symmetric padding), got "
                f"{self.conv_kernel_size}"
            )
        if self.feature_dim < 7:
            raise ValueError(
                f"TransducerConfig.feature_dim must be >= 7 for the x4 Conv2d subsampling, got "
                f"{self.feature_dim}"
            )
        if self.subsampling not in SUBSAMPLING_KINDS:
            raise ValueError(
                f"TransducerConfig.subsampling must be conv2d or conv1d, got {self.subsampling!r}"
            )
        if float(self.layer_scale) < 0:
            raise ValueError(f"TransducerConfig.layer_scale must be >= 0, got {self.layer_scale}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"TransducerConfig.dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> Dict[str, Any]:
        """All fields as a plain dict (JSON/checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> TransducerConfig:
        """Inverse of ``to_dict``; unknown keys raise ``ValueError`` (catches stale checkpoints)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TransducerConfig.from_dict: unknown field(s) {unknown}")
        return cls(**d)

    @classmethod
    def from_preset(cls, name: str, vocab_size: int, **overrides: Any) -> TransducerConfig:
        """The preset ``name`` (see ``PRESETS``) with ``vocab_size`` and any field overridden.

        Example: ``TransducerConfig.from_preset("small", 500, dropout=0.0)``.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        fields = dict(PRESETS[name])
        fields.update(overrides)
        fields["vocab_size"] = vocab_size
        return cls.from_dict(fields)


PRESETS: Dict[str, Dict[str, Any]] = {
    "tiny": dict(
        encoder_dim=96,
        num_encoder_layers=2,
        num_heads=4,
        feedforward_dim=384,
        conv_kernel_size=15,
        decoder_dim=128,
        joiner_dim=128,
    ),
    "small": dict(
        encoder_dim=96,
        num_encoder_layers=4,
        num_heads=4,
        feedforward_dim=384,
        conv_kernel_size=15,
        decoder_dim=160,
        joiner_dim=160,
    ),
    "medium": dict(
        encoder_dim=176,
        num_encoder_layers=6,
        num_heads=4,
        feedforward_dim=704,
        conv_kernel_size=15,
        decoder_dim=256,
        joiner_dim=256,
    ),
    "large": dict(
        encoder_dim=512,
        num_encoder_layers=17,
        num_heads=8,
        feedforward_dim=2048,
        conv_kernel_size=31,
        decoder_dim=640,
        joiner_dim=640,
    ),
}

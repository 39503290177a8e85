"""The three modules sherpa-onnx runs for an offline transducer (icefall's ``export-onnx.py``
layout), cut out of a trained ``Transducer``.

- ``OnnxEncoder``: features ``x`` (N, T, 80) float32 and ``x_lens`` (N,) int64 ->
  ``encoder_out`` (N, T', J) and ``encoder_out_lens`` (N,) int64, with the joiner's encoder
  projection folded in (J = joiner_dim). Feature normalisation (the training mean/std) is part of
  the encoder, so the runtime feeds raw log-mel fbank.
- ``OnnxDecoder``: ``y`` (N, context_size) int64, the last tokens of each hypothesis (sherpa-onnx
  starts with ``[-1, ..., -1, 0]``; -1 and blank both embed to zeros) -> ``decoder_out`` (N, J),
  the joiner's decoder projection folded in.
- ``OnnxJoiner``: ``encoder_out`` (N, J), ``decoder_out`` (N, J) -> ``logit`` (N, V),
  unnormalised (the runtime applies log-softmax).

Linear layers applied to 2-D inputs are written as ``matmul`` + bias, which exports as ONNX
``MatMul`` (not ``Gemm``), so that onnxruntime's dynamic int8 quantisation covers them too.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

from rnnt_kd.model import Transducer
from rnnt_kd.model.conformer import min_input_frames

# frames of padding appended to every input: the Conv2d front-end needs >= 9 frames, so that an
# utterance shorter than that yields 0 encoder frames instead of a runtime error. Valid output
# frames do not depend on padding (see rnnt_kd.model.conformer).
MIN_FRAMES = min_input_frames(1)  # 9
PAD_FRAMES = MIN_FRAMES - 1


def _linear(x: Tensor, layer: nn.Linear) -> Tensor:
    """``layer(x)`` as MatMul + Add (exported as ONNX MatMul, which int8 quantisation covers)."""
    y = torch.matmul(x, layer.weight.t())
    return y if layer.bias is None else y + layer.bias


class OnnxEncoder(nn.Module):
    """Encoder + joiner encoder projection: (N, T, F), (N,) -> (N, T', J), (N,)."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.encoder_proj = model.joiner.encoder_proj

    def forward(self, x: Tensor, x_lens: Tensor) -> Tuple[Tensor, Tensor]:
        """x: (N, T, F) float32 log-mel fbank; x_lens: (N,) int64 valid frames."""
        x = nn.functional.pad(x, (0, 0, 0, PAD_FRAMES), value=-23.025850929940457)  # log(1e-10)
        encoder_out, encoder_out_lens = self.encoder(x, x_lens.to(torch.int64))
        return self.encoder_proj(encoder_out), encoder_out_lens


class OnnxDecoder(nn.Module):
    """Stateless decoder + joiner decoder projection: (N, context_size) int64 -> (N, J)."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.decoder = model.decoder
        self.decoder_proj = model.joiner.decoder_proj
        self.context_size = model.decoder.context_size
        self.vocab_size = model.decoder.vocab_size

    def forward(self, y: Tensor) -> Tensor:
        """y: (N, context_size) int64 token ids (negative = no token yet)."""
        return _linear(self.decoder(y, need_pad=False).squeeze(1), self.decoder_proj)


class OnnxJoiner(nn.Module):
    """Joiner on projected inputs: (N, J), (N, J) -> (N, V) logits."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.output_linear = model.joiner.output_linear

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return _linear(torch.tanh(encoder_out + decoder_out), self.output_linear)


def split_for_onnx(model: Transducer) -> Tuple[OnnxEncoder, OnnxDecoder, OnnxJoiner]:
    """The three modules (eval mode, sharing ``model``'s weights)."""
    if model.blank_id != 0:
        raise ValueError(
            f"sherpa-onnx hard-codes blank id 0; this model has blank_id={model.blank_id}"
        )
    model.eval()
    return OnnxEncoder(model).eval(), OnnxDecoder(model).eval(), OnnxJoiner(model).eval()

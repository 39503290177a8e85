"""Transducer joiner: ``output_linear(tanh(encoder_proj(enc) + decoder_proj(dec)))``."""

from __future__ import annotations

from torch import Tensor, nn


class Joiner(nn.Module):
    """Combine encoder and decoder frames into logits over the vocabulary.

    ``project_input=False`` means the inputs were already passed through ``encoder_proj`` /
    ``decoder_proj`` (pruned training and search project once and gather/broadcast after).
    """

    def __init__(
        self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int
    ) -> None:
        super().__init__()
        self.encoder_proj = nn.Linear(encoder_dim, joiner_dim)
        self.decoder_proj = nn.Linear(decoder_dim, joiner_dim)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

    def forward(
        self, encoder_out: Tensor, decoder_out: Tensor, project_input: bool = True
    ) -> Tensor:
        """encoder_out (..., C_enc or J), decoder_out (..., C_dec or J), broadcastable leading
        dims, e.g. (B, T, 1, C) and (B, 1, U+1, D) -> (B, T, U+1, V)."""
        if project_input:
            x = self.encoder_proj(encoder_out) + self.decoder_proj(decoder_out)
        else:
            x = encoder_out + decoder_out
        return self.output_linear(x.tanh())

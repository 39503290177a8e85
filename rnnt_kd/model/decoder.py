"""Stateless transducer decoder ("prediction network"): embedding + conv over the last tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Decoder(nn.Module):
    """Embed tokens and mix the last ``context_size`` of them with a depthwise 1-D convolution.

    The embedding of ``blank_id`` is the zero vector (``padding_idx``), so blank works as the
    start-of-sequence and left-padding symbol. Negative ids (icefall's ``-1`` context padding) are
    embedded as zeros too. Output is ReLU'd, as in icefall's stateless decoder.
    """

    def __init__(self, vocab_size: int, decoder_dim: int, blank_id: int, context_size: int) -> None:
        super().__init__()
        if context_size < 1:
            raise ValueError(f"context_size must be >= 1, got {context_size}")
        self.vocab_size = vocab_size
        self.decoder_dim = decoder_dim
        self.blank_id = blank_id
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, decoder_dim, padding_idx=blank_id)
        self.conv = (
            nn.Conv1d(
                decoder_dim, decoder_dim, context_size, padding=0, groups=decoder_dim, bias=False
            )
            if context_size > 1
            else None
        )

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:
        """y: (N, U) token ids -> (N, U, decoder_dim).

        need_pad=True (training): the sequence is left-padded with ``context_size - 1`` zero
        embeddings (= blanks) so output ``u`` depends on ``y[:, u - context_size + 1 .. u]``.
        need_pad=False (search): ``U`` must equal ``context_size``; output has ``U = 1``.
        """
        y = y.to(torch.int64)
        emb = self.embedding(y.clamp(min=0)) * (y >= 0).unsqueeze(-1).to(
            self.embedding.weight.dtype
        )
        if self.conv is not None:
            emb = emb.transpose(1, 2)  # (N, D, U)
            if need_pad:
                emb = nn.functional.pad(emb, (self.context_size - 1, 0))
            elif emb.size(-1) != self.context_size:
                raise ValueError(
                    f"need_pad=False expects {self.context_size} context tokens, got {emb.size(-1)}"
                )
            emb = self.conv(emb).transpose(1, 2)
        return torch.relu(emb)

"""Batched greedy search for a stateless transducer."""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor

from rnnt_kd.model.transducer import Transducer


def decoder_output(model: Transducer, contexts: List[List[int]], device: torch.device) -> Tensor:
    """Projected decoder output for N contexts of ``context_size`` tokens -> (N, J)."""
    y = torch.tensor(contexts, dtype=torch.int64, device=device)
    return model.joiner.decoder_proj(model.decoder(y, need_pad=False)).squeeze(1)


def sorted_projected_encoder(
    model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor
) -> Tuple[List[int], List[int], Tensor]:
    """Utterances sorted by length, longest first (so the active ones are always a prefix):
    (order: input index per sorted row, sorted lengths, joiner-projected encoder (B, T', J))."""
    lens = encoder_out_lens.to("cpu", torch.int64)
    order = torch.argsort(lens, descending=True, stable=True).tolist()
    index = torch.tensor(order, device=encoder_out.device)
    return order, lens[order].tolist(), model.joiner.encoder_proj(encoder_out[index])


@torch.no_grad()
def greedy_search(
    model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor, max_sym_per_frame: int = 1
) -> List[List[int]]:
    """Greedy search, batched over utterances.

    Args:
      model: the transducer (put it in eval mode first).
      encoder_out: (B, T', C) encoder output; encoder_out_lens: (B,) valid frames.
      max_sym_per_frame: most non-blank symbols emitted on one frame (>= 1); at each frame the
        argmax is taken repeatedly until it is blank or this many symbols were emitted.
    Returns:
      B token-id lists (blank never appears), in input order.
    """
    if max_sym_per_frame < 1:
        raise ValueError(f"max_sym_per_frame must be >= 1, got {max_sym_per_frame}")
    blank, ctx = model.blank_id, model.decoder.context_size
    device = encoder_out.device
    order, sorted_lens, enc = sorted_projected_encoder(model, encoder_out, encoder_out_lens)

    hyps: List[List[int]] = [[blank] * ctx for _ in order]  # sorted order, with context prefix
    dec = decoder_output(model, hyps, device)  # (B, J)
    for t in range(sorted_lens[0] if sorted_lens else 0):
        active = sum(1 for n in sorted_lens if n > t)  # lengths are sorted: a prefix is active
        todo = torch.arange(active, device=device)
        for _ in range(max_sym_per_frame):
            logits = model.joiner(enc[todo, t], dec[todo], project_input=False)  # (N, V)
            y = logits.argmax(dim=-1).tolist()
            emitted = [(i, v) for i, v in zip(todo.tolist(), y) if v != blank]
            if not emitted:
                break
            for i, v in emitted:
                hyps[i].append(v)
            idx = [i for i, _ in emitted]
            dec[idx] = decoder_output(model, [hyps[i][-ctx:] for i in idx], device)
            todo = torch.tensor(idx, device=device)

    result: List[List[int]] = [[] for _ in order]
    for pos, b in enumerate(order):
        result[b] = hyps[pos][ctx:]
    return result

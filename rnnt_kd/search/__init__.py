"""Transducer search: batched greedy search and modified beam search."""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor

from rnnt_kd.model.transducer import Transducer
from rnnt_kd.search.beam_search import beam_search_hypotheses, best_hypothesis, modified_beam_search
from rnnt_kd.search.greedy import decoder_output, greedy_search
from rnnt_kd.search.lexicon import WordLexicon

METHODS = ("greedy_search", "modified_beam_search")


@torch.no_grad()
def decode_batch(
    model: Transducer,
    features: Tensor,
    feature_lens: Tensor,
    method: str = "greedy_search",
    beam: int = 4,
    lexicon: Optional[WordLexicon] = None,
) -> List[List[int]]:
    """Encode (B, T, F) features with (B,) lengths and search -> B token-id lists (input order).

    ``method`` is ``"greedy_search"`` (``beam`` ignored) or ``"modified_beam_search"``. The model's
    train/eval mode is left as it is: call ``model.eval()`` first. ``lexicon`` (modified beam
    search only) keeps hypotheses inside a closed word list.
    """
    if lexicon is not None and method != "modified_beam_search":
        raise ValueError(f"a word lexicon constrains modified_beam_search only, not {method}")
    if method not in METHODS:
        raise ValueError(f"unknown decoding method {method!r}; choose one of {METHODS}")
    encoder_out, encoder_out_lens = model.encode(features, feature_lens)
    if method == "greedy_search":
        return greedy_search(model, encoder_out, encoder_out_lens)
    return modified_beam_search(model, encoder_out, encoder_out_lens, beam=beam, lexicon=lexicon)


__all__ = [
    "METHODS",
    "WordLexicon",
    "beam_search_hypotheses",
    "best_hypothesis",
    "decode_batch",
    "decoder_output",
    "greedy_search",
    "modified_beam_search",
]

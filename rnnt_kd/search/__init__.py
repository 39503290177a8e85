"""Transducer search: batched greedy search and modified beam search."""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnt_kd.model.transducer import Transducer
from rnnt_kd.search.beam_search import beam_search_hypotheses, best_hypothesis, modified_beam_search
from rnnt_kd.search.greedy import decoder_output, greedy_search
from rnnt_kd.search.lexicon import WordLexicon

METHODS = ("greedy_search", "modified_beam_search")
# padding frames of a feature batch: log of the fbank energy floor (1e-10), silence
FBANK_PAD_VALUE = math.log(1e-10)


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


def decode_features(
    model: Transducer, features: Sequence[Tensor], method: str = "greedy_search", beam: int = 4
) -> List[List[int]]:
    """:func:`decode_batch` of unpadded (T_i, F) feature tensors (e.g. computed from audio):
    padded with :data:`FBANK_PAD_VALUE` into one batch -> token-id lists (input order)."""
    lens = torch.tensor([f.size(0) for f in features], device=features[0].device)
    padded = pad_sequence(list(features), batch_first=True, padding_value=FBANK_PAD_VALUE)
    return decode_batch(model, padded, lens, method=method, beam=beam)


__all__ = [
    "FBANK_PAD_VALUE",
    "METHODS",
    "WordLexicon",
    "beam_search_hypotheses",
    "best_hypothesis",
    "decode_batch",
    "decode_features",
    "decoder_output",
    "greedy_search",
    "modified_beam_search",
]

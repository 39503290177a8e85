"""Modified beam search (one symbol per frame), batched across utterances as in icefall."""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from rnnt_kd.model.transducer import Transducer
from rnnt_kd.search.greedy import decoder_output, sorted_projected_encoder
from rnnt_kd.search.lexicon import WordLexicon

Hyps = Dict[Tuple[int, ...], float]  # token sequence -> total log-prob


def _log_add(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))


def best_hypothesis(
    hyps: Hyps, context_size: int, lexicon: Optional[WordLexicon] = None
) -> List[int]:
    """The token sequence maximising ``log_prob / (context_size + len(tokens))``.

    This is icefall's ``log_prob / len(ys)`` where ``ys`` carries the ``context_size`` leading
    blanks: the divisor is never 0 and an empty hypothesis competes fairly. With a ``lexicon``
    only hypotheses whose last word is complete compete; if none is, the best one without its
    unfinished last word (the output never holds a word outside the list).
    """

    def score(k: Tuple[int, ...]) -> float:
        return hyps[k] / (context_size + len(k))

    if lexicon is None:
        return list(max(hyps, key=score))
    final = [k for k in hyps if lexicon.is_final(lexicon.state(k))]
    return list(max(final, key=score)) if final else lexicon.complete_words(max(hyps, key=score))


@torch.no_grad()
def modified_beam_search(
    model: Transducer,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    beam: int = 4,
    lexicon: Optional[WordLexicon] = None,
) -> List[List[int]]:
    """Modified beam search: at most one symbol per frame, batched over utterances.

    At each frame every hypothesis of an utterance is extended by every symbol (blank keeps the
    token sequence); the ``beam`` best (hypothesis, symbol) pairs by total log-prob are kept and
    hypotheses with the same token sequence are merged by log-add. The answer is the hypothesis
    with the best length-normalised log-prob (``best_hypothesis``). With ``beam=1`` this is
    greedy search with ``max_sym_per_frame=1``.

    Args:
      model: the transducer (eval mode); encoder_out: (B, T', C); encoder_out_lens: (B,).
      beam: number of hypotheses kept per utterance (>= 1).
      lexicon: closed word list; hypotheses may only spell its words (``WordLexicon``).
    Returns:
      B token-id lists, in input order.
    """
    ctx = model.decoder.context_size
    beams = beam_search_hypotheses(model, encoder_out, encoder_out_lens, beam, lexicon)
    return [best_hypothesis(h, ctx, lexicon) for h in beams]


@torch.no_grad()
def beam_search_hypotheses(
    model: Transducer,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    beam: int = 4,
    lexicon: Optional[WordLexicon] = None,
) -> List[Hyps]:
    """The final beam of ``modified_beam_search`` per utterance (input order): a dict from token
    sequence (tuple, no blanks) to its total log-prob, summed (log-add) over the alignments that
    survived the beam. Arguments as in ``modified_beam_search``; with a ``lexicon``, tokens it
    does not allow get probability 0 (the others keep their unrenormalised log-probs).
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    blank, ctx = model.blank_id, model.decoder.context_size
    device = encoder_out.device
    order, sorted_lens, enc = sorted_projected_encoder(model, encoder_out, encoder_out_lens)

    beams: List[Hyps] = [{(blank,) * ctx: 0.0} for _ in order]
    for t in range(sorted_lens[0] if sorted_lens else 0):
        active = sum(1 for n in sorted_lens if n > t)
        flat: List[Tuple[int, Tuple[int, ...], float]] = [
            (i, ys, lp) for i in range(active) for ys, lp in beams[i].items()
        ]
        utt = torch.tensor([f[0] for f in flat], device=device)
        dec = decoder_output(model, [list(f[1][-ctx:]) for f in flat], device)  # (N, J)
        logits = model.joiner(enc[utt, t], dec, project_input=False)  # (N, V)
        scores = logits.float().log_softmax(dim=-1)
        if lexicon is not None:
            allowed = lexicon.mask_batch([f[1][ctx:] for f in flat], device)
            scores = scores.masked_fill(~allowed, -math.inf)
        scores = scores + torch.tensor([f[2] for f in flat], device=device).unsqueeze(1)
        vocab = scores.size(1)
        start = 0
        for i in range(active):
            n = len(beams[i])
            block = scores[start : start + n].reshape(-1)
            top_scores, top_idx = block.topk(min(beam, block.numel()))
            new: Hyps = {}
            for s, k in zip(top_scores.tolist(), top_idx.tolist()):
                if s == -math.inf:  # masked by the lexicon (blank never is: one survives)
                    break
                ys = flat[start + k // vocab][1]
                v = k % vocab
                key = ys if v == blank else ys + (v,)
                new[key] = _log_add(new[key], s) if key in new else s
            beams[i] = new
            start += n

    result: List[Hyps] = [{} for _ in order]
    for pos, b in enumerate(order):
        result[b] = {ys[ctx:]: lp for ys, lp in beams[pos].items()}
    return result

"""Where a model's word errors are: by speaker group and by word context.

- :func:`ref_word_correct`: for each reference word, whether the hypothesis has it (kaldialign).
- :func:`context_error_rates`: error rate of reference words whose word pair (previous word,
  word) occurs in the training text vs. words in a pair never seen there. A model that learnt
  words from the audio errs on both alike; one that leans on word context it memorised from
  the training text errs much more on unseen pairs.
- :func:`group_wers`: WER per group of utterances (e.g. the speech engine of the speaker).

Example::

    >>> ref_word_correct("A B C D", "A X C")
    [True, False, True, False]
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Dict, Iterable, List, Sequence, Set, Tuple

from rnnt_kd.wer import ERR, Result, WerStats, Words, align_words, as_words, compute_wer

BOS = "<s>"  # the "previous word" of a sentence's first word
Bigram = Tuple[str, str]


def ref_word_correct(ref: Words, hyp: Words) -> List[bool]:
    """One flag per reference word: True where the alignment pairs it with the same word."""
    return [h == r for r, h in align_words(as_words(ref), as_words(hyp)) if r != ERR]


def bigrams(texts: Iterable[Words]) -> Set[Bigram]:
    """The word pairs of ``texts``, a sentence start counting as the word :data:`BOS`."""
    out: Set[Bigram] = set()
    for t in texts:
        w = [BOS] + as_words(t)
        out.update(zip(w, w[1:]))
    return out


def context_error_rates(results: Sequence[Result], seen: Set[Bigram]) -> Dict[str, dict]:
    """Error rate (%) of reference words in a pair seen in training (``seen``) and not.

    Returns ``{"seen": {"words": N, "errors": E, "error_rate": %}, "unseen": {...}}``; a
    deletion or substitution of the word counts as its error (insertions belong to no word).
    """
    n = {"seen": 0, "unseen": 0}
    e = {"seen": 0, "unseen": 0}
    for _, ref, hyp in results:
        ref_w = as_words(ref)
        ctx = [BOS] + ref_w
        for i, ok in enumerate(ref_word_correct(ref_w, hyp)):
            k = "seen" if (ctx[i], ref_w[i]) in seen else "unseen"
            n[k] += 1
            e[k] += not ok
    return {
        k: {"words": n[k], "errors": e[k], "error_rate": 100.0 * e[k] / n[k] if n[k] else 0.0}
        for k in n
    }


def group_wers(results: Sequence[Result], group_of: Callable[[str], str]) -> Dict[str, WerStats]:
    """WER per group; ``group_of`` maps a cut id to its group name."""
    by: Dict[str, Tuple[list, list]] = defaultdict(lambda: ([], []))
    for cut_id, ref, hyp in results:
        refs, hyps = by[group_of(cut_id)]
        refs.append(ref)
        hyps.append(hyp)
    return {g: compute_wer(r, h) for g, (r, h) in sorted(by.items())}

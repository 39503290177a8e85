"""Word error rate with kaldialign, and the icefall result files users grep.

- :func:`compute_wer`: corpus-level WER with insertion / deletion / substitution counts.
- :func:`write_error_stats`: ``errs-<set>-<suffix>.txt`` in icefall's format (``%WER = X.XX``,
  the ``Errors:`` line, PER-UTT DETAILS with ``(ref->hyp)`` alignments, SUBSTITUTIONS,
  DELETIONS, INSERTIONS and PER-WORD STATS sections).
- :func:`store_transcripts` / :func:`read_transcripts`: ``recogs-<set>-<suffix>.txt``
  (``<id>:\\tref=[...]`` / ``<id>:\\thyp=[...]``).
- :func:`write_wer_summary`: ``wer-summary-<set>-<suffix>.txt`` (``settings\\tWER``, best first).

Example::

    >>> compute_wer(["A B C D"], ["A X C"]).wer
    50.0
"""

from __future__ import annotations

import ast
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import kaldialign

ERR = "*"
Words = Union[str, Sequence[str]]
Result = Tuple[str, Sequence[str], Sequence[str]]


@dataclass(frozen=True)
class WerStats:
    """Corpus-level error counts; ``wer`` is in percent (``100 * errors / ref_words``)."""

    errors: int
    ref_words: int
    ins: int
    dels: int
    subs: int
    wer: float


def as_words(x: Words) -> List[str]:
    """A transcript as a word list (a string is split on whitespace)."""
    return x.split() if isinstance(x, str) else list(x)


def _percent(errors: int, ref_words: int) -> float:
    if ref_words == 0:
        return 0.0 if errors == 0 else float("inf")
    return 100.0 * errors / ref_words


def align_words(ref: Sequence[str], hyp: Sequence[str]) -> List[Tuple[str, str]]:
    """Levenshtein alignment; ``ERR`` marks the missing side of an insertion or deletion."""
    return kaldialign.align(list(ref), list(hyp), ERR)


def compute_wer(refs: Sequence[Words], hyps: Sequence[Words]) -> WerStats:
    """Corpus WER of ``hyps`` against ``refs`` (each a string or a list of words).

    Counts come from kaldialign's alignment (the one written to ``errs-*.txt``).
    """
    if len(refs) != len(hyps):
        raise ValueError(f"compute_wer: {len(refs)} references but {len(hyps)} hypotheses")
    ins = dels = subs = ref_words = 0
    for ref, hyp in zip(refs, hyps):
        ref_w, hyp_w = as_words(ref), as_words(hyp)
        ref_words += len(ref_w)
        for r, h in align_words(ref_w, hyp_w):
            if r == ERR:
                ins += 1
            elif h == ERR:
                dels += 1
            elif r != h:
                subs += 1
    errors = ins + dels + subs
    return WerStats(errors, ref_words, ins, dels, subs, _percent(errors, ref_words))


def _combine_successive_errors(ali: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """Merge runs of adjacent errors into one ``(ref words -> hyp words)`` pair, as icefall."""
    groups = [[[r], [h]] for r, h in ali]
    for i in range(len(groups) - 1):
        cur, nxt = groups[i], groups[i + 1]
        if cur[0] != cur[1] and nxt[0] != nxt[1]:
            nxt[0] = cur[0] + nxt[0]
            nxt[1] = cur[1] + nxt[1]
            groups[i] = [[], []]
    out = []
    for r, h in groups:
        r = [w for w in r if w != ERR]
        h = [w for w in h if w != ERR]
        if r or h:
            out.append((" ".join(r) if r else ERR, " ".join(h) if h else ERR))
    return out


def write_error_stats(
    path: Union[str, Path],
    test_set_name: str,
    results: Sequence[Result],
    enable_log: bool = True,
) -> float:
    """Write icefall's ``errs-*.txt`` for ``results`` = [(cut_id, ref_words, hyp_words)].

    Results are written sorted by cut id. Returns the WER in percent, rounded to 2 decimals
    (the number on the file's first line ``%WER = X.XX``).
    """
    results = sorted((cid, as_words(r), as_words(h)) for cid, r, h in results)
    subs: Dict[Tuple[str, str], int] = defaultdict(int)
    ins: Dict[str, int] = defaultdict(int)
    dels: Dict[str, int] = defaultdict(int)
    # per word: corr, ref_sub, hyp_sub, ins, dels
    words: Dict[str, List[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    num_corr = 0
    alignments = []
    for _cut_id, ref, hyp in results:
        ali = align_words(ref, hyp)
        alignments.append(ali)
        for r, h in ali:
            if r == ERR:
                ins[h] += 1
                words[h][3] += 1
            elif h == ERR:
                dels[r] += 1
                words[r][4] += 1
            elif r != h:
                subs[(r, h)] += 1
                words[r][1] += 1
                words[h][2] += 1
            else:
                words[r][0] += 1
                num_corr += 1
    ref_len = sum(len(r) for _, r, _ in results)
    n_sub, n_ins, n_del = sum(subs.values()), sum(ins.values()), sum(dels.values())
    tot_errs = n_sub + n_ins + n_del
    tot_err_rate = f"{_percent(tot_errs, ref_len):.2f}"
    if enable_log:
        logging.info(
            f"[{test_set_name}] %WER {tot_err_rate}% [{tot_errs} / {ref_len}, "
            f"{n_ins} ins, {n_del} del, {n_sub} sub ]"
        )

    lines = [
        f"%WER = {tot_err_rate}",
        f"Errors: {n_ins} insertions, {n_del} deletions, {n_sub} substitutions, "
        f"over {ref_len} reference words ({num_corr} correct)",
        "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, "
        "DELETIONS:, INSERTIONS:, PER-WORD STATS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)  ",
    ]
    for (cut_id, _, _), ali in zip(results, alignments):
        shown = (r if r == h else f"({r}->{h})" for r, h in _combine_successive_errors(ali))
        lines.append(f"{cut_id}:\t" + " ".join(shown))
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    for count, (r, h) in sorted(((v, k) for k, v in subs.items()), reverse=True):
        lines.append(f"{count}   {r} -> {h}")
    lines += ["", "DELETIONS: count ref"]
    for count, r in sorted(((v, k) for k, v in dels.items()), reverse=True):
        lines.append(f"{count}   {r}")
    lines += ["", "INSERTIONS: count hyp"]
    for count, h in sorted(((v, k) for k, v in ins.items()), reverse=True):
        lines.append(f"{count}   {h}")
    lines += ["", "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp"]
    for _, word, (corr, ref_sub, hyp_sub, n_i, n_d) in sorted(
        ((sum(v[1:]), k, v) for k, v in words.items()), reverse=True
    ):
        errs = ref_sub + hyp_sub + n_i + n_d
        lines.append(f"{word}   {corr} {errs} {corr + ref_sub + n_d} {corr + hyp_sub + n_i}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return float(tot_err_rate)


def store_transcripts(path: Union[str, Path], results: Sequence[Result]) -> None:
    """Write icefall's ``recogs-*.txt``: per cut (sorted by id) ``<id>:\\tref=[...]`` then
    ``<id>:\\thyp=[...]``, the word lists in Python list syntax."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for cut_id, ref, hyp in sorted((c, as_words(r), as_words(h)) for c, r, h in results):
            print(f"{cut_id}:\tref={ref}", file=f)
            print(f"{cut_id}:\thyp={hyp}", file=f)


def read_transcripts(path: Union[str, Path]) -> List[Tuple[str, List[str], List[str]]]:
    """Parse a ``recogs-*.txt`` written by :func:`store_transcripts` back into results."""
    refs: Dict[str, List[str]] = {}
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cut_id, rest = line.split(":\t", 1)
            kind, value = rest.split("=", 1)
            if kind == "ref":
                refs[cut_id] = ast.literal_eval(value)
            elif kind == "hyp":
                out.append((cut_id, refs.pop(cut_id), ast.literal_eval(value)))
            else:
                raise ValueError(f"unexpected kind {kind!r}")
        except (ValueError, SyntaxError, KeyError) as e:
            raise ValueError(
                f"{path}:{n}: not a line of a decode recogs file ({type(e).__name__}: {e}): "
                f"{line[:80]!r}"
            ) from None
    return out


def write_wer_summary(path: Union[str, Path], rows: Dict[str, float]) -> None:
    """Write icefall's ``wer-summary-*.txt``: a ``settings\\tWER`` header, then one
    ``<setting>\\t<wer>`` line per decoding setting, lowest WER first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        print("settings\tWER", file=f)
        for key, val in sorted(rows.items(), key=lambda kv: kv[1]):
            print(f"{key}\t{val}", file=f)

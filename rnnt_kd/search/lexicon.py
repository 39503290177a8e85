"""Closed-vocabulary constraint for transducer search: hypotheses may only spell words of a list.

This is the job of the lexicon in icefall's HLG/LG decoding (k2 FSA composition). k2 has no
wheel for this Python (``fast_rnnt`` has no FSA code), and a word list needs no graph: the
constraint is a prefix set of the words, applied as a token mask at every search step.

A sentencepiece piece that starts with ``▁`` begins a new word; any other piece continues the
current one. A hypothesis's state is the text of its last, possibly unfinished, word (``None``
before the first word). A token is allowed when

* it starts a word: the current word is finished (a word of the list, or there is none yet)
  and the piece's text is a prefix of some word;
* it continues the word: the extended text is a prefix of some word.

Blank is always allowed; pieces with no text (``<unk>``, ``<sos/eos>``) never are. Any
segmentation of a word is accepted, not only the one sentencepiece would produce.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import torch
from torch import Tensor

WORD_START = "\u2581"  # sentencepiece's word-boundary mark "▁"


class WordLexicon:
    """Token masks that keep a token sequence inside a closed word list.

    Args:
      pieces: the text of every token id (``sp.id_to_piece(i)`` for i in range(V)).
      words: the allowed words (same case as the pieces).
      blank_id: the blank token (always allowed).
      special_ids: tokens that are never allowed (``<unk>``, ``<sos/eos>``); default: every
        piece written like ``<...>`` except blank.
    """

    def __init__(
        self,
        pieces: Sequence[str],
        words: Iterable[str],
        blank_id: int = 0,
        special_ids: Optional[Iterable[int]] = None,
    ):
        self.words: Set[str] = {w for w in words if w}
        if not self.words:
            raise ValueError("WordLexicon needs at least one word")
        self.prefixes: Set[str] = {w[:i] for w in self.words for i in range(len(w) + 1)}
        self.blank_id = blank_id
        self.vocab_size = len(pieces)
        if special_ids is None:
            special_ids = [i for i, p in enumerate(pieces) if p.startswith("<") and p.endswith(">")]
        self._special = set(special_ids) - {blank_id}
        # (starts a word, text) per token
        self._pieces: List[Tuple[bool, str]] = [
            (p.startswith(WORD_START), p[1:] if p.startswith(WORD_START) else p) for p in pieces
        ]
        self._masks: Dict[Optional[str], Tensor] = {}

    @classmethod
    def from_files(cls, bpe_model: str | Path, word_list: str | Path) -> WordLexicon:
        """Lexicon of every whitespace-separated word in ``word_list`` (a word list, a
        ``words.txt`` symbol table or a transcript file) for the tokens of ``bpe_model``."""
        from rnnt_kd.data import Tokenizer

        tok = Tokenizer(bpe_model)
        path = Path(word_list)
        if not path.is_file():
            raise FileNotFoundError(f"no word list at {path}")
        words: Set[str] = set()
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            # a k2 words.txt symbol table ("WORD id"): take the word only
            if len(fields) == 2 and fields[1].isdigit():
                fields = fields[:1]
            words.update(f for f in fields if not (f.startswith("<") or f.startswith("#")))
        pieces = [tok.sp.id_to_piece(i) for i in range(tok.vocab_size)]
        return cls(pieces, words, blank_id=tok.blank_id)

    def state(self, tokens: Sequence[int]) -> Optional[str]:
        """The last (possibly unfinished) word spelt by ``tokens`` (no blanks), None if none."""
        for k in range(len(tokens) - 1, -1, -1):
            starts, _ = self._pieces[tokens[k]]
            if starts:
                return "".join(self._pieces[t][1] for t in tokens[k:])
        return None if not tokens else "".join(self._pieces[t][1] for t in tokens)

    def complete_words(self, tokens: Sequence[int]) -> List[int]:
        """``tokens`` without a trailing unfinished word: the words before the last word start
        are complete (the masks only let a word start after a complete one)."""
        if self.is_final(self.state(tokens)):
            return list(tokens)
        for k in range(len(tokens) - 1, -1, -1):
            if self._pieces[tokens[k]][0]:  # the unfinished word starts here
                return list(tokens[:k])
        return []

    def is_final(self, state: Optional[str]) -> bool:
        """True when a hypothesis in ``state`` may end here (its last word is complete)."""
        return state is None or state in self.words

    def allowed(self, state: Optional[str]) -> Tensor:
        """(V,) bool mask of the tokens that may follow a hypothesis in ``state`` (cached)."""
        mask = self._masks.get(state)
        if mask is None:
            word_done = self.is_final(state)
            allow = []
            for i, (starts, text) in enumerate(self._pieces):
                if i == self.blank_id:
                    allow.append(True)
                elif i in self._special:
                    allow.append(False)
                elif starts:
                    allow.append(word_done and text in self.prefixes)
                else:
                    allow.append(state is not None and state + text in self.prefixes)
            mask = torch.tensor(allow, dtype=torch.bool)
            self._masks[state] = mask
        return mask

    def mask_batch(self, token_seqs: Sequence[Sequence[int]], device: torch.device) -> Tensor:
        """(N, V) bool masks for N hypotheses given as token sequences (no blanks)."""
        return torch.stack([self.allowed(self.state(ys)) for ys in token_seqs]).to(device)

    def __repr__(self) -> str:
        return f"WordLexicon({len(self.words)} words, {self.vocab_size} tokens)"

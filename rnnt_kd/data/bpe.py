"""BPE (sentencepiece) model training and the tokenizer the model and decoders use.

Follows icefall's ``train_bpe_model.py``: ``<blk>`` is the first user-defined symbol so the
blank gets id 0, ``<sos/eos>`` id 1, ``<unk>`` id 2; ``character_coverage=1.0``.

Example::

    >>> train_bpe(["HELLO WORLD", ...], "data/lang_bpe_500", vocab_size=500)
    >>> tok = Tokenizer("data/lang_bpe_500")
    >>> tok.decode(tok.encode(["HELLO WORLD"])[0])
    'HELLO WORLD'
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Iterable, List, Sequence, Union

import sentencepiece as spm

from rnnt_kd.errors import UserError

Pathlike = Union[str, Path]
USER_DEFINED_SYMBOLS = ["<blk>", "<sos/eos>"]
BLANK = "<blk>"


def train_bpe(
    transcripts: Union[Pathlike, Iterable[str]],
    model_dir: Pathlike,
    vocab_size: int,
    model_type: str = "unigram",
    input_sentence_size: int = 100_000_000,
) -> Path:
    """Train ``<model_dir>/bpe.model`` and write ``<model_dir>/tokens.txt`` (``piece id``).

    Args:
      transcripts: a text file with one transcript per line, or an iterable of transcripts.
      model_dir: output directory.
      vocab_size: number of pieces including ``<blk>``, ``<sos/eos>`` and ``<unk>``.
      model_type: sentencepiece model type (``unigram`` or ``bpe``).
    Returns:
      The path of ``bpe.model``.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(transcripts, (str, Path)):
            text_file = Path(transcripts)
        else:
            text_file = Path(tmp) / "transcripts.txt"
            text_file.write_text("".join(f"{t}\n" for t in transcripts), encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(text_file),
            vocab_size=vocab_size,
            model_type=model_type,
            model_prefix=str(model_dir / "bpe"),
            input_sentence_size=input_sentence_size,
            character_coverage=1.0,
            user_defined_symbols=USER_DEFINED_SYMBOLS,
            unk_id=len(USER_DEFINED_SYMBOLS),
            bos_id=-1,
            eos_id=-1,
            minloglevel=2,
        )
    tok = Tokenizer(model_dir / "bpe.model")
    assert tok.blank_id == 0, tok.blank_id
    with open(model_dir / "tokens.txt", "w", encoding="utf-8") as f:
        for i in range(tok.vocab_size):
            print(f"{tok.sp.id_to_piece(i)} {i}", file=f)
    logging.info(f"Trained {model_type} BPE model, vocab {vocab_size}: {model_dir / 'bpe.model'}")
    return model_dir / "bpe.model"


class Tokenizer:
    """A sentencepiece model with the ids the transducer uses (blank 0).

    Args:
      model: ``bpe.model`` or the directory holding it.
    """

    def __init__(self, model: Pathlike):
        path = Path(model)
        if path.is_dir():
            path = path / "bpe.model"
        if not path.is_file():
            raise FileNotFoundError(f"No BPE model at {path}")
        self.path = path
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.load(str(path))
        except (RuntimeError, OSError) as e:  # sentencepiece: "could not parse ModelProto"
            raise UserError(f"{path} is not a sentencepiece model (--bpe-model)") from e
        self.blank_id = self.sp.piece_to_id(BLANK)
        if self.blank_id != 0:
            raise ValueError(f"{path}: '{BLANK}' has id {self.blank_id}, expected 0")
        self.unk_id = self.sp.unk_id()
        self.vocab_size = self.sp.get_piece_size()
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()

    def encode(self, texts: Sequence[str]) -> List[List[int]]:
        """Token ids for each text."""
        if isinstance(texts, str):
            raise TypeError("Tokenizer.encode expects a list of texts, got one str")
        return self.sp.encode(list(texts), out_type=int)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of one id sequence."""
        return self.sp.decode([int(i) for i in ids])

    def can_encode(self, text: str) -> bool:
        """False when encoding ``text`` yields ``<unk>`` (characters unseen in training)."""
        return self.unk_id not in self.sp.encode(text, out_type=int)

    def __repr__(self) -> str:
        return f"Tokenizer({self.path}, vocab_size={self.vocab_size}, sha256={self.sha256[:12]})"

"""Sentences for the synthetic corpus, from offline Debian text packages.

Sources: WordNet 3.0 example sentences (``wordnet-base``) and fortune cookies (``fortunes``) for
transcripts; the King James Bible (``bible-kjv``) for babble noise only (it shares no sentence
with the transcripts). Normalisation gives LibriSpeech-style transcripts: uppercase words of
letters and apostrophes, 3..20 words. A sentence is *rejected*, not cleaned, when a TTS engine
would say something other than its transcript: digits, symbols, abbreviations with a period,
all-caps acronyms, stray single letters, non-ASCII letters, or a word missing from the
``wamerican`` + ``wbritish`` word lists.

Every function is deterministic and returns sorted lists.

    >>> normalize("The cat sat on the mat.")
    'THE CAT SAT ON THE MAT'
    >>> normalize("Mr. Smith paid $5.") is None
    True
"""

from __future__ import annotations

import collections
import hashlib
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence

import numpy as np

MIN_WORDS, MAX_WORDS = 3, 20
WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
DICT_FILES = (Path("/usr/share/dict/american-english"), Path("/usr/share/dict/british-english"))

_BAD_CHARS = re.compile(r"[0-9&%$@#+=/*<>_~^|\\\[\]{}]")
_ABBREV = re.compile(
    r"\b(Mr|Mrs|Ms|Dr|St|Jr|Sr|vs|etc|e\.g|i\.e|cf|Prof|Gen|Col|Lt|Capt|No|Vol|pp|ca)\.",
    re.IGNORECASE,
)
_TOKEN_SEP = re.compile(r"[\s,.;:!?\"()\-]+")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_SENT_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\s+--\s+|\n\s*\n")
_SINGLE_LETTER_WORDS = ("A", "I", "O")
_ART_FILES = ("art", "ascii-art")


def normalize(
    sentence: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> Optional[str]:
    """Return the uppercase transcript of ``sentence``, or None if it is rejected.

    Punctuation between words is dropped; anything a TTS engine would verbalise differently from
    the words (digits, symbols, ``Mr.``, acronyms like ``NASA``, stray letters like the ``U`` of
    ``U.S.``, non-ASCII letters) rejects the whole sentence.
    """
    s = sentence.strip().replace("\u2019", "'").replace("`", "'")
    if not s or _BAD_CHARS.search(s) or _ABBREV.search(s):
        return None
    words = []
    for tok in _TOKEN_SEP.split(s):
        tok = tok.strip("'")
        if not tok:
            continue
        if not _WORD.fullmatch(tok):
            return None
        if len(tok) > 1 and tok.isupper():
            return None
        if len(tok) == 1 and tok.upper() not in _SINGLE_LETTER_WORDS:
            return None
        words.append(tok.upper())
    if not min_words <= len(words) <= max_words:
        return None
    return " ".join(words)


@lru_cache(maxsize=1)
def dictionary_words() -> FrozenSet[str]:
    """Lower-case words of the Debian ``wamerican`` + ``wbritish`` lists (empty if absent)."""
    words = set()
    for path in DICT_FILES:
        if path.is_file():
            with open(path, encoding="utf-8", errors="ignore") as f:
                words.update(line.strip().lower() for line in f)
    return frozenset(words)


def in_dictionary(transcript: str, words: Optional[FrozenSet[str]] = None) -> bool:
    """True if every word of ``transcript`` (or its stem before ``'s`` / ``'``) is a dictionary
    word. Drops Latin quotes, taxonomic names, rare proper names and typos."""
    words = dictionary_words() if words is None else words
    for w in transcript.lower().split():
        if w in words or (w.endswith("'s") and w[:-2] in words):
            continue
        if w.endswith("'") and w[:-1] in words:
            continue
        return False
    return True


def split_sentences(text: str) -> Iterator[str]:
    """Split running text into sentence-like chunks (at ``.!?;:``, `` -- `` and blank lines)."""
    text = re.sub(r"[ \t]+", " ", text)
    for chunk in _SENT_SPLIT.split(text):
        chunk = chunk.replace("\n", " ").strip()
        if chunk:
            yield chunk


def wordnet_examples(wordnet_dir: Path = WORDNET_DIR) -> List[str]:
    """Quoted example sentences from the glosses of WordNet's ``data.*`` files (raw text)."""
    out = []
    for path in sorted(Path(wordnet_dir).glob("data.*")):
        with open(path, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # licence header / no gloss
                gloss = line.split("|", 1)[1]
                out.extend(re.findall(r'"([^"]+)"', gloss))
    return out


def fortune_sentences(fortunes_dir: Path = FORTUNES_DIR) -> List[str]:
    """Sentences of the fortune cookie files (attribution lines and ASCII art dropped)."""
    out = []
    for path in sorted(Path(fortunes_dir).iterdir()):
        if not path.is_file() or path.suffix in (".dat", ".u8") or path.name in _ART_FILES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for cookie in text.split("\n%\n"):
            lines = [ln for ln in cookie.splitlines() if not ln.strip().startswith("--")]
            out.extend(split_sentences("\n".join(lines)))
    return out


def kjv_sentences() -> List[str]:
    """Normalised sentences of the King James Bible (``bible-kjv``), sorted; [] if missing."""
    return list(_kjv_sentences())


@lru_cache(maxsize=1)
def _kjv_sentences() -> tuple:
    try:
        text = subprocess.run(
            ["bible", "-l0", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return ()
    raw = []
    for line in text.splitlines():
        m = re.match(r"\s*\d+ (.*)", line)
        if m:
            raw.extend(split_sentences(m.group(1)))
    return tuple(_normalize_all(raw, dictionary=False))


def _normalize_all(raw: Iterable[str], dictionary: bool = True) -> List[str]:
    norm = {normalize(s) for s in raw}
    norm.discard(None)
    if dictionary:
        words = dictionary_words()
        norm = {s for s in norm if in_dictionary(s, words)}
    return sorted(norm)


@lru_cache(maxsize=1)
def _all_sentences() -> tuple:
    return tuple(_normalize_all(wordnet_examples() + fortune_sentences()))


def restrict_vocab(sentences: Sequence[str], max_vocab: int) -> List[str]:
    """Keep the sentences whose words are all among the ``max_vocab`` most frequent words.

    Word frequencies are counted over ``sentences``; ties are broken alphabetically so the
    result is deterministic.
    """
    counts = collections.Counter(w for s in sentences for w in s.split())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    keep = {w for w, _ in ranked[:max_vocab]}
    return sorted(s for s in sentences if all(w in keep for w in s.split()))


def load_sentences(max_vocab: Optional[int] = None) -> List[str]:
    """All normalised, in-dictionary WordNet example + fortune sentences, sorted.

    ``max_vocab``: if given, keep only sentences made of the ``max_vocab`` most frequent words
    (2000 -> about 9.9k sentences, 5000 -> about 21.9k; all: about 57k).
    """
    sents = list(_all_sentences())
    if not sents:
        raise RuntimeError(
            f"no sentences found in {WORDNET_DIR} / {FORTUNES_DIR}: install the corpus tools "
            "with local/install_corpus_tools.sh"
        )
    return restrict_vocab(sents, max_vocab) if max_vocab else sents


def pool_of(sentence: str, dev_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """The pool (``train`` / ``dev`` / ``test``) a sentence belongs to, from a hash of its text.

    Stable: it depends on the sentence only, not on the other sentences, ``max_vocab`` or seed.
    """
    h = int.from_bytes(hashlib.md5(sentence.encode("utf-8")).digest()[:8], "big") / 2.0**64
    if h < test_fraction:
        return "test"
    if h < test_fraction + dev_fraction:
        return "dev"
    return "train"


def split_pools(
    sentences: Sequence[str], dev_fraction: float = 0.1, test_fraction: float = 0.1
) -> Dict[str, List[str]]:
    """Split sentences into disjoint ``train`` / ``dev`` / ``test`` pools (sorted lists)."""
    pools: Dict[str, List[str]] = {"train": [], "dev": [], "test": []}
    for s in sorted(set(sentences)):
        pools[pool_of(s, dev_fraction, test_fraction)].append(s)
    return pools


def tts_text(transcript: str) -> str:
    """Text to give a TTS engine for an uppercase transcript: lower case (uppercase words are
    read as acronyms), ``I`` capitalised, final period."""
    words = [
        ("I" + w[1:]) if w in ("i", "i'm", "i'll", "i've", "i'd") else w
        for w in transcript.lower().split()
    ]
    return " ".join(words) + "."


def spliced_sentences(
    pool: Sequence[str],
    n: int,
    rng: np.random.Generator,
    exclude: Iterable[str] = (),
    max_splices: int = 2,
    min_words: int = MIN_WORDS,
    max_words: int = MAX_WORDS,
) -> List[str]:
    """``n`` distinct new sentences, each a prefix of one ``pool`` sentence joined to the suffix
    of another at a word they share (repeated up to ``max_splices`` times).

    Text augmentation for the training transcripts: every word sequence across a junction is
    one the pool has, so the sentences stay locally natural, but none repeats a pool sentence
    or one of ``exclude`` (the dev/test sentences). With a small vocabulary the natural pool is
    only a few thousand sentences; a model that hears each of them several times memorises
    whole sentences instead of words (see egs/synthlibri/ASR/NOTES.md).

        >>> pool = ["THE CAT SAT ON THE MAT", "A DOG SAT IN THE SUN"]
        >>> spliced_sentences(pool, 2, np.random.default_rng(0))  # doctest: +SKIP
        ['THE CAT SAT IN THE SUN', 'THE CAT SAT ON THE SUN']
    """
    sents = [s.split() for s in sorted(set(pool))]
    where: Dict[str, List[tuple]] = collections.defaultdict(list)
    for i, words in enumerate(sents):
        for j in range(1, len(words)):  # never the first word: a splice keeps >= 1 word before
            where[words[j]].append((i, j))
    banned = set(pool) | set(exclude)  # grows with every sentence made (distinctness)
    out: List[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * max(n, 1):
            raise RuntimeError(
                f"spliced_sentences: only {len(out)} of {n} new sentences from a pool of "
                f"{len(sents)}; use a larger pool (--max-vocab) or fewer training utterances"
            )
        words = list(sents[int(rng.integers(len(sents)))])
        for _ in range(int(rng.integers(1, max_splices + 1))):
            if len(words) < 2:
                break
            cut = int(rng.integers(1, len(words)))
            sites = where[words[cut]]
            i, j = sites[int(rng.integers(len(sites)))]
            words = words[:cut] + sents[i][j:]
        s = " ".join(words)
        if min_words <= len(words) <= max_words and s not in banned:
            banned.add(s)
            out.append(s)
    return out


def random_word_sentences(
    pool: Sequence[str],
    n: int,
    rng: np.random.Generator,
    exclude: Iterable[str] = (),
    word_temperature: float = 0.5,
) -> List[str]:
    """``n`` distinct word sequences with no sentence structure: words drawn independently from
    the ``pool``'s words with probability proportional to ``count ** word_temperature`` (0.5:
    rare words are heard more often than in text), lengths drawn from the pool's sentence
    lengths. None equals a pool sentence or one of ``exclude``.

    Text augmentation for the training transcripts: a model trained only on sentences (even
    spliced ones) leans on word context it learnt from the training text and fails on word
    pairs it never saw (egs/synthlibri/ASR/NOTES.md: 46.8 % word errors on dev words whose
    word pair is not in the training text, 19.8 % on the others); a word it must recognise
    without context it has to learn from the audio.
    """
    if n <= 0:
        return []
    sents = [s.split() for s in sorted(set(pool))]
    if not sents:
        raise ValueError("random_word_sentences: empty pool")
    counts = collections.Counter(w for words in sents for w in words)
    vocab = sorted(counts)
    p = np.array([counts[w] for w in vocab], dtype=np.float64) ** word_temperature
    p /= p.sum()
    lengths = [len(words) for words in sents]
    banned = set(pool) | set(exclude)
    out: List[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError(
                f"random_word_sentences: only {len(out)} of {n} distinct sentences from a "
                f"vocabulary of {len(vocab)} words"
            )
        length = lengths[int(rng.integers(len(lengths)))]
        sentence = " ".join(vocab[i] for i in rng.choice(len(vocab), size=length, p=p))
        if sentence not in banned:
            banned.add(sentence)
            out.append(sentence)
    return out

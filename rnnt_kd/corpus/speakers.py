"""Synthetic speakers: one speaker = a fixed (engine, voice, accent, variant, rate, pitch, warp).

Engines and the voices each role may use:

=========  ==============================  ================================  =====================
engine     train, dev, test-clean           test-other (never in training)    notes
=========  ==============================  ================================  =====================
espeak     8 English accents x variant      variants ``whisper``, ``whisperf``,  22.05 kHz
           files (train / held-out split)   ``croak``
flite      ``kal16``, ``slt``, ``rms``      ``awb``                           16 kHz
festival   ``cmu_us_slt_arctic_hts``        ``ked_diphone``                   32 / 16 kHz
=========  ==============================  ================================  =====================

espeak-ng variants are enumerated from the variant FILES (``espeak-ng-data/voices/!v/``): an
unknown or wrongly-cased variant name silently falls back to the base voice with exit code 0.
The variants are split by a fixed rule (every 5th of the sorted list is held out) into training
variants and held-out variants; dev and test-clean speakers use held-out espeak variants and new
rate/pitch/warp settings of the training flite/festival voices.

``rate`` and ``pitch`` are factors relative to the engine default (1.0 = default); ``warp`` is a
resampling factor applied after synthesis (> 1 raises formants and pitch and shortens the audio,
like a shorter vocal tract).
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from rnnt_kd.corpus import espeak_voices

ENGINES = ("espeak", "flite", "festival")
DEFAULT_ENGINES_MIX: Dict[str, float] = {"espeak": 0.5, "flite": 0.3, "festival": 0.2}

ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
ESPEAK_TEST_OTHER_VARIANTS = ("whisper", "whisperf", "croak")
# "fast" is an unstable speed test, not a voice; "klatt" and "klatt6" synthesise exactly like
# "caleb" in espeak-ng 1.51 (a duplicate could put one voice on both sides of the split)
ESPEAK_EXCLUDED_VARIANTS = ("fast", "klatt", "klatt6")
FLITE_TRAIN_VOICES = ("kal16", "slt", "rms")
FLITE_TEST_OTHER_VOICES = ("awb",)
FESTIVAL_TRAIN_VOICES = ("cmu_us_slt_arctic_hts",)
FESTIVAL_TEST_OTHER_VOICES = ("ked_diphone",)

# (rate, pitch, warp) ranges of speaker settings, per engine
SETTING_RANGES: Dict[str, Dict[str, Tuple[float, float]]] = {
    "espeak": {"rate": (0.8, 1.15), "pitch": (0.6, 1.4), "warp": (0.94, 1.06)},
    "flite": {"rate": (0.85, 1.15), "pitch": (0.85, 1.15), "warp": (0.95, 1.05)},
    "festival": {"rate": (0.85, 1.15), "pitch": (0.85, 1.15), "warp": (0.93, 1.07)},
}

# speaker id blocks per role (ids are numeric, as Lhotse's librispeech recipe needs)
ROLE_ID_BASE = {
    "train": 1000,
    "dev": 5000,
    "test": 6000,
    "test-other": 7000,
    "babble-test": 8000,
    "babble-train": 8500,
}
ROLES = tuple(ROLE_ID_BASE)


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker.

    ``voice``: espeak language voice (``en-gb-scotland``), flite voice (``slt``) or festival
    voice (``cmu_us_slt_arctic_hts``); ``accent``: espeak accent label, ``en-us`` for the
    (American) flite/festival voices; ``variant``: espeak variant file name or ``""``;
    ``variant_file``: the text of a generated espeak variant (``espeak_voices``) named
    ``variant``, synthesised from a private data folder.
    """

    speaker_id: int
    engine: str
    voice: str
    accent: str
    variant: str
    rate: float
    pitch: float
    warp: float
    role: str
    variant_file: str = ""  # text of a generated (mixed) espeak variant; "" for stock variants

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def espeak_data_dir() -> Path:
    """The ``espeak-ng-data`` folder (from ``espeak-ng --version``)."""
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    if not m:
        raise RuntimeError(f"cannot find espeak-ng-data in 'espeak-ng --version': {out!r}")
    return Path(m.group(1))


@functools.lru_cache(maxsize=1)
def espeak_variants() -> Tuple[str, ...]:
    """Variant file names usable with ``-v <accent>+<variant>`` (sorted, exact case)."""
    vdir = espeak_data_dir() / "voices" / "!v"
    names = [
        p.name for p in vdir.iterdir() if p.is_file() and re.fullmatch(r"[A-Za-z0-9_-]+", p.name)
    ]
    return tuple(sorted(n for n in names if n not in ESPEAK_EXCLUDED_VARIANTS))


@functools.lru_cache(maxsize=1)
def espeak_accents() -> Tuple[str, ...]:
    """The accents of ESPEAK_ACCENTS that ``espeak-ng --voices=en`` lists with a ``gmw/`` file
    (the MBROLA ``mb/`` voices are listed too but are not in Debian main)."""
    out = subprocess.run(
        ["espeak-ng", "--voices=en"], capture_output=True, text=True, check=True
    ).stdout
    present = set()
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].startswith("gmw/"):
            present.add(cols[1])
    return tuple(a for a in ESPEAK_ACCENTS if a in present)


def split_espeak_variants(variants: Sequence[str]) -> Dict[str, List[str]]:
    """Split variants into ``train`` / ``held_out`` / ``test_other`` (fixed rule, no seed).

    ``test_other``: ESPEAK_TEST_OTHER_VARIANTS; of the rest (sorted), every 5th starting at index
    2 is held out for dev/test-clean.
    """
    rest = sorted(v for v in variants if v not in ESPEAK_TEST_OTHER_VARIANTS)
    held = [v for i, v in enumerate(rest) if i % 5 == 2]
    return {
        "train": [v for v in rest if v not in held],
        "held_out": held,
        "test_other": sorted(v for v in variants if v in ESPEAK_TEST_OTHER_VARIANTS),
    }


def voices_for_role(role: str, engine: str) -> List[Tuple[str, str]]:
    """(voice, variant) pairs an engine may use for a role; espeak voice = accent."""
    if engine == "espeak":
        split = split_espeak_variants(espeak_variants())
        key = {"train": "train", "babble-train": "train", "test-other": "test_other"}.get(
            role, "held_out"
        )
        return [(a, v) for v in split[key] for a in espeak_accents()]
    other = role == "test-other"
    if engine == "flite":
        voices = FLITE_TEST_OTHER_VOICES if other else FLITE_TRAIN_VOICES
    elif engine == "festival":
        voices = FESTIVAL_TEST_OTHER_VOICES if other else FESTIVAL_TRAIN_VOICES
    else:
        raise ValueError(f"unknown engine {engine!r}, expected one of {ENGINES}")
    return [(v, "") for v in voices]


def allocate(n: int, weights: Mapping[str, float]) -> Dict[str, int]:
    """Split ``n`` items over keys in proportion to ``weights`` (largest remainder), giving
    every positive-weight key at least one item when ``n`` allows it."""
    keys = [k for k in weights if weights[k] > 0]
    if not keys or n <= 0:
        return {k: 0 for k in weights}
    total = sum(weights[k] for k in keys)
    exact = {k: n * weights[k] / total for k in keys}
    counts = {k: int(np.floor(exact[k])) for k in keys}
    if n >= len(keys):
        for k in keys:
            counts[k] = max(counts[k], 1)
    order = sorted(keys, key=lambda k: (-(exact[k] - np.floor(exact[k])), keys.index(k)))
    i = 0
    while sum(counts.values()) < n:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts.values()) > n:  # the minimum of one overshot: take from the largest
        big = max(keys, key=lambda k: (counts[k], -keys.index(k)))
        counts[big] -= 1
    return {k: counts.get(k, 0) for k in weights}


def make_speakers(
    role: str,
    num_speakers: int,
    seed: int,
    engines_mix: Mapping[str, float] = DEFAULT_ENGINES_MIX,
    espeak_mixed_fraction: float = 0.0,
) -> List[Speaker]:
    """Deterministic speakers for a role (``train``, ``dev``, ``test``, ``test-other``,
    ``babble-test``, ``babble-train``), ids ``ROLE_ID_BASE[role] + i``.

    Engines are allocated in proportion to ``engines_mix`` (``test-other``: equal thirds);
    voices are drawn without replacement until exhausted (maximal coverage), settings uniformly
    in SETTING_RANGES. ``espeak_mixed_fraction`` (role ``train`` only): this share of the espeak
    speakers get a new timbre instead of their variant file, a variant crossed from two training
    variant files (``espeak_voices.mixed_variant``); their other settings, and all other
    speakers, are the same as without it.
    """
    if not 0.0 <= espeak_mixed_fraction <= 1.0:
        raise ValueError(f"espeak_mixed_fraction must be in [0, 1], got {espeak_mixed_fraction}")
    if espeak_mixed_fraction > 0 and role != "train":
        raise ValueError(f"mixed espeak voices are for role 'train' only, not {role!r}")
    if role not in ROLE_ID_BASE:
        raise ValueError(f"unknown role {role!r}, expected one of {ROLES}")
    bad = set(engines_mix) - set(ENGINES)
    if bad:
        raise ValueError(f"unknown engines {sorted(bad)} in engines_mix, expected {ENGINES}")
    mix = {e: 1.0 for e in ENGINES} if role == "test-other" else dict(engines_mix)
    counts = allocate(num_speakers, mix)
    rng = np.random.default_rng([seed, ROLE_ID_BASE[role]])
    speakers: List[Speaker] = []
    for engine in ENGINES:
        choices = voices_for_role(role, engine)
        picks: List[Tuple[str, str]] = []
        while len(picks) < counts.get(engine, 0):
            picks.extend(choices[i] for i in rng.permutation(len(choices)))
        for voice, variant in picks[: counts.get(engine, 0)]:
            ranges = SETTING_RANGES[engine]
            rate, pitch, warp = (round(float(rng.uniform(*ranges[k])), 3) for k in ranges)
            speakers.append(
                Speaker(
                    speaker_id=ROLE_ID_BASE[role] + len(speakers),
                    engine=engine,
                    voice=voice,
                    accent=voice if engine == "espeak" else "en-us",
                    variant=variant,
                    rate=rate,
                    pitch=pitch,
                    warp=warp,
                    role=role,
                )
            )
    if espeak_mixed_fraction > 0:
        speakers = _with_mixed_variants(speakers, espeak_mixed_fraction, seed, role)
    return speakers


def _with_mixed_variants(
    speakers: List[Speaker], fraction: float, seed: int, role: str
) -> List[Speaker]:
    """Give ``round(fraction * #espeak)`` espeak speakers (drawn by their own RNG, so nothing
    else changes) a mixed variant ``mix<speaker id>`` of two training variant files."""
    rng = np.random.default_rng([seed, ROLE_ID_BASE[role], 1])
    parents = split_espeak_variants(espeak_variants())["train"]
    vdir = espeak_data_dir() / "voices" / "!v"
    espeak = [i for i, s in enumerate(speakers) if s.engine == "espeak"]
    chosen = np.sort(rng.choice(espeak, int(round(fraction * len(espeak))), replace=False))
    out = list(speakers)
    for i in chosen:
        pair = [parents[j] for j in rng.choice(len(parents), 2, replace=False)]
        name = f"mix{speakers[i].speaker_id}"
        texts = [(vdir / p).read_text(errors="replace") for p in pair]
        text = espeak_voices.mixed_variant(name, texts, rng)
        out[i] = replace(speakers[i], variant=name, variant_file=text)
    return out

"""Tests of the embedded synthetic corpus (rnnt_kd.corpus): text, speakers, TTS, far field and
the generator end to end on a tiny corpus (read back with Lhotse)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnt_kd.corpus import espeak_voices, farfield, speakers, text, tts

ENGINES_MISSING = tts.missing_engines()
TRANSCRIPT_RE = re.compile(r"[A-Z']+( [A-Z']+){2,19}")
needs_tts = pytest.mark.skipif(
    bool(ENGINES_MISSING),
    reason=f"speech engines missing: {ENGINES_MISSING} (run local/install_corpus_tools.sh)",
)
needs_text = pytest.mark.skipif(
    not (text.WORDNET_DIR / "data.noun").is_file() or not text.dictionary_words(),
    reason="wordnet-base / wamerican missing (run local/install_corpus_tools.sh)",
)


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("The cat sat on the mat.", "THE CAT SAT ON THE MAT"),
        ("Don't panic, my friend!", "DON'T PANIC MY FRIEND"),
        ("I think; therefore I am.", "I THINK THEREFORE I AM"),
        ("'Tis the season -- to be jolly", "TIS THE SEASON TO BE JOLLY"),
        ("O say can you see", "O SAY CAN YOU SEE"),
        ("the dog\u2019s bone", "THE DOG'S BONE"),
    ],
)
def test_normalize_keeps(raw, expected):
    assert text.normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Mr. Smith went home early",  # abbreviation with a period
        "It costs $5 at the store",  # symbol + digit
        "Call me at nine or 10 tonight",  # digit
        "NASA launched a new rocket",  # acronym, TTS spells it
        "He moved to the U.S. last year",  # stray single letters
        "A cafe\u0301 on the corner",  # non-ASCII
        "We met at the caf\u00e9 today",  # non-ASCII letter
        "Too short",  # 2 words
        " ".join(["word"] * 21),  # 21 words
        "use the a/b switch please",  # symbol
    ],
)
def test_normalize_rejects(raw):
    assert text.normalize(raw) is None


def test_in_dictionary_and_restrict_vocab():
    words = frozenset({"the", "cat", "sat", "dog"})
    assert text.in_dictionary("THE CAT SAT", words)
    assert text.in_dictionary("THE CAT'S DOG", words)  # stem before 's
    assert not text.in_dictionary("THE XYZZY SAT", words)
    sents = ["A B C", "A B", "A D", "B A"]  # counts A:4 B:3 C:1 D:1 -> top 2 = {A, B}
    assert text.restrict_vocab(sents, 2) == ["A B", "B A"]
    # tie C/D broken alphabetically: top 3 = {A, B, C}
    assert text.restrict_vocab(sents, 3) == ["A B", "A B C", "B A"]


def test_split_pools_disjoint_and_stable():
    sents = [f"SENTENCE NUMBER {i}" for i in range(3000)]
    pools = text.split_pools(sents)
    sets = {k: set(v) for k, v in pools.items()}
    assert sets["train"].isdisjoint(sets["dev"]) and sets["train"].isdisjoint(sets["test"])
    assert sets["dev"].isdisjoint(sets["test"])
    assert set().union(*sets.values()) == set(sents)
    assert all(v == sorted(v) for v in pools.values())
    assert 0.08 < len(pools["test"]) / 3000 < 0.12 and 0.08 < len(pools["dev"]) / 3000 < 0.12
    # membership depends on the sentence alone: a subset splits the same way
    sub = text.split_pools(sents[::7])
    for k in pools:
        assert set(sub[k]) == sets[k] & set(sents[::7])


@needs_text
def test_load_sentences_max_vocab():
    full = text.load_sentences()
    small = text.load_sentences(2000)
    assert full == sorted(set(full)) and small == sorted(set(small))
    assert 50_000 < len(full) < 65_000  # 57,424 with Debian 12's packages
    assert 8_000 < len(small) < 12_000  # 9,906
    assert set(small) <= set(full)
    assert len({w for s in small for w in s.split()}) <= 2000
    for s in small[::500]:
        assert TRANSCRIPT_RE.fullmatch(s) and text.in_dictionary(s)


def test_spliced_sentences_new_distinct_and_made_of_pool_bigrams():
    pool = [
        "THE CAT SAT ON THE MAT",
        "A DOG SAT IN THE SUN",
        "THE SUN IS HOT TODAY",
        "MY CAT IS ON THE ROOF",
    ]
    exclude = ["THE CAT SAT IN THE SUN"]
    out = text.spliced_sentences(pool, 12, np.random.default_rng(3), exclude=exclude)
    assert len(out) == 12 and len(set(out)) == 12
    assert not set(out) & (set(pool) | set(exclude))
    pool_bigrams = {b for s in pool for b in zip(s.split(), s.split()[1:])}
    for s in out:
        words = s.split()
        assert text.MIN_WORDS <= len(words) <= text.MAX_WORDS
        # every junction repeats a shared word, so every bigram is one of the pool's
        assert set(zip(words, words[1:])) <= pool_bigrams, s
    again = text.spliced_sentences(pool, 12, np.random.default_rng(3), exclude=exclude)
    assert again == out
    with pytest.raises(RuntimeError, match="only"):
        text.spliced_sentences(["A B C"], 5, np.random.default_rng(0))


@needs_text
def test_train_sentences_spliced_reads_the_pool_once():
    from rnnt_kd.corpus.make_corpus import train_sentences

    pools = text.split_pools(text.restrict_vocab(text.load_sentences(), 300))
    n = len(pools["train"]) + 200
    natural = train_sentences(pools, n, "natural", np.random.default_rng(0))
    assert len(set(natural)) == len(pools["train"])  # the pool, cycled
    spliced = train_sentences(pools, n, "spliced", np.random.default_rng(0))
    assert len(spliced) == n and len(set(spliced)) == n
    assert set(spliced[: len(pools["train"])]) == set(pools["train"])
    assert not set(spliced) & (set(pools["dev"]) | set(pools["test"]))


def test_random_word_sentences_follow_the_pool_vocabulary_and_lengths():
    pool = ["THE CAT SAT ON THE MAT", "A DOG SAT", "THE SUN IS HOT TODAY", "MY CAT IS HERE"]
    exclude = ["THE CAT SAT"]
    out = text.random_word_sentences(pool, 200, np.random.default_rng(0), exclude=exclude)
    assert len(out) == 200 and len(set(out)) == 200
    assert not set(out) & (set(pool) | set(exclude))
    vocab = {w for s in pool for w in s.split()}
    assert {len(s.split()) for s in out} <= {3, 4, 5, 6}  # the pool's sentence lengths
    assert {w for s in out for w in s.split()} == vocab  # 200 draws reach every word
    # count ** 0.5: THE (3 of 18 pool words) is drawn sqrt(3) = 1.73x as often as MAT (1)
    words = [w for s in text.random_word_sentences(pool, 2000, np.random.default_rng(1))
             for w in s.split()]  # fmt: skip
    ratio = words.count("THE") / words.count("MAT")
    assert 1.5 < ratio < 2.0, ratio  # (plain counts: 3.0)
    assert text.random_word_sentences(pool, 0, np.random.default_rng(0)) == []
    assert text.random_word_sentences(pool, 5, np.random.default_rng(2)) == \
        text.random_word_sentences(pool, 5, np.random.default_rng(2))  # fmt: skip
    with pytest.raises(RuntimeError, match="only"):
        text.random_word_sentences(["A B C"], 30, np.random.default_rng(0))


@needs_text
def test_train_sentences_random_fraction_mixes_kinds():
    from rnnt_kd.corpus.make_corpus import train_sentences

    pools = text.split_pools(text.restrict_vocab(text.load_sentences(), 300))
    n = len(pools["train"]) + 200
    out = train_sentences(pools, n, "spliced", np.random.default_rng(0), random_fraction=0.25)
    assert len(out) == n and len(set(out)) == n
    assert not set(out) & (set(pools["dev"]) | set(pools["test"]))
    # three quarters are pool sentences (fewer than the pool has: no splicing needed)
    n_random = round(0.25 * n)
    assert n - n_random < len(pools["train"])
    assert len(set(out) & set(pools["train"])) == n - n_random
    pool_bigrams = {b for s in pools["train"] for b in zip(s.split(), s.split()[1:])}
    off_pool = [s for s in out if not set(zip(s.split(), s.split()[1:])) <= pool_bigrams]
    assert abs(len(off_pool) - n_random) <= 0.02 * n  # random ones (rarely on-pool)
    # shuffled: the random sentences are spread over the list, not all at its end
    first_half = set(out[: n // 2])
    assert 0.15 * n / 2 < len(first_half & set(off_pool)) < 0.35 * n / 2


def test_tts_text():
    assert text.tts_text("I SAID I'M FINE") == "I said I'm fine."


# ----------------------------------------------------------------------------- speakers


def test_allocate():
    assert speakers.allocate(10, {"a": 0.5, "b": 0.3, "c": 0.2}) == {"a": 5, "b": 3, "c": 2}
    assert speakers.allocate(3, {"a": 0.9, "b": 0.05, "c": 0.05}) == {"a": 1, "b": 1, "c": 1}
    assert speakers.allocate(4, {"a": 1.0, "b": 0.0}) == {"a": 4, "b": 0}
    assert sum(speakers.allocate(7, {"a": 0.5, "b": 0.3, "c": 0.2}).values()) == 7


@needs_tts
def test_espeak_variants_are_files_and_distinct():
    variants = speakers.espeak_variants()
    vdir = speakers.espeak_data_dir() / "voices" / "!v"
    assert {"m1", "f1", "whisper", "croak"} <= set(variants)
    assert all((vdir / v).is_file() for v in variants)
    assert "Mr serious" not in variants and "fast" not in variants

    def digest(voice: str) -> str:
        out = subprocess.run(["espeak-ng", "-v", voice, "--stdout", "hello there"],
                             capture_output=True, check=True).stdout  # fmt: skip
        return hashlib.md5(out).hexdigest()

    base = digest("en-us")
    # the pitfall: a wrongly-cased variant silently falls back to the base voice
    assert digest("en-us+M1") == base
    # every enumerated variant really changes the voice, and no two are the same voice
    digests = [digest(f"en-us+{v}") for v in variants]
    assert base not in digests
    assert len(set(digests)) == len(digests)


@needs_tts
def test_speaker_roles_disjoint():
    split = speakers.split_espeak_variants(speakers.espeak_variants())
    assert set(split["train"]).isdisjoint(split["held_out"])
    assert set(split["test_other"]) == set(speakers.ESPEAK_TEST_OTHER_VARIANTS)
    assert len(split["held_out"]) >= 10
    train = speakers.make_speakers("train", 60, seed=3)
    test = speakers.make_speakers("test", 30, seed=3)
    other = speakers.make_speakers("test-other", 30, seed=3)
    assert train == speakers.make_speakers("train", 60, seed=3)  # deterministic
    assert train != speakers.make_speakers("train", 60, seed=4)
    counts = {e: sum(s.engine == e for s in train) for e in speakers.ENGINES}
    assert counts == {"espeak": 30, "flite": 18, "festival": 12}
    ids = [s.speaker_id for s in train + test + other]
    assert len(set(ids)) == len(ids)

    def voice(s):
        return (s.engine, s.variant or s.voice)

    train_voices = {voice(s) for s in train}
    assert {s.variant for s in test if s.engine == "espeak"} <= set(split["held_out"])
    assert {voice(s) for s in other}.isdisjoint(train_voices)
    assert {voice(s) for s in other} >= {("flite", "awb"), ("festival", "ked_diphone")}
    # test-clean flite/festival speakers reuse training voices with new settings
    settings = {(s.engine, s.voice, s.rate, s.pitch, s.warp) for s in train}
    assert all((s.engine, s.voice, s.rate, s.pitch, s.warp) not in settings for s in test)


# ----------------------------------------------------------------------------- mixed voices

PARENT_A = """language variant
name a
gender male
// a comment
pitch 80 120
formant 0 100 100 100
formant 1 90 100 80
formant 2 110 100 100
voicing 30
klatt 4
breath 0 2 4
breath 0 0 0
"""
PARENT_B = """language variant
name b
pitch 200 300
formant 1 120 60 100
formant 3 100 140 100
consonants 80
## comment
"""


def test_parse_variant():
    a = espeak_voices.parse_variant(PARENT_A)
    assert a == {
        "pitch": ["80", "120"], "formant 0": ["100", "100", "100"],
        "formant 1": ["90", "100", "80"], "formant 2": ["110", "100", "100"],
        "voicing": ["30"], "klatt": ["4"], "breath": ["0", "0", "0"],  # last line wins
    }  # fmt: skip


def test_mixed_variant_crosses_its_parents():
    lo_f, hi_f = espeak_voices.FORMANT_SCALE
    lo_p, hi_p = espeak_voices.PITCH_SCALE
    j = espeak_voices.FORMANT_JITTER
    texts = set()
    for seed in range(40):
        text = espeak_voices.mixed_variant(
            "mix7", [PARENT_A, PARENT_B], np.random.default_rng(seed)
        )
        assert text == espeak_voices.mixed_variant(
            "mix7", [PARENT_A, PARENT_B], np.random.default_rng(seed)
        )
        texts.add(text)
        lines = text.splitlines()
        assert lines[:2] == ["language variant", "name mix7"]
        got = espeak_voices.parse_variant(text)
        # every formant / pitch line present in either parent is interpolated (absent formant =
        # engine default 100 100 100), formant frequencies F1..F5 scaled
        assert {"pitch", "formant 0", "formant 1", "formant 2", "formant 3"} <= set(got)
        base, rng_ = (float(v) for v in got["pitch"])
        assert 80 * lo_p - 1 <= base <= 200 * hi_p + 1 and 120 * lo_p - 1 <= rng_ <= 300 * hi_p + 1
        f1 = float(got["formant 1"][0])
        assert 90 * lo_f * (1 - j) - 1 <= f1 <= 120 * hi_f * (1 + j) + 1
        assert 60 - 1 <= float(got["formant 1"][1]) <= 100 + 1  # heights: interpolated only
        assert got["formant 0"] == ["100", "100", "100"]  # F0 line: both parents the default
        # other settings come whole from one parent, or are left out (engine default)
        a, b = espeak_voices.parse_variant(PARENT_A), espeak_voices.parse_variant(PARENT_B)
        for key in ("voicing", "klatt", "breath", "consonants"):
            assert key not in got or got[key] in (a.get(key), b.get(key))
    assert len(texts) == 40  # a new timbre per draw
    with pytest.raises(ValueError, match="two parent"):
        espeak_voices.mixed_variant("x", [PARENT_A], np.random.default_rng(0))


@needs_tts
def test_generated_variant_is_read_not_the_silent_fallback(tmp_path):
    """A generated file holding a stock variant's text speaks exactly like that variant, and a
    mixed voice differs from the base voice and from every stock training voice."""
    vdir = speakers.espeak_data_dir() / "voices" / "!v"
    train = speakers.split_espeak_variants(speakers.espeak_variants())["train"]
    spk = speakers.Speaker(1000, "espeak", "en-us", "en-us", "m3", 1.0, 1.0, 1.0, "train")
    p = tts.UttParams(rate=1.0, pitch=1.0, lead_s=0.1, trail_s=0.1, level_dbfs=-6.0,
                      noise_dbfs=-80.0)  # fmt: skip
    stock = tts._espeak(spk, "hello there my friend", p, tmp_path / "a")[0]
    copy = replace(spk, variant="copym3", variant_file=(vdir / "m3").read_text())
    assert np.array_equal(tts._espeak(copy, "hello there my friend", p, tmp_path / "b")[0], stock)
    base = tts._espeak(replace(spk, variant=""), "hello there my friend", p, tmp_path / "c")[0]
    mixed = next(s for s in speakers.make_speakers("train", 40, 3, espeak_mixed_fraction=1.0)
                 if s.engine == "espeak")  # fmt: skip
    out = tts._espeak(mixed, "hello there my friend", p, tmp_path / "d")[0]
    assert out.shape != base.shape or not np.array_equal(out, base)
    for v in train:  # not any stock training voice either
        other = tts._espeak(replace(mixed, variant=v, variant_file=""), "hello there my friend",
                            p, tmp_path / "e")[0]  # fmt: skip
        assert out.shape != other.shape or not np.array_equal(out, other), v


@needs_tts
def test_make_speakers_mixed_fraction_changes_only_espeak_variants():
    plain = speakers.make_speakers("train", 80, seed=3)
    mixed = speakers.make_speakers("train", 80, seed=3, espeak_mixed_fraction=0.5)
    assert mixed == speakers.make_speakers("train", 80, seed=3, espeak_mixed_fraction=0.5)
    n_espeak = sum(s.engine == "espeak" for s in plain)
    changed = [(a, b) for a, b in zip(plain, mixed) if a != b]
    assert len(changed) == round(0.5 * n_espeak)
    for a, b in changed:
        assert a.engine == "espeak" and b.variant == f"mix{a.speaker_id}" and b.variant_file
        assert replace(b, variant=a.variant, variant_file="") == a
    assert len({b.variant_file for _, b in changed}) == len(changed)
    with pytest.raises(ValueError, match="train"):
        speakers.make_speakers("test", 20, seed=3, espeak_mixed_fraction=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        speakers.make_speakers("train", 20, seed=3, espeak_mixed_fraction=1.5)


# ----------------------------------------------------------------------------- tts


def _wav_bytes(x: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(x.astype("<i2").tobytes())
    return buf.getvalue()


def test_parse_wav_streamed_header():
    pcm = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    data = bytearray(_wav_bytes(pcm, 22050))
    data[4:8] = struct.pack("<I", 0x7FFFFFFF)  # bogus sizes, as espeak-ng --stdout writes
    data[40:44] = struct.pack("<I", 0x7FFFFFFF)
    x, sr = tts.parse_wav(bytes(data))
    assert sr == 22050
    np.testing.assert_array_equal(x, [0.0, 0.5, -1.0, 32767 / 32768])


def test_resample_ratio_trim_finish():
    assert tts.resample_ratio(22050) == (320, 441)
    assert tts.resample_ratio(16000) == (1, 1)
    up, down = tts.resample_ratio(32000, 1.05)
    assert abs(up / down - 16000 / (32000 * 1.05)) < 1e-5
    x = np.zeros(1000)
    x[400:500] = 1.0
    y = tts.trim(x, margin=10)
    assert len(y) == 120 and y[10] == 1.0 and y[9] == 0.0
    p = tts.UttParams(rate=1, pitch=1, lead_s=0.25, trail_s=0.125, level_dbfs=-6.0,
                      noise_dbfs=-200.0)  # fmt: skip
    sig = np.sin(np.arange(8000) * 0.05)
    out = tts.finish(sig, 16000, 1.0, p, np.random.default_rng(0))
    assert len(out) == 4000 + 8000 + 2000
    assert abs(out[:4000]).max() < 1e-6 and abs(out[-2000:]).max() < 1e-6
    assert abs(np.abs(out).max() - 10 ** (-6 / 20)) < 1e-5


def test_utt_rng_keyed():
    a = tts.utt_rng(1, "10-100-0001").random(4)
    assert np.array_equal(a, tts.utt_rng(1, "10-100-0001").random(4))
    assert not np.array_equal(a, tts.utt_rng(1, "10-100-0002").random(4))
    assert not np.array_equal(a, tts.utt_rng(2, "10-100-0001").random(4))
    assert not np.array_equal(a, tts.utt_rng(1, "10-100-0001", "farfield").random(4))


@needs_tts
@pytest.mark.parametrize(
    "role, engine",
    [("train", "espeak"), ("train", "flite"), ("train", "festival"), ("test-other", "festival")],
)
def test_synthesize_deterministic_and_batch_independent(role, engine):
    spk = next(s for s in speakers.make_speakers(role, 9, 0) if s.engine == engine)
    items = [("1-10-0000", "THE CAT SAT ON THE MAT"), ("1-10-0001", "A DOG BARKED AT NIGHT"),
             ("1-10-0002", "SHE SELLS SEA SHELLS")]  # fmt: skip
    a = tts.synthesize(spk, items, seed=5)
    b = tts.synthesize(spk, items[1:2], seed=5)  # alone in its batch
    assert np.array_equal(a["1-10-0001"], b["1-10-0001"])
    for x in a.values():
        assert x.dtype == np.float32 and 0.8 * 16000 < len(x) < 6 * 16000
        assert 10 ** (-12.5 / 20) < np.abs(x).max() < 10 ** (-2.5 / 20)
    assert not np.array_equal(a["1-10-0000"][:1000], a["1-10-0001"][:1000])


# ----------------------------------------------------------------------------- far field


def test_fra_rir_shape_and_direct_path():
    rir, info = farfield.fra_rir(np.random.default_rng(7), t60_range=(0.5, 0.5),
                                 dist_range=(2.0, 2.0))  # fmt: skip
    assert info["t60"] == 0.5 and info["dist"] == 2.0
    assert rir.shape == (8000,)
    direct = int(np.ceil(2.0 * 16000 / farfield.SPEED_OF_SOUND))  # 95
    # early reflections can outweigh the direct path, but nothing arrives before it
    onset = int(np.flatnonzero(np.abs(rir) > 0.3 * np.abs(rir).max())[0])
    assert abs(onset - direct) <= 2
    assert np.abs(rir[: direct - 5]).max() < 0.05 * np.abs(rir).max()
    e = rir.astype(np.float64) ** 2
    assert e[:1600].sum() > 100 * e[-1600:].sum()  # decaying tail


def test_colored_noise_slope():
    rng = np.random.default_rng(0)
    for beta in (0.0, 1.0, 2.0):
        x = farfield.colored_noise(rng, 1 << 16, beta)
        assert abs(x.std() - 1.0) < 1e-6
        psd = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x))
        band = (f > 0.001) & (f < 0.4)
        slope = np.polyfit(np.log(f[band]), np.log(psd[band]), 1)[0]
        assert abs(slope + beta) < 0.1


def test_mix_at_snr_and_reverberate_rms():
    rng = np.random.default_rng(1)
    s, n = rng.standard_normal(16000), rng.standard_normal(16000) * 3
    y = farfield.mix_at_snr(s, n, 12.5)
    assert abs(10 * np.log10(np.mean(s**2) / np.mean((y - s) ** 2)) - 12.5) < 1e-9
    rir, _ = farfield.fra_rir(rng)
    r = farfield.reverberate(s, rir)
    assert len(r) == len(s)
    assert abs(np.sqrt(np.mean(r**2)) / np.sqrt(np.mean(s**2)) - 1) < 1e-9


@pytest.mark.parametrize("kind", ["babble", "pink", "brown"])
def test_far_field_level_and_snr(kind):
    rng = np.random.default_rng(3)
    t = np.arange(32000) / 16000
    x = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    bank = [rng.standard_normal(40000) * (i + 1) for i in range(6)]
    seed = 11
    y, info = farfield.far_field(x, np.random.default_rng(seed), babble_bank=bank,
                                 snr_range=(5.0, 15.0), noise_probs=((kind, 1.0),))  # fmt: skip
    assert info["noise"] == kind and 5.0 <= info["snr_db"] <= 15.0
    assert (len(info["talkers"]) >= 3) == (kind == "babble")
    # the speech component: the same RNG draws the same room first
    rir, room = farfield.fra_rir(np.random.default_rng(seed))
    assert room == {k: info[k] for k in ("t60", "dist", "c50_db")}
    speech = farfield.reverberate(x, rir)
    rms = lambda v: float(np.sqrt(np.mean(np.asarray(v, np.float64) ** 2)))  # noqa: E731
    assert abs(rms(speech) / rms(x) - 1) < 1e-6  # same RMS as the clean input
    noise = y / info["gain"] - speech
    snr = 10 * np.log10(rms(speech) ** 2 / rms(noise) ** 2)
    assert abs(snr - info["snr_db"]) < 0.05
    assert np.abs(y).max() <= 0.99 + 1e-6
    y2, info2 = farfield.far_field(x, np.random.default_rng(seed), babble_bank=bank,
                                   snr_range=(5.0, 15.0), noise_probs=((kind, 1.0),))  # fmt: skip
    assert np.array_equal(y, y2) and info == info2


def test_far_field_without_bank_never_babble():
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    kinds = {farfield.far_field(x, np.random.default_rng(i))[1]["noise"] for i in range(20)}
    assert kinds <= {"pink", "brown"} and len(kinds) == 2


# ----------------------------------------------------------------------------- generator

TINY = dict(num_train=12, num_dev=3, num_test=3, seed=7, max_vocab=2000, babble_talkers=3,
            babble_sentences=1, train_farfield_fraction=0.25, progress=False)  # fmt: skip
PARTS = {"train-clean-synth": 12, "dev-clean": 3, "test-clean": 3, "test-other": 3,
         "test-farfield": 3, "train-farfield": 3}  # fmt: skip
ID_RE = re.compile(r"^(\d+)-(\d+)-(\d{4})$")


@pytest.fixture(scope="module")
def tiny_corpora(tmp_path_factory):
    if ENGINES_MISSING:
        pytest.skip(f"speech engines missing: {ENGINES_MISSING}")
    from rnnt_kd.corpus.make_corpus import make_corpus

    a, b = tmp_path_factory.mktemp("corpus_a"), tmp_path_factory.mktemp("corpus_b")
    info_a = make_corpus(a, num_jobs=2, **TINY)
    info_b = make_corpus(b, num_jobs=1, **TINY)
    return a, b, info_a, info_b


def _transcripts(part_dir: Path) -> dict:
    out = {}
    for t in part_dir.rglob("*.trans.txt"):
        for line in t.read_text().splitlines():
            uid, txt = line.split(" ", 1)
            out[uid] = txt
    return out


def test_corpus_layout_and_transcripts(tiny_corpora):
    root, _, info, _ = tiny_corpora
    libri = root / "LibriSpeech"
    pools = {k: set(v) for k, v in text.split_pools(text.load_sentences(2000)).items()}
    trans = {}
    for part, n in PARTS.items():
        pdir = libri / part
        assert (pdir / ".done").is_file()
        flacs = sorted(pdir.rglob("*.flac"))
        trans[part] = _transcripts(pdir)
        assert len(flacs) == n and len(trans[part]) == n
        assert info["parts"][part]["utterances"] == n
        for f in flacs:
            spk, chapter, _ = ID_RE.match(f.stem).groups()
            assert f.parent == pdir / spk / chapter
            assert (f.parent / f"{spk}-{chapter}.trans.txt").is_file()
            meta = sf.info(f)
            assert meta.samplerate == 16000 and meta.channels == 1 and meta.format == "FLAC"
            assert 0.8 < meta.duration < 15.0
        assert set(trans[part]) == {f.stem for f in flacs}
        assert all(TRANSCRIPT_RE.fullmatch(t) for t in trans[part].values())
    assert set(trans["train-clean-synth"].values()) <= pools["train"]
    assert set(trans["dev-clean"].values()) <= pools["dev"]
    assert set(trans["test-clean"].values()) <= pools["test"]
    assert set(trans["test-other"].values()) <= pools["test"]
    assert set(trans["test-clean"].values()).isdisjoint(trans["test-other"].values())
    params = [json.loads(ln) for ln in (libri / "test-farfield/farfield_params.jsonl").open()]
    assert sorted(p["id"] for p in params) == sorted(trans["test-farfield"])
    for p in params:
        assert trans["test-farfield"][p["id"]] == trans["test-clean"][p["source_id"]]
        assert 10.0 <= p["snr_db"] <= 20.0 and 0.3 <= p["t60"] <= 0.8 and 1.0 <= p["dist"] <= 4.0
    train_ff = set(trans["train-farfield"].values())
    assert train_ff <= set(trans["train-clean-synth"].values())
    # test speakers never train; test-other voices never in training
    spk = {s["speaker_id"]: s for s in info["speakers"]}

    def ids(part):
        return {int(u.split("-")[0]) for u in trans[part]}

    assert ids("train-clean-synth").isdisjoint(ids("test-clean") | ids("dev-clean"))
    train_voices = {(spk[i]["engine"], spk[i]["variant"] or spk[i]["voice"])
                    for i in ids("train-clean-synth")}  # fmt: skip
    other_voices = {(spk[i]["engine"], spk[i]["variant"] or spk[i]["voice"])
                    for i in ids("test-other")}  # fmt: skip
    assert other_voices.isdisjoint(train_voices)
    assert {spk[i]["engine"] for i in ids("train-clean-synth")} == set(speakers.ENGINES)
    assert info["vocabulary_size"] <= 2000 and info["hours_total"] > 0


def test_farfield_audio_matches_params(tiny_corpora):
    libri = tiny_corpora[0] / "LibriSpeech"
    for line in (libri / "test-farfield/farfield_params.jsonl").open():
        p = json.loads(line)
        spk, ch, n = p["source_id"].split("-")
        x, _ = sf.read(libri / "test-clean" / spk / ch / f"{p['source_id']}.flac")
        spk, ch, n = p["id"].split("-")
        y, _ = sf.read(libri / "test-farfield" / spk / ch / f"{p['id']}.flac")
        assert len(x) == len(y)
        # reverberant speech has the clean RMS; noise adds 10^(-snr/10) of its power
        expect = np.sqrt(np.mean(x**2) * (1 + 10 ** (-p["snr_db"] / 10))) * p["gain"]
        assert abs(20 * np.log10(np.sqrt(np.mean(y**2)) / expect)) < 0.5


def test_corpus_deterministic(tiny_corpora):
    a, b, info_a, info_b = tiny_corpora
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        if rel.name != "corpus_info.json":
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    info_a = dict(info_a, generation_seconds=0, corpus_dir="")
    info_b = dict(info_b, generation_seconds=0, corpus_dir="")
    assert info_a == info_b


def test_corpus_resume_and_config_guard(tiny_corpora, tmp_path):
    from rnnt_kd.corpus.make_corpus import make_corpus

    src = tiny_corpora[1]
    root = tmp_path / "c"
    shutil.copytree(src, root)
    victim = next(iter(sorted((root / "LibriSpeech/train-clean-synth").rglob("*.flac"))))
    original = victim.read_bytes()
    other = sorted((root / "LibriSpeech/dev-clean").rglob("*.flac"))[0]
    other_mtime = other.stat().st_mtime_ns
    victim.unlink()
    (root / "LibriSpeech/train-clean-synth/.done").unlink()
    make_corpus(root, num_jobs=1, **TINY)
    assert victim.read_bytes() == original
    assert other.stat().st_mtime_ns == other_mtime  # finished part untouched
    with pytest.raises(ValueError, match="other settings"):
        make_corpus(root, num_jobs=1, **dict(TINY, num_train=13))


def test_lhotse_reads_parts(tiny_corpora, tmp_path):
    pytest.importorskip("lhotse")
    from lhotse.recipes import prepare_librispeech

    libri = tiny_corpora[0] / "LibriSpeech"
    manifests = prepare_librispeech(corpus_dir=libri, output_dir=tmp_path,
                                    dataset_parts=list(PARTS))  # fmt: skip
    assert set(manifests) == set(PARTS)
    for part, n in PARTS.items():
        recs, sups = manifests[part]["recordings"], manifests[part]["supervisions"]
        assert len(recs) == n and len(sups) == n
        trans = _transcripts(libri / part)
        for s in sups:
            assert s.text == trans[s.id] and s.speaker == s.id.split("-")[0]
            assert recs[s.recording_id].sampling_rate == 16000
    assert (tmp_path / "librispeech_supervisions_test-farfield.jsonl.gz").is_file()


def test_cli_help():
    out = subprocess.run(
        [sys.executable, "-m", "rnnt_kd.corpus.make_corpus", "--help"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert out.returncode == 0 and "--num-train" in out.stdout and "--farfield-snr" in out.stdout

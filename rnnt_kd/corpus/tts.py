"""Speech synthesis for the synthetic corpus: espeak-ng, flite and festival, 16 kHz float output.

Per utterance, an RNG keyed by ``(seed, utterance id)`` draws a small jitter of the speaker's rate
and pitch, leading/trailing silence, the level and a faint noise floor, so a given corpus is
byte-identical however it is parallelised or resumed.

Engines:

* espeak-ng: one process per utterance, ``-v <accent>+<variant> -s <wpm> -p <pitch> --stdout``
  (22.05 kHz); a generated variant (``Speaker.variant_file``) is read from a private copy of the
  data folder (``--path``).
* flite: one process per utterance, ``-o <file>``; rate via ``duration_stretch``, pitch via
  ``int_f0_target_mean`` (``rms`` ignores it).
* festival: one ``festival -b`` Scheme batch for many utterances (start-up costs ~0.4 s); HTS rate
  via the hts_engine ``-r`` option (its pitch cannot be set: HTS speakers vary by ``warp``), the
  ``ked_diphone`` rate via ``Duration_Stretch`` and pitch via ``int_lr_params``.

All audio is resampled to 16 kHz in float (``scipy.signal.resample_poly``); the speaker's ``warp``
is folded into the same resampling.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from rnnt_kd.corpus import espeak_voices
from rnnt_kd.corpus.speakers import Speaker, espeak_data_dir
from rnnt_kd.corpus.text import tts_text

SAMPLE_RATE = 16000
ENGINE_BINARIES = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival"}
ESPEAK_DEFAULT_WPM = 175
ESPEAK_DEFAULT_PITCH = 50
# default mean F0 (Hz) of the flite voices, measured; rms ignores int_f0_target_mean
FLITE_F0_MEAN = {"kal16": 95.0, "slt": 170.0, "awb": 130.0}
KED_F0_MEAN, KED_F0_STD = 105.0, 15.0

JITTER = 0.05  # per-utterance relative jitter of rate and pitch
SILENCE_S = (0.1, 0.5)  # leading / trailing silence
LEVEL_DBFS = (-12.0, -3.0)  # peak level
NOISE_FLOOR_DBFS = (-80.0, -65.0)  # RMS of the white noise floor


@dataclass(frozen=True)
class UttParams:
    """Per-utterance settings drawn from the utterance RNG (rate/pitch already jittered)."""

    rate: float
    pitch: float
    lead_s: float
    trail_s: float
    level_dbfs: float
    noise_dbfs: float


def utt_rng(seed: int, utt_id: str, tag: str = "tts") -> np.random.Generator:
    """Generator keyed by (seed, tag, utterance id): independent of order and process."""
    digest = hashlib.sha256(f"{seed}/{tag}/{utt_id}".encode()).digest()
    return np.random.default_rng(list(struct.unpack("<4I", digest[:16])))


def draw_params(speaker: Speaker, rng: np.random.Generator) -> UttParams:
    """Jitter the speaker's rate/pitch and draw silence, level and noise floor."""
    jit = rng.uniform(1 - JITTER, 1 + JITTER, size=2)
    return UttParams(
        rate=float(speaker.rate * jit[0]),
        pitch=float(speaker.pitch * jit[1]),
        lead_s=float(rng.uniform(*SILENCE_S)),
        trail_s=float(rng.uniform(*SILENCE_S)),
        level_dbfs=float(rng.uniform(*LEVEL_DBFS)),
        noise_dbfs=float(rng.uniform(*NOISE_FLOOR_DBFS)),
    )


def missing_engines(engines: Sequence[str] = tuple(ENGINE_BINARIES)) -> List[str]:
    """Engines whose binary is not on PATH."""
    return [e for e in engines if shutil.which(ENGINE_BINARIES[e]) is None]


def parse_wav(data: bytes) -> Tuple[np.ndarray, int]:
    """16-bit PCM WAV bytes -> (float32 samples in [-1, 1], sample rate).

    Tolerates the bogus sizes of streamed WAV headers (``espeak-ng --stdout``): the data chunk is
    read to the end of the bytes.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"not a WAV stream (starts with {data[:12]!r})")
    pos, sr = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"fmt ":
            fmt, channels, sr = struct.unpack("<HHI", data[pos + 8 : pos + 16])
            bits = struct.unpack("<H", data[pos + 22 : pos + 24])[0]
            if fmt != 1 or channels != 1 or bits != 16:
                raise ValueError(f"expected mono 16-bit PCM WAV, got fmt={fmt} ch={channels}")
        elif cid == b"data":
            if sr is None:
                raise ValueError("WAV data chunk before fmt chunk")
            pcm = data[pos + 8 :]
            pcm = pcm[: len(pcm) // 2 * 2]
            return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, sr
        pos += 8 + size + (size & 1)
    raise ValueError("WAV stream has no data chunk")


def _run(cmd: List[str], what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, check=True)
    except FileNotFoundError as e:
        raise RuntimeError(
            f"{cmd[0]} not found ({what}); install the corpus tools with "
            "local/install_corpus_tools.sh"
        ) from e
    except subprocess.CalledProcessError as e:
        err = e.stderr.decode(errors="replace")[-500:]
        raise RuntimeError(f"{cmd[0]} failed on {what}: {err}") from e


def _espeak(speaker: Speaker, text: str, p: UttParams, tmp: Path) -> Tuple[np.ndarray, int]:
    voice = f"{speaker.voice}+{speaker.variant}" if speaker.variant else speaker.voice
    wpm = int(round(ESPEAK_DEFAULT_WPM * p.rate))
    pitch = int(np.clip(round(ESPEAK_DEFAULT_PITCH * p.pitch), 0, 99))
    cmd = ["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "--stdout", text]
    if speaker.variant_file:  # a generated timbre: espeak-ng reads it from a private data folder
        root = tmp / "espeak"
        if not (root / "espeak-ng-data" / "voices" / "!v" / speaker.variant).is_file():
            espeak_voices.with_variants(
                root, espeak_data_dir(), {speaker.variant: speaker.variant_file}
            )
        cmd[1:1] = [f"--path={root}"]
    return parse_wav(_run(cmd, f"voice {voice}: {text!r}").stdout)


def _flite(speaker: Speaker, text: str, p: UttParams, tmp: Path) -> Tuple[np.ndarray, int]:
    out = tmp / "flite.wav"
    cmd = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={1.0 / p.rate:.4f}"]
    if speaker.voice in FLITE_F0_MEAN:
        f0 = FLITE_F0_MEAN[speaker.voice] * p.pitch
        cmd += ["--setf", f"int_f0_target_mean={f0:.2f}"]
    _run(cmd + ["-t", text, "-o", str(out)], f"voice {speaker.voice}: {text!r}")
    x, sr = sf.read(out, dtype="float32")
    return x, sr


def _festival_batch(
    speaker: Speaker, texts: Sequence[str], params: Sequence[UttParams], tmp: Path
) -> List[Tuple[np.ndarray, int]]:
    lines = [f"(voice_{speaker.voice})"]
    if speaker.voice.endswith("_hts"):
        lines.append(f"(set! rnntkd_hts_base {speaker.voice}::hts_engine_params)")
    for i, (text, p) in enumerate(zip(texts, params)):
        if speaker.voice.endswith("_hts"):
            lines.append(
                f'(set! hts_engine_params (append rnntkd_hts_base (list (list "-r" {p.rate:.4f}))))'
            )
        else:
            f0 = KED_F0_MEAN * p.pitch
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / p.rate:.4f})")
            lines.append(
                f"(set! int_lr_params '((target_f0_mean {f0:.2f}) (target_f0_std "
                f"{KED_F0_STD * p.pitch:.2f}) (model_f0_mean 170) (model_f0_std 34)))"
            )
        safe = text.replace("\\", " ").replace('"', " ")
        wav = tmp / f"fest{i:05d}.wav"
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{safe}")) "{wav}" \'riff)')
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n")
    _run(["festival", "-b", str(script)], f"voice {speaker.voice}, batch {script}")
    out = []
    for i in range(len(texts)):
        wav = tmp / f"fest{i:05d}.wav"
        if not wav.is_file():
            raise RuntimeError(f"festival wrote no audio for {texts[i]!r} (voice {speaker.voice})")
        x, sr = sf.read(wav, dtype="float32")
        out.append((x, sr))
    return out


def resample_ratio(sr_in: int, warp: float = 1.0) -> Tuple[int, int]:
    """(up, down) for resample_poly taking ``sr_in`` audio to 16 kHz with a ``warp``
    (> 1: higher formants and pitch, shorter audio)."""
    frac = Fraction(SAMPLE_RATE / (sr_in * warp)).limit_denominator(1000)
    return frac.numerator, frac.denominator


def trim(x: np.ndarray, rel_threshold: float = 0.02, margin: int = 160) -> np.ndarray:
    """Cut leading/trailing samples below ``rel_threshold`` x peak, keeping ``margin`` samples."""
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak == 0.0:
        return x
    idx = np.flatnonzero(np.abs(x) > rel_threshold * peak)
    return x[max(0, idx[0] - margin) : idx[-1] + 1 + margin]


def finish(
    x: np.ndarray, sr: int, warp: float, p: UttParams, rng: np.random.Generator
) -> np.ndarray:
    """Raw engine audio -> 16 kHz float32: warp + resample, trim, silence, level, noise floor."""
    x = np.asarray(x, dtype=np.float64)
    up, down = resample_ratio(sr, warp)
    if up != down:
        x = resample_poly(x, up, down)
    x = trim(x)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak == 0.0:
        raise RuntimeError("the TTS engine produced silent audio")
    x *= 10 ** (p.level_dbfs / 20) / peak
    lead, trail = int(p.lead_s * SAMPLE_RATE), int(p.trail_s * SAMPLE_RATE)
    x = np.concatenate([np.zeros(lead), x, np.zeros(trail)])
    x += rng.standard_normal(x.size) * 10 ** (p.noise_dbfs / 20)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def synthesize(
    speaker: Speaker, items: Sequence[Tuple[str, str]], seed: int
) -> Dict[str, np.ndarray]:
    """Synthesise ``items`` = [(utterance id, uppercase transcript)] with one speaker.

    Returns {utterance id: 16 kHz float32 audio (N,)}; identical for identical
    (speaker, transcript, seed, id), whatever the batching.
    """
    rngs = [utt_rng(seed, uid) for uid, _ in items]
    params = [draw_params(speaker, r) for r in rngs]
    texts = [tts_text(t) for _, t in items]
    with tempfile.TemporaryDirectory(prefix="rnnt_kd_tts_") as d:
        tmp = Path(d)
        if speaker.engine == "espeak":
            raw = [_espeak(speaker, t, p, tmp) for t, p in zip(texts, params)]
        elif speaker.engine == "flite":
            raw = [_flite(speaker, t, p, tmp) for t, p in zip(texts, params)]
        elif speaker.engine == "festival":
            raw = _festival_batch(speaker, texts, params, tmp)
        else:
            raise ValueError(f"unknown engine {speaker.engine!r}")
    return {
        uid: finish(x, sr, speaker.warp, p, rng)
        for (uid, _), (x, sr), p, rng in zip(items, raw, params, rngs)
    }


def write_flac(path: Path, x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write float audio as 16-bit FLAC, atomically (``.tmp`` + rename), deterministically."""
    path = Path(path)
    pcm = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767.0), -32768, 32767)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(tmp, pcm.astype(np.int16), sample_rate, format="FLAC", subtype="PCM_16")
    tmp.replace(path)

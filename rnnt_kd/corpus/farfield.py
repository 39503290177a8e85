"""Far-field simulation without torchaudio: random room responses (FRA-RIR) + noise at an SNR.

``fra_rir`` is a numpy port of FRA-RIR (Luo & Yu, "Fast Random Approximation of Multi-channel
Room Impulse Response", 2022), the maths of ``lhotse.augmentation.utils.FastRandomRIRGenerator``
(which needs torchaudio), with configurable T60 and source distance ranges (far field: >= 1 m)
and scipy for resampling and the 80 Hz high-pass. Everything is driven by a
``numpy.random.Generator``, so an RNG keyed by (seed, utterance id) gives the same room, noise and
SNR every time.

Conventions: the reverberant speech is rescaled to the RMS of the clean input (Lhotse's
``normalize_output``); noise is then added at the drawn SNR relative to that speech; if the sum
would clip, the whole mixture is scaled down (the SNR is unchanged, ``gain`` records it).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

SPEED_OF_SOUND = 340.0
NOISE_BETA = {"white": 0.0, "pink": 1.0, "brown": 2.0}
DEFAULT_NOISE_PROBS: Tuple[Tuple[str, float], ...] = (
    ("babble", 0.5),
    ("pink", 0.3),
    ("brown", 0.2),
)


def fra_rir(
    rng: np.random.Generator,
    sample_rate: int = 16000,
    t60_range: Tuple[float, float] = (0.3, 0.8),
    dist_range: Tuple[float, float] = (1.0, 4.0),
    oversample: int = 8,
    alpha: float = 0.25,
    a: float = -2.0,
    b: float = 2.0,
    tau: float = 0.2,
) -> Tuple[np.ndarray, Dict[str, float]]:
    """Random room impulse response.

    The direct path (distance d0 ~ U(dist_range)) and ``2 * sample_rate`` virtual sources are
    placed on a grid ``oversample`` times finer than the output rate, each with gain
    ``reflect_coef ** n_reflections / distance``; the response is then decimated and high-passed.

    Returns (rir float32 (ceil(t60 * sample_rate),), info) with info ``t60`` (s), ``dist`` (m,
    direct path) and ``c50_db`` (energy -6..+50 ms around the direct path over the rest).
    """
    fine_sr = sample_rate * oversample
    t60 = float(rng.uniform(*t60_range))
    room = float(rng.uniform(0.1, 1.2))
    d0 = float(rng.uniform(*dist_range))
    n_image = 2 * sample_rate
    eps = float(np.finfo(np.float16).eps)
    rir_len = int(np.ceil(fine_sr * t60))
    # Eyring's empirical reflection coefficient
    reflect_coef = np.sqrt(1.0 - (1.0 - np.exp(-0.16 * room / t60)) ** 2)
    # virtual-source distances as ratios of d0, drawn with a quadratic preference for far ones
    ratios = np.linspace(1.0, SPEED_OF_SOUND * t60 / d0 - 1.0, n_image)
    prob = np.linspace(alpha, 1.0, n_image) ** 2
    dist_ratio = ratios[rng.choice(n_image, size=n_image, p=prob / prob.sum())]
    dist = d0 * dist_ratio
    reflect_max = (np.log10(SPEED_OF_SOUND * t60) - np.log10(d0) - 3.0) / np.log10(
        reflect_coef + eps
    )
    n_reflect = (dist / (SPEED_OF_SOUND * t60)) ** 2 * (reflect_max - 1.0) + 1.0
    n_reflect = n_reflect + rng.uniform(a, b, size=n_image) * dist_ratio**tau
    n_reflect = np.maximum(n_reflect, 1.0)
    dist = np.concatenate([[d0], dist])
    n_reflect = np.concatenate([[0.0], n_reflect])
    idx = np.minimum(np.ceil(dist * fine_sr / SPEED_OF_SOUND), rir_len - 1).astype(np.int64)
    fine = np.zeros(rir_len)
    np.add.at(fine, idx, reflect_coef**n_reflect / dist)
    rir = resample_poly(fine, 1, oversample)
    rir = sosfilt(butter(2, 80.0, "highpass", fs=sample_rate, output="sos"), rir)
    direct = int(np.ceil(d0 * sample_rate / SPEED_OF_SOUND))
    lo, hi = max(0, direct - int(0.006 * sample_rate)), direct + int(0.05 * sample_rate)
    energy = rir**2
    early = float(energy[lo:hi].sum())
    c50 = 10.0 * np.log10(early / max(float(energy.sum()) - early, 1e-12))
    info = {"t60": round(t60, 3), "dist": round(d0, 2), "c50_db": round(float(c50), 1)}
    return rir.astype(np.float32), info


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve ``x`` (N,) with ``rir`` (L,), keep N samples, rescale to the RMS of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    y = fftconvolve(x, np.asarray(rir, dtype=np.float64))[: len(x)]
    return y * np.sqrt(np.mean(x**2) / max(float(np.mean(y**2)), 1e-20))


def colored_noise(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """Unit-variance Gaussian noise (n,) with a 1/f^beta power spectrum (0 white, 1 pink,
    2 brown)."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    x = np.fft.irfft(spec * f ** (-beta / 2.0), n)
    return x / (x.std() + 1e-12)


def babble(
    rng: np.random.Generator,
    bank: Sequence[np.ndarray],
    n: int,
    talkers_range: Tuple[int, int] = (3, 6),
) -> Tuple[np.ndarray, list]:
    """Unit-variance babble (n,): random segments of k distinct talkers of ``bank``, each
    normalised to unit variance, summed. Returns (noise, talker indices)."""
    k = int(rng.integers(talkers_range[0], talkers_range[1] + 1))
    chosen = rng.choice(len(bank), size=min(k, len(bank)), replace=False)
    out = np.zeros(n)
    for i in chosen:
        s = np.asarray(bank[i], dtype=np.float64)
        if len(s) <= n:
            s = np.tile(s, n // len(s) + 2)
        start = int(rng.integers(0, len(s) - n))
        seg = s[start : start + n]
        out += seg / (seg.std() + 1e-9)
    return out / (out.std() + 1e-9), [int(i) for i in chosen]


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech + g * noise`` with g such that 10 log10(P_speech / P_noise) = ``snr_db``."""
    p_s = float(np.mean(speech**2))
    p_n = max(float(np.mean(noise**2)), 1e-20)
    return speech + noise * np.sqrt(p_s / (p_n * 10 ** (snr_db / 10.0)))


def far_field(
    x: np.ndarray,
    rng: np.random.Generator,
    sample_rate: int = 16000,
    babble_bank: Optional[Sequence[np.ndarray]] = None,
    snr_range: Tuple[float, float] = (10.0, 20.0),
    t60_range: Tuple[float, float] = (0.3, 0.8),
    dist_range: Tuple[float, float] = (1.0, 4.0),
    noise_probs: Sequence[Tuple[str, float]] = DEFAULT_NOISE_PROBS,
    babble_talkers: Tuple[int, int] = (3, 6),
) -> Tuple[np.ndarray, dict]:
    """Clean speech ``x`` (N,) -> far-field version (N,) float32 and its parameters.

    Random room (``fra_rir``), reverberant speech at the clean RMS, then babble / pink / brown
    noise (probabilities ``noise_probs``; babble is skipped when no bank is given) at an SNR drawn
    uniformly from ``snr_range``. Params: t60, dist, c50_db, noise, snr_db, talkers (babble
    bank indices), gain (< 1 when the mixture was scaled down to avoid clipping).
    """
    rir, info = fra_rir(rng, sample_rate, t60_range, dist_range)
    speech = reverberate(x, rir)
    kinds = [k for k, _ in noise_probs]
    probs = np.array([p for _, p in noise_probs], dtype=np.float64)
    if not babble_bank and "babble" in kinds:
        probs[kinds.index("babble")] = 0.0
    kind = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
    talkers: list = []
    if kind == "babble":
        noise, talkers = babble(rng, babble_bank, len(speech), babble_talkers)
    else:
        noise = colored_noise(rng, len(speech), NOISE_BETA[kind])
    snr = float(rng.uniform(*snr_range))
    y = mix_at_snr(speech, noise, snr)
    peak = float(np.abs(y).max()) if y.size else 0.0
    gain = min(1.0, 0.99 / peak) if peak > 0 else 1.0
    info.update(noise=kind, snr_db=round(snr, 2), talkers=talkers, gain=round(gain, 4))
    return (y * gain).astype(np.float32), info

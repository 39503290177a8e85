"""The one filterbank definition: lhotse ``Fbank`` for training, kaldifeat for transcription.

Training features are lhotse's ``Fbank`` (its own torch port of Kaldi's ``compute-fbank-feats``:
no torchaudio needed, deterministic with dither 0, and the extractor icefall's recipes store).
Transcription of raw audio uses kaldifeat (Kaldi's C++ fbank in libtorch, what icefall's
``pretrained.py`` uses) with options set field by field to lhotse's ``FbankConfig`` below, so a
model sees the same features in both places (``tests/test_data.py`` checks the difference).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from lhotse import Fbank, FbankConfig

NUM_MEL_BINS = 80
SAMPLE_RATE = 16000
Pathlike = Union[str, Path]


def fbank_config(sample_rate: int = SAMPLE_RATE) -> FbankConfig:
    """80-dim log-mel fbank, 25 ms / 10 ms frames, dither 0 (deterministic), snip_edges False."""
    return FbankConfig(sampling_rate=sample_rate, num_mel_bins=NUM_MEL_BINS, dither=0.0)


def make_fbank(sample_rate: int = SAMPLE_RATE) -> Fbank:
    """The lhotse extractor used to compute training features."""
    return Fbank(fbank_config(sample_rate))


def _import_kaldifeat():
    try:
        import kaldifeat  # type: ignore
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(
            "kaldifeat is required to compute features from raw audio; install it with "
            "local/setup.sh (it builds kaldifeat against your torch) or `pip install kaldifeat`"
        ) from e
    return kaldifeat


def kaldifeat_options(sample_rate: int = SAMPLE_RATE, device: Union[str, torch.device] = "cpu"):
    """``kaldifeat.FbankOptions`` matching :func:`fbank_config` (imports kaldifeat)."""
    kaldifeat = _import_kaldifeat()
    cfg = fbank_config(sample_rate)
    opts = kaldifeat.FbankOptions()
    opts.device = torch.device(device)
    fo = opts.frame_opts
    fo.samp_freq = cfg.sampling_rate
    fo.frame_length_ms = cfg.frame_length * 1000.0
    fo.frame_shift_ms = cfg.frame_shift * 1000.0
    fo.dither = cfg.dither
    fo.preemph_coeff = cfg.preemph_coeff
    fo.remove_dc_offset = cfg.remove_dc_offset
    fo.window_type = cfg.window_type
    fo.round_to_power_of_two = cfg.round_to_power_of_two
    fo.snip_edges = cfg.snip_edges
    opts.mel_opts.num_bins = cfg.num_filters
    opts.mel_opts.low_freq = cfg.low_freq
    opts.mel_opts.high_freq = cfg.high_freq
    opts.use_energy = cfg.use_energy
    opts.raw_energy = cfg.raw_energy
    opts.energy_floor = cfg.energy_floor
    opts.use_log_fbank = True
    opts.use_power = not cfg.use_fft_mag
    return opts


def load_audio(path: Pathlike, sample_rate: int = SAMPLE_RATE) -> Tuple[torch.Tensor, int]:
    """``(samples (N,) float32 at sample_rate, number of channels in the file)``.

    Of a file with several channels the first is returned (what icefall's ``pretrained.py``
    does); other sample rates are resampled. Raises ValueError naming the file when it cannot be
    read or holds NaN / infinite samples (which would give NaN features and a garbage
    transcript)."""
    import soundfile as sf

    try:
        samples, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise ValueError(f"Cannot read audio file {path}: {e}") from e
    bad = int((~np.isfinite(samples)).sum())
    if bad:
        raise ValueError(f"{path}: {bad} samples are NaN or infinite")
    x = samples[:, 0]
    if sr != sample_rate and x.size:
        from scipy.signal import resample_poly

        logging.info(f"{path}: resampling {sr} Hz -> {sample_rate} Hz")
        g = math.gcd(sr, sample_rate)
        x = resample_poly(x, sample_rate // g, sr // g).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x)), samples.shape[1]


def channels_warning(multi: Sequence[Tuple[Pathlike, int]]) -> Optional[str]:
    """One warning for all the files ``[(path, channels)]`` with more than one channel."""
    if not multi:
        return None
    counts = "/".join(str(c) for c in sorted({c for _, c in multi}))
    have = "files have" if len(multi) > 1 else "file has"
    return (
        f"{len(multi)} {have} {counts} channels (first: {multi[0][0]}): using the first channel "
        "(channel 0) of each, as icefall's pretrained.py does; mix them down beforehand to use "
        "all channels"
    )


def match_sample_rate(recordings, sample_rate: int = SAMPLE_RATE, what: str = ""):
    """A lhotse RecordingSet whose recordings at another rate are resampled (lazily, by lhotse)
    to ``sample_rate``; logs how many, from which rates, and their ids. The fbank extractor
    asserts the rate it was made for: one 8 kHz file would stop a whole 16 kHz part."""
    from lhotse import RecordingSet

    other = [r for r in recordings if r.sampling_rate != sample_rate]
    if not other:
        return recordings
    rates = "/".join(str(r) for r in sorted({r.sampling_rate for r in other}))
    ids = ", ".join(r.id for r in other[:5]) + (" ..." if len(other) > 5 else "")
    logging.info(
        f"{what + ': ' if what else ''}resampled {len(other)} recordings from {rates} Hz to "
        f"{sample_rate} Hz: {ids}"
    )
    return RecordingSet.from_recordings(
        r.resample(sample_rate) if r.sampling_rate != sample_rate else r for r in recordings
    )


def wav_fbank_kaldifeat(
    wavs: Sequence[Union[Pathlike, torch.Tensor, np.ndarray]],
    sample_rate: int = SAMPLE_RATE,
    device: Union[str, torch.device] = "cpu",
) -> List[torch.Tensor]:
    """Fbank features of raw audio with kaldifeat, matching the training features.

    Args:
      wavs: audio file paths (first channel is used, with one warning for all files with more;
        other sample rates are resampled) or 1-D float waveforms in [-1, 1] at ``sample_rate``.
      sample_rate: the model's sample rate.
    Returns:
      One float32 tensor (T, 80) per input, T = round(num_samples / 160) at 16 kHz.
    """
    fbank = _import_kaldifeat().Fbank(kaldifeat_options(sample_rate, device))
    waves, multi = [], []
    for w in wavs:
        if isinstance(w, (str, Path)):
            path, (w, channels) = w, load_audio(w, sample_rate)
            if channels > 1:
                multi.append((path, channels))
        w = torch.as_tensor(w, dtype=torch.float32)
        if w.dim() != 1:
            raise ValueError(f"expected a 1-D waveform, got shape {tuple(w.shape)}")
        waves.append(w.to(device))
    if multi:
        logging.warning(channels_warning(multi))
    if not waves:
        return []
    return [f.float() for f in fbank(waves)]

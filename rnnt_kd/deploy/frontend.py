"""Does sherpa-onnx's own fbank front-end give the model what training gave it?

Training features are lhotse ``Fbank`` with ``rnnt_kd.data.features.fbank_config()``, computed
on samples in [-1, 1]. sherpa-onnx (2.x, ``offline-stream.cc``) computes an 80-dim fbank with
kaldi-native-fbank (knf) from its ``FeatureExtractorConfig`` (we pass ``sample_rate=16000``,
``feature_dim=80``, ``dither=0``; ``normalize_samples`` stays true: samples in [-1, 1], no
32768 scaling), setting: dither, snip_edges (false), samp_freq, frame_shift_ms (10),
frame_length_ms (25), remove_dc_offset (true), window_type (povey), num_bins, low_freq (20),
high_freq (-400), is_librosa (false: Kaldi's mel banks). knf's defaults give the rest:
preemph_coeff 0.97, round_to_power_of_two true, use_energy false, use_power true (power, not
magnitude), use_log_fbank true, log floor float epsilon (lhotse's too). Feature normalisation
(the training mean/std) is inside the exported encoder, so nothing else is needed.

:data:`SHERPA_ONNX_FBANK` lists those values under lhotse's ``FbankConfig`` field names;
:func:`frontend_mismatches` compares a config with it; :func:`sherpa_style_fbank` computes
features the way sherpa-onnx does (needs the ``kaldi-native-fbank`` package, the library
sherpa-onnx compiles in) so tests can compare numbers.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

# lhotse FbankConfig field -> the value sherpa-onnx's offline front-end uses
SHERPA_ONNX_FBANK: Dict[str, Any] = {
    "sampling_rate": 16000,
    "frame_length": 0.025,
    "frame_shift": 0.01,
    "round_to_power_of_two": True,
    "remove_dc_offset": True,
    "preemph_coeff": 0.97,
    "window_type": "povey",
    "dither": 0.0,
    "snip_edges": False,
    "use_energy": False,
    "use_fft_mag": False,
    "low_freq": 20.0,
    "high_freq": -400.0,
    "num_filters": 80,
    "norm_filters": False,
    "torchaudio_compatible_mel_scale": True,
}
# FbankConfig fields that do not change the features sherpa-onnx's models see
# (energy_floor and raw_energy act on the energy term only, which is off)
IGNORED_FIELDS = ("energy_floor", "raw_energy", "device", "num_mel_bins")


def frontend_mismatches(config: Optional[Any] = None) -> List[str]:
    """Fields of a lhotse ``FbankConfig`` (default: the training one) that differ from what
    sherpa-onnx computes, as ``"name: training X, sherpa-onnx Y"``; empty when they agree."""
    if config is None:
        from rnnt_kd.data.features import fbank_config

        config = fbank_config()
    out = []
    for name, want in SHERPA_ONNX_FBANK.items():
        have = getattr(config, name)
        same = abs(float(have) - float(want)) < 1e-9 if isinstance(want, float) else have == want
        if not same:
            out.append(f"{name}: training {have!r}, sherpa-onnx {want!r}")
    return out


def sherpa_style_fbank(samples: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """(T, 80) float32 log-mel fbank of samples in [-1, 1], computed by kaldi-native-fbank with
    the options sherpa-onnx's offline stream sets (its defaults for the rest)."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    fo = opts.frame_opts
    fo.dither = 0.0
    fo.snip_edges = False
    fo.samp_freq = sample_rate
    fo.frame_shift_ms = 10.0
    fo.frame_length_ms = 25.0
    fo.remove_dc_offset = True
    fo.window_type = "povey"
    opts.mel_opts.num_bins = 80
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = -400.0
    opts.mel_opts.is_librosa = False
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(sample_rate, np.asarray(samples, dtype=np.float32).tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)]).astype(np.float32)

"""Recognize audio with sherpa-onnx from a directory written by ``rnnt_kd.bin.export_onnx``.

No torch here: this is what ``transcribe --onnx-dir`` runs. sherpa-onnx computes its own 80-dim
fbank (kaldi-native-fbank, options in ``rnnt_kd.deploy.frontend``), runs the three ONNX files
with onnxruntime and searches (``greedy_search``: one symbol per frame at most;
``modified_beam_search`` with ``max_active_paths = beam``), as ``rnnt_kd.search`` does.

Example::

    rec = make_recognizer("exp/teacher/onnx", method="modified_beam_search", beam=4)
    texts = recognize(rec, [read_audio("a.wav")])
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

Pathlike = Union[str, Path]
METHODS = ("greedy_search", "modified_beam_search")
SAMPLE_RATE = 16000


def onnx_files(onnx_dir: Pathlike, int8: bool = False) -> Dict[str, Path]:
    """{"encoder", "decoder", "joiner", "tokens"} -> files of ``onnx_dir``.

    Raises FileNotFoundError naming the first missing file.
    """
    d = Path(onnx_dir)
    tag = ".int8" if int8 else ""
    files = {p: d / f"{p}{tag}.onnx" for p in ("encoder", "decoder", "joiner")}
    files["tokens"] = d / "tokens.txt"
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: export the model with python -m rnnt_kd.bin.export_onnx"
            )
    return files


def make_recognizer(
    onnx_dir: Pathlike,
    int8: bool = False,
    method: str = "greedy_search",
    beam: int = 4,
    num_threads: int = 1,
    hotwords_file: Optional[Pathlike] = None,
    hotwords_score: float = 1.5,
):
    """A ``sherpa_onnx.OfflineRecognizer`` on the exported files.

    Args:
      onnx_dir: output of ``export_onnx``; ``int8`` picks the ``*.int8.onnx`` files.
      method: ``greedy_search`` or ``modified_beam_search`` (``beam`` active paths).
      num_threads: onnxruntime threads.
      hotwords_file: words or phrases to boost, one per line (optionally `` :score``), encoded
        with the exported ``bpe.vocab``; modified beam search only.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    files = onnx_files(onnx_dir, int8)
    extra = {}
    if hotwords_file is not None:
        if method != "modified_beam_search":
            raise ValueError("hotwords need method modified_beam_search")
        vocab = Path(onnx_dir) / "bpe.vocab"
        for f in (Path(hotwords_file), vocab):
            if not f.is_file():
                raise FileNotFoundError(f"{f} not found")
        extra = dict(
            hotwords_file=str(hotwords_file),
            hotwords_score=hotwords_score,
            modeling_unit="bpe",
            bpe_vocab=str(vocab),
        )
    import sherpa_onnx

    return sherpa_onnx.OfflineRecognizer.from_transducer(
        encoder=str(files["encoder"]),
        decoder=str(files["decoder"]),
        joiner=str(files["joiner"]),
        tokens=str(files["tokens"]),
        num_threads=num_threads,
        sample_rate=SAMPLE_RATE,
        feature_dim=80,
        dither=0.0,
        decoding_method=method,
        max_active_paths=beam,
        **extra,
    )


def read_audio(path: Pathlike) -> Tuple[np.ndarray, int]:
    """(samples (N,) float32 in [-1, 1], first channel; sample rate) of an audio file.

    sherpa-onnx resamples other rates to 16 kHz itself. Raises ValueError naming the file.
    """
    import soundfile as sf

    try:
        samples, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise ValueError(f"cannot read audio file {path}: {e}") from e
    return np.ascontiguousarray(samples[:, 0]), int(sr)


def recognize(
    recognizer, waves: Sequence[Tuple[np.ndarray, int]], batch_size: int = 16
) -> List[str]:
    """Transcripts of (samples, sample_rate) pairs, decoded ``batch_size`` at a time.

    Each transcript is the tokens' text with the word-boundary marks made spaces, stripped.
    """
    texts: List[str] = []
    for start in range(0, len(waves), batch_size):
        streams = []
        for samples, sr in waves[start : start + batch_size]:
            s = recognizer.create_stream()
            s.accept_waveform(sr, np.asarray(samples, dtype=np.float32))
            streams.append(s)
        recognizer.decode_streams(streams)
        texts.extend(s.result.text.strip() for s in streams)
    return texts


def recognize_files(recognizer, paths: Sequence[Pathlike]) -> Dict[str, str]:
    """{path: transcript} for audio files."""
    return dict(zip(map(str, paths), recognize(recognizer, [read_audio(p) for p in paths])))

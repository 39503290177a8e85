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

Example::

    >>> prepare_manifests("download/LibriSpeech", "data/manifests", ["train", "dev"])
    >>> compute_fbank("data/manifests", "data/fbank", ["train"], speed_perturb=True)
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from lhotse import (
    CutSet,
    LilcomChunkyWriter,
    RecordingSet,
    SupervisionSet,
    fix_manifests,
    validate_recordings_and_supervisions,
)
from lhotse.cut import Cut
from lhotse.recipes.librispeech import parse_alignments, parse_utterance
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
        return parse_utterance(part_dir, line, alignments)
    except Exception as e:  # noqa: BLE001 - any reader failure means unreadable audio
        return utt_id, f"unreadable audio {audio}: {type(e).__name__}"


def prepare_manifests(
    corpus_dir: Pathlike,
    output_dir: Pathlike,
    dataset_parts: Sequence[str],
    prefix: str = "librispeech",
    num_jobs: int = 1,
) -> Dict[str, dict]:
    """Write ``<prefix>_recordings_<part>.jsonl.gz`` and ``<prefix>_supervisions_<part>.jsonl.gz``.

    Uses lhotse's LibriSpeech utterance parser (``lhotse.recipes.librispeech.parse_utterance``,
    alignments included when ``*.alignment.txt`` exist) per transcript line, rather than
    ``prepare_librispeech`` itself, which aborts a whole part on one empty transcript or
    unreadable file and hard-codes the ``librispeech`` file prefix. Parts whose two manifests
    exist are read back, not recomputed.

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
        recordings = RecordingSet.from_file(manifest_dir / f"{prefix}_recordings_{part}.jsonl.gz")
        recordings = match_sample_rate(recordings, what=part)  # e.g. one 8 kHz file
        supervisions = SupervisionSet.from_file(
            manifest_dir / f"{prefix}_supervisions_{part}.jsonl.gz"
        )
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

"""The teacher's band posteriors, computed once and shared by every distilled student.

A KD student that runs the frozen teacher at every step pays for a teacher forward pass per
batch per epoch: in the default recipe three KD students train 9 epochs in all, i.e. nine
teacher passes over the training data for numbers that never change (the teacher is frozen, in
eval mode, and the inputs are not augmented). What the y/blank KD term needs from the teacher is
small: its prune ranges (the band, shared with the student's pruned RNN-T loss) and its three
log-probs ``(log P_y, log P_blank, log P_rest)`` at the distillation temperature on that band,
i.e. ``T' x s_range x 3`` numbers per utterance (a few KB), not ``T' x U x V`` logits. So the
recipe computes them once (:func:`build_teacher_cache`, CLI ``rnnt_kd.bin.cache_teacher``) and
the students read them (``train --teacher-cache``): offline distillation, as icefall's
distillation recipes store teacher outputs before training the student.

The cached term equals the online one (``--distill-lattice pruned --distill-band teacher``) up
to float rounding: the teacher sees each utterance in a batch of other utterances than during
training, and padding changes the last bits. With SpecAugment on, the online teacher hears the
masked features and the cached one the clean features.

The cache is keyed by cut id: building one from cuts with a repeated id is refused
(:func:`check_unique_cut_ids`), since the later band would silently replace the earlier.

File layout (``torch.save``): ``{"meta": {...}, "cuts": {cut_id: (ranges, log_probs)}}`` with
``ranges`` (T'_b, s_range) int16 and ``log_probs`` (T'_b, s_range, 3) float32.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from rnnt_kd.kd import losses
from rnnt_kd.model.transducer import Transducer

log = logging.getLogger(__name__)
Pathlike = Union[str, Path]
FORMAT_VERSION = 1
# keys of the metadata that must match the student's settings for the cache to be valid
MATCHED_KEYS = ("teacher_sha256", "temperature", "prune_range", "am_scale", "lm_scale")


def file_sha256(path: Pathlike) -> str:
    """Hex SHA-256 of a file (the teacher checkpoint's identity in the cache)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def duplicate_cut_ids(cut_ids: Iterable[str]) -> List[str]:
    """The ids that occur more than once in ``cut_ids``, each once, in order of first repeat."""
    seen, dups = set(), {}
    for cid in cut_ids:
        if cid in seen:
            dups[cid] = None
        seen.add(cid)
    return list(dups)


def check_unique_cut_ids(cut_ids: Iterable[str], where: str = "the training cuts") -> None:
    """Raise ValueError naming the duplicated ids (a cache holds one band per cut id: a later
    cut with the same id would silently replace an earlier one's band)."""
    dups = duplicate_cut_ids(cut_ids)
    if dups:
        shown = ", ".join(repr(c) for c in dups[:5]) + (" ..." if len(dups) > 5 else "")
        raise ValueError(
            f"{len(dups)} duplicate cut id(s) in {where}: {shown}; a teacher cache holds one "
            "band per cut id, so each cut needs a unique id (was a manifest given twice?)"
        )


@torch.no_grad()
def teacher_band(
    teacher: Transducer,
    features: Tensor,
    feature_lens: Tensor,
    targets: Tensor,
    target_lens: Tensor,
    prune_range: int,
    am_scale: float,
    lm_scale: float,
    temperature: float,
) -> Tuple[Tensor, Tensor, Tensor]:
    """The teacher's band for one batch.

    features (B, T, F), feature_lens (B,), targets (B, U) padded with blank, target_lens (B,).
    Returns ``ranges`` (B, T', s_range) int64, ``log_probs`` (B, T', s_range, 3) float32 and
    ``encoder_out_lens`` (B,) int64.
    """
    out = teacher(
        features,
        feature_lens,
        targets,
        target_lens,
        prune_range=prune_range,
        am_scale=am_scale,
        lm_scale=lm_scale,
    )
    log_probs = losses.band_ybr_log_probs_from_logits(
        out.logits, targets, out.ranges, out.boundary, teacher.blank_id, temperature
    )
    return out.ranges, torch.stack(log_probs, dim=-1).float(), out.encoder_out_lens


def build_teacher_cache(
    teacher: Transducer,
    batches: Iterable[Tuple[Tensor, Tensor, Tensor, Tensor, Sequence[str]]],
    meta: Dict[str, Any],
    progress: Optional[Any] = None,
) -> Dict[str, Any]:
    """Run the teacher over ``batches`` of ``(features, feature_lens, targets, target_lens,
    cut_ids)`` and return the cache dict (``meta`` must hold the :data:`MATCHED_KEYS`).

    ``progress``: an object with ``update(n)`` (a tqdm bar), called with each batch size.
    Raises ValueError naming them when a cut id comes twice (in one batch or across batches),
    before the teacher runs on that batch.
    """
    missing = [k for k in MATCHED_KEYS if k not in meta]
    if missing:
        raise ValueError(f"cache metadata lacks {missing}")
    teacher.eval()
    cuts: Dict[str, Tuple[Tensor, Tensor]] = {}
    for feats, feat_lens, targets, target_lens, cut_ids in batches:
        check_unique_cut_ids([*(c for c in cut_ids if c in cuts), *cut_ids], "the batches")
        ranges, log_probs, lens = teacher_band(
            teacher,
            feats,
            feat_lens,
            targets,
            target_lens,
            meta["prune_range"],
            meta["am_scale"],
            meta["lm_scale"],
            meta["temperature"],
        )
        for b, cid in enumerate(cut_ids):
            n = int(lens[b])
            cuts[cid] = (ranges[b, :n].to(torch.int16).cpu(), log_probs[b, :n].cpu().clone())
        if progress is not None:
            progress.update(len(cut_ids))
    return {"meta": {**meta, "format": FORMAT_VERSION, "num_cuts": len(cuts)}, "cuts": cuts}


@dataclass
class TeacherBand:
    """One batch's cached teacher band: ``ranges`` (B, T', s) int64, ``log_probs``
    (B, T', s, 3), ``lens`` (B,) int64 (the teacher's encoder output lengths)."""

    ranges: Tensor
    log_probs: Tensor
    lens: Tensor


class TeacherCache:
    """A cache file from :func:`build_teacher_cache`, checked against the student's settings.

    Args:
      path: the cache file.
      expected: values of :data:`MATCHED_KEYS` the student uses (missing keys are not checked).
    Raises ValueError when the file is not a cache or was made for other settings (e.g. another
    teacher checkpoint or temperature): the message names the key and both values.
    """

    def __init__(self, path: Pathlike, expected: Optional[Dict[str, Any]] = None):
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise ValueError(
                f"{path} holds pickled Python objects, not only tensors and plain values: not a "
                "teacher cache rnnt-kd wrote; refusing to unpickle it (it could run code)"
            ) from None
        if not isinstance(data, dict) or "meta" not in data or "cuts" not in data:
            raise ValueError(f"{path}: not a teacher cache (rnnt_kd.bin.cache_teacher)")
        self.path = Path(path)
        self.meta: Dict[str, Any] = data["meta"]
        self.cuts: Dict[str, Tuple[Tensor, Tensor]] = data["cuts"]
        for key, want in (expected or {}).items():
            have = self.meta.get(key)
            same = (
                math.isclose(float(have), float(want))
                if isinstance(want, float) and have is not None
                else have == want
            )
            if not same:
                raise ValueError(
                    f"{path}: made with {key}={have!r}, this run uses {want!r}; rebuild it "
                    "(python -m rnnt_kd.bin.cache_teacher) or drop --teacher-cache"
                )

    def __len__(self) -> int:
        return len(self.cuts)

    def batch(
        self,
        cut_ids: Sequence[str],
        target_lens: Tensor,
        max_u: int,
        device: Union[str, torch.device] = "cpu",
    ) -> TeacherBand:
        """The band of ``cut_ids`` (one batch, in batch order), padded to the longest.

        ``target_lens`` (B,) and ``max_u`` (the padded target width) give the band width the
        online teacher would use on this batch (``Transducer.effective_s_range``). A cached row
        of another width belongs to an utterance whose whole lattice (``u = 0..U_b``) fits in
        both widths (the width only changes with ``min(prune_range, max U + 1)``): it becomes
        ``u = 0..s-1`` with the slots past ``U_b`` (masked out of every loss) padded.
        Padded frames repeat each utterance's last band row and hold log-probs log(1/3)
        (masked out too). Raises ValueError naming the first cut the cache does not hold.
        """
        rows = []
        for cid in cut_ids:
            if cid not in self.cuts:
                raise ValueError(
                    f"teacher cache {self.path} has no entry for cut {cid!r}: it was built from "
                    "other training cuts; rebuild it from this run's --train-cuts"
                )
            rows.append(self.cuts[cid])
        lens = torch.tensor([r[0].shape[0] for r in rows], dtype=torch.int64)
        target_lens = target_lens.to("cpu", torch.int64)
        s = Transducer.effective_s_range(
            int(self.meta["prune_range"]), target_lens, lens, int(max_u)
        )
        T = int(lens.max())
        ranges = torch.empty(len(rows), T, s, dtype=torch.int64)
        log_probs = torch.full((len(rows), T, s, 3), -math.log(3.0))
        for b, (r, lp) in enumerate(rows):
            n, width = r.shape
            r = r.to(torch.int64)
            if width != s:
                if bool(r[:, 0].any()) or int(target_lens[b]) + 1 > min(width, s):
                    raise ValueError(
                        f"teacher cache {self.path}: cut {cut_ids[b]!r} has a band of width "
                        f"{width} that does not cover its lattice; this batch needs width {s}"
                    )
                k = min(width, s)
                r = torch.arange(s).expand(n, s)
                lp = torch.cat([lp[:, :k], log_probs.new_full((n, s - k, 3), -math.log(3.0))], 1)
            ranges[b, :n] = r
            ranges[b, n:] = r[-1]
            log_probs[b, :n] = lp
        return TeacherBand(ranges.to(device), log_probs.to(device), lens.to(device))

"""Different inputs for the teacher: the clean original of a multi-condition training copy.

Multi-condition training copies clean utterances through rooms and noise (``train-farfield``).
Distilling from a teacher that hears the *noisy* copy passes on its errors there; a teacher that
hears the clean original of the same utterance (same length, sample-aligned) gives the student
the posteriors of clean speech for noisy input: the "clean teacher, noisy student" set-up of
teacher-student learning for robust ASR (Li et al., Interspeech 2014; Watanabe et al. 2017).

:func:`parallel_source_cuts` builds a CutSet of the clean sources renamed to the copies' ids;
:class:`TeacherInputs` swaps their features into a batch for the teacher. Cuts without a clean
source keep their own features.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, Iterable, Mapping, Sequence, Union

import torch
from lhotse import CutSet
from lhotse.utils import fastcopy

Pathlike = Union[str, Path]


def read_source_map(params_file: Pathlike) -> Dict[str, str]:
    """``{copy id: source id}`` from a JSON-lines file with ``id`` and ``source_id`` fields
    (synthlibri's ``farfield_params.jsonl``)."""
    out = {}
    for n, line in enumerate(Path(params_file).read_text().splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if "id" not in rec or "source_id" not in rec:
            raise ValueError(f"{params_file}:{n}: needs 'id' and 'source_id' fields")
        out[rec["id"]] = rec["source_id"]
    return out


def _source_id(copy_id: str, source_of: Mapping[str, str]) -> str:
    """The source id of a copy; a speed-perturbed copy (lhotse's ``<id>_sp<factor>``) maps to
    the source perturbed by the same factor."""
    if copy_id in source_of:
        return source_of[copy_id]
    m = re.fullmatch(r"(.+)(_sp[0-9.]+)", copy_id)
    if m and m.group(1) in source_of:
        return source_of[m.group(1)] + m.group(2)
    return ""


def parallel_source_cuts(copies: Iterable, sources: CutSet, source_of: Mapping[str, str]) -> CutSet:
    """For every copy cut with a source in ``sources``, that source cut under the copy's id.

    ``source_of`` maps copy ids to source ids; speed-perturbed copies (``<id>_sp0.9``) map to
    the same perturbation of the source. Raises ValueError when a source's feature frames differ
    from its copy's (not aligned). Copies whose source is missing (e.g. dropped as a bad cut)
    are left out.
    """
    by_id = {c.id: c for c in sources}
    out = []
    for copy in copies:
        src = by_id.get(_source_id(copy.id, source_of))
        if src is None:
            continue
        if src.num_frames != copy.num_frames:
            raise ValueError(
                f"{copy.id}: {copy.num_frames} feature frames, its source {src.id} "
                f"{src.num_frames}: the copy is not sample-aligned with its source"
            )
        out.append(fastcopy(src, id=copy.id))
    return CutSet.from_cuts(out)


class TeacherInputs:
    """Features the teacher sees instead of the student's, for the cuts listed in ``cuts``.

    Args:
      cuts: a CutSet (or its file) whose cut ids are student cut ids (``parallel_source_cuts``).
    """

    def __init__(self, cuts: Union[CutSet, Pathlike]):
        if not isinstance(cuts, CutSet):
            cuts = CutSet.from_file(cuts)
        self.cuts = {c.id: c for c in cuts}

    def __len__(self) -> int:
        return len(self.cuts)

    def features(
        self, features: torch.Tensor, feature_lens: torch.Tensor, cut_ids: Sequence[str]
    ) -> torch.Tensor:
        """(B, T, F) student features -> (B, T, F) teacher features: row b replaced by the
        listed cut's features when ``cut_ids[b]`` is listed (lengths must match exactly)."""
        rows = [(b, cid) for b, cid in enumerate(cut_ids) if cid in self.cuts]
        if not rows:
            return features
        out = features.clone()
        for b, cid in rows:
            f = torch.from_numpy(self.cuts[cid].load_features())
            n = int(feature_lens[b])
            if f.size(0) != n or f.size(1) != features.size(2):
                raise ValueError(
                    f"teacher input for {cid}: {tuple(f.shape)} features, the student's "
                    f"({n}, {features.size(2)})"
                )
            out[b, :n] = f.to(out.device, out.dtype)
        return out

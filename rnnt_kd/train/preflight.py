"""Start-up checks of a training run: every input is found before the first step or checkpoint.

A problem found here stops the run with one line (``train: error: ...``) before anything is
written; found mid-epoch it would cost the time trained so far and leave checkpoints of a run that
cannot finish. Checked: cuts are left after filtering, every feature file of the training,
validation and teacher-input cuts exists (``rnnt_kd.data.checks``), and a ``--teacher-cache``
holds every training cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

from rnnt_kd.data.checks import check_feature_files
from rnnt_kd.errors import UserError

SHOWN = 3  # cut ids named in a message


class TeacherCacheIncomplete(UserError):
    """The ``--teacher-cache`` lacks some training cuts."""


def check_cuts_left(cuts, what: str, bad_ids_path: Optional[Path]) -> None:
    """Raise :class:`UserError` when filtering left no cut in ``cuts``."""
    if not any(True for _ in cuts):
        where = f" (ids and reasons in {bad_ids_path})" if bad_ids_path else ""
        raise UserError(
            f"no {what} cuts left after filtering{where}; check --min-utt-duration, "
            "--max-utt-duration and the BPE model"
        )


def check_teacher_cache(cache: Any, cuts: Iterable) -> None:
    """Raise :class:`TeacherCacheIncomplete` naming how many (and a few) training cuts the
    cache (a ``rnnt_kd.kd.cache.TeacherCache``) lacks."""
    ids = [c.id for c in cuts]
    missing = [i for i in ids if i not in cache.cuts]
    if missing:
        shown = ", ".join(missing[:SHOWN]) + (" ..." if len(missing) > SHOWN else "")
        raise TeacherCacheIncomplete(
            f"teacher cache {cache.path} lacks {len(missing)} of {len(ids)} training cuts (e.g. "
            f"{shown}): it was built from other training cuts or filter settings; rebuild it "
            "(python -m rnnt_kd.bin.cache_teacher) with this run's --train-cuts, "
            "--min-utt-duration and --max-utt-duration"
        )


def check_training_inputs(
    train_cuts, valid_cuts, bad_ids_path: Optional[Path] = None, teacher: Any = None
) -> None:
    """All start-up checks of a run: its filtered training and validation cuts, the file their
    filtering listed bad ids in, and its teacher (a ``rnnt_kd.kd.teacher.OnlineTeacher`` or
    None; one with a ``cache`` or other ``inputs`` has those checked too)."""
    check_cuts_left(train_cuts, "training", bad_ids_path)
    check_cuts_left(valid_cuts, "validation", bad_ids_path)
    inputs = getattr(teacher, "inputs", None)
    extra = [list(inputs.cuts.values())] if inputs is not None else []
    check_feature_files(train_cuts, valid_cuts, *extra)
    cache = getattr(teacher, "cache", None)
    if cache is not None:
        check_teacher_cache(cache, train_cuts)

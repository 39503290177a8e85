"""decode's result files: never replaced without the user asking, merged per suffix.

For test set NAME and SUFFIX, decode writes ``recogs-NAME-SUFFIX.txt``, ``errs-NAME-SUFFIX.txt``,
``wer-summary-NAME-SUFFIX.txt`` (and ``bad_cuts-NAME-SUFFIX.txt`` when some cuts could not be
read); ``wers-SUFFIX.json`` holds every test set decoded under SUFFIX. A decode that would
replace the files of an earlier one stops at start-up (:func:`check_not_replacing`) unless given
``--overwrite``; another ``--suffix`` writes beside them. Decoding another test set under the
same suffix adds it to ``wers-SUFFIX.json`` (:func:`merge_wers`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

from rnnt_kd.errors import UserError

MERGED_KEYS = ("wer", "rtf", "num_cuts", "skipped")  # per-test-set dicts of wers-SUFFIX.json


class ResultsExist(UserError):
    """An earlier decode's results would be replaced."""


def result_files(res_dir: Path, name: str, suffix: str) -> List[Path]:
    """The files decoding test set ``name`` writes (bad-cuts list aside)."""
    return [res_dir / f"{kind}-{name}-{suffix}.txt" for kind in ("recogs", "errs", "wer-summary")]


def bad_cuts_file(res_dir: Path, name: str, suffix: str) -> Path:
    """``<id>\\t<reason>`` of the cuts of ``name`` that could not be read."""
    return res_dir / f"bad_cuts-{name}-{suffix}.txt"


def check_not_replacing(res_dir: Path, names: Sequence[str], suffix: str, overwrite: bool) -> None:
    """Raise :class:`ResultsExist` naming the first result file of ``names`` under ``suffix``
    that exists, unless ``overwrite``."""
    if overwrite:
        return
    for name in names:
        for path in result_files(res_dir, name, suffix):
            if path.exists():
                raise ResultsExist(
                    f"{path} exists (an earlier decode); pass --overwrite to replace its "
                    "results, or --suffix NAME to write beside them"
                )


def merge_wers(path: Path, new: Dict[str, Any]) -> Dict[str, Any]:
    """``new`` (one decode's ``wers-SUFFIX.json`` content) merged into the file at ``path``:
    per-test-set entries of other test sets are kept, this decode's replace theirs."""
    old: Dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
    out = {**old, **{k: v for k, v in new.items() if k not in MERGED_KEYS}}
    for key in MERGED_KEYS:
        merged = dict(old.get(key) or {}) if isinstance(old.get(key), dict) else {}
        merged.update(new.get(key) or {})
        out[key] = merged
    return out

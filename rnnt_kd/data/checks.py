"""Start-up checks on cut sets: every feature file they point to exists.

Cut manifests store the paths of their feature files as ``prepare_data fbank`` was given them,
usually relative to the recipe directory (``data/fbank/x_feats_train.lca``). Run from another
directory, every cut is unreadable; the dataloaders would skip them one by one (training on
nothing, decoding nothing and writing ``WER 0.00%``). :func:`check_feature_files` finds that
before anything runs and names the missing files.

Example::

    >>> check_feature_files(train_cuts, valid_cuts)   # raises MissingFeatures, or returns
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional

from rnnt_kd.errors import UserError

SHOWN = 5  # missing files named in the message


class MissingFeatures(UserError):
    """Cuts point to feature files that do not exist (or have no features at all)."""


def _features_of(cut) -> Iterator[Optional[object]]:
    """The ``Features`` manifests a cut reads (None: a cut without features)."""
    if hasattr(cut, "tracks"):  # MixedCut
        for track in cut.tracks:
            yield from _features_of(track.cut)
    elif type(cut).__name__ != "PaddingCut":
        yield getattr(cut, "features", None)


def feature_file(features) -> Optional[Path]:
    """The file a lhotse ``Features`` manifest is read from (None for in-memory features)."""
    storage = features.storage_type
    if storage.startswith("memory") or storage == "shar":
        return None
    path = Path(features.storage_path)
    if storage in ("lilcom_files", "numpy_files"):  # a directory with one file per cut
        path = path / features.storage_key
    return path


def missing_feature_files(*cut_sets: Iterable) -> Dict[str, object]:
    """``{"missing": [paths], "files": number of distinct files, "no_features": [cut ids]}``."""
    files: Dict[Path, bool] = {}
    no_features: List[str] = []
    for cuts in cut_sets:
        for cut in cuts:
            for f in _features_of(cut):
                if f is None:
                    no_features.append(cut.id)
                    continue
                path = feature_file(f)
                if path is not None and path not in files:
                    files[path] = path.is_file()
    missing = [str(p) for p, ok in files.items() if not ok]
    return {"missing": missing, "files": len(files), "no_features": no_features}


def check_feature_files(*cut_sets: Iterable, what: str = "features") -> None:
    """Raise :class:`MissingFeatures` (one line naming the files) unless every feature file of
    ``cut_sets`` exists and every cut has features. ``what`` starts the message."""
    found = missing_feature_files(*cut_sets)
    missing, no_features = found["missing"], found["no_features"]
    if no_features:
        raise MissingFeatures(
            f"{what}: {len(no_features)} cuts have no precomputed features (e.g. "
            f"{', '.join(no_features[:3])}); compute them with prepare_data fbank"
        )
    if not missing:
        return
    shown = ", ".join(missing[:SHOWN]) + (" ..." if len(missing) > SHOWN else "")
    is_are = "is" if len(missing) == 1 else "are"
    hint = ""
    if any(not Path(p).is_absolute() for p in missing):
        hint = (
            f" (relative paths are read relative to the current directory {os.getcwd()}: run "
            "from the directory the cuts were made in, e.g. the recipe's)"
        )
    raise MissingFeatures(
        f"{what} not found: {len(missing)} of {found['files']} feature files {is_are} missing: "
        f"{shown}{hint}"
    )

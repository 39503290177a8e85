"""A recipe's experiment matrix (``egs/<corpus>/ASR/conf/experiments.txt``) and its trained runs.

The matrix is a plain text table, one trained model per line, fields separated by ``|``::

    # name    | group      | baseline | kd  | seeds | train options (expanded by the recipe)
    teacher   | dense      |          | no  |       | $teacher_model --num-epochs 10
    pruned    | sparse 80% |          | no  | 42 43 | $(prune 0.8 4)
    pruned_kd | sparse 80% | pruned   | yes | 42 43 | $(prune 0.8 4)

``baseline`` names the same model trained without KD (a KD row's relative change is measured
against it); ``seeds`` lists training seeds (empty: the recipe's ``$seed``). The recipe template
(``shared/asr_template.sh``) trains the first seed into ``<exp-root>/<name>`` and every other
seed ``S`` into ``<exp-root>/<name>_seed<S>``. Only the shell expands the options column; this
module reads the other fields, and each run's settings from the ``train_config.json`` that
``rnnt_kd.bin.train`` writes (never from its command line).

    >>> rows = read_experiments("conf/experiments.txt")  # the table above
    >>> [(r.name, r.baseline, r.kd) for r in rows][1:]
    [('pruned', None, False), ('pruned_kd', 'pruned', True)]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

Pathlike = Union[str, Path]


@dataclass(frozen=True)
class Experiment:
    """One row of the matrix: ``kd`` says whether the template adds the distillation options."""

    name: str
    group: str
    baseline: Optional[str]
    kd: bool
    seeds: str  # as written (may name shell variables); runs are found on disk
    options: str


def read_experiments(path: Pathlike) -> List[Experiment]:
    """The rows of an experiment matrix, in file order; raises ValueError naming the line of a
    malformed row (fewer than 6 fields, ``kd`` not yes/no, a repeated name, a baseline that is
    not a row)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such experiment matrix: {path}")
    rows: List[Experiment] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split("|", 5)]
        if len(fields) < 6:
            raise ValueError(f"{path}:{n}: need 6 '|'-separated fields, got {len(fields)}")
        name, group, baseline, kd, seeds, options = fields
        if kd not in ("yes", "no"):
            raise ValueError(f"{path}:{n}: kd must be yes or no, got {kd!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or any(r.name == name for r in rows):
            raise ValueError(f"{path}:{n}: bad or repeated experiment name {name!r}")
        rows.append(Experiment(name, group, baseline or None, kd == "yes", seeds, options))
    names = {r.name for r in rows}
    for r in rows:
        if r.baseline and r.baseline not in names:
            raise ValueError(f"{path}: baseline {r.baseline!r} of {r.name} is not an experiment")
    return rows


def train_config(exp_dir: Pathlike) -> Optional[Dict[str, Any]]:
    """The run's resolved settings, all sections merged (``rnnt_kd.settings.flat_train_config``),
    or None when the directory has no ``train_config.json``."""
    from rnnt_kd.settings import flat_train_config

    if not (Path(exp_dir) / "train_config.json").is_file():
        return None
    return flat_train_config(exp_dir)


def seed_runs(exp_root: Pathlike, name: str) -> Dict[int, Path]:
    """``{seed: run directory}`` of an experiment: ``<exp_root>/<name>`` (first seed) and
    ``<exp_root>/<name>_seed<S>``, those that exist, first seed first. The seed is the run's
    own (``train_config.json``), else the directory's suffix (-1 for the first directory)."""
    exp_root = Path(exp_root)
    found = [(-1, exp_root / name)]
    for d in exp_root.glob(f"{name}_seed*"):
        m = re.fullmatch(rf"{re.escape(name)}_seed(\d+)", d.name)
        if m:
            found.append((int(m.group(1)), d))
    out: Dict[int, Path] = {}
    for suffix_seed, d in [found[0]] + sorted(found[1:]):
        if d.is_dir():
            cfg = train_config(d) or {}
            out.setdefault(int(cfg.get("seed", suffix_seed)), d)
    return out


def final_epoch(exp_dir: Pathlike) -> Optional[int]:
    """The run's last epoch (``num_epochs``) when its checkpoint exists, else None."""
    cfg = train_config(exp_dir)
    if cfg is None:
        return None
    epochs = int(cfg["num_epochs"])
    return epochs if (Path(exp_dir) / f"epoch-{epochs}.pt").is_file() else None


def epochs_to_average(cfg: Dict[str, Any], max_avg: int) -> int:
    """How many final epoch checkpoints to average: at most ``max_avg``, and for a pruned run
    only those saved after pruning ended (``prune_end_fraction`` of the run), e.g. 2 of 4
    epochs pruned over the first 2/3, 1 of 2.

    >>> pruned = {"num_epochs": 4, "target_sparsity": 0.9, "prune_end_fraction": 2 / 3}
    >>> epochs_to_average(pruned, 5)
    2
    >>> epochs_to_average({"num_epochs": 14, "target_sparsity": 0.0}, 2)
    2
    """
    epochs = int(cfg["num_epochs"])
    after = epochs
    if float(cfg.get("target_sparsity") or 0) > 0:
        end = cfg.get("prune_end_fraction")
        if end is not None:
            after = epochs - math.floor(epochs * float(end) + 1e-9)  # as the trainer rounds
        else:  # pruning ended at an absolute step: only the last epoch is surely after it
            after = 1
    return max(1, min(after, max_avg, epochs))

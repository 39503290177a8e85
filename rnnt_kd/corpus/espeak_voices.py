"""New espeak-ng voice timbres: variant files crossed from two stock variants.

espeak-ng ships ~100 variant files (formant frequencies/heights/widths, pitch range, voicing,
breath, Klatt synthesiser settings, ...). Held-out variant files are new *timbres* to a model
trained on the others, and rate/pitch/warp settings of the training files do not cover them
(NOTES.md). A *mixed* variant makes a new timbre from two training variants: every setting comes
from one of the two parents at random (an absent setting keeps the engine default), and the
numbers of the formant and pitch lines are interpolated between the parents with a per-voice
weight, then the formant frequencies are scaled by a per-voice factor with a small per-formant
jitter. Only training variant files are ever parents, so held-out files stay unseen.

espeak-ng reads variants only from ``<path>/espeak-ng-data/voices/!v``; ``with_variants`` builds
such a folder (symbolic links to the system data, plus the generated files) for ``--path``.
No library offers this: it is a few lines of text processing over espeak-ng's voice format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Sequence

import numpy as np

# lines that name or describe the file rather than set the voice
_SKIPPED_KEYS = ("name", "language", "gender")
FORMANT_SCALE = (0.92, 1.10)  # per-voice scale of the formant frequencies F1..F5
FORMANT_JITTER = 0.04  # per-formant relative jitter of that scale
PITCH_SCALE = (0.85, 1.20)  # per-voice scale of the pitch line (base and range, Hz)


def parse_variant(text: str) -> Dict[str, List[str]]:
    """Settings of a variant file: {key: value tokens}; formant lines keyed ``formant N``.

    Comments (``#``, ``//``), blank lines and name/language/gender lines are dropped; a repeated
    key keeps its last line, as espeak-ng does.
    """
    settings: Dict[str, List[str]] = {}
    for line in text.splitlines():
        line = line.split("//", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        key = tokens[0]
        if key in _SKIPPED_KEYS:
            continue
        if key == "formant" and len(tokens) >= 2:
            key, tokens = f"formant {tokens[1]}", tokens[1:]
        settings[key] = tokens[1:]
    return settings


def _numbers(tokens: Sequence[str]) -> List[float]:
    return [float(t) for t in tokens]


def mixed_variant(name: str, parents: Sequence[str], rng: np.random.Generator) -> str:
    """Text of a new variant file ``name`` crossed from two variant-file texts ``parents``.

    Deterministic given ``rng``'s state.
    """
    if len(parents) != 2:
        raise ValueError(f"need two parent variants, got {len(parents)}")
    a, b = (parse_variant(p) for p in parents)
    weight = float(rng.uniform(0.0, 1.0))  # share of parent a in interpolated lines
    formant_scale = float(rng.uniform(*FORMANT_SCALE))
    pitch_scale = float(rng.uniform(*PITCH_SCALE))
    keys = list(dict.fromkeys([*a, *b]))
    lines = ["language variant", f"name {name}"]
    for key in keys:
        pick = a if rng.uniform() < 0.5 else b
        if key.startswith("formant ") or key == "pitch":
            default = ["100", "100", "100"] if key.startswith("formant ") else None
            va, vb = a.get(key, default), b.get(key, default)
            if va is None or vb is None or len(va) != len(vb):
                values = pick.get(key)
                if values is None:
                    continue
                mixed = _numbers(values)
            else:
                mixed = [weight * x + (1 - weight) * y for x, y in zip(_numbers(va), _numbers(vb))]
            if key == "pitch":
                mixed = [v * pitch_scale for v in mixed]
            else:
                index = int(key.split()[1])
                if 1 <= index <= 5 and mixed:
                    jitter = float(rng.uniform(1 - FORMANT_JITTER, 1 + FORMANT_JITTER))
                    mixed[0] *= formant_scale * jitter
            lines.append(f"{key} {' '.join(str(int(round(v))) for v in mixed)}")
        elif key in pick:
            lines.append(" ".join([key, *pick[key]]).rstrip())
    return "\n".join(lines) + "\n"


def with_variants(root: Path, system_data: Path, variants: Mapping[str, str]) -> Path:
    """Make ``root/espeak-ng-data``: the system data (symbolic links) plus ``variants``
    ({file name: text}) as the only variant files. Returns ``root``, espeak-ng's ``--path``."""
    data = Path(root) / "espeak-ng-data"
    vdir = data / "voices" / "!v"
    vdir.mkdir(parents=True, exist_ok=True)
    for entry in system_data.iterdir():
        if entry.name != "voices" and not (data / entry.name).exists():
            (data / entry.name).symlink_to(entry)
    for entry in (system_data / "voices").iterdir():
        if entry.name != "!v" and not (data / "voices" / entry.name).exists():
            (data / "voices" / entry.name).symlink_to(entry)
    for name, text in variants.items():
        (vdir / name).write_text(text)
    return Path(root)

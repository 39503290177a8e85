"""Settings as data: the train CLI is built from the dataclasses, each setting has one default,
the resolved settings are written once (train_config.json) and read back, pruning fractions turn
into the steps a recipe used to compute, and the library layers stay as documented."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import train_argv

from rnnt_kd.bin import train as train_cli
from rnnt_kd.settings import (
    SECTIONS,
    DistillSettings,
    PruningSettings,
    TrainSettings,
    build_parser,
    default_of,
    flat_train_config,
    parse_train_settings,
    read_train_config,
    settings_fields,
)

REPO = Path(__file__).resolve().parents[1]
REQUIRED = ["--train-cuts", "a.jsonl.gz", "--valid-cuts", "b.jsonl.gz", "--bpe-model", "bpe.model",
            "--exp-dir", "exp"]  # fmt: skip


def test_every_field_is_a_flag_with_its_one_default():
    parser = train_cli.get_parser()
    ns = parser.parse_args(REQUIRED)
    fields = settings_fields()  # also asserts that names are unique across sections
    assert set(vars(ns)) == set(fields)
    for name, section in fields.items():
        f = next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == name)
        if f.default is not dataclasses.MISSING:
            assert getattr(ns, name) == f.default, name
    # the defaults that used to be spread over four places
    assert default_of(DistillSettings, "distill_scale") == 0.01
    help_text = parser.format_help()
    assert "--prune-end-fraction" in help_text and "--inject-nan-at-step" not in help_text


def test_parse_types_and_explicit_flags():
    s = parse_train_settings(
        REQUIRED + ["--spec-augment", "false", "--prune-end-fraction", "2/3", "--num-epochs", "4"]
    )
    assert s.data.spec_augment is False and s.run.num_epochs == 4
    assert s.pruning.prune_end_fraction == pytest.approx(2 / 3)
    assert s.given("spec_augment") and not s.given("seed")
    assert TrainSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match="unknown pruning setting"):
        TrainSettings.from_dict({"pruning": {"prune_sometimes": 1}})


@pytest.mark.parametrize("steps_per_epoch,epochs", [(3, 1), (7, 2), (47, 4), (151, 4), (2, 1)])
def test_pruning_fractions_give_the_recipes_old_step_arithmetic(steps_per_epoch, epochs):
    """The synthlibri recipe computed end = steps * E * 2 / 3 (at least 2), every = end / 20 (at
    least 1) in shell arithmetic; --prune-end-fraction 2/3 gives the same integers."""
    total = steps_per_epoch * epochs
    end = max(total * 2 // 3, 2)
    every = max(end // 20, 1)
    p = PruningSettings(target_sparsity=0.9, prune_start_fraction=0.0, prune_end_fraction=2 / 3)
    assert p.resolved_steps(total) == (0, end, every)
    # absolute steps, automatic interval: the old default interval (100) for the old defaults
    assert PruningSettings().resolved_steps(0) == (0, 2000, 100)


def test_bad_option_combinations_are_one_line_errors(capsys):
    for extra, message in [
        (["--distill-scale", "0.5"], "--distill-scale needs --teacher-checkpoint"),
        (["--target-sparsity", "0.9", "--prune-end-fraction", "1/0"], "ratio like 2/3"),
        (
            [
                "--target-sparsity",
                "0.9",
                "--prune-start-fraction",
                "0.5",
                "--prune-end-fraction",
                "0.4",
            ],
            "--prune-end-fraction must be greater",
        ),  # fmt: skip
        (["--keep-last-epochs", "-1"], "--keep-last-epochs must be >= 0"),
    ]:
        with pytest.raises(SystemExit) as e:
            train_cli.main(REQUIRED + extra)
        assert e.value.code == 2
        assert message in capsys.readouterr().err


def test_training_writes_train_config_and_keeps_last_epochs(tiny_data, tiny_teacher, tmp_path):
    """A pruned run given as fractions: train_config.json holds every setting, the steps the
    trainer counted and the prune steps it derived; --keep-last-epochs 1 leaves one epoch file."""
    exp = tmp_path / "exp"
    train_cli.main(
        train_argv(tiny_data, exp, "--num-epochs", "2", "--init-from", str(tiny_teacher),
                   "--target-sparsity", "0.5", "--prune-start-fraction", "0",
                   "--prune-end-fraction", "1/2", "--keep-last-epochs", "1",
                   "--tensorboard", "false")
    )  # fmt: skip
    cfg = read_train_config(exp)
    assert set(SECTIONS) <= set(cfg)
    flat = flat_train_config(exp)
    assert flat["num_epochs"] == 2 and flat["target_sparsity"] == 0.5
    spe = cfg["derived"]["steps_per_epoch"]
    assert spe > 0
    assert cfg["derived"]["prune_steps"] == [0, max(spe * 2 // 2, 2), max(spe // 20, 1)]
    assert flat["model_config.vocab_size"] == 30
    assert sorted(p.name for p in exp.glob("epoch-*.pt")) == ["epoch-2.pt"]
    from rnnt_kd.checkpoint import load_checkpoint

    ckpt = load_checkpoint(exp / "epoch-2.pt")
    assert ckpt["settings"] == {k: cfg[k] for k in SECTIONS}
    with pytest.raises(FileNotFoundError, match="train_config.json"):
        read_train_config(tmp_path)


def _imports(path: Path) -> set:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


# what each package may import from rnnt_kd (the layering of docs/DESIGN.md: nothing upward;
# rnnt_kd.errors, the user-error class, is below everything)
LOWER = {
    "model": {"rnnt_kd.model", "rnnt_kd.backend", "rnnt_kd.errors"},
    "checkpoint": {"rnnt_kd.model", "rnnt_kd.checkpoint", "rnnt_kd.backend", "rnnt_kd.errors"},
    "kd": {
        "rnnt_kd.model",
        "rnnt_kd.checkpoint",
        "rnnt_kd.kd",
        "rnnt_kd.backend",
        "rnnt_kd.errors",
    },
    "search": {"rnnt_kd.model", "rnnt_kd.search", "rnnt_kd.data", "rnnt_kd.errors"},
    "data": {"rnnt_kd.model", "rnnt_kd.data", "rnnt_kd.backend", "rnnt_kd.errors"},
    "deploy": {
        "rnnt_kd.model",
        "rnnt_kd.checkpoint",
        "rnnt_kd.data",
        "rnnt_kd.deploy",
        "rnnt_kd.wer",
        "rnnt_kd.errors",
    },
}


@pytest.mark.parametrize("package", sorted(LOWER))
def test_layering(package):
    for path in (REPO / "rnnt_kd" / package).rglob("*.py"):
        for mod in _imports(path):
            if mod.startswith("rnnt_kd.") and mod != "rnnt_kd":
                top = ".".join(mod.split(".")[:2])
                assert top in LOWER[package] or mod in LOWER[package], f"{path.name}: {mod}"


def test_inference_does_not_import_training():
    """decode / export / transcribe / cache_teacher load models without rnnt_kd.train."""
    code = (
        "import sys, rnnt_kd.bin.decode, rnnt_kd.bin.export, rnnt_kd.bin.transcribe, "
        "rnnt_kd.bin.cache_teacher, rnnt_kd.checkpoint, rnnt_kd.kd, rnnt_kd.search; "
        "bad = [m for m in sys.modules if m.startswith('rnnt_kd.train')]; print(bad)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_no_corpus_knowledge_in_the_library():
    """Nothing under rnnt_kd/ (but the embedded corpus generator) names a recipe's experiments."""
    names = ("sparse90_kd", "sparse60_kd", "small_kd")
    hits = [
        str(p.relative_to(REPO))
        for p in (REPO / "rnnt_kd").rglob("*.py")
        if "corpus" not in p.parts and any(n in p.read_text() for n in names)
    ]
    assert hits == []


def test_build_parser_is_reusable():
    """Another tool can add the settings' flags to its own parser."""
    import argparse

    p = build_parser(argparse.ArgumentParser(prog="mine", add_help=False))
    assert p.parse_args(REQUIRED).prune_every == 0

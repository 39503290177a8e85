"""shared/parse_options.sh: Kaldi-style --option value parsing for recipe scripts."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
stage=0
stop_stage=100
use_gpu=false
. {po}
echo "stage=$stage stop_stage=$stop_stage use_gpu=$use_gpu rest=$*"
"""


def _run(tmp_path, *args):
    script = tmp_path / "recipe.sh"
    script.write_text(SCRIPT.format(po=REPO / "shared" / "parse_options.sh"))
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True)


def test_sets_variables(tmp_path):
    r = _run(tmp_path, "--stage", "3", "--stop-stage", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stage=3 stop_stage=5 use_gpu=false rest="


def test_equals_form_booleans_and_positionals(tmp_path):
    r = _run(tmp_path, "--stop-stage=7", "--use-gpu", "true", "data/x")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stage=0 stop_stage=7 use_gpu=true rest=data/x"


def test_rejects_unknown_option(tmp_path):
    r = _run(tmp_path, "--stage", "1", "--no-such-option", "2")
    assert r.returncode != 0
    assert "unknown option '--no-such-option'" in r.stderr
    assert "stage=" not in r.stdout


def test_rejects_non_boolean_for_boolean(tmp_path):
    r = _run(tmp_path, "--use-gpu", "maybe")
    assert r.returncode != 0
    assert "true or false" in r.stderr


def test_missing_value(tmp_path):
    r = _run(tmp_path, "--stage")
    assert r.returncode != 0
    assert "needs a value" in r.stderr

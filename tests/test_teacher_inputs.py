"""Tests for rnnt_kd.kd.inputs: a teacher that hears other (clean) features than the
student, matched by cut id."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from lhotse import CutSet
from lhotse.utils import fastcopy

from rnnt_kd.data import Tokenizer, load_cuts
from rnnt_kd.kd.inputs import TeacherInputs, parallel_source_cuts, read_source_map
from tests.conftest import train_argv


def _copies_of(cuts, n):
    """n fake "far-field copies": the first n cuts under new ids, and the copy -> source map."""
    srcs = list(cuts)[:n]
    copies = [fastcopy(c, id=f"copy-{c.id}") for c in srcs]
    return CutSet.from_cuts(copies), {c.id: s.id for c, s in zip(copies, srcs)}


def _padded(cuts):
    feats = [torch.from_numpy(c.load_features()) for c in cuts]
    lens = torch.tensor([f.size(0) for f in feats])
    return torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), lens


def test_parallel_source_cuts(tiny_data):
    sources = CutSet.from_cuts(load_cuts(tiny_data["train_cuts"]))
    by_id = {c.id: c for c in sources}
    copies, source_of = _copies_of(sources, 3)
    out = parallel_source_cuts(copies, sources, source_of)
    assert [c.id for c in out] == [c.id for c in copies]
    for c in out:
        src = by_id[source_of[c.id]]
        assert c.num_frames == src.num_frames
        assert torch.equal(
            torch.from_numpy(c.load_features()), torch.from_numpy(src.load_features())
        )
    # a copy without a source is left out
    partial = dict(list(source_of.items())[:2])
    assert len(parallel_source_cuts(copies, sources, partial)) == 2
    # a source of another length is not a sample-aligned original: refused
    by_len = sorted(sources, key=lambda c: c.num_frames)
    bad = {next(iter(copies)).id: by_len[-1].id}
    assert by_len[-1].num_frames != next(iter(copies)).num_frames  # the check is not vacuous
    with pytest.raises(ValueError, match="not sample-aligned"):
        parallel_source_cuts(copies, sources, bad)


def test_speed_perturbed_copies_map_to_perturbed_sources(tiny_data):
    base = list(load_cuts(tiny_data["train_cuts"]))[:2]
    sources = CutSet.from_cuts([fastcopy(c, id=f"{c.id}_sp0.9") for c in base] + base)
    copies = CutSet.from_cuts([fastcopy(c, id=f"copy-{c.id}_sp0.9") for c in base])
    source_of = {f"copy-{c.id}": c.id for c in base}
    out = parallel_source_cuts(copies, sources, source_of)
    assert [c.id for c in out] == [f"copy-{c.id}_sp0.9" for c in base]
    # a factor the sources lack is not matched to the unperturbed source
    other = CutSet.from_cuts([fastcopy(c, id=f"copy-{c.id}_sp1.1") for c in base])
    assert len(parallel_source_cuts(other, sources, source_of)) == 0


def test_read_source_map(tmp_path):
    f = tmp_path / "params.jsonl"
    f.write_text(json.dumps({"id": "a", "source_id": "b", "snr_db": 3}) + "\n\n")
    assert read_source_map(f) == {"a": "b"}
    f.write_text(json.dumps({"id": "a"}) + "\n")
    with pytest.raises(ValueError, match="source_id"):
        read_source_map(f)


def test_teacher_features_replace_only_listed_rows(tiny_data):
    cuts = list(load_cuts(tiny_data["train_cuts"]))[:4]
    feats, lens = _padded(cuts)
    # the teacher hears cut 0's own clean features in row 0; the student hears noisy ones
    ti = TeacherInputs(CutSet.from_cuts([cuts[0]]))
    noisy = feats + 1.0
    out = ti.features(noisy, lens, [c.id for c in cuts])
    assert torch.equal(out[0, : lens[0]], feats[0, : lens[0]])  # clean row swapped in
    assert torch.equal(out[1:], noisy[1:])  # other rows untouched
    assert torch.equal(noisy, feats + 1.0)  # the student's tensor is not modified
    # nothing listed: the same tensor comes back
    rest = noisy[1:]
    assert ti.features(rest, lens[1:], [c.id for c in cuts[1:]]) is rest
    # a length mismatch is an error, not a silent crop
    wrong = TeacherInputs(CutSet.from_cuts([fastcopy(cuts[0], id=cuts[1].id)]))
    assert cuts[0].num_frames != cuts[1].num_frames  # the check is not vacuous
    with pytest.raises(ValueError, match="teacher input"):
        wrong.features(noisy, lens, [c.id for c in cuts])


def test_clean_teacher_input_reaches_the_distill_term(tiny_data, tiny_teacher):
    """compute_loss(teacher_features=X) equals a teacher that is handed X explicitly; with X =
    the student's own features it is the plain KD loss (zero for a student equal to the
    teacher), with other X the KD term is positive."""
    from rnnt_kd.checkpoint import load_model
    from rnnt_kd.data import AsrDataModule, batch_to_tensors
    from rnnt_kd.kd.teacher import KDBatch, OnlineTeacher, OtherInputsTeacher
    from rnnt_kd.settings import DistillSettings, LossSettings
    from rnnt_kd.train.losses import compute_loss

    teacher, _ = load_model(tiny_teacher)
    with torch.no_grad():  # sharper posteriors: the 1-epoch teacher barely depends on its input
        teacher.joiner.output_linear.weight.mul_(8.0)
    student = copy.deepcopy(teacher)
    teacher.eval()
    student.eval()
    tok = Tokenizer(tiny_data["bpe_model"])
    loader = AsrDataModule().valid_dataloader(load_cuts(tiny_data["dev_cuts"]), max_duration=8)
    feats, lens, y, ylens, _, _ = batch_to_tensors(next(iter(loader)), tok, "cpu")
    noisy = feats + 2.0 * torch.randn(feats.shape, generator=torch.Generator().manual_seed(0))

    class HandedInput(torch.nn.Module):  # a teacher that ignores its input and hears `noisy`
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, features, *args, **kwargs):
            return self.inner(noisy, *args, **kwargs)

    class Inputs:  # TeacherInputs stand-in: the teacher hears `heard` for these cuts
        def __init__(self, heard):
            self.heard = heard

        def __len__(self):
            return len(feats)

        def features(self, features, feature_lens, cut_ids):
            return self.heard

    kd, loss = DistillSettings(distill_scale=1.0, distill_temperature=2.0), LossSettings()
    batch = KDBatch(feats, lens, y, ylens, cut_ids=[str(i) for i in range(len(feats))])

    def kd_info(teacher_kind):
        return compute_loss(student, batch, loss, 10_000, teacher_kind, kd)[1]

    same = kd_info(OtherInputsTeacher(teacher, Inputs(feats)))
    swapped = kd_info(OtherInputsTeacher(teacher, Inputs(noisy)))
    handed = kd_info(OnlineTeacher(HandedInput(teacher)))
    # exactly 0 with the student's own features, clearly not with others (the tiny model's
    # posteriors move little with its input, hence the small absolute value)
    assert same["distill_loss"] == 0.0 and swapped["distill_loss"] > 1e-5
    for k in ("distill_loss", "pruned_loss", "simple_loss"):
        assert swapped[k] == pytest.approx(handed[k], rel=1e-5), k


def test_train_with_teacher_input_cuts(tiny_data, tiny_teacher, tmp_path):
    from rnnt_kd.bin import prepare_data
    from rnnt_kd.bin import train as train_cli

    sources = load_cuts(tiny_data["train_cuts"])
    copies, source_of = _copies_of(sources, 5)
    copies_file, params, out = (
        tmp_path / "copies.jsonl.gz",
        tmp_path / "params.jsonl",
        tmp_path / "teacher_in.jsonl.gz",
    )
    copies.to_file(copies_file)
    params.write_text(
        "".join(json.dumps({"id": k, "source_id": v}) + "\n" for k, v in source_of.items())
    )
    prepare_data.main(
        ["teacher-inputs", "--copies", str(copies_file), "--sources", str(tiny_data["train_cuts"]),
         "--source-map", str(params), "--out", str(out)]
    )  # fmt: skip
    assert sorted(c.id for c in CutSet.from_file(out)) == sorted(source_of)

    exp = tmp_path / "exp"
    argv = train_argv(tiny_data, exp, "--num-epochs", "1", "--tensorboard", "false")
    i = argv.index("--train-cuts")
    argv[i + 1 : i + 2] = [argv[i + 1], str(copies_file)]
    train_cli.main(
        argv + ["--teacher-checkpoint", str(tiny_teacher), "--distill-scale", "0.5",
                "--teacher-input-cuts", str(out)]
    )  # fmt: skip
    log = "\n".join(p.read_text() for p in (exp / "log").glob("log-train-*"))
    assert "teacher hears other features for 5 cuts" in log
    assert (exp / "epoch-1.pt").is_file()
    with pytest.raises(SystemExit):
        train_cli.main(
            train_argv(tiny_data, tmp_path / "e2", "--teacher-input-cuts", str(out))
        )  # no --teacher-checkpoint

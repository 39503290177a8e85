"""The training loop: checkpoints, resume, averaging, data-parallel replicas."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from rnnt_kd.bin import train as train_cli
from rnnt_kd.checkpoint import files as ckpt_lib
from rnnt_kd.checkpoint.loading import load_averaged_model, load_model
from rnnt_kd.model import Transducer, TransducerConfig
from tests.conftest import train_argv


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    exp = tmp_path_factory.mktemp("exp") / "run"
    train_cli.main(train_argv(tiny_data, exp, "--num-epochs", "2", "--save-every-n", "4"))
    return exp


def test_training_writes_checkpoints_logs_and_tensorboard(trained):
    assert (trained / "epoch-1.pt").is_file() and (trained / "epoch-2.pt").is_file()
    e1 = ckpt_lib.load_checkpoint(trained / "epoch-1.pt")
    e2 = ckpt_lib.load_checkpoint(trained / "epoch-2.pt")
    steps1, steps2 = e1["params"]["batch_idx_train"], e2["params"]["batch_idx_train"]
    assert steps1 > 0 and steps2 == 2 * steps1  # same number of batches per epoch
    assert e2["params"]["cur_epoch"] == 2
    batch_ckpts = sorted(p.name for p in trained.glob("checkpoint-*.pt"))
    assert batch_ckpts and all(int(p[11:-3]) % 4 == 0 for p in batch_ckpts)
    assert list((trained / "log").glob("log-train-*"))
    assert list((trained / "tensorboard").glob("events.out.tfevents.*"))
    # training changed the weights and the optimizer state was saved
    assert e1["optimizer"]["state"]
    diff = sum(
        (e1["model"][k] - e2["model"][k]).abs().sum()
        for k in e1["model"]
        if e1["model"][k].is_floating_point()
    )
    assert diff > 0


def test_checkpoint_roundtrip_gives_identical_outputs(trained):
    model, ckpt = load_model(trained / "epoch-2.pt")
    fresh = Transducer(TransducerConfig.from_dict(ckpt["model_config"]))
    fresh.load_state_dict(ckpt["model"])
    fresh.eval()
    x = torch.randn(2, 60, 80)
    lens = torch.tensor([60, 45])
    with torch.no_grad():
        a, al = model.encode(x, lens)
        b, bl = fresh.encode(x, lens)
    assert torch.equal(al, bl)
    assert torch.equal(a, b)
    # and saving what was loaded gives the same tensors back
    path = trained / "roundtrip.pt"
    ckpt_lib.save_checkpoint(
        path, {"model": model.state_dict(), "model_config": ckpt["model_config"]}
    )
    again, _ = load_model(path)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_avg_averages_the_right_epochs(tmp_path):
    cfg = TransducerConfig.from_preset("tiny", vocab_size=10)
    model = Transducer(cfg)
    names = list(model.state_dict())
    for epoch in range(1, 5):  # epoch e holds every float entry == e
        state = {
            k: torch.full_like(v, float(epoch)) if v.is_floating_point() else v
            for k, v in model.state_dict().items()
        }
        ckpt_lib.save_checkpoint(
            ckpt_lib.epoch_checkpoint(tmp_path, epoch),
            {"model": state, "model_config": cfg.to_dict(), "masks": {}},
        )
    avg_model, last = load_averaged_model(tmp_path, epoch=4, avg=3)  # epochs 2, 3, 4 -> 3.0
    w = avg_model.state_dict()[names[0]]
    assert torch.allclose(w, torch.full_like(w, 3.0))
    avg_model, _ = load_averaged_model(tmp_path, epoch=2, avg=2)  # epochs 1, 2 -> 1.5
    w = avg_model.state_dict()[names[0]]
    assert torch.allclose(w, torch.full_like(w, 1.5))
    with pytest.raises(ckpt_lib.CheckpointError, match="epoch-0.pt|avg <= epoch"):
        load_averaged_model(tmp_path, epoch=2, avg=3)
    with pytest.raises(ckpt_lib.CheckpointError, match="missing: .*epoch-6.pt"):
        load_averaged_model(tmp_path, epoch=6, avg=3)


def test_averaging_reapplies_masks(tmp_path):
    cfg = TransducerConfig.from_preset("tiny", vocab_size=10)
    model = Transducer(cfg)
    name = "joiner.output_linear.weight"
    mask = torch.rand_like(model.state_dict()[name]) > 0.5
    for epoch in (1, 2):
        state = {k: v.clone() for k, v in model.state_dict().items()}
        if epoch == 2:
            state[name] = state[name] * mask
        ckpt_lib.save_checkpoint(
            ckpt_lib.epoch_checkpoint(tmp_path, epoch),
            {
                "model": state,
                "model_config": cfg.to_dict(),
                "masks": {name: mask} if epoch == 2 else {},
            },
        )
    avg_model, _ = load_averaged_model(tmp_path, epoch=2, avg=2)
    w = avg_model.state_dict()[name]
    assert torch.all(w[~mask] == 0)
    assert torch.allclose(w[mask], model.state_dict()[name][mask])


def _ddp_worker(rank: int, world_size: int, argv, port: int, out_dir: str) -> None:
    import os

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    from rnnt_kd.data import AsrDataModule, filter_cuts, load_cuts
    from rnnt_kd.settings import parse_train_settings
    from rnnt_kd.train import distributed as dist_lib
    from rnnt_kd.train.trainer import Trainer

    args = parse_train_settings(argv, train_cli.get_parser())
    dist_lib.setup(rank, world_size, use_cuda=False)
    torch.set_num_threads(1)
    try:
        trainer = Trainer(args, rank, world_size)
        cuts = filter_cuts(load_cuts(args.data.train_cuts), trainer.tokenizer, min_duration=0.5)
        dev = filter_cuts(load_cuts(args.data.valid_cuts), trainer.tokenizer, min_duration=0.5)
        trainer.train(AsrDataModule(), cuts, dev)
        torch.save(
            {"state": trainer.model.state_dict(), "steps": trainer.batch_idx_train},
            Path(out_dir) / f"rank{rank}.pt",
        )
    finally:
        dist_lib.cleanup()


def test_two_process_gloo_replicas_stay_identical(tiny_data, tmp_path):
    from rnnt_kd.train.distributed import free_port

    argv = train_argv(
        tiny_data,
        tmp_path / "exp",
        "--num-epochs",
        "1",
        "--max-steps",
        "3",
        "--tensorboard",
        "false",
    )
    mp.spawn(
        functools.partial(_ddp_worker, argv=argv, port=free_port(), out_dir=str(tmp_path)),
        args=(2,),
        nprocs=2,
        join=True,
    )
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    assert r0["steps"] == r1["steps"] == 3
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k
    # rank 0 saved the checkpoint; its weights are the replicas' weights
    saved = ckpt_lib.load_checkpoint(tmp_path / "exp" / "epoch-1.pt")["model"]
    for k, v in saved.items():
        assert torch.equal(v, r0["state"][k]), k


def test_spec_augment_starts_at_the_given_epoch(tiny_data, tmp_path, monkeypatch):
    """--spec-augment-start-epoch 2: epoch 1's loader has no SpecAugment, epoch 2's has it; with
    --spec-augment false no epoch has it."""
    from rnnt_kd.data import AsrDataModule

    seen = []
    real = AsrDataModule.train_dataloader

    def spy(self, cuts, **kw):
        seen.append(kw["spec_augment"])
        return real(self, cuts, **kw)

    monkeypatch.setattr(AsrDataModule, "train_dataloader", spy)
    argv = train_argv(tiny_data, tmp_path / "a", "--num-epochs", "2", "--max-steps", "1")
    train_cli.main(argv + ["--spec-augment-start-epoch", "2"])
    assert seen == [False, True]
    seen.clear()
    argv = train_argv(tiny_data, tmp_path / "b", "--num-epochs", "2", "--max-steps", "1")
    train_cli.main(argv + ["--spec-augment", "false", "--spec-augment-start-epoch", "1"])
    assert seen == [False, False]

"""torch.distributed helpers: ``torchrun`` or ``--world-size N`` (spawned); NCCL on GPU, gloo on
CPU."""

from __future__ import annotations

import os
import socket
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rnnt_kd.train.orphans import die_with_parent


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(rank: int, world_size: int, use_cuda: bool) -> None:
    """Join the process group (no-op for a single process)."""
    if world_size <= 1:
        return
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    dist.init_process_group(backend, rank=rank, world_size=world_size)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(fn: Callable[[int, int], None], world_size: int) -> None:
    """Run ``fn(rank, world_size)``: under torchrun in this process, else spawn ``world_size``
    processes (or call directly when world_size == 1)."""
    if launched_by_torchrun():
        die_with_parent()  # torchrun's agent
        fn(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    elif world_size > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
        mp.spawn(_Rank(fn, os.getpid()), args=(world_size,), nprocs=world_size, join=True)
    else:
        fn(0, 1)


class _Rank:
    """A spawned rank: dies with the launcher (``rnnt_kd.train.orphans``), then runs ``fn``."""

    def __init__(self, fn: Callable[[int, int], None], launcher_pid: int) -> None:
        self.fn, self.launcher_pid = fn, launcher_pid

    def __call__(self, rank: int, world_size: int) -> None:
        die_with_parent(self.launcher_pid)
        self.fn(rank, world_size)


def all_reduce_sum(values: dict, device: torch.device) -> dict:
    """Sum a dict of floats over all ranks (identity without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def all_ranks_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is True on every rank (``flag`` itself without a process group).

    Ranks must agree before skipping a batch: a rank that skips backward while the others run it
    would leave them waiting in DDP's gradient all-reduce forever.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)

"""The training loop: one implementation for every recipe (teacher, pruned and distilled students).

Entry point :func:`run` takes the parsed options of ``rnnt_kd.bin.train`` (icefall flags) and
runs on one process or under torch.distributed (``torchrun`` or ``--world-size N``).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from rnnt_kd import backend, pruning
from rnnt_kd.data import (
    AsrDataModule,
    Tokenizer,
    append_bad_ids,
    batch_is_empty,
    batch_to_tensors,
    feature_stats,
    filter_cuts,
    load_cuts,
)
from rnnt_kd.data.teacher_inputs import TeacherInputs
from rnnt_kd.model import Transducer, TransducerConfig
from rnnt_kd.model.conformer import subsampled_lengths
from rnnt_kd.train import checkpoint as ckpt_lib
from rnnt_kd.train import distributed as dist_lib
from rnnt_kd.train.losses import LossConfig, compute_loss
from rnnt_kd.train.model_io import load_model, load_teacher
from rnnt_kd.train.optim import Eden, make_optimizer
from rnnt_kd.train.teacher_cache import TeacherCache, file_sha256
from rnnt_kd.utils import fix_random_seed, pick_device, setup_logger

log = logging.getLogger(__name__)


class TooManyBadBatches(RuntimeError):
    """Raised when ``--max-bad-batches`` consecutive batches had a non-finite loss or gradient."""


def model_config_from_args(args: argparse.Namespace, vocab_size: int) -> TransducerConfig:
    overrides = {
        k: getattr(args, k)
        for k in (
            "encoder_dim",
            "num_encoder_layers",
            "num_heads",
            "feedforward_dim",
            "conv_kernel_size",
            "decoder_dim",
            "joiner_dim",
            "dropout",
            "use_ctc",
            "subsampling",
            "layer_scale",
        )
        if getattr(args, k, None) is not None
    }
    return TransducerConfig.from_preset(args.model_preset, vocab_size=vocab_size, **overrides)


def loss_config_from_args(args: argparse.Namespace) -> LossConfig:
    return LossConfig(
        prune_range=args.prune_range,
        lm_scale=args.lm_scale,
        am_scale=args.am_scale,
        simple_loss_scale=args.simple_loss_scale,
        warm_steps=args.model_warm_step,
        ctc_loss_scale=args.ctc_loss_scale if args.use_ctc else 0.0,
        distill_scale=(0.01 if args.distill_scale is None else args.distill_scale)
        if args.teacher_checkpoint
        else 0.0,
        distill_temperature=args.distill_temperature,
        distill_type=args.distill_type,
        distill_lattice=args.distill_lattice,
        distill_band=args.distill_band,
    )


class Trainer:
    """Holds the state of one training run (model, optimizer, schedule, pruner, counters)."""

    def __init__(self, args: argparse.Namespace, rank: int, world_size: int) -> None:
        self.args = args
        self.rank = rank
        self.world_size = world_size
        self.exp_dir = Path(args.exp_dir)
        self.device = pick_device(args.device)
        if world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.tokenizer = Tokenizer(args.bpe_model)
        self.model_config = model_config_from_args(args, self.tokenizer.vocab_size)
        self.loss_config = loss_config_from_args(args)
        self.batch_idx_train = 0
        self.cur_epoch = args.start_epoch
        self.bad_in_row = 0
        self.bad_total = 0
        self.skipped_cuts_total = 0
        self.bad_ids_path = self.exp_dir / "log" / "bad_cuts.txt"
        self._nan_injected = 0
        self.best_valid_loss = math.inf

        fix_random_seed(args.seed)
        model = Transducer(self.model_config)
        if args.init_from:
            src, _ = load_model(args.init_from)
            if src.config.to_dict() != self.model_config.to_dict():
                raise ckpt_lib.CheckpointError(
                    f"--init-from {args.init_from}: its model config {src.config.to_dict()} "
                    f"differs from this run's {self.model_config.to_dict()}"
                )
            model.load_state_dict(src.state_dict())
            log.info("initialised from %s", args.init_from)
        self.model = model.to(self.device)
        self.teacher: Optional[Transducer] = None
        if args.teacher_checkpoint:
            self.teacher = load_teacher(args.teacher_checkpoint, self.model_config, self.device)
            log.info(
                "teacher %s: %d params, distill-scale %g, type %s, lattice %s, T=%g",
                args.teacher_checkpoint,
                sum(p.numel() for p in self.teacher.parameters()),
                self.loss_config.distill_scale,
                args.distill_type,
                args.distill_lattice,
                args.distill_temperature,
            )
        self.teacher_inputs: Optional[TeacherInputs] = None
        if getattr(args, "teacher_input_cuts", None):
            self.teacher_inputs = TeacherInputs(args.teacher_input_cuts)
            log.info(
                "teacher hears other features for %d cuts (%s)",
                len(self.teacher_inputs),
                args.teacher_input_cuts,
            )
        self.teacher_cache: Optional[TeacherCache] = None
        if getattr(args, "teacher_cache", None):
            c = self.loss_config
            self.teacher_cache = TeacherCache(
                args.teacher_cache,
                expected={
                    "teacher_sha256": file_sha256(args.teacher_checkpoint),
                    "temperature": c.distill_temperature,
                    "prune_range": c.prune_range,
                    "am_scale": c.am_scale,
                    "lm_scale": c.lm_scale,
                    "teacher_inputs_sha256": _sha256_or_none(
                        getattr(args, "teacher_input_cuts", None)
                    ),
                },
            )
            log.info(
                "teacher band of %d training cuts read from %s (the teacher runs on "
                "validation batches only)",
                len(self.teacher_cache),
                args.teacher_cache,
            )
        self.pruner: Optional[pruning.GradualPruner] = None
        if args.target_sparsity > 0:
            self.pruner = pruning.GradualPruner(
                self.model,
                target_sparsity=args.target_sparsity,
                start_step=args.prune_start_step,
                end_step=args.prune_end_step,
                prune_every=args.prune_every,
                initial_sparsity=args.initial_sparsity,
                scope=args.prune_scope,
                keep_ratio=getattr(args, "prune_keep_ratio", pruning.DEFAULT_KEEP_RATIO),
            )
        self.optimizer = make_optimizer(self.model, args.base_lr, args.weight_decay)
        self.scheduler = Eden(
            self.optimizer,
            args.lr_batches,
            args.lr_epochs,
            args.warmup_batches,
            anneal_epochs=args.lr_anneal_epochs,
            num_epochs=args.num_epochs,
        )
        self.use_amp = bool(args.use_fp16 or args.use_bf16) and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if args.use_bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and bool(args.use_fp16))
        self.sampler_state: Optional[Dict[str, Any]] = None
        self._maybe_resume()
        self.ddp_model: torch.nn.Module = self.model
        if world_size > 1:
            self.ddp_model = DDP(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.tb = None
        if rank == 0 and args.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(self.exp_dir / "tensorboard"))

    # ------------------------------------------------------------------ checkpoints
    def _state(self, with_sampler: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        state, masks = pruning.plain_state_dict(self.model)
        return {
            "model": state,
            "masks": masks,
            "model_config": self.model_config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "pruner": self.pruner.state_dict() if self.pruner else None,
            "grad_scaler": self.scaler.state_dict(),
            "sampler": with_sampler,
            "tokenizer_sha256": self.tokenizer.sha256,
            "params": {
                "cur_epoch": self.cur_epoch,
                "batch_idx_train": self.batch_idx_train,
                "best_valid_loss": self.best_valid_loss,
                "bad_batches_total": self.bad_total,
            },
            "args": {
                k: v
                for k, v in vars(self.args).items()
                if isinstance(v, (int, float, str, bool, type(None), list))
            },
        }

    def save(self, path: Path, sampler_state: Optional[Dict[str, Any]] = None) -> None:
        if self.rank != 0:
            return
        ckpt_lib.save_checkpoint(path, self._state(sampler_state))
        log.info("saved %s", path)

    def _maybe_resume(self) -> None:
        a = self.args
        path: Optional[Path] = None
        state: Optional[Dict[str, Any]] = None
        if a.auto_resume:
            found = ckpt_lib.find_latest_good_checkpoint(self.exp_dir)
            if found:
                path, state = found
        elif a.start_batch > 0:
            path = self.exp_dir / f"checkpoint-{a.start_batch}.pt"
        elif a.start_epoch > 1:
            path = ckpt_lib.epoch_checkpoint(self.exp_dir, a.start_epoch - 1)
        if self.rank == 0:
            for stale in ckpt_lib.remove_stale_temp_files(self.exp_dir):
                log.warning("removed %s, left by a run killed while saving", stale)
        if path is None:
            return
        if state is None:
            state = ckpt_lib.load_checkpoint(path)
        sha = state.get("tokenizer_sha256")
        if sha and sha != self.tokenizer.sha256:
            raise ckpt_lib.CheckpointError(
                f"{path} was trained with another BPE model than {a.bpe_model}"
            )
        if state["model_config"] != self.model_config.to_dict():
            raise ckpt_lib.CheckpointError(
                f"{path} was trained with another model config ({state['model_config']}) than "
                f"this run's ({self.model_config.to_dict()})"
            )
        self.model.load_state_dict(state["model"])  # plain weights (zeros where pruned)
        if state.get("masks"):
            pruning.apply_masks(self.model, state["masks"])  # training goes on with the masks
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.pruner and state.get("pruner"):
            self.pruner.load_state_dict(state["pruner"])
        if state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])
        p = state["params"]
        self.batch_idx_train = int(p["batch_idx_train"])
        self.best_valid_loss = float(p.get("best_valid_loss", math.inf))
        self.bad_total = int(p.get("bad_batches_total", 0))
        self.sampler_state = state.get("sampler")
        # an epoch checkpoint marks a finished epoch; a batch checkpoint stops mid-epoch
        self.cur_epoch = int(p["cur_epoch"]) + (1 if self.sampler_state is None else 0)
        log.info(
            "resumed from %s: epoch %d, step %d%s",
            path,
            self.cur_epoch,
            self.batch_idx_train,
            ", mid-epoch" if self.sampler_state else "",
        )

    # ------------------------------------------------------------------ steps
    def _inject_nan(self, kind: str) -> bool:
        """Whether to poison this batch (hidden ``--inject-nan-*`` options, for tests)."""
        a = self.args
        if a.inject_nan_kind != kind or a.inject_nan_at_step < 0:
            return False
        if self.batch_idx_train + 1 < a.inject_nan_at_step:
            return False
        if 0 <= a.inject_nan_count <= self._nan_injected:
            return False
        self._nan_injected += 1
        return True

    def _record_skipped_cuts(self, batch: Dict[str, Any]) -> None:
        """Log and list (in ``log/bad_cuts.txt``) the cuts the dataset could not load."""
        skipped = batch.get("skipped_cuts") or []
        if not skipped:
            return
        self.skipped_cuts_total += len(skipped)
        log.warning(
            "step %d: skipped %d cuts with unreadable features (%d in total): %s",
            self.batch_idx_train,
            len(skipped),
            self.skipped_cuts_total,
            ", ".join(c for c, _ in skipped[:5]) + (" ..." if len(skipped) > 5 else ""),
        )
        append_bad_ids(self.bad_ids_path, skipped)

    def _loss(self, model, feats, feat_lens, targets, target_lens, cut_ids=None):
        """compute_loss for a batch; ``cut_ids`` is given for training batches only (the
        teacher cache and the teacher's own inputs hold training cuts)."""
        teacher_feats, band = None, None
        if self.teacher_cache is not None and cut_ids is not None:
            band = self.teacher_cache.batch(cut_ids, target_lens, targets.size(1), feats.device)
        elif self.teacher is not None and self.teacher_inputs is not None and cut_ids is not None:
            teacher_feats = self.teacher_inputs.features(feats, feat_lens, cut_ids)
        return compute_loss(
            model,
            feats,
            feat_lens,
            targets,
            target_lens,
            self.loss_config,
            self.batch_idx_train,
            self.teacher,
            teacher_feats,
            band,
        )

    def _step(self, batch: Dict[str, Any]) -> Optional[Dict[str, float]]:
        self._record_skipped_cuts(batch)
        # every rank must take the same branch, or DDP's all-reduce in backward never returns
        if not dist_lib.all_ranks_true(not batch_is_empty(batch), self.device):
            log.warning(
                "skipping batch at step %d: no loadable cuts (on some rank)", self.batch_idx_train
            )
            return None
        feats, feat_lens, targets, target_lens, cut_ids, _ = batch_to_tensors(
            batch, self.tokenizer, self.device
        )
        self.ddp_model.train()
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            loss, info = self._loss(self.ddp_model, feats, feat_lens, targets, target_lens, cut_ids)
        if self._inject_nan("loss"):
            loss = loss * float("nan")
        self.optimizer.zero_grad(set_to_none=True)
        if not dist_lib.all_ranks_true(bool(torch.isfinite(loss)), self.device):
            return self._bad_batch("non-finite loss")
        self.scaler.scale(loss).backward()
        if self._inject_nan("grad"):
            next(p for p in self.model.parameters() if p.grad is not None).grad.fill_(math.nan)
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.grad_clip)
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return self._bad_batch("non-finite gradient")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.bad_in_row = 0
        self.batch_idx_train += 1
        self.scheduler.step_batch(self.batch_idx_train)
        if self.pruner is not None:
            s = self.pruner.step(self.batch_idx_train)
            if s is not None and self.tb is not None:
                self.tb.add_scalar("train/sparsity", s, self.batch_idx_train)
        info["grad_norm"] = float(grad_norm)
        return info

    def _bad_batch(self, why: str) -> None:
        self.bad_in_row += 1
        self.bad_total += 1
        log.warning(
            "skipping batch at step %d: %s (%d in a row, %d in total)",
            self.batch_idx_train,
            why,
            self.bad_in_row,
            self.bad_total,
        )
        if self.tb is not None:
            self.tb.add_scalar("train/bad_batches_total", self.bad_total, self.batch_idx_train)
        if self.bad_in_row >= self.args.max_bad_batches:
            raise TooManyBadBatches(
                f"{self.bad_in_row} batches in a row had a {why}; stopping. Lower --base-lr, "
                "check the data, or raise --max-bad-batches"
            )
        return None

    @torch.no_grad()
    def validate(self, loader) -> Dict[str, float]:
        self.model.eval()
        tot: Dict[str, float] = {}
        for batch in loader:
            self._record_skipped_cuts(batch)
            if batch_is_empty(batch):
                continue
            feats, feat_lens, targets, target_lens, _, _ = batch_to_tensors(
                batch, self.tokenizer, self.device
            )
            _, info = self._loss(self.model, feats, feat_lens, targets, target_lens)
            for k, v in info.items():
                tot[k] = tot.get(k, 0.0) + v
        tot = dist_lib.all_reduce_sum(tot, self.device)
        return per_frame(tot)

    # ------------------------------------------------------------------ epochs
    def train(self, dm: AsrDataModule, train_cuts, valid_cuts) -> None:
        a = self.args
        valid_loader = dm.valid_dataloader(valid_cuts, max_duration=a.max_duration)
        for epoch in range(self.cur_epoch, a.num_epochs + 1):
            self.cur_epoch = epoch
            self.scheduler.step_epoch(epoch - 1)
            loader = dm.train_dataloader(
                train_cuts,
                max_duration=a.max_duration,
                shuffle=True,
                spec_augment=a.spec_augment and epoch >= a.spec_augment_start_epoch,
                num_workers=a.num_workers,
                world_size=self.world_size,
                rank=self.rank,
                seed=a.seed,
                sampler_state_dict=self.sampler_state,
            )
            if self.sampler_state is None:
                loader.sampler.set_epoch(epoch)  # a new shuffle each epoch
            self.sampler_state = None
            self._train_epoch(loader, epoch)
            valid = self.validate(valid_loader)
            log.info("epoch %d validation: %s", epoch, fmt(valid))
            if self.tb is not None:
                for k, v in valid.items():
                    self.tb.add_scalar(f"valid/{k}", v, self.batch_idx_train)
            self.best_valid_loss = min(self.best_valid_loss, valid["loss"])
            self.save(ckpt_lib.epoch_checkpoint(self.exp_dir, epoch))
            if self.pruner is not None and self.rank == 0:
                log.info(
                    "sparsity after epoch %d:\n%s",
                    epoch,
                    pruning.sparsity_report(self.model).format(),
                )

    def _train_epoch(self, loader, epoch: int) -> None:
        a = self.args
        tot: Dict[str, float] = {}
        t0 = time.time()
        bar = tqdm(
            loader,
            desc=f"epoch {epoch}",
            disable=self.rank != 0 or not a.progress,
            dynamic_ncols=True,
            leave=False,
        )
        for batch in bar:
            info = self._step(batch)
            if info is None:
                continue
            for k, v in info.items():
                tot[k] = tot.get(k, 0.0) + v
            step = self.batch_idx_train
            if step % a.log_interval == 0:
                cur = per_frame(info)
                avg = per_frame(tot)
                lr = self.scheduler.get_last_lr()[0]
                bar.set_postfix(loss=f"{avg['loss']:.3f}", lr=f"{lr:.2e}")
                log.info(
                    "epoch %d step %d lr %.2e batch: %s | epoch avg: %s",
                    epoch,
                    step,
                    lr,
                    fmt(cur),
                    fmt(avg),
                )
                if self.tb is not None:
                    self.tb.add_scalar("train/learning_rate", lr, step)
                    for k, v in cur.items():
                        self.tb.add_scalar(f"train/{k}", v, step)
            if a.save_every_n > 0 and step % a.save_every_n == 0:
                self.save(
                    self.exp_dir / f"checkpoint-{step}.pt",
                    sampler_state=loader.sampler.state_dict(),
                )
                if self.rank == 0:
                    ckpt_lib.remove_old_batch_checkpoints(self.exp_dir, a.keep_last_k)
            if a.max_steps > 0 and step >= a.max_steps:
                break
        log.info("epoch %d done in %.1fs: %s", epoch, time.time() - t0, fmt(per_frame(tot)))
        if self.bad_total or self.skipped_cuts_total:
            log.warning(
                "so far: %d batches skipped for non-finite loss/gradient, %d cuts skipped "
                "for unreadable features (ids in %s)",
                self.bad_total,
                self.skipped_cuts_total,
                self.bad_ids_path,
            )


def _sha256_or_none(path: Optional[str]) -> Optional[str]:
    """How a teacher cache records its ``--teacher-input-cuts`` (the file's SHA-256), or None."""
    return file_sha256(path) if path else None


def per_frame(tot: Dict[str, float]) -> Dict[str, float]:
    """Losses summed over frames -> per frame (icefall convention)."""
    frames = max(tot.get("frames", 0.0), 1.0)
    out = {k: v / frames for k, v in tot.items() if k.endswith("loss")}
    if "grad_norm" in tot and "utterances" in tot:
        out["frames"] = tot["frames"]
    return out


def fmt(d: Dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in d.items())


def run(rank: int, world_size: int, args: argparse.Namespace) -> None:
    """One training process (rank) of ``world_size``."""
    exp_dir = Path(args.exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    setup_logger(exp_dir / "log" / "log-train", rank, world_size)
    use_cuda = pick_device(args.device).type == "cuda"
    dist_lib.setup(rank, world_size, use_cuda)
    if not use_cuda:
        torch.set_num_threads(max(1, args.num_threads // max(1, world_size)))
    log.info(
        "rnnt-kd training, backend %s, world size %d, device %s",
        backend.describe(),
        world_size,
        args.device,
    )
    log.info("options: %s", vars(args))
    try:
        trainer = Trainer(args, rank, world_size)
        n = sum(p.numel() for p in trainer.model.parameters())
        log.info("model: %s, %d parameters", trainer.model_config.to_dict(), n)
        dm = AsrDataModule()
        bad_ids = trainer.bad_ids_path if rank == 0 else None  # each rank filters the same cuts
        train_cuts = filter_cuts(
            load_cuts(args.train_cuts),
            trainer.tokenizer,
            min_duration=args.min_utt_duration,
            max_duration=args.max_utt_duration,
            subsampled_length_fn=subsampled_lengths,
            bad_ids_path=bad_ids,
        )
        valid_cuts = filter_cuts(
            load_cuts(args.valid_cuts),
            trainer.tokenizer,
            min_duration=args.min_utt_duration,
            max_duration=args.max_utt_duration,
            subsampled_length_fn=subsampled_lengths,
            bad_ids_path=bad_ids,
        )
        if trainer.batch_idx_train == 0 and not args.init_from:
            mean, std = feature_stats(train_cuts)
            trainer.model.set_feature_stats(mean, std)
            log.info(
                "feature normalisation from training data: mean %.2f, std %.2f (averages)",
                float(mean.mean()),
                float(std.mean()),
            )
        trainer.train(dm, train_cuts, valid_cuts)
        if trainer.tb is not None:
            trainer.tb.close()
    finally:
        dist_lib.cleanup()

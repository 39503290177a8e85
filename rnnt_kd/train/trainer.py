"""The training loop: one implementation for every recipe (teacher, pruned and distilled students).

Entry point :func:`run` takes the settings of ``rnnt_kd.bin.train`` (:class:`TrainSettings`,
icefall flags) and runs on one process or under torch.distributed (``torchrun`` or
``--world-size N``). The resolved settings go to ``<exp-dir>/train_config.json`` and into
every checkpoint.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from rnnt_kd import backend, pruning
from rnnt_kd.checkpoint import files as ckpt_lib
from rnnt_kd.checkpoint import load_model
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
from rnnt_kd.kd.cache import TeacherCache, file_sha256
from rnnt_kd.kd.inputs import TeacherInputs
from rnnt_kd.kd.teacher import (
    CachedTeacher,
    KDBatch,
    OnlineTeacher,
    OtherInputsTeacher,
    load_teacher_model,
)
from rnnt_kd.model import Transducer
from rnnt_kd.settings import TrainSettings, write_train_config
from rnnt_kd.train import distributed as dist_lib
from rnnt_kd.train import preflight
from rnnt_kd.train.losses import compute_loss
from rnnt_kd.train.optim import Eden, make_optimizer
from rnnt_kd.utils import fix_random_seed, pick_device, setup_logger

log = logging.getLogger(__name__)


class TooManyBadBatches(RuntimeError):
    """Raised when ``--max-bad-batches`` consecutive batches had a non-finite loss or gradient."""


class NoTrainingStep(TooManyBadBatches):
    """Raised when an epoch drew batches but skipped every one (nothing usable to save)."""


class Trainer:
    """Holds the state of one training run (model, optimizer, schedule, pruner, counters).

    ``steps_per_epoch``: the trainer's count of one epoch's steps (:func:`count_steps_per_epoch`),
    needed when the pruning schedule is given as fractions of the run.
    """

    def __init__(
        self,
        settings: TrainSettings,
        rank: int,
        world_size: int,
        tokenizer: Optional[Tokenizer] = None,
        steps_per_epoch: Optional[int] = None,
    ) -> None:
        s = self.settings = settings
        self.rank = rank
        self.world_size = world_size
        self.exp_dir = Path(s.run.exp_dir)
        self.device = pick_device(s.run.device)
        if world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.tokenizer = tokenizer or Tokenizer(s.data.bpe_model)
        self.model_config = s.model.resolve(self.tokenizer.vocab_size)
        self.batch_idx_train = 0
        self.cur_epoch = s.run.start_epoch
        self.bad_in_row = 0
        self.bad_total = 0
        self.skipped_cuts_total = 0
        self.bad_ids_path = self.exp_dir / "log" / "bad_cuts.txt"
        self._nan_injected = 0
        self.best_valid_loss = math.inf

        fix_random_seed(s.run.seed)
        model = Transducer(self.model_config)
        if s.run.init_from:
            src, src_ckpt = load_model(s.run.init_from)
            if src.config.to_dict() != self.model_config.to_dict():
                raise ckpt_lib.CheckpointError(
                    f"--init-from {s.run.init_from}: its model config {src.config.to_dict()} "
                    f"differs from this run's {self.model_config.to_dict()}"
                )
            self._check_tokenizer(s.run.init_from, src_ckpt, "--init-from")
            model.load_state_dict(src.state_dict())
            log.info("initialised from %s", s.run.init_from)
        self.model = model.to(self.device)
        self.teacher: Optional[OnlineTeacher] = self._make_teacher()
        self.pruner: Optional[pruning.GradualPruner] = None
        self.prune_steps: Optional[tuple] = None
        if s.pruning.target_sparsity > 0:
            total = (steps_per_epoch or 0) * s.run.num_epochs
            if s.pruning.uses_fractions and not total:
                raise ValueError("pruning fractions need the run's steps per epoch")
            start, end, every = s.pruning.resolved_steps(total)
            self.prune_steps = (start, end, every)
            if s.pruning.uses_fractions:
                log.info(
                    "pruning schedule: %d steps per epoch x %d epochs = %d steps; prune from "
                    "step %d to %d every %d",
                    steps_per_epoch,
                    s.run.num_epochs,
                    total,
                    start,
                    end,
                    every,
                )
            self.pruner = pruning.GradualPruner(
                self.model,
                target_sparsity=s.pruning.target_sparsity,
                start_step=start,
                end_step=end,
                prune_every=every,
                initial_sparsity=s.pruning.initial_sparsity,
                scope=s.pruning.prune_scope,
                keep_ratio=s.pruning.prune_keep_ratio,
            )
        o = s.optim
        self.optimizer = make_optimizer(self.model, o.base_lr, o.weight_decay)
        self.scheduler = Eden(
            self.optimizer,
            o.lr_batches,
            o.lr_epochs,
            o.warmup_batches,
            anneal_epochs=o.lr_anneal_epochs,
            num_epochs=s.run.num_epochs,
        )
        self.use_amp = bool(o.use_fp16 or o.use_bf16) and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if o.use_bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and bool(o.use_fp16))
        self.sampler_state: Optional[Dict[str, Any]] = None
        self._maybe_resume()
        self.ddp_model: torch.nn.Module = self.model
        if world_size > 1:
            self.ddp_model = DDP(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.tb = None
        if rank == 0 and s.run.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(self.exp_dir / "tensorboard"))

    def _check_tokenizer(self, path: str, ckpt: Dict[str, Any], flag: str) -> None:
        """A model file trained with another BPE model than ``--bpe-model`` is refused (its token
        ids mean other pieces, even at the same vocabulary size)."""
        sha = ckpt.get("tokenizer_sha256")
        if sha is None:
            log.warning("%s %s records no BPE model: its tokens cannot be checked", flag, path)
        elif sha != self.tokenizer.sha256:
            raise ckpt_lib.CheckpointError(
                f"{flag} {path} was trained with another BPE model than --bpe-model "
                f"{self.settings.data.bpe_model} (sha256 {sha[:12]} vs "
                f"{self.tokenizer.sha256[:12]}): its token ids mean other pieces"
            )

    def _make_teacher(self) -> Optional[OnlineTeacher]:
        """The teacher of ``--teacher-checkpoint`` in the kind the options ask for, or None."""
        d, loss = self.settings.distill, self.settings.loss
        if not d.teacher_checkpoint:
            return None
        model, ckpt = load_teacher_model(d.teacher_checkpoint, self.model_config, self.device)
        self._check_tokenizer(d.teacher_checkpoint, ckpt, "--teacher-checkpoint")
        teacher: OnlineTeacher
        if d.teacher_cache:
            cache = TeacherCache(
                d.teacher_cache,
                expected={
                    "teacher_sha256": file_sha256(d.teacher_checkpoint),
                    "temperature": d.distill_temperature,
                    "prune_range": loss.prune_range,
                    "am_scale": loss.am_scale,
                    "lm_scale": loss.lm_scale,
                    "teacher_inputs_sha256": _sha256_or_none(d.teacher_input_cuts),
                    "tokenizer_sha256": self.tokenizer.sha256,
                },
            )
            if self.settings.data.spec_augment:  # refused by the CLI unless asked for
                log.warning(
                    "--teacher-cache with SpecAugment on (--spec-augment true given): the student "
                    "hears masked features, the cached teacher band is the clean-input one"
                )
            teacher = CachedTeacher(model, cache)
        elif d.teacher_input_cuts:
            teacher = OtherInputsTeacher(model, TeacherInputs(d.teacher_input_cuts))
        else:
            teacher = OnlineTeacher(model)
        log.info(
            "teacher %s (%s): distill-scale %g, type %s, lattice %s, band %s, T=%g",
            d.teacher_checkpoint,
            teacher.describe(),
            d.distill_scale,
            d.distill_type,
            d.distill_lattice,
            d.distill_band,
            d.distill_temperature,
        )
        return teacher

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
            "settings": self.settings.to_dict(),
        }

    def save(self, path: Path, sampler_state: Optional[Dict[str, Any]] = None) -> None:
        if self.rank != 0:
            return
        ckpt_lib.save_checkpoint(path, self._state(sampler_state))
        log.info("saved %s", path)

    def _maybe_resume(self) -> None:
        r = self.settings.run
        path: Optional[Path] = None
        state: Optional[Dict[str, Any]] = None
        if r.auto_resume:
            found = ckpt_lib.find_latest_good_checkpoint(self.exp_dir)
            if found:
                path, state = found
        elif r.start_batch > 0:
            path = self.exp_dir / f"checkpoint-{r.start_batch}.pt"
        elif r.start_epoch > 1:
            path = ckpt_lib.epoch_checkpoint(self.exp_dir, r.start_epoch - 1)
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
                f"{path} was trained with another BPE model than {self.settings.data.bpe_model}"
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
        a = self.settings.run
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
        batch = KDBatch(feats, feat_lens, targets, target_lens, cut_ids)
        return compute_loss(
            model,
            batch,
            self.settings.loss,
            self.batch_idx_train,
            self.teacher,
            self.settings.distill,
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
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.settings.optim.grad_clip
        )
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
        if self.bad_in_row >= self.settings.run.max_bad_batches:
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
        a, r = self.settings.data, self.settings.run
        valid_loader = dm.valid_dataloader(valid_cuts, max_duration=a.max_duration)
        for epoch in range(self.cur_epoch, r.num_epochs + 1):
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
                seed=r.seed,
                sampler_state_dict=self.sampler_state,
            )
            if self.sampler_state is None:
                loader.sampler.set_epoch(epoch)  # a new shuffle each epoch
            self.sampler_state = None
            before = (self.batch_idx_train, self.bad_total, self.skipped_cuts_total)
            self._train_epoch(loader, epoch)
            self._check_epoch_trained(epoch, *before)
            valid = self.validate(valid_loader)
            log.info("epoch %d validation: %s", epoch, fmt(valid))
            if self.tb is not None:
                for k, v in valid.items():
                    self.tb.add_scalar(f"valid/{k}", v, self.batch_idx_train)
            self.best_valid_loss = min(self.best_valid_loss, valid["loss"])
            self.save(ckpt_lib.epoch_checkpoint(self.exp_dir, epoch))
            if self.rank == 0:
                for gone in ckpt_lib.remove_old_epoch_checkpoints(self.exp_dir, r.keep_last_epochs):
                    log.info("removed %s (--keep-last-epochs %d)", gone.name, r.keep_last_epochs)
            if self.pruner is not None and self.rank == 0:
                log.info(
                    "sparsity after epoch %d:\n%s",
                    epoch,
                    pruning.sparsity_report(self.model).format(),
                )

    def _check_epoch_trained(self, epoch: int, steps: int, bad: int, skipped: int) -> None:
        """Raise :class:`NoTrainingStep` when the epoch skipped every batch it drew (its counters
        before the epoch are given): a checkpoint of it would hold nothing learnt. Ranks agree
        (a rank whose batches were fine while another's were all unreadable raises too)."""
        none = self.batch_idx_train == steps and (
            self.bad_total > bad or self.skipped_cuts_total > skipped
        )
        if not dist_lib.all_ranks_true(not none, self.device):
            raise NoTrainingStep(
                f"epoch {epoch} ended without a single training step: "
                f"{self.bad_total - bad} batches had a non-finite loss or gradient, "
                f"{self.skipped_cuts_total - skipped} cuts had unreadable features (ids in "
                f"{self.bad_ids_path}); nothing was saved. Check the data, or lower --base-lr"
            )

    def _train_epoch(self, loader, epoch: int) -> None:
        a = self.settings.run
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


def count_steps_per_epoch(cuts: CutSet, max_duration: float, world_size: int) -> int:
    """Steps of one training epoch: the batches of one seed-0 shuffle of ``cuts`` with the
    training sampler's bucketing, divided over ``world_size`` ranks. An estimate (each epoch's
    shuffle packs batches slightly differently): what fractions of the run are counted in."""
    sampler = DynamicBucketingSampler(cuts, max_duration=max_duration, shuffle=True, num_buckets=10)
    return sum(1 for _ in sampler) // world_size


def run(rank: int, world_size: int, settings: TrainSettings) -> None:
    """One training process (rank) of ``world_size``."""
    s = settings
    exp_dir = Path(s.run.exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    setup_logger(exp_dir / "log" / "log-train", rank, world_size)
    use_cuda = pick_device(s.run.device).type == "cuda"
    dist_lib.setup(rank, world_size, use_cuda)
    if not use_cuda:
        torch.set_num_threads(max(1, s.run.num_threads // max(1, world_size)))
    log.info(
        "rnnt-kd training, backend %s, world size %d, device %s",
        backend.describe(),
        world_size,
        s.run.device,
    )
    log.info("settings: %s", s.to_dict())
    try:
        tokenizer = Tokenizer(s.data.bpe_model)
        bad_ids = exp_dir / "log" / "bad_cuts.txt" if rank == 0 else None  # ranks filter alike

        def usable(paths):
            return filter_cuts(
                load_cuts(paths),
                tokenizer,
                min_duration=s.data.min_utt_duration,
                max_duration=s.data.max_utt_duration,
                subsampled_length_fn=Transducer.output_lengths,
                bad_ids_path=bad_ids,
            )

        train_cuts = usable(s.data.train_cuts)
        valid_cuts = usable(s.data.valid_cuts)
        steps_per_epoch = None
        if s.pruning.target_sparsity > 0 and s.pruning.uses_fractions:
            steps_per_epoch = count_steps_per_epoch(train_cuts, s.data.max_duration, world_size)
        trainer = Trainer(s, rank, world_size, tokenizer, steps_per_epoch)
        n = sum(p.numel() for p in trainer.model.parameters())
        log.info("model: %s, %d parameters", trainer.model_config.to_dict(), n)
        preflight.check_training_inputs(train_cuts, valid_cuts, bad_ids, trainer.teacher)
        if rank == 0:
            write_train_config(
                exp_dir,
                s,
                model_config=trainer.model_config.to_dict(),
                derived={
                    "steps_per_epoch": steps_per_epoch,
                    "prune_steps": list(trainer.prune_steps) if trainer.prune_steps else None,
                    "tokenizer_sha256": tokenizer.sha256,
                },
            )
        if trainer.batch_idx_train == 0 and not s.run.init_from:
            mean, std = feature_stats(train_cuts, bad_ids_path=bad_ids)
            trainer.model.set_feature_stats(mean, std)
            log.info(
                "feature normalisation from training data: mean %.2f, std %.2f (averages)",
                float(mean.mean()),
                float(std.mean()),
            )
        trainer.train(AsrDataModule(), train_cuts, valid_cuts)
        if trainer.tb is not None:
            trainer.tb.close()
    finally:
        dist_lib.cleanup()

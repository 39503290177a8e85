"""Dataloaders over lhotse cuts with precomputed features, cut filtering, batch -> tensors.

A small version of icefall's ``asr_datamodule.py``:
``DynamicBucketingSampler`` + ``K2SpeechRecognitionDataset`` (``PrecomputedFeatures``,
lhotse ``SpecAugment`` for training). Cuts must be trimmed to their supervisions (one
supervision per cut, as :func:`rnnt_kd.data.prepare.compute_fbank` writes them).

Example::

    >>> dm = AsrDataModule()
    >>> dl = dm.train_dataloader(cuts, max_duration=200)
    >>> for batch in dl:
    ...     feats, feat_lens, targets, target_lens, ids, texts = batch_to_tensors(batch, tok)
    >>> state = dl.sampler.state_dict()      # saved in a checkpoint; resume mid-epoch with
    >>> dl = dm.train_dataloader(cuts, max_duration=200, sampler_state_dict=state)
"""

from __future__ import annotations

import copy
import logging
import random
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from lhotse import CutSet, combine
from lhotse.dataset import (
    DynamicBucketingSampler,
    DynamicCutSampler,
    K2SpeechRecognitionDataset,
    PrecomputedFeatures,
    SpecAugment,
)
from lhotse.utils import compute_num_frames
from torch.utils.data import DataLoader

from rnnt_kd.data.bpe import Tokenizer
from rnnt_kd.model.transducer import Transducer

Pathlike = Union[str, Path]


# ``T' = ((T - 7) // 2 + 1) // 2``: frames after the encoder's Conv2d subsampling (x4); one
# definition, the model's, so the T' >= U filter can never disagree with the model
conv2d_subsampled_length = Transducer.output_lengths


def make_spec_augment() -> SpecAugment:
    """lhotse SpecAugment with icefall's settings (also used for its small models): time warp
    80, 2 feature masks of <= 27 bins, up to 10 time masks of <= 100 frames covering at most 15%
    of an utterance (so short utterances get few), applied with probability 0.9."""
    return SpecAugment(
        time_warp_factor=80,
        num_feature_masks=2,
        features_mask_size=27,
        num_frame_masks=10,
        frames_mask_size=100,
        max_frames_mask_fraction=0.15,
        p=0.9,
    )


class _SeedWorkers:
    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, worker_id: int) -> None:
        s = self.seed + worker_id
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)


def append_bad_ids(path: Pathlike, bad: Sequence[Tuple[str, str]]) -> None:
    """Append ``<id>\t<reason>`` lines to ``path``, skipping lines it already holds (so a resumed
    run does not repeat them)."""
    if not bad:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    have = set(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else set()
    lines = [f"{cut_id}\t{reason}" for cut_id, reason in bad]
    new = [line for line in dict.fromkeys(lines) if line not in have]
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(f"{line}\n" for line in new)


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0][:200] if msg else ''}".rstrip(": ")


def _feature_problem(cut) -> Optional[str]:
    """Why the features of ``cut`` cannot be used, or None."""
    try:
        feats = cut.load_features()
    except Exception as e:  # noqa: BLE001 - corrupt/missing storage raises many types
        return f"unreadable features: {_one_line(e)}"
    if feats is None or feats.size == 0 or not np.isfinite(feats).all():
        return "unreadable features: empty or non-finite values"
    return None


class SkipBadCuts(torch.utils.data.Dataset):
    """Wraps a ``K2SpeechRecognitionDataset`` so one unreadable feature file never stops an epoch.

    A batch that fails to load (or holds non-finite features) is checked cut by cut; the cuts
    whose features cannot be loaded are dropped and the rest is loaded again. The dropped cuts
    are listed in ``batch["skipped_cuts"]`` as ``(cut_id, reason)``; when nothing is left the
    batch is ``{"skipped_cuts": [...]}`` only (no ``"inputs"``): see :func:`batch_is_empty`.
    """

    def __init__(self, dataset: K2SpeechRecognitionDataset) -> None:
        self.dataset = dataset

    def _load(self, cuts: CutSet) -> Dict[str, Any]:
        batch = self.dataset[cuts]
        if not torch.isfinite(batch["inputs"]).all():
            raise ValueError("non-finite features")
        return batch

    def __getitem__(self, cuts: CutSet) -> Dict[str, Any]:
        try:
            return self._load(cuts)
        except Exception as e:  # noqa: BLE001 - decided per cut below
            error = e
        bad, good = [], []
        for cut in cuts:
            why = _feature_problem(cut)
            if why is None:
                good.append(cut)
            else:
                bad.append((cut.id, why))
        if not bad:  # every cut loads alone: the batch as a whole is unusable
            bad, good = [(c.id, f"batch failed to load: {_one_line(error)}") for c in cuts], []
        batch: Dict[str, Any] = {}
        if good:
            try:
                batch = self._load(CutSet.from_cuts(good))
            except Exception as e:  # noqa: BLE001
                bad += [(c.id, f"batch failed to load: {_one_line(e)}") for c in good]
        batch["skipped_cuts"] = bad
        return batch


def batch_is_empty(batch: Dict[str, Any]) -> bool:
    """True for a batch whose every cut was dropped by :class:`SkipBadCuts`."""
    return "inputs" not in batch


class AsrDataModule:
    """Builds train / valid / test dataloaders. The train sampler is ``dataloader.sampler``
    (also kept as ``self.train_sampler``); save ``sampler.state_dict()`` to resume mid-epoch.

    Note: with ``num_workers > 0`` the DataLoader prefetches, so the sampler's state is a few
    batches ahead of the batches the training loop has consumed (as in icefall).
    """

    def __init__(self) -> None:
        self.train_sampler: Optional[DynamicBucketingSampler] = None

    def train_dataloader(
        self,
        cuts: CutSet,
        max_duration: float,
        shuffle: bool = True,
        num_buckets: int = 10,
        spec_augment: bool = True,
        num_workers: int = 0,
        world_size: Optional[int] = None,
        rank: Optional[int] = None,
        seed: int = 0,
        drop_last: bool = False,
        sampler_state_dict: Optional[Dict[str, Any]] = None,
    ) -> DataLoader:
        """Bucketed batches of at most ``max_duration`` seconds of audio.

        Args:
          world_size, rank: for DDP (default: from ``torch.distributed`` if initialised).
          sampler_state_dict: a ``sampler.state_dict()`` to resume from (epoch and position).
        """
        sampler = DynamicBucketingSampler(
            cuts,
            max_duration=max_duration,
            shuffle=shuffle,
            num_buckets=num_buckets,
            drop_last=drop_last,
            world_size=world_size,
            rank=rank,
            seed=seed,
            buffer_size=max(num_buckets * 2000, 2000),
        )
        if sampler_state_dict is not None:
            logging.info("Restoring the train sampler's state")
            sampler.load_state_dict(copy.deepcopy(sampler_state_dict))
        dataset = SkipBadCuts(
            K2SpeechRecognitionDataset(
                return_cuts=True,
                input_strategy=PrecomputedFeatures(),
                input_transforms=[make_spec_augment()] if spec_augment else [],
            )
        )
        self.train_sampler = sampler
        return DataLoader(
            dataset,
            sampler=sampler,
            batch_size=None,
            num_workers=num_workers,
            persistent_workers=False,
            worker_init_fn=_SeedWorkers(seed) if num_workers > 0 else None,
        )

    def valid_dataloader(
        self, cuts: CutSet, max_duration: float, num_workers: int = 0
    ) -> DataLoader:
        """Sequential (unshuffled) batches, no augmentation."""
        return self.test_dataloader(cuts, max_duration, num_workers)

    def test_dataloader(
        self, cuts: CutSet, max_duration: float, num_workers: int = 0
    ) -> DataLoader:
        """Cuts in manifest order (each batch then sorted by duration), ``cut`` objects kept so
        results can be written per cut id. Cuts with unreadable features are dropped and listed
        in ``batch["skipped_cuts"]`` (see :class:`SkipBadCuts`)."""
        sampler = DynamicCutSampler(cuts, max_duration=max_duration, shuffle=False)
        dataset = SkipBadCuts(
            K2SpeechRecognitionDataset(return_cuts=True, input_strategy=PrecomputedFeatures())
        )
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers)


def load_cuts(paths: Union[Pathlike, Sequence[Pathlike]]) -> CutSet:
    """One or more cut manifests (``*.jsonl.gz``) as one (lazy) CutSet, in the given order."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise ValueError("load_cuts: no cut manifests given")
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"No such cut manifest: {p}")
    sets = [CutSet.from_file(p) for p in paths]
    return sets[0] if len(sets) == 1 else combine(*sets)


def _num_frames(cut) -> int:
    if cut.has_features:
        return cut.num_frames
    return compute_num_frames(cut.duration, 0.01, cut.sampling_rate)


def filter_cuts(
    cuts: CutSet,
    tokenizer: Tokenizer,
    min_duration: float = 1.0,
    max_duration: float = 20.0,
    subsampled_length_fn: Callable[[int], int] = conv2d_subsampled_length,
    bad_ids_path: Optional[Pathlike] = None,
) -> CutSet:
    """Drop cuts training cannot use; returns an eager CutSet of the rest.

    Removed, in this order of checks: duration outside ``[min_duration, max_duration]``;
    empty text or text whose encoding contains ``<unk>``; subsampled frames
    ``T' = subsampled_length_fn(T) < U`` BPE tokens (k2's pruned loss needs ``T' >= U``).
    Each reason's count is logged; ``<id>\\t<reason>`` lines are appended to ``bad_ids_path``
    (lines already there are not repeated).
    """
    kept, bad = [], []
    counts: Dict[str, int] = {}
    for cut in cuts:
        text = " ".join(s.text or "" for s in cut.supervisions).strip()
        reason = None
        if not min_duration <= cut.duration <= max_duration:
            reason = f"duration {cut.duration:.2f}s outside [{min_duration}, {max_duration}]"
            key = "duration"
        elif not text or not tokenizer.can_encode(text):
            reason, key = ("empty text", "empty") if not text else ("text has <unk>", "unk")
        else:
            t_sub = subsampled_length_fn(_num_frames(cut))
            num_tokens = len(tokenizer.encode([text])[0])
            if t_sub < num_tokens:
                reason, key = f"T'={t_sub} < U={num_tokens}", "T'<U"
        if reason is None:
            kept.append(cut)
        else:
            bad.append((cut.id, reason))
            counts[key] = counts.get(key, 0) + 1
    total = len(kept) + len(bad)
    if bad:
        detail = ", ".join(f"{k}: {v}" for k, v in counts.items())
        logging.warning(f"filter_cuts: removed {len(bad)} of {total} cuts ({detail})")
    else:
        logging.info(f"filter_cuts: kept all {total} cuts")
    if bad_ids_path is not None:
        append_bad_ids(bad_ids_path, bad)
    return CutSet.from_cuts(kept)


def batch_to_tensors(
    batch: Dict[str, Any],
    tokenizer: Tokenizer,
    device: Union[str, torch.device] = "cpu",
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, List[str], List[str]]:
    """A K2SpeechRecognitionDataset batch -> model inputs, in the batch's (duration-sorted) order.

    Returns:
      features (B, T, 80) float; feature_lens (B,) int64; targets (B, U) int64 padded with
      ``tokenizer.blank_id`` (0), U = longest token sequence; target_lens (B,) int64;
      cut_ids; texts. Row b of every output belongs to the same cut.
    """
    features = batch["inputs"]
    sup = batch["supervisions"]
    num_cuts = features.size(0)
    seq_idx = torch.as_tensor(sup["sequence_idx"])
    if seq_idx.numel() != num_cuts or not torch.equal(seq_idx, torch.arange(num_cuts)):
        raise ValueError("batch_to_tensors expects exactly one supervision per cut, in cut order")
    if torch.as_tensor(sup["start_frame"]).any():
        raise ValueError("batch_to_tensors expects cuts trimmed to their supervisions")
    if "cut" not in sup:
        raise ValueError("batch has no cuts: build the dataset with return_cuts=True")
    texts = list(sup["text"])
    cut_ids = [c.id for c in sup["cut"]]
    token_ids = tokenizer.encode(texts)
    target_lens = torch.tensor([len(t) for t in token_ids], dtype=torch.int64)
    targets = torch.full(
        (num_cuts, int(target_lens.max()) if num_cuts else 0),
        tokenizer.blank_id,
        dtype=torch.int64,
    )
    for b, ids in enumerate(token_ids):
        targets[b, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
    feature_lens = torch.as_tensor(sup["num_frames"]).to(torch.int64)
    return (
        features.to(device),
        feature_lens.to(device),
        targets.to(device),
        target_lens.to(device),
        cut_ids,
        texts,
    )


def feature_stats(cuts: CutSet, max_cuts: int = 400) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation (F,) of the features of ``max_cuts`` cuts spread
    evenly over the set (every k-th; deterministic), for the model's global feature
    normalisation. Evenly, not the first ones: manifests are ordered by speaker, and the first
    few hundred cuts may all come from one kind of voice or recording condition."""
    total = None
    total_sq = None
    frames = 0
    num_cuts = sum(1 for _ in cuts)  # a pass over the manifest only, no audio or features
    every = max(1, num_cuts // max(1, max_cuts))
    for i, cut in enumerate(cuts):
        if i % every or i // every >= max_cuts:
            continue
        try:
            feats = torch.from_numpy(cut.load_features()).to(torch.float64)  # (T, F)
        except Exception:  # noqa: BLE001 - unreadable features are skipped (and logged) later
            continue
        total = feats.sum(0) if total is None else total + feats.sum(0)
        total_sq = (feats**2).sum(0) if total_sq is None else total_sq + (feats**2).sum(0)
        frames += feats.size(0)
    if not frames:
        raise ValueError("feature_stats: no features in the given cuts")
    mean = total / frames
    std = (total_sq / frames - mean**2).clamp(min=0).sqrt()
    return mean.float(), std.float()

"""Data: lhotse manifests and fbank features, BPE tokenizer, dataloaders, batch -> tensors."""

from rnnt_kd.data.bpe import Tokenizer, train_bpe
from rnnt_kd.data.datamodule import (
    AsrDataModule,
    SkipBadCuts,
    append_bad_ids,
    batch_is_empty,
    batch_to_tensors,
    conv2d_subsampled_length,
    feature_stats,
    filter_cuts,
    load_cuts,
)
from rnnt_kd.data.features import fbank_config, make_fbank, wav_fbank_kaldifeat
from rnnt_kd.data.prepare import (
    compute_fbank,
    normalize_text,
    prepare_manifests,
    read_bad_ids,
    write_transcripts,
)

__all__ = [
    "AsrDataModule",
    "SkipBadCuts",
    "Tokenizer",
    "append_bad_ids",
    "batch_is_empty",
    "batch_to_tensors",
    "compute_fbank",
    "conv2d_subsampled_length",
    "fbank_config",
    "feature_stats",
    "filter_cuts",
    "load_cuts",
    "make_fbank",
    "normalize_text",
    "prepare_manifests",
    "read_bad_ids",
    "train_bpe",
    "wav_fbank_kaldifeat",
    "write_transcripts",
]

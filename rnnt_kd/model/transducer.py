"""``Transducer``: Conformer encoder + stateless decoder + joiner, trained with k2's pruned RNN-T
loss (simple additive-joiner loss -> prune ranges -> full joiner on the band -> pruned loss).

The band log-probs ``px``/``py`` are computed once (``backend.get_rnnt_logprobs_pruned``) and used
both for the pruned loss (``-mutual_information_recursion(px, py, boundary)``) and returned for
distillation.

Constraints on a batch (k2's regular RNN-T):
- every utterance needs ``U >= 1`` tokens (k2 asserts it) and ``T' >= 1`` encoder frames;
- ``T' < U`` is allowed by the regular loss (several symbols per frame) but k2 then widens the
  band; like icefall, training data should drop such utterances: keep an utterance of ``T``
  feature frames and ``U`` tokens only if ``T >= Transducer.min_frames_for(U)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from rnnt_kd import backend
from rnnt_kd.model.config import TransducerConfig
from rnnt_kd.model.conformer import ConformerEncoder, min_input_frames, subsampled_lengths
from rnnt_kd.model.decoder import Decoder
from rnnt_kd.model.joiner import Joiner


@dataclass
class BandScores:
    """The joiner on one band: ``ranges`` (B, T', s) int64, ``logits`` (B, T', s, V), and, for
    the band of the pruned loss, ``px`` (B, U, T'+1) and ``py`` (B, U+1, T') log-probs (k2
    layout, -inf outside the band; None on a band scored for distillation only)."""

    ranges: Tensor
    logits: Tensor
    px: Optional[Tensor] = None
    py: Optional[Tensor] = None


@dataclass
class TransducerOutput:
    """What ``Transducer.forward`` returns (k2 layouts; B batch, T' frames, U max tokens).

    simple_loss: () simple (additive joiner) loss summed over the batch.
    pruned_loss: () pruned RNN-T loss summed over the batch.
    encoder_out: (B, T', C); encoder_out_lens: (B,) int64.
    boundary: (B, 4) int64 rows ``[0, 0, U_b, T'_b]``.
    ranges: (B, T', s_range) int64, the band: ``ranges[b, t, k]`` is the label position of the
      k-th band node at frame t.
    logits: (B, T', s_range, V) joiner output on the band (unnormalised).
    px: (B, U, T'+1) ``log P(y_{u+1} | t, u)``, -inf outside the band and at ``t = T'_b``.
    py: (B, U+1, T') ``log P(blank | t, u)``, -inf outside the band.
    ctc_loss: () auxiliary CTC loss summed over the batch (``config.use_ctc``), else None.
    kd_band: the joiner on another band (``forward(kd_ranges=...)``, e.g. the teacher's, for
      the distillation term), else None.
    """

    simple_loss: Tensor
    pruned_loss: Tensor
    encoder_out: Tensor
    encoder_out_lens: Tensor
    boundary: Tensor
    ranges: Tensor
    logits: Tensor
    px: Tensor
    py: Tensor
    ctc_loss: Optional[Tensor] = None
    kd_band: Optional[BandScores] = None


class Transducer(nn.Module):
    """Conformer transducer built from a ``TransducerConfig``.

    Example::

        model = Transducer(TransducerConfig.from_preset("tiny", vocab_size=500))
        out = model(features, feature_lens, targets, target_lens)
        loss = 0.5 * out.simple_loss + out.pruned_loss
    """

    def __init__(self, config: TransducerConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.blank_id = config.blank_id
        self.vocab_size = config.vocab_size
        self.encoder = ConformerEncoder(config)
        self.decoder = Decoder(
            config.vocab_size, config.decoder_dim, config.blank_id, config.context_size
        )
        self.joiner = Joiner(
            config.encoder_dim, config.decoder_dim, config.joiner_dim, config.vocab_size
        )
        self.simple_am_proj = nn.Linear(config.encoder_dim, config.vocab_size)
        self.simple_lm_proj = nn.Linear(config.decoder_dim, config.vocab_size)
        # auxiliary CTC head (training only), like icefall's --use-ctc
        self.ctc_output = (
            nn.Linear(config.encoder_dim, config.vocab_size) if config.use_ctc else None
        )

    @staticmethod
    def min_frames_for(num_tokens: int) -> int:
        """Minimum feature frames ``T`` so that ``T' >= max(num_tokens, 1)`` (``4 n + 5``)."""
        return min_input_frames(max(num_tokens, 1))

    def set_feature_stats(self, mean: Tensor, std: Tensor) -> None:
        """Global feature normalisation: (F,) mean and standard deviation of training features."""
        std = std.clamp(min=1e-5)
        self.encoder.feature_mean.copy_(mean.to(self.encoder.feature_mean))
        self.encoder.feature_std.copy_(std.to(self.encoder.feature_std))

    @staticmethod
    def output_lengths(feature_lens: Tensor | int) -> Tensor | int:
        """Encoder output frames ``T'`` for ``T`` input frames (x4 subsampling, both front-ends):
        ``((T - 7) // 2 + 1) // 2``, elementwise for a tensor of lengths."""
        return subsampled_lengths(feature_lens)

    def encode(self, features: Tensor, feature_lens: Tensor) -> Tuple[Tensor, Tensor]:
        """features (B, T, F), feature_lens (B,) -> encoder_out (B, T', C), lens (B,) int64."""
        return self.encoder(features, feature_lens)

    def _clean_targets(self, targets: Tensor, target_lens: Optional[Tensor]) -> Tensor:
        """(B, U) -> int64 copy with positions past ``target_lens`` and ids < 0 set to blank."""
        targets = targets.to(torch.int64)
        pad = targets < 0
        if target_lens is not None:
            pos = torch.arange(targets.size(1), device=targets.device).unsqueeze(0)
            pad = pad | (pos >= target_lens.to(targets.device).unsqueeze(1))
        return targets.masked_fill(pad, self.blank_id)

    def decoder_input(self, targets: Tensor) -> Tensor:
        """(B, U) clean targets -> (B, U+1) decoder input ``[blank, y_1, ..., y_U]``."""
        sos = torch.full_like(targets[:, :1], self.blank_id)
        return torch.cat([sos, targets], dim=1)

    @staticmethod
    def effective_s_range(
        prune_range: int, target_lens: Tensor, encoder_lens: Tensor, max_u: int
    ) -> int:
        """The band width actually used, as k2 would adjust it (computed here to skip its print).

        Raised to ``max_b((U_b - 1) // T'_b + 2)`` (the minimum that lets a path through when
        ``T' < U``), then clamped to ``max_u + 1`` (a band of all ``U+1`` positions, where the
        pruned loss equals the full RNN-T loss).
        """
        s_min = int(((target_lens - 1) // encoder_lens.clamp(min=1) + 2).max().item())
        return max(min(max(prune_range, s_min), max_u + 1), 2)

    def forward(
        self,
        features: Tensor,
        feature_lens: Tensor,
        targets: Tensor,
        target_lens: Tensor,
        prune_range: int = 5,
        am_scale: float = 0.0,
        lm_scale: float = 0.25,
        ranges: Optional[Tensor] = None,
        kd_ranges: Optional[Tensor] = None,
    ) -> TransducerOutput:
        """Simple and pruned RNN-T losses (summed over the batch) plus the band log-probs.

        Args:
          features: (B, T, F) fbank; feature_lens: (B,) valid frames.
          targets: (B, U) int token ids padded with ``blank_id`` (any pad value is replaced);
            target_lens: (B,) authoritative lengths, each >= 1.
          prune_range: band width ``s_range`` (see ``effective_s_range`` for adjustments).
          am_scale, lm_scale: k2's ``am_only_scale`` / ``lm_only_scale`` for the simple loss.
          ranges: (B, T', s) int64 band to use instead of computing one (e.g. the teacher's);
            the simple loss is still computed.
          kd_ranges: (B, T', s') int64 another band (the teacher's) on which the joiner is also
            evaluated, for distillation (``TransducerOutput.kd_band``); the pruned loss stays on
            the model's own band.
        """
        backend.check_device(features.device)
        encoder_out, encoder_lens = self.encode(features, feature_lens)
        target_lens = target_lens.to(device=encoder_out.device, dtype=torch.int64)
        targets = self._clean_targets(targets.to(encoder_out.device), target_lens)
        if bool((target_lens < 1).any()):
            raise ValueError("every utterance needs >= 1 token (k2's RNN-T loss asserts U >= 1)")
        if bool((encoder_lens < 1).any()):
            raise ValueError(
                f"an utterance has 0 encoder frames: feature_lens {feature_lens.tolist()}; "
                f"drop utterances shorter than Transducer.min_frames_for(num_tokens) frames"
            )
        batch, max_u = targets.shape
        decoder_out = self.decoder(self.decoder_input(targets))  # (B, U+1, D)

        boundary = torch.zeros(batch, 4, dtype=torch.int64, device=encoder_out.device)
        boundary[:, 2] = target_lens
        boundary[:, 3] = encoder_lens

        lm = self.simple_lm_proj(decoder_out)
        am = self.simple_am_proj(encoder_out)
        with torch.autocast(device_type=encoder_out.device.type, enabled=False):
            simple_loss, (px_grad, py_grad) = backend.rnnt_loss_smoothed(
                lm=lm.float(),
                am=am.float(),
                symbols=targets,
                termination_symbol=self.blank_id,
                lm_only_scale=lm_scale,
                am_only_scale=am_scale,
                boundary=boundary,
                reduction="sum",
                return_grad=True,
            )
        if ranges is None:
            s_range = self.effective_s_range(prune_range, target_lens, encoder_lens, max_u)
            ranges = backend.get_rnnt_prune_ranges(
                px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=s_range
            )
        else:
            ranges = self._checked_ranges(ranges, encoder_out, max_u)
        am_proj = self.joiner.encoder_proj(encoder_out)
        lm_proj = self.joiner.decoder_proj(decoder_out)
        band = self._band_scores(am_proj, lm_proj, ranges, targets, boundary)
        with torch.autocast(device_type=encoder_out.device.type, enabled=False):
            pruned_loss = -backend.mutual_information_recursion(band.px, band.py, boundary).sum()
        kd_band = None
        if kd_ranges is not None:
            kd_ranges = self._checked_ranges(kd_ranges, encoder_out, max_u)
            am_kd, lm_kd = backend.do_rnnt_pruning(am=am_proj, lm=lm_proj, ranges=kd_ranges)
            kd_band = BandScores(kd_ranges, self.joiner(am_kd, lm_kd, project_input=False))
        logits, px, py = band.logits, band.px, band.py

        ctc_loss = None
        if self.ctc_output is not None:
            log_probs = self.ctc_output(encoder_out).float().log_softmax(-1)  # (B, T', V)
            ctc_loss = nn.functional.ctc_loss(
                log_probs.transpose(0, 1),
                targets,
                encoder_lens,
                target_lens,
                blank=self.blank_id,
                reduction="sum",
                zero_infinity=True,
            )
        return TransducerOutput(
            simple_loss=simple_loss,
            pruned_loss=pruned_loss,
            encoder_out=encoder_out,
            encoder_out_lens=encoder_lens,
            boundary=boundary,
            ranges=ranges,
            logits=logits,
            px=px,
            py=py,
            ctc_loss=ctc_loss,
            kd_band=kd_band,
        )

    @staticmethod
    def _checked_ranges(ranges: Tensor, encoder_out: Tensor, max_u: int) -> Tensor:
        ranges = ranges.to(device=encoder_out.device, dtype=torch.int64)
        if ranges.dim() != 3 or ranges.shape[:2] != encoder_out.shape[:2]:
            raise ValueError(
                f"ranges must be (B, T', s) = ({encoder_out.size(0)}, {encoder_out.size(1)}, s), "
                f"got {tuple(ranges.shape)}"
            )
        if int(ranges.min()) < 0 or int(ranges.max()) > max_u:
            raise ValueError(f"ranges values must lie in [0, U={max_u}]")
        return ranges

    def _band_scores(
        self, am_proj: Tensor, lm_proj: Tensor, ranges: Tensor, targets: Tensor, boundary: Tensor
    ) -> BandScores:
        """The joiner on the band ``ranges`` (B, T', s) and its y/blank log-probs (k2 layout)."""
        am_pruned, lm_pruned = backend.do_rnnt_pruning(am=am_proj, lm=lm_proj, ranges=ranges)
        logits = self.joiner(am_pruned, lm_pruned, project_input=False)  # (B, T', s, V)
        with torch.autocast(device_type=am_proj.device.type, enabled=False):
            px, py = backend.get_rnnt_logprobs_pruned(
                logits=logits.float(),
                symbols=targets,
                ranges=ranges,
                termination_symbol=self.blank_id,
                boundary=boundary,
            )
        return BandScores(ranges, logits, px, py)

    def full_logits(
        self, encoder_out: Tensor, targets: Tensor, target_lens: Optional[Tensor] = None
    ) -> Tensor:
        """Joiner over the full lattice: (B, T', C), (B, U) -> (B, T', U+1, V).

        Node (t, u) scores the next symbol after ``y_1..y_u`` at frame t (decoder input
        ``[blank, y_1..y_U]``). Padded targets (past ``target_lens``, or negative) become blank.
        """
        targets = self._clean_targets(targets.to(encoder_out.device), target_lens)
        decoder_out = self.decoder(self.decoder_input(targets))  # (B, U+1, D)
        return self.joiner(encoder_out.unsqueeze(2), decoder_out.unsqueeze(1))

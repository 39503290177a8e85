"""Conformer encoder (icefall-style): Conv2d subsampling x4, relative-position self-attention,
convolution module and macaron feed-forward modules.

Padding never leaks into valid frames: the subsampling convolutions have no time padding (an
output frame only sees input frames inside the utterance), attention masks padded keys, and the
convolution module zeroes padded frames before its depthwise convolution (what "same" zero
padding would put there for the utterance alone). So, in eval mode, an utterance's valid output
frames do not depend on how much padding it has in its batch.

Lengths: ``T' = ((T - 7) // 2 + 1) // 2`` (icefall's Conv2dSubsampling), see
``subsampled_lengths``; ``min_input_frames`` inverts it.
"""

from __future__ import annotations

import math
from typing import Tuple, Union

import torch
from torch import Tensor, nn

from rnnt_kd.model.config import TransducerConfig


def subsampled_lengths(lens: Union[Tensor, int]) -> Union[Tensor, int]:
    """Number of encoder frames for ``lens`` input frames: ``((T - 7) // 2 + 1) // 2``, >= 0.

    Works on an int or an int64 tensor of any shape. Examples: 7 -> 0, 9 -> 1, 100 -> 23.
    """
    if isinstance(lens, Tensor):
        return (((lens - 7) // 2 + 1) // 2).clamp(min=0)
    return max(((lens - 7) // 2 + 1) // 2, 0)


def min_input_frames(num_out_frames: int) -> int:
    """Smallest ``T`` with ``subsampled_lengths(T) >= num_out_frames``: ``4 n + 5`` (0 for 0)."""
    if num_out_frames <= 0:
        return 0
    return 4 * num_out_frames + 5


def make_pad_mask(lens: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True at padded positions."""
    return torch.arange(max_len, device=lens.device).unsqueeze(0) >= lens.unsqueeze(1)


class Conv2dSubsampling(nn.Module):
    """Subsample (B, T, F) features by 4 in time: (B, T, F) -> (B, T', C).

    Three 3x3 convolutions with ReLU: stride 1 (freq padding 1), stride 2, stride 2, none padded
    in time, so ``T' = ((T - 2 - 3) // 2 + 1 - 3) // 2 + 1 = ((T - 7) // 2 + 1) // 2`` and output
    frame ``t`` depends on input frames ``4t .. 4t + 8`` only (never on padding).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layer_channels: Tuple[int, int, int] = (8, 32, 128),
    ) -> None:
        super().__init__()
        c1, c2, c3 = layer_channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, stride=1, padding=(0, 1)),
            nn.ReLU(),
            nn.Conv2d(c1, c2, kernel_size=3, stride=2),
            nn.ReLU(),
            nn.Conv2d(c2, c3, kernel_size=3, stride=2),
            nn.ReLU(),
        )
        freq_out = ((in_channels - 3) // 2 + 1 - 3) // 2 + 1
        self.out = nn.Linear(c3 * freq_out, out_channels)
        # normalises the front-end's scale (icefall uses BasicNorm here); speeds up convergence
        self.out_norm = nn.LayerNorm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, T, F) -> (B, ((T - 7) // 2 + 1) // 2, C)."""
        t_out = subsampled_lengths(x.size(1))
        if x.size(1) < 9:  # too short for the kernels: run on 9 frames, keep 0
            x = nn.functional.pad(x, (0, 0, 0, 9 - x.size(1)))
        x = self.conv(x.unsqueeze(1))[:, :, :t_out]  # (B, c3, T', F')
        b, c, t, f = x.shape
        return self.out_norm(self.out(x.transpose(1, 2).reshape(b, t, c * f)))


class Conv1dSubsampling(nn.Module):
    """Subsample (B, T, F) features by 4 in time with 1-D convolutions over time (features as
    channels): (B, T, F) -> (B, T', C).

    Same time kernels and strides as :class:`Conv2dSubsampling` (3/1, 3/2, 3/2, no time padding),
    so the same ``T'`` and the same 9-frame receptive field, at about a quarter of its cost: on a
    2-core CPU the Conv2d front-end is ~40 % of a small model's training step.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, hidden, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, kernel_size=3, stride=2),
            nn.ReLU(),
            nn.Conv1d(hidden, out_channels, kernel_size=3, stride=2),
        )
        self.out_norm = nn.LayerNorm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, T, F) -> (B, ((T - 7) // 2 + 1) // 2, C)."""
        t_out = subsampled_lengths(x.size(1))
        if x.size(1) < 9:  # too short for the kernels: run on 9 frames, keep 0
            x = nn.functional.pad(x, (0, 0, 0, 9 - x.size(1)))
        x = self.conv(x.transpose(1, 2))[:, :, :t_out]  # (B, C, T')
        return self.out_norm(x.transpose(1, 2))


SUBSAMPLING = {"conv2d": Conv2dSubsampling, "conv1d": Conv1dSubsampling}


class RelPositionalEncoding(nn.Module):
    """Scale the input by sqrt(C) and return sinusoidal embeddings of relative positions.

    ``forward(x)`` with x (B, T, C) returns ``(x * sqrt(C), pos_emb)`` where pos_emb (1, 2T-1, C)
    holds the embeddings of relative positions ``T-1, T-2, ..., -(T-1)`` (Transformer-XL order,
    as in icefall). Embedding of position ``r``: ``[sin(r w_0), cos(r w_0), sin(r w_1), ...]``
    with ``w_i = 10000^(-2i/C)``; it depends on ``r`` only, not on ``T``.
    """

    def __init__(self, d_model: int, dropout: float) -> None:
        super().__init__()
        self.d_model = d_model
        self.xscale = math.sqrt(d_model)
        self.dropout = nn.Dropout(dropout)
        div = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(1e4) / d_model)
        )
        self.register_buffer("div_term", div, persistent=False)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        t = x.size(1)
        rel = torch.arange(t - 1, -t, -1, device=x.device, dtype=torch.float32).unsqueeze(1)
        angles = rel * self.div_term  # (2T-1, ceil(C/2))
        pe = torch.zeros(2 * t - 1, self.d_model, device=x.device)
        pe[:, 0::2] = torch.sin(angles)
        pe[:, 1::2] = torch.cos(angles[:, : self.d_model // 2])
        pos_emb = pe.unsqueeze(0).to(x.dtype)
        return self.dropout(x * self.xscale), self.dropout(pos_emb)


def rel_shift(x: Tensor) -> Tensor:
    """(B, H, T, 2T-1) scores against relative positions T-1..-(T-1) -> (B, H, T, T).

    Output ``[..., i, j] = x[..., i, T - 1 - i + j]``, i.e. the score for relative position i - j.
    """
    b, h, t, n = x.shape
    assert n == 2 * t - 1, (n, t)
    x = x.contiguous()
    sb, sh, st, sn = x.stride()
    return x.as_strided(
        (b, h, t, t), (sb, sh, st - sn, sn), storage_offset=x.storage_offset() + sn * (t - 1)
    )


class RelPositionMultiheadAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL relative positions (icefall's conformer).

    ``score(i, j) = ((q_i + u) . k_j + (q_i + v) . p_{i-j}) / sqrt(D)`` with learned biases u, v
    per head and p = ``linear_pos(pos_emb)``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        assert self.head_dim * num_heads == embed_dim, (embed_dim, num_heads)
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.linear_pos = nn.Linear(embed_dim, embed_dim, bias=False)
        self.pos_bias_u = nn.Parameter(torch.empty(num_heads, self.head_dim))
        self.pos_bias_v = nn.Parameter(torch.empty(num_heads, self.head_dim))
        self.dropout = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    def forward(self, x: Tensor, pos_emb: Tensor, key_padding_mask: Tensor) -> Tensor:
        """x: (B, T, C); pos_emb: (1, 2T-1, C); key_padding_mask: (B, T) True = pad -> (B, T, C)."""
        b, t, _ = x.shape
        h, d = self.num_heads, self.head_dim
        q, k, v = self.in_proj(x).view(b, t, 3, h, d).unbind(dim=2)  # each (B, T, H, D)
        p = self.linear_pos(pos_emb).view(1, 2 * t - 1, h, d).transpose(1, 2)  # (1, H, 2T-1, D)
        k = k.transpose(1, 2)  # (B, H, T, D)
        v = v.transpose(1, 2)
        matrix_ac = torch.matmul((q + self.pos_bias_u).transpose(1, 2), k.transpose(2, 3))
        matrix_bd = torch.matmul((q + self.pos_bias_v).transpose(1, 2), p.transpose(2, 3))
        scores = (matrix_ac + rel_shift(matrix_bd)) / math.sqrt(d)  # (B, H, T, T)
        mask = key_padding_mask.view(b, 1, 1, t)
        scores = scores.masked_fill(mask, float("-inf"))
        # A row with every key masked (an empty utterance) would be NaN: zero it instead.
        weights = torch.softmax(scores, dim=-1).masked_fill(mask, 0.0)
        out = torch.matmul(self.dropout(weights), v)  # (B, H, T, D)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * d))


class ConvolutionModule(nn.Module):
    """Pointwise conv + GLU -> depthwise conv -> LayerNorm -> Swish -> pointwise conv.

    Padded frames are zeroed before the depthwise convolution so valid frames see exactly the
    zeros that "same" padding gives an unpadded utterance.
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        assert kernel_size % 2 == 1, kernel_size
        self.pointwise_conv1 = nn.Conv1d(channels, 2 * channels, kernel_size=1)
        self.depthwise_conv = nn.Conv1d(
            channels, channels, kernel_size, padding=(kernel_size - 1) // 2, groups=channels
        )
        self.norm = nn.LayerNorm(channels)
        self.activation = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(channels, channels, kernel_size=1)

    def forward(self, x: Tensor, pad_mask: Tensor) -> Tensor:
        """x: (B, T, C); pad_mask: (B, T) True = pad -> (B, T, C)."""
        x = nn.functional.glu(self.pointwise_conv1(x.transpose(1, 2)), dim=1)  # (B, C, T)
        x = x.masked_fill(pad_mask.unsqueeze(1), 0.0)
        x = self.depthwise_conv(x)
        x = self.activation(self.norm(x.transpose(1, 2)))  # (B, T, C)
        return self.pointwise_conv2(x.transpose(1, 2)).transpose(1, 2)


class FeedForward(nn.Module):
    """Linear -> Swish -> Dropout -> Linear, (B, T, C) -> (B, T, C)."""

    def __init__(self, d_model: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, d_model)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConformerLayer(nn.Module):
    """One Conformer block (pre-norm, macaron): half FFN, MHSA, conv, half FFN, LayerNorm."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ff_dim: int,
        kernel_size: int,
        dropout: float,
        layer_scale: float = 0.0,
    ) -> None:
        super().__init__()
        # LayerScale (Touvron et al. 2021): each residual branch times a learned per-channel
        # gain that starts at ``layer_scale``, so a fresh encoder is close to the identity on top
        # of the front-end. Randomly initialised attention and depthwise convolutions otherwise
        # blur the frames the output layer needs, and a from-scratch model sits on the
        # all-blank plateau for ~1000 steps (egs/synthlibri/ASR/NOTES.md). 0 disables it.
        self.branch_scales = (
            nn.Parameter(torch.full((4, d_model), float(layer_scale))) if layer_scale > 0 else None
        )
        self.ff_macaron = FeedForward(d_model, ff_dim, dropout)
        self.self_attn = RelPositionMultiheadAttention(d_model, num_heads, dropout)
        self.conv_module = ConvolutionModule(d_model, kernel_size)
        self.feed_forward = FeedForward(d_model, ff_dim, dropout)
        self.norm_ff_macaron = nn.LayerNorm(d_model)
        self.norm_mha = nn.LayerNorm(d_model)
        self.norm_conv = nn.LayerNorm(d_model)
        self.norm_ff = nn.LayerNorm(d_model)
        self.norm_final = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos_emb: Tensor, pad_mask: Tensor) -> Tensor:
        """x: (B, T, C); pos_emb: (1, 2T-1, C); pad_mask: (B, T) True = pad -> (B, T, C)."""
        g = self.branch_scales if self.branch_scales is not None else (1.0, 1.0, 1.0, 1.0)
        x = x + 0.5 * g[0] * self.dropout(self.ff_macaron(self.norm_ff_macaron(x)))
        x = x + g[1] * self.dropout(self.self_attn(self.norm_mha(x), pos_emb, pad_mask))
        x = x + g[2] * self.dropout(self.conv_module(self.norm_conv(x), pad_mask))
        x = x + 0.5 * g[3] * self.dropout(self.feed_forward(self.norm_ff(x)))
        return self.norm_final(x)


class ConformerEncoder(nn.Module):
    """Fbank features -> encoder frames: (B, T, F), (B,) -> (B, T', C), (B,).

    Padded output frames (``t >= T'_b``) are set to 0.
    """

    def __init__(self, config: TransducerConfig) -> None:
        super().__init__()
        c = config
        self.output_dim = c.encoder_dim
        # global mean/variance normalisation of the input features (set from training data by
        # ``Transducer.set_feature_stats``; saved with the model)
        self.register_buffer("feature_mean", torch.zeros(c.feature_dim))
        self.register_buffer("feature_std", torch.ones(c.feature_dim))
        self.encoder_embed = SUBSAMPLING[c.subsampling](c.feature_dim, c.encoder_dim)
        self.encoder_pos = RelPositionalEncoding(c.encoder_dim, c.dropout)
        self.layers = nn.ModuleList(
            ConformerLayer(
                c.encoder_dim,
                c.num_heads,
                c.feedforward_dim,
                c.conv_kernel_size,
                c.dropout,
                layer_scale=c.layer_scale,
            )
            for _ in range(c.num_encoder_layers)
        )

    def forward(self, features: Tensor, feature_lens: Tensor) -> Tuple[Tensor, Tensor]:
        """features: (B, T, F) float; feature_lens: (B,) int64 -> (B, T', C), (B,) int64."""
        x = self.encoder_embed((features - self.feature_mean) / self.feature_std)
        lens = subsampled_lengths(feature_lens.to(torch.int64)).clamp(max=x.size(1))
        if x.size(1) == 0:  # every utterance shorter than 9 frames: nothing to encode
            return x, lens
        pad_mask = make_pad_mask(lens, x.size(1))
        x, pos_emb = self.encoder_pos(x)
        for layer in self.layers:
            x = layer(x, pos_emb, pad_mask)
        x = x.masked_fill(pad_mask.unsqueeze(-1), 0.0)
        return x, lens

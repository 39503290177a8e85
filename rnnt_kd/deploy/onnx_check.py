"""onnxruntime outputs of exported files against the PyTorch modules (icefall's ``onnx_check.py``).

The inputs differ from the ones the export traced (another batch size, another length, padding),
so a shape baked in by the exporter shows up as an error or a large difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Union

import numpy as np
import torch

from rnnt_kd.deploy.onnx_export import onnx_file
from rnnt_kd.model import Transducer

Pathlike = Union[str, Path]


def ort_session(path: Pathlike, num_threads: int = 1):
    """An onnxruntime CPU session on ``num_threads`` threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_onnx(
    model: Transducer,
    onnx_dir: Pathlike,
    int8: bool = False,
    feature_lens: Sequence[int] = (157, 120, 43, 5),
    seed: int = 0,
) -> Dict[str, float]:
    """Largest absolute differences between onnxruntime and the original PyTorch modules
    (``model.encode`` + ``joiner.encoder_proj``, ``decoder`` + ``joiner.decoder_proj``, the joiner
    with ``project_input=False``: not the export wrappers), per part.

    Encoder: a padded batch of random features with ``feature_lens`` (default: 4 utterances, the
    longest 157 frames, one shorter than the 9 frames the front-end needs), compared on the valid
    frames; ``encoder_out_lens`` must be equal (else the difference is ``inf``). Decoder: every
    token after ``[-1, 0]``-style contexts and random contexts. Joiner: random projected inputs.
    Returns {"encoder": float, "decoder": float, "joiner": float}.
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    out: Dict[str, float] = {}
    with torch.no_grad():
        lens = torch.tensor(list(feature_lens), dtype=torch.int64)
        x = torch.randn(len(lens), int(lens.max()), cfg.feature_dim, generator=g) * 3 - 5
        x = x.masked_fill(
            torch.arange(x.size(1)).unsqueeze(0).unsqueeze(-1) >= lens.view(-1, 1, 1), 0
        )
        ref, ref_lens = model.encode(x, lens)
        ref = model.joiner.encoder_proj(ref)
        enc, enc_lens = ort_session(onnx_file(onnx_dir, "encoder", int8)).run(
            None, {"x": x.numpy(), "x_lens": lens.numpy()}
        )
        if not np.array_equal(enc_lens, ref_lens.numpy()):
            out["encoder"] = float("inf")
        else:
            out["encoder"] = max(
                (
                    float(np.abs(enc[b, :n] - ref[b, :n].numpy()).max())
                    for b, n in enumerate(ref_lens.tolist())
                    if n > 0
                ),
                default=0.0,
            )

        ctx, vocab = cfg.context_size, cfg.vocab_size
        start = torch.full((1, ctx), -1, dtype=torch.int64)
        start[0, -1] = 0
        y = torch.cat([start, torch.randint(0, vocab, (vocab + 7, ctx), generator=g)])
        y[1 : vocab + 1, -1] = torch.arange(vocab)
        dec = ort_session(onnx_file(onnx_dir, "decoder", int8)).run(None, {"y": y.numpy()})[0]
        ref = model.joiner.decoder_proj(model.decoder(y, need_pad=False).squeeze(1))
        out["decoder"] = float(np.abs(dec - ref.numpy()).max())

        j = cfg.joiner_dim
        e, d = torch.randn(11, j, generator=g), torch.randn(11, j, generator=g)
        logit = ort_session(onnx_file(onnx_dir, "joiner", int8)).run(
            None, {"encoder_out": e.numpy(), "decoder_out": d.numpy()}
        )[0]
        ref = model.joiner(e, d, project_input=False)
        out["joiner"] = float(np.abs(logit - ref.numpy()).max())
    return out

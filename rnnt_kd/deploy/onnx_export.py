"""Write a trained transducer as the ONNX files ``sherpa_onnx.OfflineRecognizer.from_transducer``
loads (float32 and int8), plus ``tokens.txt`` and ``bpe.vocab``.

Output directory (icefall's names without the epoch suffix)::

    encoder.onnx  decoder.onnx  joiner.onnx            float32, weights inline
    encoder.int8.onnx  decoder.int8.onnx  joiner.int8.onnx   onnxruntime quantize_dynamic, QInt8
    tokens.txt   ``<piece> <id>`` per line (blank ``<blk>`` is id 0)
    bpe.vocab    ``<piece>\\t<score>`` (sentencepiece's format; sherpa-onnx reads it to encode
                 hotwords with ``modeling_unit="bpe"``)

Metadata sherpa-onnx reads: the encoder's ``model_type`` (``conformer``: picks its transducer
recognizer when no model type is given, e.g. by the C++ CLI), the decoder's ``context_size`` and
``vocab_size``. The rest (``model_author`` ...) is informational.

The exporter is torch's ``dynamo`` one (``torch.onnx.export(..., dynamo=True)``); the TorchScript
exporter cannot trace the Conformer's relative-position shift. It needs ``onnxscript``.

Example::

    model, _ = load_transducer(checkpoint="exp/teacher/pretrained.pt")
    files = export_transducer(model, "data/lang_bpe_256/bpe.model", "exp/teacher/onnx")
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from rnnt_kd.deploy.onnx_modules import OnnxDecoder, OnnxEncoder, OnnxJoiner, split_for_onnx
from rnnt_kd.model import Transducer

Pathlike = Union[str, Path]
OPSET = 18
PARTS = ("encoder", "decoder", "joiner")
# onnxruntime dynamic quantisation per part (icefall's choice; Gather = the decoder's embedding).
# Convolutions stay float32 (ConvInteger is slow or missing in some runtimes).
INT8_OP_TYPES = {"encoder": ["MatMul"], "decoder": ["MatMul", "Gather"], "joiner": ["MatMul"]}
log = logging.getLogger(__name__)


def onnx_file(out_dir: Pathlike, part: str, int8: bool = False) -> Path:
    """``<out_dir>/<part>.onnx`` or ``<part>.int8.onnx``."""
    return Path(out_dir) / f"{part}{'.int8' if int8 else ''}.onnx"


def _dynamic() -> Any:
    dim = getattr(torch.export, "Dim", None)
    if dim is None or not hasattr(dim, "DYNAMIC"):
        raise RuntimeError(
            "ONNX export needs torch >= 2.6 (torch.export.Dim.DYNAMIC); this is "
            f"{torch.__version__}"
        )
    return dim.DYNAMIC


def export_module(
    module: nn.Module,
    args: Tuple[Tensor, ...],
    path: Pathlike,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_shapes: Dict[str, Dict[int, Any]],
    metadata: Dict[str, str],
    opset: int = OPSET,
) -> Path:
    """Export ``module(*args)`` to one self-contained ``.onnx`` file with ``metadata``.

    ``dynamic_shapes``: input name -> {axis: Dim}. The weights are stored inline (the dynamo
    exporter would write them to a separate ``.data`` file, which sherpa-onnx does not read).
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                opset_version=opset,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_shapes=dynamic_shapes,
                verbose=False,
            )
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    proto = program.model_proto
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(path), save_as_external_data=False)
    return path


def export_encoder(encoder: OnnxEncoder, path: Pathlike, metadata: Dict[str, str]) -> Path:
    """``x`` (N, T, F), ``x_lens`` (N,) -> ``encoder_out`` (N, T', J), ``encoder_out_lens``."""
    feature_dim = encoder.encoder.feature_mean.numel()
    x = torch.zeros(2, 100, feature_dim)
    x_lens = torch.tensor([100, 80], dtype=torch.int64)
    dyn = _dynamic()
    return export_module(
        encoder,
        (x, x_lens),
        path,
        ["x", "x_lens"],
        ["encoder_out", "encoder_out_lens"],
        {"x": {0: dyn, 1: dyn}, "x_lens": {0: dyn}},
        metadata,
    )


def export_decoder(decoder: OnnxDecoder, path: Pathlike, metadata: Dict[str, str]) -> Path:
    """``y`` (N, context_size) int64 -> ``decoder_out`` (N, J)."""
    y = torch.zeros(3, decoder.context_size, dtype=torch.int64)
    return export_module(
        decoder, (y,), path, ["y"], ["decoder_out"], {"y": {0: _dynamic()}}, metadata
    )


def export_joiner(joiner: OnnxJoiner, path: Pathlike, metadata: Dict[str, str]) -> Path:
    """``encoder_out`` (N, J), ``decoder_out`` (N, J) -> ``logit`` (N, V)."""
    joiner_dim = joiner.output_linear.weight.size(1)
    e, d = torch.zeros(3, joiner_dim), torch.zeros(3, joiner_dim)
    dyn = _dynamic()
    return export_module(
        joiner,
        (e, d),
        path,
        ["encoder_out", "decoder_out"],
        ["logit"],
        {"encoder_out": {0: dyn}, "decoder_out": {0: dyn}},
        metadata,
    )


def quantize_int8(src: Pathlike, dst: Pathlike, op_types: List[str]) -> Path:
    """onnxruntime dynamic quantisation: weights of ``op_types`` to int8 (QInt8, per tensor),
    activations quantised at run time. Zero weights stay exactly zero."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the model, once per file
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                model_input=str(src),
                model_output=str(dst),
                op_types_to_quantize=op_types,
                weight_type=QuantType.QInt8,
            )
    finally:
        root.setLevel(level)
    return Path(dst)


def write_tokens(bpe_model: Pathlike, out_dir: Pathlike) -> Tuple[Path, Path]:
    """``tokens.txt`` (``piece id``) and ``bpe.vocab`` (``piece<TAB>score``) of a BPE model."""
    from rnnt_kd.data import Tokenizer

    tok = Tokenizer(bpe_model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pieces = [tok.sp.id_to_piece(i) for i in range(tok.vocab_size)]
    tokens = out_dir / "tokens.txt"
    tokens.write_text("".join(f"{p} {i}\n" for i, p in enumerate(pieces)), encoding="utf-8")
    vocab = out_dir / "bpe.vocab"
    vocab.write_text(
        "".join(f"{p}\t{tok.sp.get_score(i)}\n" for i, p in enumerate(pieces)), encoding="utf-8"
    )
    return tokens, vocab


def model_metadata(model: Transducer, extra: Optional[Dict[str, Any]] = None) -> Dict[str, str]:
    """The encoder's metadata: what sherpa-onnx needs plus what a reader wants to know."""
    import rnnt_kd

    cfg = model.config
    meta = {
        "model_type": "conformer",
        "version": "1",
        "model_author": "rnnt-kd",
        "comment": "rnnt-kd Conformer transducer, offline (non-streaming)",
        "rnnt_kd_version": rnnt_kd.__version__,
        "feature_dim": cfg.feature_dim,
        "subsampling_factor": 4,
        "blank_id": cfg.blank_id,
        "vocab_size": cfg.vocab_size,
        "context_size": cfg.context_size,
        "encoder_dim": cfg.encoder_dim,
        "num_encoder_layers": cfg.num_encoder_layers,
        "joiner_dim": cfg.joiner_dim,
    }
    meta.update(extra or {})
    return {k: str(v) for k, v in meta.items()}


def export_transducer(
    model: Transducer,
    bpe_model: Pathlike,
    out_dir: Pathlike,
    int8: bool = True,
    extra_metadata: Optional[Dict[str, Any]] = None,
) -> Dict[str, Path]:
    """Export ``model`` to ``out_dir`` (see the module docstring for the files).

    Returns {"encoder", "decoder", "joiner", ["encoder.int8", ...], "tokens", "bpe_vocab"} ->
    paths. ``extra_metadata`` is added to the encoder's metadata (e.g. sparsity).
    """
    out_dir = Path(out_dir)
    encoder, decoder, joiner = split_for_onnx(model)
    cfg = model.config
    files: Dict[str, Path] = {}
    log.info("exporting the encoder (torch.onnx dynamo exporter, opset %d)", OPSET)
    files["encoder"] = export_encoder(
        encoder, onnx_file(out_dir, "encoder"), model_metadata(model, extra_metadata)
    )
    files["decoder"] = export_decoder(
        decoder,
        onnx_file(out_dir, "decoder"),
        {"context_size": str(cfg.context_size), "vocab_size": str(cfg.vocab_size)},
    )
    files["joiner"] = export_joiner(
        joiner, onnx_file(out_dir, "joiner"), {"joiner_dim": str(cfg.joiner_dim)}
    )
    if int8:
        for part in PARTS:
            files[f"{part}.int8"] = quantize_int8(
                files[part], onnx_file(out_dir, part, int8=True), INT8_OP_TYPES[part]
            )
    files["tokens"], files["bpe_vocab"] = write_tokens(bpe_model, out_dir)
    return files

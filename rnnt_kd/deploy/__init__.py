"""Deployment: sherpa-onnx-ready ONNX export, decoding with sherpa-onnx, sizes and tables.

Modules (one job each):

- ``model_source``: the trained model to deploy (``--exp-dir/--epoch/--avg`` or ``--checkpoint``).
- ``onnx_modules``: the encoder / decoder / joiner split sherpa-onnx runs (icefall's layout).
- ``onnx_export``: writes ``encoder.onnx``, ``decoder.onnx``, ``joiner.onnx`` (with the metadata
  sherpa-onnx reads), their int8 versions and ``tokens.txt``.
- ``onnx_check``: onnxruntime outputs against the PyTorch modules.
- ``frontend``: sherpa-onnx's fbank options against the training features' (``FbankConfig``).
- ``sizes``: file sizes, and compressed as shipped (``.tar.bz2``).
- ``sherpa``: recognizing audio with sherpa-onnx (no torch import).
- ``table``: the deployment table (WER, sizes, RTF) for reports.

Importing this package imports nothing heavy: ``sherpa``, ``sizes`` and ``table`` work without
torch, so ``transcribe --onnx-dir`` runs on a machine with only sherpa-onnx installed.
"""

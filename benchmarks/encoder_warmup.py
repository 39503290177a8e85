#!/usr/bin/env python3
"""How fast does a fresh encoder leave the all-blank CTC plateau?

Trains the encoder + CTC head of a ``Transducer`` (CTC loss only, AdamW, linear warm-up, random
batches of 16 training utterances, one CPU thread) and prints the mean CTC loss per frame every
``--report`` steps. Cheap (~2 min for 400 steps of the ``small`` preset), so front-ends and
initialisations can be compared before a full training run. Results and commands:
``egs/synthlibri/ASR/NOTES.md``.

Example::

  python benchmarks/encoder_warmup.py \\
      --cuts data/fbank/synthlibri_cuts_train-clean-synth.jsonl.gz \\
      --bpe-model data/lang_bpe_128/bpe.model --layer-scale 0.1 --subsampling conv1d
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from lhotse import CutSet

from rnnt_kd.data import Tokenizer, feature_stats
from rnnt_kd.model import Transducer, TransducerConfig


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cuts", required=True, help="training CutSet with features")
    p.add_argument("--bpe-model", required=True)
    p.add_argument("--model-preset", default="small")
    p.add_argument("--subsampling", choices=["conv2d", "conv1d"], default="conv1d")
    p.add_argument("--layer-scale", type=float, default=0.0, help="0: no LayerScale")
    p.add_argument("--no-layers", action="store_true", help="front-end + CTC head only")
    p.add_argument("--num-cuts", type=int, default=3000, help="utterances to sample batches from")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--report", type=int, default=50, help="print every N steps")
    p.add_argument("--seed", type=int, default=0)
    return p


def main() -> None:
    args = get_parser().parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cuts = CutSet.from_file(args.cuts).subset(first=args.num_cuts).to_eager()
    tok = Tokenizer(args.bpe_model)
    data = [(torch.from_numpy(c.load_features()), c.supervisions[0].text) for c in cuts]
    cfg = TransducerConfig.from_preset(
        args.model_preset,
        tok.vocab_size,
        use_ctc=True,
        subsampling=args.subsampling,
        layer_scale=args.layer_scale,
        dropout=0.0,
    )
    model = Transducer(cfg)
    model.set_feature_stats(*feature_stats(cuts))
    if args.no_layers:
        model.encoder.layers = torch.nn.ModuleList()
    opt = torch.optim.AdamW(model.parameters(), args.lr, betas=(0.9, 0.98), weight_decay=1e-3)
    rng = random.Random(args.seed)
    losses, t0 = [], time.time()
    print(f"{'step':>6} {'ctc/frame':>10} {'seconds':>8}")
    for step in range(1, args.steps + 1):
        batch = rng.sample(data, args.batch_size)
        feats = torch.nn.utils.rnn.pad_sequence([b[0] for b in batch], batch_first=True)
        lens = torch.tensor([b[0].shape[0] for b in batch])
        ids = tok.encode([b[1] for b in batch])
        targets = torch.nn.utils.rnn.pad_sequence([torch.tensor(i) for i in ids], batch_first=True)
        target_lens = torch.tensor([len(i) for i in ids])
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, step / 100)
        enc, enc_lens = model.encode(feats, lens)
        log_probs = model.ctc_output(enc).log_softmax(-1)
        loss = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1), targets, enc_lens, target_lens, reduction="sum",
            zero_infinity=True,
        )  # fmt: skip
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item() / enc_lens.sum().item())
        if step % args.report == 0:
            mean = sum(losses[-args.report :]) / args.report
            print(f"{step:>6} {mean:>10.3f} {time.time() - t0:>8.0f}", flush=True)


if __name__ == "__main__":
    main()

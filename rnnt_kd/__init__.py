"""rnnt-kd: efficient knowledge distillation for RNN-Transducer models.

The library behind the recipes in ``egs/``: Conformer transducers trained with k2's pruned RNN-T
loss, the y/blank lattice distillation loss, gradual magnitude pruning, search and WER scoring.
"""

__version__ = "0.1.0"

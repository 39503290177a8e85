"""Command-line entry points shared by all recipes (``python -m rnnt_kd.bin.<tool> --help``)."""

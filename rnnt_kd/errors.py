"""Errors that mean "the input, the options or the machine are wrong", not "rnnt-kd has a bug".

Every command-line tool reports them as ONE line ``PROG: error: MESSAGE`` with a non-zero exit
(``rnnt_kd.bin.cli_errors``); so the message must say what is wrong and name the file, the option
or the value, e.g. ``features not found: 1 of 1 feature files are missing: fbank/x.lca``.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (a missing input, an option that does not fit, a busy or
    unwritable directory). Library code raises it (or a subclass) with a one-sentence message."""

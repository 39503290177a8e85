#!/usr/bin/env python3
"""Stage 0 of the LibriSpeech recipe: fetch the parts that are not already in ``--dl-dir``.

  python local/download.py --dl-dir download --parts train-clean-100 dev-clean test-clean
  python local/download.py --dl-dir /data/corpora --parts test-other --musan true

A part counts as present when ``<dl-dir>/LibriSpeech/<part>`` is a non-empty directory (an
existing copy made by any tool, e.g. ``lhotse download librispeech --full <dl-dir>``); only
missing parts are downloaded, with ``lhotse.recipes.download_librispeech``. MUSAN
(``<dl-dir>/musan``) is fetched with ``lhotse.recipes.download_musan`` when ``--musan true``.
Without network access the script exits with status 1 and one message naming the URL it needed
and the lhotse command that fetches the data elsewhere; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, List, Sequence

OPENSLR = "http://www.openslr.org/resources"  # lhotse's default; LibriSpeech is /12, MUSAN /17
LAYOUT = "<dl-dir>/LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac"


class DownloadError(RuntimeError):
    """A download failed; the message says what was needed and how to get it otherwise."""


def present(path: Path) -> bool:
    """True when ``path`` is a directory holding at least one entry."""
    return path.is_dir() and any(path.iterdir())


def missing_parts(dl_dir: Path, parts: Sequence[str]) -> List[str]:
    """The parts of ``parts`` without a non-empty ``dl_dir/LibriSpeech/<part>`` directory."""
    return [p for p in parts if not present(Path(dl_dir) / "LibriSpeech" / p)]


def _fail(what: str, url: str, command: str, dl_dir: Path, err: Exception) -> DownloadError:
    partial = dl_dir / url.rsplit("/", 1)[-1]
    if partial.is_file() and partial.stat().st_size == 0:
        partial.unlink()  # an empty archive left by the failed request
    return DownloadError(
        f"could not download {what} from {url}\n  ({type(err).__name__}: {err})\n"
        f"Without network access here: run `{command}` on a machine that has it (or fetch the "
        f"archive above) and copy the result here, or point --dl-dir at an existing copy.\n"
        f"Expected layout: {LAYOUT}"
    )


def download_librispeech_parts(
    dl_dir: Path,
    parts: Sequence[str],
    base_url: str = OPENSLR,
    fetch: Callable[..., Path] | None = None,
) -> List[str]:
    """Download the missing ``parts`` into ``dl_dir/LibriSpeech``; returns the parts fetched.

    ``fetch`` defaults to ``lhotse.recipes.download_librispeech``; raises ``DownloadError``.
    """
    todo = missing_parts(dl_dir, parts)
    for p in sorted(set(parts) - set(todo)):
        logging.info(f"LibriSpeech {p}: found {dl_dir / 'LibriSpeech' / p}, not downloading")
    if fetch is None:
        from lhotse.recipes import download_librispeech as fetch
    for part in todo:
        url = f"{base_url}/12/{part}.tar.gz"
        logging.info(f"LibriSpeech {part}: downloading {url}")
        try:
            fetch(dl_dir, dataset_parts=[part], base_url=base_url)
        except Exception as e:  # noqa: BLE001 - any network/archive failure gets one message
            raise _fail(
                f"LibriSpeech part '{part}'",
                url,
                f"lhotse download librispeech --full {dl_dir}",
                dl_dir,
                e,
            ) from None
        if not present(dl_dir / "LibriSpeech" / part):
            raise DownloadError(
                f"{url} did not unpack to {dl_dir / 'LibriSpeech' / part} "
                f"(unknown part name? LibriSpeech parts look like test-clean)"
            )
    return todo


def download_musan(dl_dir: Path, base_url: str = OPENSLR) -> bool:
    """Download MUSAN into ``dl_dir/musan`` unless present; True when it was fetched."""
    if present(dl_dir / "musan"):
        logging.info(f"MUSAN: found {dl_dir / 'musan'}, not downloading")
        return False
    from lhotse.recipes import download_musan as fetch

    url = f"{base_url}/17/musan.tar.gz"
    try:
        fetch(dl_dir, url=url)
    except Exception as e:  # noqa: BLE001
        raise _fail("MUSAN", url, f"lhotse download musan {dl_dir}", dl_dir, e) from None
    return True


def main(argv: List[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="download.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dl-dir", type=Path, required=True)
    p.add_argument("--parts", nargs="+", required=True, help="e.g. train-clean-100 test-other")
    p.add_argument("--musan", choices=["true", "false"], default="false")
    p.add_argument("--base-url", default=OPENSLR, help="OpenSLR or a mirror of it")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.dl_dir.mkdir(parents=True, exist_ok=True)
    try:
        download_librispeech_parts(args.dl_dir, args.parts, args.base_url)
        if args.musan == "true":
            download_musan(args.dl_dir, args.base_url)
    except DownloadError as e:
        print(f"download.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

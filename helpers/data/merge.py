"""``python -m helpers merge OUT [SOURCE ...]``: one dataset from shards or several folders.

Run it after every shard has finished. Without sources it folds the shard manifests inside ``OUT``
(shards that wrote into the same folder) into ``manifest.jsonl`` and writes ``dataset.json``. With
sources (shards that wrote into folders of their own, e.g. on other machines) it first adds their
samples to ``OUT`` (hard links when on the same file system, else copies). See
:func:`helpers.data.folder.merge_folders`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.data.folder import merge_folders


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="dataset folder to merge into (created if missing)")
    parser.add_argument("sources", type=Path, nargs="*", help="other dataset folders to add to OUT")


def run(args: argparse.Namespace) -> int:
    count = merge_folders(args.out, args.sources)
    print(f"{args.out}: {count} samples in manifest.jsonl and dataset.json")
    return 0

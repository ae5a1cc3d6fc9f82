"""``python -m helpers merge OUT [SOURCE ...]``: one dataset from shards or several folders.

Run it after every shard has finished. Without sources it folds the shard manifests inside ``OUT``
(shards that wrote into the same folder) into ``manifest.jsonl`` and writes ``dataset.json``. With
sources (shards that wrote into folders of their own, e.g. on other machines) it first adds their
samples to ``OUT`` (hard links when on the same file system, else copies). See
:func:`merge_folders`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

from helpers.base.atomic import link_or_copy
from helpers.dataset_folder.layout import MANIFEST, META, DatasetFolderError, remove_temporaries
from helpers.dataset_folder.manifest import (
    ManifestWriter,
    check_sample_files,
    consolidate,
    iter_files,
    read_samples,
    record_order,
)
from helpers.dataset_folder.meta import check_compatible, read_meta, write_meta


def merge_folders(out: str | os.PathLike[str], sources: Iterable[str | os.PathLike[str]] = ()) -> int:
    """Combine dataset folders into ``out``.

    Samples of each source (and the shard manifests already inside ``out``) are added to ``out``:
    files are hard-linked (or copied) under temporary names first, the manifest line comes last.
    All folders must have been made with the same generator and settings. Ids already in ``out``
    are kept. Finally :func:`consolidate` writes one ``manifest.jsonl`` and ``dataset.json``.
    Returns the number of samples in ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_temporaries(out)  # merging runs after every shard finished: leftovers are from crashes
    meta = read_meta(out)
    for source in map(Path, sources):
        if source.resolve() == out.resolve():
            continue
        source_meta = read_meta(source)
        if source_meta is None:
            raise DatasetFolderError(f"{source} has no {META}: not a dataset folder")
        if meta is None:
            meta = {**source_meta, "merged_from": []}
        else:
            check_compatible(meta, source_meta, source)
        meta.setdefault("merged_from", []).append(str(source))
        write_meta(out, meta)
        have = read_samples(out)
        with ManifestWriter(out / MANIFEST) as writer:
            for record in sorted(read_samples(source).values(), key=record_order):
                if record["id"] in have:
                    continue
                check_sample_files(source, [record])
                for rel in iter_files(record):
                    link_or_copy(source / rel, out / rel)
                writer.append(record)
    return consolidate(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="dataset folder to merge into (created if missing)")
    parser.add_argument("sources", type=Path, nargs="*", help="other dataset folders to add to OUT")


def run(args: argparse.Namespace) -> int:
    count = merge_folders(args.out, args.sources)
    print(f"{args.out}: {count} samples in manifest.jsonl and dataset.json")
    return 0

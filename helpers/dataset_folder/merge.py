"""``python -m helpers merge OUT [SOURCE ...]``: one dataset from shards or several folders.

Run it after every shard has finished. Without sources it folds the shard manifests inside ``OUT``
(shards that wrote into the same folder) into ``manifest.jsonl`` and writes ``dataset.json``. With
sources (shards that wrote into folders of their own, e.g. on other machines) it first adds their
samples to ``OUT`` (hard links when on the same file system, else copies). See
:func:`merge_folders`.

Refused: a folder that does not exist (``OUT`` without sources, or a source), a source that is not a dataset folder,
a shard that is missing (``manifest.shard001-of-004.jsonl`` absent while its siblings are there; ``allow_partial``
/ ``--allow-partial`` merges what is there and says what is missing) or still running (it holds its shard lock),
and a second writer: the merge holds ``OUT``'s lock.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from helpers.base.atomic import link_or_copy
from helpers.base.errors import UserError
from helpers.base.folder_lock import folder_lock
from helpers.dataset_folder.layout import MANIFEST, META, DatasetFolderError, remove_temporaries
from helpers.dataset_folder.manifest import (
    ManifestWriter,
    check_sample_files,
    consolidate,
    iter_files,
    manifest_paths,
    read_samples,
    record_order,
    shard_manifest_name,
    shard_manifests,
)
from helpers.dataset_folder.meta import check_compatible, read_meta, write_meta

__all__ = ["MERGED_SHARDS", "MissingShardsError", "add_arguments", "merge_folders", "run"]


class MissingShardsError(UserError, DatasetFolderError):
    """Some shards of a sharded run have no manifest: they have not run (or not started) yet."""


#: meta.json key: the shards (``"i/n"``) an earlier merge folded in (their manifests are gone, their samples are not).
MERGED_SHARDS = "merged_shards"


def _merged_shards(meta: dict | None) -> set[tuple[int, int]]:
    return {(int(i), int(n)) for i, _, n in (text.partition("/") for text in (meta or {}).get(MERGED_SHARDS, []))}


def _check_shards(folders: list[Path], allow_partial: bool, log: Callable[[str], object]) -> None:
    """Every shard of every shard count seen (a manifest, or merged before) across ``folders`` must be there."""
    seen: set[tuple[int, int]] = set()
    for folder in folders:
        seen |= set(shard_manifests(folder)) | _merged_shards(read_meta(folder))
    missing = [(i, n) for n in sorted({n for _, n in seen}) for i in range(n) if (i, n) not in seen]
    if not missing:
        return
    names = [shard_manifest_name(i, n) for i, n in missing]
    more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
    what = (f"shard(s) {', '.join(f'{i}/{n}' for i, n in missing[:4])}{more} of "
            f"{', '.join(map(str, folders))} have not written their manifest ({', '.join(names[:4])}{more})")
    if not allow_partial:
        raise MissingShardsError(what, "run them (or wait for them) first, or pass --allow-partial to merge what is "
                                 "there (a later merge adds the rest)")
    log(f"WARNING: {what}; merging the others (--allow-partial)")


def _is_dataset_folder(folder: Path) -> bool:
    return (folder / META).is_file() or bool(manifest_paths(folder))


def merge_folders(out: str | os.PathLike[str], sources: Iterable[str | os.PathLike[str]] = (), *,
                  allow_partial: bool = False, log: Callable[[str], object] = print) -> int:
    """Combine dataset folders into ``out``.

    Samples of each source (and the shard manifests already inside ``out``) are added to ``out``:
    files are hard-linked (or copied) under temporary names first, the manifest line comes last.
    All folders must have been made with the same generator and settings. Ids already in ``out``
    are kept. Finally :func:`consolidate` writes one ``manifest.jsonl`` and ``dataset.json``.
    Returns the number of samples in ``out``.

    Raises:
        FileNotFoundError: ``out`` does not exist and there are no sources (a typo would make an empty dataset), or
            a source does not exist.
        DatasetFolderError: a source (or ``out``, without sources) is not a dataset folder, or was made with other
            settings; :class:`MissingShardsError` when shards are missing and ``allow_partial`` is False.
        FolderBusyError: another process writes ``out``, or a shard of ``out`` is still running.
    """
    out = Path(out)
    sources = [Path(source) for source in sources]
    if not sources and not out.is_dir():
        raise FileNotFoundError(f"no such dataset folder: {out} — give the folder the shards wrote into, or name "
                                "the folders to merge into it: merge OUT SOURCE …")
    if not sources and not _is_dataset_folder(out):
        raise DatasetFolderError(f"{out} is not a dataset folder (no {META}, no manifest) — give the folder the "
                                 "shards wrote into")
    for source in sources:
        if not source.is_dir():
            raise FileNotFoundError(f"no such dataset folder: {source} — check the path of each SOURCE")
        if source.resolve() != out.resolve() and read_meta(source) is None:
            raise DatasetFolderError(f"{source} has no {META}: not a dataset folder — give folders written by "
                                     "generate, invert or datasets convert")
    with contextlib.ExitStack() as locks:
        # Every run that writes these folders holds their lock (the shards of a sharded run share it, from their
        # start): refuse rather than fold manifests that still grow or delete a running shard's temporary files.
        locks.enter_context(folder_lock(out, "merge"))
        for source in dict.fromkeys(source.resolve() for source in sources if source.resolve() != out.resolve()):
            try:
                locks.enter_context(folder_lock(source, "merge (reading)"))
            except PermissionError:  # a folder nobody may write into (read-only, another owner): nothing writes it
                pass
            except OSError as error:
                if error.errno != errno.EROFS:
                    raise
        _check_shards([folder for folder in [out, *sources] if folder.is_dir()], allow_partial, log)
        return _merge(out, sources)


def _merge(out: Path, sources: list[Path]) -> int:
    remove_temporaries(out)  # merging runs after every shard finished: leftovers are from crashes
    meta = read_meta(out)
    for source in sources:
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
    folded = set(shard_manifests(out))
    if folded and meta is not None:  # remembered, so that a later merge does not count them as missing
        merged = sorted(_merged_shards(meta) | folded, key=lambda shard: (shard[1], shard[0]))
        write_meta(out, {**meta, MERGED_SHARDS: [f"{i}/{n}" for i, n in merged]})
    return consolidate(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="dataset folder to merge into (must exist unless SOURCES are given)")
    parser.add_argument("sources", type=Path, nargs="*", help="other dataset folders to add to OUT")
    parser.add_argument("--allow-partial", action="store_true",
                        help="merge although some shards have not written their manifest (a warning names them)")


def run(args: argparse.Namespace) -> int:
    count = merge_folders(args.out, args.sources, allow_partial=args.allow_partial)
    print(f"{args.out}: {count} samples in manifest.jsonl and dataset.json")
    return 0

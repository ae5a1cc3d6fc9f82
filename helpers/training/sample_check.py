"""Data checks before training, and read errors that name their sample and file.

:func:`screen_datasets` checks every file of every sample of a run's datasets before the first step (:func:`check_file`:
PNGs with PIL's ``verify``, every chunk and its CRC without decompressing; JPEGs by their header and end marker, a
decode when the marker is missing; ``.npy`` headers against the file size; other images by a decode). Results are
cached per file by size and mtime in ``<run>/data_check.json``, so a resume re-reads only changed files. Bad samples
stop the run with :class:`BadSamplesError` (the first ten in its message, all in ``<run>/bad_samples.txt``); with
``skip_bad`` the run trains without them and keeps the list there. A resumed run leaves out what it left out when
it started (``excluded_samples`` of its ``config.json``), so its data order stays the same. Datasets take part
through :class:`CheckedDataset`.

At read time :func:`reading` turns a failed read into :class:`SampleReadError`, which names the sample and the file,
also when it comes back from a ``DataLoader`` worker (PyTorch rebuilds it from its message).
Design notes: docs/design/training.md (sample_check).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from helpers.base.atomic import write_text_atomic
from helpers.base.errors import UserError
from helpers.training.training_loop import saved_run_config

__all__ = ["BAD_SAMPLES", "CHECK_CACHE", "BadSample", "BadSamplesError", "CheckedDataset", "SampleReadError",
           "check_file", "check_files", "reading", "screen_datasets"]

#: Files of the check in the run folder: the bad samples (tab-separated) and the per-file results.
BAD_SAMPLES, CHECK_CACHE = "bad_samples.txt", "data_check.json"
_CACHE_FORMAT, _CACHE_VERSION = "helpers-data-check", 1
#: Bad samples named in an error message (the rest are in the list file).
_SHOWN = 10
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
_READ_TODO = "replace the file, or leave the sample out (train-depth and train-latent: --skip-bad)"


class SampleReadError(UserError, OSError):
    """A file of a sample could not be read; the message names both (also kept as ``sample``, ``path`` and
    ``problem``; :meth:`of` builds the standard message)."""

    def __init__(self, what: str, todo: str = "", *, sample: str | None = None, path: str | None = None,
                 problem: str | None = None) -> None:
        if not todo and what.startswith("Caught ") and "\nOriginal Traceback" in what:
            # A DataLoader worker's error, rebuilt by PyTorch from one string: "Caught … Original Traceback …" ending
            # in the line the worker raised. Keep that line; the worker's traceback stays in worker_traceback.
            self.worker_traceback = what
            last = what.rstrip().splitlines()[-1]
            what, _, todo = last.split(f"{type(self).__name__}: ", 1)[-1].partition(" — ")
        super().__init__(what, todo)
        self.sample, self.path, self.problem = sample, path, problem

    @classmethod
    def of(cls, sample: str, path: str | os.PathLike[str], problem: str) -> SampleReadError:
        """``sample <id>: cannot read <path> (<problem>) — replace the file, or leave the sample out …``"""
        name = os.fspath(path)
        return cls(f"sample {sample}: cannot read {name} ({problem})", _READ_TODO, sample=sample, path=name,
                   problem=problem)


class BadSamplesError(UserError):
    """The check before training found samples that cannot be read (``samples``; all listed in ``listing``)."""

    def __init__(self, what: str, todo: str = "", *, samples: Sequence[BadSample] = (),
                 listing: Path | None = None) -> None:
        super().__init__(what, todo)
        self.samples, self.listing = list(samples), listing


@dataclass(frozen=True)
class BadSample:
    """One bad file of a sample: its dataset folder and id, the file and what is wrong with it."""

    folder: str
    id: str
    file: str
    problem: str

    @property
    def key(self) -> tuple[str, str]:
        return self.folder, self.id


D = TypeVar("D", bound="CheckedDataset")


class CheckedDataset(Protocol):
    """What :func:`screen_datasets` needs of a dataset."""

    def sample_files(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """``(folder, sample id, files an item reads)`` of every item."""

    def known_bad(self) -> list[BadSample]:
        """Samples found bad without the check (e.g. an image without its depth file, left out by the dataset)."""

    def without(self: D, samples: Collection[tuple[str, str]]) -> D:
        """The same dataset without these ``(folder, sample id)`` samples."""


def _describe(error: BaseException, path: str) -> str:
    """An exception's message without the file's path (the caller names it)."""
    if isinstance(error, FileNotFoundError):
        return "missing"
    text = str(error).replace(f"'{path}'", "").replace(path, "").strip(" :")
    return text or type(error).__name__


def _file_errors() -> tuple[type[BaseException], ...]:
    """What reading a missing, truncated or damaged file raises (PIL: ``OSError``, ``SyntaxError`` for broken
    chunks, ``struct.error`` and ``zlib.error`` for cut headers and streams, ``DecompressionBombError``; numpy:
    ``ValueError``, ``EOFError``). Anything else is a bug of the reader and keeps its traceback."""
    import struct
    import zlib

    from PIL import Image

    return OSError, ValueError, EOFError, SyntaxError, struct.error, zlib.error, Image.DecompressionBombError


@contextlib.contextmanager
def reading(sample: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """Raise a failed read of the block, which reads ``path`` for ``sample``, as a :class:`SampleReadError` (the
    errors of a damaged file, :func:`_file_errors`; other errors are bugs and are raised as they are)."""
    try:
        yield
    except SampleReadError:
        raise
    except _file_errors() as error:
        raise SampleReadError.of(sample, path, _describe(error, os.fspath(path))) from error


# ------------------------------------------------------------------------------------------------ one file
def _jpeg_ends(path: str) -> bool:
    """Whether a JPEG file ends with its end-of-image marker (trailing zero padding allowed)."""
    with open(path, "rb") as f:
        f.seek(max(0, os.fstat(f.fileno()).st_size - 64))
        return f.read().rstrip(b"\0").endswith(b"\xff\xd9")


def _image_problem(path: str) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        return "not an image PIL can read"
    with image:
        if image.format == "PNG":
            image.verify()  # reads every chunk and checks its CRC: truncation and damaged bytes, no decompression
        elif not (image.format == "JPEG" and _jpeg_ends(path)):
            image.load()  # other formats, and a JPEG without its end marker: decode (raises when truncated)
    return None


def _npy_problem(path: str, size: int) -> str | None:
    fmt = np.lib.format
    with open(path, "rb") as f:
        try:
            version = fmt.read_magic(f)
            header = fmt.read_array_header_2_0 if version >= (2, 0) else fmt.read_array_header_1_0
            shape, _, dtype = header(f)
        except ValueError as error:
            return f"not a .npy file ({error})"
        offset = f.tell()
    if dtype.hasobject:
        return "holds Python objects (a pickle), not numbers"
    needed = offset + dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    return f"truncated: {size:,} of {needed:,} bytes" if size < needed else None


def _contents_problem(path: str, size: int) -> str | None:
    if size == 0:
        return "empty (0 bytes)"
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".npy":
            return _npy_problem(path, size)
        if suffix in _IMAGE_SUFFIXES:
            return _image_problem(path)
    except _file_errors() as error:
        return f"truncated or damaged ({_describe(error, path)})"
    return None


def check_file(path: str | os.PathLike[str]) -> str | None:
    """What is wrong with a file, None when it exists and decodes (see the module doc for how each kind is read):
    ``"missing"``, ``"empty (0 bytes)"``, ``"truncated: …"``, ``"damaged (…)"``…"""
    name = os.fspath(path)
    try:
        size = os.stat(name).st_size
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"cannot be opened ({error.strerror or error})"
    return _contents_problem(name, size)


# ------------------------------------------------------------------------------------------------ many files
def _read_cache(path: Path | None) -> dict[str, list[Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path is not None else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT or data.get("version") != _CACHE_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _write_cache(path: Path, files: dict[str, list[Any]]) -> None:
    text = json.dumps({"format": _CACHE_FORMAT, "version": _CACHE_VERSION, "files": files}, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text + "\n")


def check_files(paths: Sequence[str], cache: str | os.PathLike[str] | None = None, *, progress: bool = False,
                threads: int | None = None, save: bool = True) -> tuple[dict[str, str], int]:
    """Check ``paths`` with :func:`check_file` (in ``threads`` threads, default up to 8).

    ``cache``: a JSON file of earlier results ``{path: [size, mtime_ns, problem]}``; a file whose size and mtime
    have not changed is not read again, and the file is rewritten with this check's results when ``save``.
    Returns ``({path: problem} of the bad files, how many files were read)``."""
    from tqdm.auto import tqdm

    cache_path = Path(cache) if cache is not None else None
    known = _read_cache(cache_path)
    results: dict[str, list[Any]] = {}
    problems: dict[str, str] = {}
    todo: list[tuple[str, int, int]] = []
    for path in dict.fromkeys(paths):
        try:
            stat = os.stat(path)
        except OSError as error:
            problems[path] = "missing" if isinstance(error, FileNotFoundError) else \
                f"cannot be opened ({error.strerror or error})"
            continue
        entry = known.get(path)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [stat.st_size, stat.st_mtime_ns]:
            results[path] = entry
        else:
            todo.append((path, stat.st_size, stat.st_mtime_ns))
    workers = threads or min(8, os.cpu_count() or 1)
    try:
        with ThreadPoolExecutor(workers) as pool, \
                tqdm(total=len(todo), desc="checking data", unit="file", disable=not progress, leave=False) as bar:
            for start in range(0, len(todo), 1024):  # bounded batches of futures
                chunk = todo[start:start + 1024]
                found = pool.map(lambda item: _contents_problem(item[0], item[1]), chunk)
                for (path, size, mtime), problem in zip(chunk, found, strict=True):
                    results[path] = [size, mtime, problem]
                    bar.update(1)
    finally:
        if cache_path is not None and save and todo:
            _write_cache(cache_path, results)  # also what an interrupted check got through
    problems.update({path: entry[2] for path, entry in results.items() if entry[2]})
    return problems, len(todo)


# ------------------------------------------------------------------------------------------------ datasets
def _shown(groups: dict[tuple[str, str], list[BadSample]]) -> str:
    keys = sorted(groups)
    parts = [f"{key[1]} ({groups[key][0].file}: {groups[key][0].problem})" for key in keys[:_SHOWN]]
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(parts) + more


def _write_listing(path: Path, groups: dict[tuple[str, str], list[BadSample]],
                   earlier: Collection[tuple[str, str]]) -> None:
    lines = ["# folder\tsample\tfile\tproblem  (the data check before training: helpers.training.sample_check)"]
    for key in sorted(set(groups) | set(earlier)):
        rows = groups.get(key) or [BadSample(*key, "-", "left out when the run started; readable now")]
        lines += [f"{b.folder}\t{b.id}\t{b.file}\t{b.problem}" for b in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def screen_datasets(datasets: Sequence[D], run: str | os.PathLike[str], *, skip_bad: bool, progress: bool = True,
                    log: Callable[[str], None] = print, main: bool = True) -> tuple[list[D], list[list[str]]]:
    """Check every sample of ``datasets`` before training into the run folder ``run`` (module doc).

    Args:
        datasets: the datasets the run reads (e.g. its train and val splits).
        skip_bad: leave bad samples out (listed in ``<run>/bad_samples.txt``) instead of raising.
        main: whether this process writes into ``run`` (rank 0 under torchrun; the others only read the cache).

    Returns:
        ``(datasets without the left-out samples, the left-out samples as sorted [folder, id] pairs)``: the
        second is the run's ``excluded_samples``, which a resume keeps.

    Raises:
        BadSamplesError: bad samples (not left out when a resumed run started) and no ``skip_bad``.
    """
    run = Path(run)
    started = time.perf_counter()
    say = log if main else (lambda _message: None)
    samples = [sample for dataset in datasets for sample in dataset.sample_files()]
    problems, read = check_files([f for _, _, files in samples for f in files], run / CHECK_CACHE,
                                 progress=progress and main, save=main)
    groups: dict[tuple[str, str], list[BadSample]] = {}
    for folder, sample, files in samples:
        for file in files:
            if file in problems:
                groups.setdefault((folder, sample), []).append(BadSample(folder, sample, file, problems[file]))
    for dataset in datasets:  # what the datasets found themselves, for files the check did not flag
        for bad in dataset.known_bad():
            if bad.file not in problems:
                groups.setdefault(bad.key, []).append(bad)
    total = len({(folder, sample) for folder, sample, _ in samples} | set(groups))
    if read:
        say(f"data check: read {read} files of {total} samples in {time.perf_counter() - started:.1f} s "
            f"({run / CHECK_CACHE} keeps the results)")

    saved = saved_run_config(run)
    earlier = None if saved is None else {(str(f), str(i)) for f, i in saved.get("excluded_samples") or []}
    new = {key: bad for key, bad in groups.items() if earlier is None or key not in earlier}
    listing = run / BAD_SAMPLES
    if new and not skip_bad:
        if main:
            run.mkdir(parents=True, exist_ok=True)
            _write_listing(listing, groups, earlier or ())
        if earlier is None:
            what = f"{len(new)} of {total} samples cannot be read: {_shown(new)}; every bad file is listed in {listing}"
            todo = "replace those files, or pass --skip-bad (skip_bad=True) to train without them"
        else:
            what = (f"{len(new)} samples became unreadable since this run started: {_shown(new)}; every bad file is "
                    f"listed in {listing}")
            todo = ("restore those files to resume with the same data, or pass --skip-bad (skip_bad=True) to resume "
                    "without them (the data order then changes)")
        raise BadSamplesError(what, todo, samples=[b for key in sorted(new) for b in new[key]], listing=listing)

    excluded = set(earlier or ()) | set(groups)
    if main:
        if excluded:
            run.mkdir(parents=True, exist_ok=True)
            _write_listing(listing, groups, earlier or ())
        else:
            listing.unlink(missing_ok=True)
    if earlier:
        say(f"leaving out the {len(earlier)} samples this run left out when it started (listed in {listing})")
    if new:
        say(f"leaving out {len(new)} of {total} samples that cannot be read (--skip-bad; listed in {listing}): "
            f"{_shown(new)}" + ("; the data order differs from an uninterrupted run's from here on"
                                if earlier is not None else ""))
    kept = [dataset.without(excluded) for dataset in datasets] if excluded else list(datasets)
    return kept, [list(key) for key in sorted(excluded)]

"""Named public datasets: where they are, under which licence, what they contain, and how to convert them.

:data:`REGISTRY` maps a name (``prosopo``, ``eg3d-synthetic``, ``lpff``, ``ffhq-eg3d-labels``, ``3dfacenet-coarse``,
``3dfacenet-fine``) to a :class:`DatasetInfo`. :func:`download` shows the licence, asks for its acceptance
(``accept_licence=True``, ``--accept-licence`` or a "yes" typed in a terminal), fetches each part through
:func:`helpers.download.fetcher.fetch` and checks the expected layout. :func:`convert` runs the dataset's converter,
named by a ``"module:function"`` string so that this module imports no converter (and works before one exists).

The entries live in :mod:`helpers.datasets.catalogue_entries`. Options of the same ``part`` are alternatives, tried in
order; different parts are all needed (e.g. EG3D's ``dataset.json`` and ``FFHQ_num_replicas.json``). A link that
could not be read from the authors' own pages says ``verified=False`` and why.

Design notes: docs/design/datasets.md (catalogue): where each dataset's links come from.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.datasets.catalogue_entries import ENTRIES
from helpers.datasets.dataset_info import DatasetInfo, SourceOption
from helpers.download.fetcher import fetch
from helpers.download.http_download import DownloadError, default_cache_dir
from helpers.download.sources import KaggleDatasetUnknownError, KaggleSource, ManualSource, Source, describe

__all__ = [
    "CONVERTER_PATTERN",
    "REGISTRY",
    "ConverterArgumentsError",
    "ConverterUnavailableError",
    "DatasetRegistryError",
    "LicenceNotAcceptedError",
    "check_layout",
    "confirm_licence",
    "convert",
    "download",
    "find_root",
    "get",
    "licence_notice",
    "load_converter",
    "names",
]

#: A converter string: ``"package.module:function"``.
CONVERTER_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class DatasetRegistryError(ValueError):
    """Unknown dataset name, or a request the registry cannot satisfy (unknown source kind...)."""


class LicenceNotAcceptedError(RuntimeError):
    """A download was asked for without accepting the dataset's licence."""


class ConverterUnavailableError(RuntimeError):
    """The dataset has no converter, or its module/function is not available (yet)."""


class ConverterArgumentsError(TypeError):
    """Options that do not fit the converter's parameters (the message lists them)."""


#: All known datasets by name.
REGISTRY: dict[str, DatasetInfo] = {entry.name: entry for entry in ENTRIES}


def names() -> list[str]:
    """Registry names, in registration order."""
    return list(REGISTRY)


def get(name: str) -> DatasetInfo:
    """The entry called ``name`` (case-insensitive, ``_`` = ``-``); an error listing the known names otherwise."""
    entry = REGISTRY.get(name.strip().lower().replace("_", "-"))
    if entry is None:
        raise DatasetRegistryError(f"unknown dataset {name!r}; known datasets: {', '.join(names())}")
    return entry


# ------------------------------------------------------------------------------------------------ licence
def licence_notice(info: DatasetInfo) -> str:
    """The text shown before a download: title, licence terms and where they are published."""
    return (f"{info.title}\nLicence ({info.licence}): {info.licence_text}\nTerms: {info.licence_url}\n"
            f"Size: {info.size}")


def confirm_licence(info: DatasetInfo, accept_licence: bool = False, *, ask: Callable[[str], bool] | None = None,
                    echo: Callable[[str], None] = print) -> None:
    """Show the licence; return if accepted, else raise :class:`LicenceNotAcceptedError`.

    Accepted means ``accept_licence=True``, or a yes from ``ask(question)``; without ``ask``, a terminal on standard
    input is asked (``y``/``yes``); anywhere else (notebooks, scripts, CI) the flag is required.
    """
    echo(licence_notice(info))
    if accept_licence:
        return
    question = f"Do you accept the licence of {info.name}? [y/N] "
    if ask is None and sys.stdin is not None and sys.stdin.isatty():
        ask = _ask_terminal
    if ask is not None and ask(question):
        return
    raise LicenceNotAcceptedError(
        f"the licence of {info.name} was not accepted: read it above ({info.licence_url}), then pass "
        "accept_licence=True (command line: --accept-licence)")


def _ask_terminal(question: str) -> bool:
    return input(question).strip().lower() in ("y", "yes")


# ------------------------------------------------------------------------------------------------ download
def _layout_missing(root: Path, layout: tuple[str, ...]) -> list[str]:
    missing = []
    for entry in layout:
        path = root / entry.rstrip("/")
        if not (path.is_dir() if entry.endswith("/") else path.exists()):
            missing.append(entry)
    return missing


def check_layout(info: DatasetInfo, root: str | os.PathLike[str]) -> list[str]:
    """Entries of ``info.layout`` missing under ``root`` (empty list: the layout is complete or undocumented)."""
    return _layout_missing(Path(root), info.layout)


def find_root(info: DatasetInfo, folder: str | os.PathLike[str]) -> Path:
    """The dataset's root: ``folder`` itself, or the one sub-folder (up to two levels down) that holds its layout.

    Archives often wrap their content in a folder of their own; this finds it. Falls back to ``folder``.
    """
    folder = Path(folder)
    if not info.layout or not _layout_missing(folder, info.layout):
        return folder
    level = [folder]
    for _ in range(2):
        level = [d for parent in level for d in sorted(parent.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        found = [d for d in level if not _layout_missing(d, info.layout)]
        if len(found) == 1:
            return found[0]
    return folder


def _candidates(info: DatasetInfo, options: list[SourceOption], source: str | None,
                kaggle_dataset: str | None) -> list[SourceOption]:
    chosen = [o for o in options if o.kind == source] if source else list(options)
    if source and not chosen:
        chosen = list(options)  # this part has no such kind: its own options apply
    result = []
    for option in chosen:
        if isinstance(option.source, KaggleSource) and kaggle_dataset:
            option = dataclasses.replace(option, source=dataclasses.replace(option.source, dataset=kaggle_dataset))
        result.append(option)
    return result


def _can_run(option: SourceOption) -> str | None:
    """Why an option cannot be tried automatically, or None."""
    if isinstance(option.source, ManualSource):
        return f"download by hand from {option.source.url}" + (f" ({option.source.note})" if option.source.note else "")
    if isinstance(option.source, KaggleSource) and not option.source.dataset:
        return "Kaggle: the dataset's owner/name is unknown; pass it with --kaggle-dataset OWNER/NAME"
    return None


def download(
    name: str,
    out: str | os.PathLike[str] | None = None,
    *,
    accept_licence: bool = False,
    source: str | None = None,
    kaggle_dataset: str | None = None,
    mirror: Source | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    ask: Callable[[str], bool] | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Download the dataset ``name`` into ``out`` (after its licence is accepted) and return its root folder.

    Each part is fetched from its first option that works (``source`` picks a kind first: ``"kaggle"``,
    ``"google-drive"``, ``"hugging-face"``, ``"http"``); a part already fetched is not fetched again. Missing
    entries of the expected layout give a warning line, not an error (some layouts are not documented).

    Args:
        name: registry name.
        out: dataset folder; default ``<cache>/datasets/<name>``.
        accept_licence: the user accepts the licence shown (see :func:`confirm_licence`).
        source: preferred source kind.
        kaggle_dataset: ``owner/name`` for a Kaggle option whose slug is unknown (or to use another copy).
        cache_dir: cache folder (default :func:`helpers.download.http_download.default_cache_dir`).
        progress: progress bars.
        ask, echo: how to ask for acceptance and print messages (default: terminal prompt, print).

    Raises:
        LicenceNotAcceptedError: before any network access, when the licence was not accepted.
        DownloadError / ImportError: every option of a part failed (one option: its own error unchanged).
    """
    info = get(name)
    kinds = {o.kind for o in info.sources}
    if source is not None and source not in kinds:
        raise DatasetRegistryError(f"{info.name} has no {source!r} source; its sources: {', '.join(sorted(kinds))}")
    confirm_licence(info, accept_licence, ask=ask, echo=echo)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = Path(out).expanduser() if out is not None else cache / "datasets" / info.name
    parts = {"": [SourceOption(mirror)]} if mirror is not None else {
        part: _candidates(info, options, source, kaggle_dataset) for part, options in info.parts().items()}
    for part, options in parts.items():
        _download_part(info, part, options, folder, cache, progress=progress, echo=echo)
    root = find_root(info, folder)
    missing = check_layout(info, root)
    if missing:
        echo(f"warning: {root} lacks {', '.join(missing)} expected for {info.name}; the published layout may have "
             "changed: look at the folder before converting")
    return root


def _download_part(info: DatasetInfo, part: str, options: list[SourceOption], folder: Path, cache: Path, *,
                   progress: bool, echo: Callable[[str], None]) -> None:
    what = f"{info.name}{' / ' + part if part else ''}"
    failures: list[tuple[SourceOption, BaseException]] = []
    skipped: list[str] = []
    for option in options:
        reason = _can_run(option)
        if reason is not None:
            skipped.append(reason)
            continue
        echo(f"{what}: {describe(option.source)}")
        try:
            fetch(option.source, folder, cache_dir=cache, progress=progress)
            return
        except (DownloadError, ImportError) as exc:
            failures.append((option, exc))
            echo(f"{what}: {type(exc).__name__}: {exc}")
    if len(failures) == 1 and not skipped:
        raise failures[0][1]  # the only way there was: its own error, unchanged (an ImportError stays one)
    if not failures and len(skipped) == 1 and "Kaggle" in skipped[0]:
        raise KaggleDatasetUnknownError(f"{what}: {skipped[0]}")
    lines = [f"  - {describe(o.source)}: {type(e).__name__}: {e}" for o, e in failures] + [f"  - {s}" for s in skipped]
    raise DownloadError(f"could not download {what}; tried:\n" + "\n".join(lines))


# ------------------------------------------------------------------------------------------------ convert
def load_converter(info: DatasetInfo) -> Callable[..., Any]:
    """Import the converter function named by ``info.converter``.

    Raises:
        ConverterUnavailableError: no converter, or its module / function is not there (yet), with what to do.
    """
    if info.converter is None:
        raise ConverterUnavailableError(f"{info.name} has no converter: {info.reader_notes}")
    module_name, _, function_name = info.converter.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConverterUnavailableError(
                f"the converter of {info.name} ({info.converter}) is not available in this version of the toolkit "
                f"(no module {module_name}): update the toolkit, or read the downloaded folder directly "
                f"({info.reader_notes})") from None
        raise ConverterUnavailableError(f"the converter of {info.name} ({info.converter}) needs the package "
                                        f"{exc.name}: pip install {exc.name}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConverterUnavailableError(f"the converter of {info.name} ({info.converter}) is not available: "
                                        f"{module_name} has no function {function_name}; update the toolkit")
    return function


def convert(name: str, src: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any) -> Any:
    """Run the converter of dataset ``name``: ``converter(src, out, **options)``; returns what it returns.

    Raises:
        ConverterUnavailableError: see :func:`load_converter`.
        ConverterArgumentsError: ``options`` do not fit the converter; the message lists its parameters.
    """
    info = get(name)
    function = load_converter(info)
    try:
        inspect.signature(function).bind(Path(src), Path(out), **options)
    except TypeError as exc:
        raise ConverterArgumentsError(f"{info.converter}: {exc}; its parameters: {inspect.signature(function)} "
                                      "(command line: --set KEY=VALUE)") from None
    return function(Path(src), Path(out), **options)

"""``python -m helpers datasets list|info|download|convert``: the public datasets of :mod:`helpers.datasets.catalogue`.

Examples::
    python -m helpers datasets list
    python -m helpers datasets info lpff
    python -m helpers datasets download prosopo --out data/prosopo --accept-licence
    python -m helpers datasets download eg3d-synthetic --source kaggle --kaggle-dataset OWNER/NAME --accept-licence
    python -m helpers datasets convert lpff data/lpff --out data/lpff-converted --set rebalance=true
    python -m helpers datasets convert 3dfacenet-coarse data/coarse --out data/coarse-converted --bfm bfm/

``--set KEY=VALUE`` passes a keyword argument to the converter; VALUE is read as JSON when it parses
(``true``, ``3``, ``0.5``, ``"text"``), else taken as a string. Errors (unknown dataset, licence not accepted,
missing credentials or package, converter not available) print one line, ``error: <what> — <what to do>``, and exit
with status 2, as every command's (:mod:`helpers.cli`).
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path
from typing import Any

from helpers.base.errors import UserError
from helpers.datasets import catalogue
from helpers.download.http_download import DownloadError
from helpers.download.sources import describe

_KINDS = ("kaggle", "google-drive", "hugging-face", "http")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="datasets_command", metavar="ACTION")
    sub.add_parser("list", help="table of the known datasets: name, size, licence, sources")
    info = sub.add_parser("info", help="everything known about one dataset: sources, licence, layout, converter")
    info.add_argument("name", help="dataset name (see `datasets list`)")
    get = sub.add_parser("download", help="download a dataset after showing its licence")
    get.add_argument("name", help="dataset name (see `datasets list`)")
    get.add_argument("--out", type=Path, default=None, help="dataset folder (default: <cache>/datasets/NAME)")
    get.add_argument("--accept-licence", "--accept-license", action="store_true", dest="accept_licence",
                     help="accept the licence shown (needed where no terminal can ask)")
    get.add_argument("--source", choices=_KINDS, default=None, help="preferred source kind")
    get.add_argument("--kaggle-dataset", default=None, metavar="OWNER/NAME",
                     help="Kaggle dataset to use (for a dataset whose Kaggle name is not known, or another copy)")
    get.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: $HELPERS_CACHE)")
    get.add_argument("--no-progress", action="store_true", help="no progress bars")
    conv = sub.add_parser("convert", help="convert a downloaded dataset to the toolkit's folder format")
    conv.add_argument("name", help="dataset name (see `datasets list`)")
    conv.add_argument("src", type=Path, help="the downloaded dataset folder")
    conv.add_argument("--out", type=Path, required=True, help="output dataset folder")
    conv.add_argument("--limit", type=int, default=None, help="convert at most this many samples")
    conv.add_argument("--bfm", type=Path, default=None, metavar="DIR",
                      help="3dfacenet-coarse / 3dfacenet-fine: the folder of the Basel Face Model files")
    conv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="options",
                      help="keyword argument for the converter (repeatable); see `datasets info NAME`")
    conv.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "datasets_command", None)
    if action is None:
        raise UserError("no action given", "use `python -m helpers datasets list|info|download|convert …` "
                        "(see `python -m helpers datasets --help`)")
    try:
        return {"list": _list, "info": _info, "download": _download, "convert": _convert}[action](args)
    except (catalogue.DatasetRegistryError, catalogue.LicenceNotAcceptedError, catalogue.ConverterUnavailableError,
            catalogue.ConverterArgumentsError, DownloadError, ImportError) as exc:
        if isinstance(exc, UserError):
            raise
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise (UserError(text) if " — " in text else UserError(text, _hint(exc))) from exc


def _hint(error: Exception) -> str:
    """What to do about an error of this command (:mod:`helpers.cli` prints ``error: <what> — <what to do>``)."""
    hints = ((catalogue.DatasetRegistryError, "see `python -m helpers datasets list`"),
             (catalogue.LicenceNotAcceptedError, "read the licence, then run the same command with --accept-licence"),
             (catalogue.ConverterUnavailableError, "install what the message names, or update the toolkit"),
             (catalogue.ConverterArgumentsError, "see the converter's options: `python -m helpers datasets info NAME`"),
             (DownloadError, "follow the message, or check the network and run the same command again"),
             (ImportError, "install the missing package (docs/install.md lists the extras)"))
    return next((hint for kind, hint in hints if isinstance(error, kind)), "see `python -m helpers datasets --help`")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _short_size(size: str) -> str:
    return size.split(" (")[0]  # the estimate, without its explanation (shown by `info`)


def _list(args: argparse.Namespace) -> int:
    rows = [["name", "size", "licence", "sources"]]
    for name in catalogue.names():
        info = catalogue.get(name)
        kinds: list[str] = []
        for option in info.sources:
            label = option.kind + ("?" if not option.verified else "")
            if label not in kinds:
                kinds.append(label)
        rows.append([name, _short_size(info.size), info.licence, ", ".join(kinds)])
    print(_table(rows))
    print("\n? = source not verified. Details: python -m helpers datasets info NAME")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = catalogue.get(args.name)
    print(f"{info.name}: {info.title}\n\n{info.description}\n")
    print(f"Homepage: {info.homepage or '-'}\nSize: {info.size}")
    print(f"Licence ({info.licence}): {info.licence_text}\nTerms: {info.licence_url}\n")
    print("Sources (same part: alternatives, tried in order):")
    for option in info.sources:
        part = f"[{option.part}] " if option.part else ""
        status = "verified" if option.verified else "NOT verified"
        print(f"  - {part}{option.kind}: {describe(option.source)} ({status}; found in: {option.found_in or '-'})")
        page = getattr(option.source, "page", "")
        if page and page not in describe(option.source):
            print(f"      page: {page}")
        if option.note:
            print(f"      note: {option.note}")
    layout = ", ".join(info.layout) if info.layout else "not documented"
    print(f"\nExpected layout: {layout}")
    print(f"Converter: {info.converter or 'none'}")
    if info.converter:
        try:
            function = catalogue.load_converter(info)
            print(f"  parameters: {inspect.signature(function)}")
        except catalogue.ConverterUnavailableError as exc:
            print(f"  not available: {exc}")
    print(f"Reading: {info.reader_notes}")
    return 0


def _download(args: argparse.Namespace) -> int:
    root = catalogue.download(args.name, args.out, accept_licence=args.accept_licence, source=args.source,
                             kaggle_dataset=args.kaggle_dataset, cache_dir=args.cache_dir,
                             progress=not args.no_progress)
    print(f"{args.name}: {root}")
    return 0


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _convert(args: argparse.Namespace) -> int:
    info = catalogue.get(args.name)
    function = catalogue.load_converter(info)  # fails early with a clear message when not available
    options: dict[str, Any] = {}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise catalogue.DatasetRegistryError(f"--set expects KEY=VALUE, got {item!r}")
        options[key.strip().replace("-", "_")] = _parse_value(value)
    parameters = inspect.signature(function).parameters
    if args.limit is not None:
        options["limit"] = args.limit
    if args.bfm is not None:
        if "bfm_dir" not in parameters:
            raise catalogue.ConverterArgumentsError(f"--bfm is for the 3DFaceNet converters, not {info.name}")
        options["bfm_dir"] = args.bfm
    if args.no_progress and "progress" in parameters:
        options["progress"] = False
    result = catalogue.convert(info.name, args.src, args.out, **options)
    print(f"{info.name}: converted {args.src} → {result if result is not None else args.out}")
    return 0

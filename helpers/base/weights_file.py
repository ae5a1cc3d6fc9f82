"""The one safe reader of weight files: no code from a file ever runs, and every failure is one line.

:func:`read_weights` decides from the content, not the name: a ``torch.save`` file (zip or legacy) is read with
``torch.load(weights_only=True)`` on the CPU, a ``.safetensors`` file with safetensors; :func:`read_tensors` also
requires a flat ``{name: tensor}`` mapping and :func:`read_safetensors` returns a safetensors file's metadata too.
:func:`weights_file_kind` only checks and names the kind (readers with their own allow-listed unpickler, such as
EG3D's network pickles, dispatch on it). Plain Python pickles are never unpickled here: their globals are listed
from the opcodes alone.

Errors are :class:`~helpers.base.errors.UserError` s, ``"<what the file is> <path> <what is wrong> — <what to do>"``:
:class:`WeightsFileNotFoundError` (also a ``FileNotFoundError``), :class:`WeightsFileError` (also a ``ValueError``:
empty, truncated, a web page or text, another kind of file, not a mapping of tensors) and its subclass
:class:`UnsafeWeightsError` (the file needs a Python object, named in the message, to load). No message ever
suggests turning the safety off.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch
from safetensors import SafetensorError, safe_open

from helpers.base.errors import UserError

__all__ = ["KINDS", "UnsafeWeightsError", "WeightsFileError", "WeightsFileNotFoundError", "read_safetensors",
           "read_tensors", "read_weights", "weights_file_kind"]

#: The kinds :func:`weights_file_kind` names: a torch.save zip archive, torch.save's legacy format, a plain Python
#: pickle (not torch.save) and a safetensors file.
KINDS = ("torch", "torch-legacy", "pickle", "safetensors")
_KIND_NAMES = {"torch": "a torch.save file", "torch-legacy": "a torch.save file (legacy format)",
               "pickle": "a plain Python pickle", "safetensors": "a safetensors file"}
# torch.save's legacy format starts with a pickled magic number (its first pickle is this int).
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_HEAD = 512
_MAX_SAFETENSORS_HEADER = 100 << 20  # safetensors itself refuses headers over 100 MB
_MAX_SCANNED_OPS = 2_000_000
_RESAVE = "re-save the weights as a plain state dict (torch.save(model.state_dict(), path)) or as safetensors"
_REDOWNLOAD = "delete it and download (or save) it again"
_COMPRESSED = {b"\x1f\x8b": "a gzip archive", b"\xfd7zXZ": "an xz archive", b"BZh": "a bzip2 archive",
               b"7z\xbc\xaf": "a 7-Zip archive", b"Rar!": "a RAR archive", b"\x89HDF": "an HDF5 (Keras) file",
               b"\x93NUMPY": "a numpy .npy file"}


class WeightsFileError(UserError, ValueError):
    """A weights file that cannot be read: empty, truncated, a web page or text, another kind, or not tensors."""


class UnsafeWeightsError(WeightsFileError):
    """A weights file that needs a Python object (a class or function) to load; refused before anything ran."""


class WeightsFileNotFoundError(UserError, FileNotFoundError):
    """A weights file that does not exist."""


def weights_file_kind(path: str | os.PathLike[str], *, what: str, expected: str) -> str:
    """Which of :data:`KINDS` the file at ``path`` is, from its first bytes (a zip archive is opened to check that
    it is a ``torch.save`` one).

    ``what`` says what the file is to the caller (``"depth model"``, ``"LPIPS weight file"``) and ``expected`` what it
    should hold; both go into the messages.

    Raises:
        WeightsFileNotFoundError: no such file.
        WeightsFileError: a folder, an empty file, a web page or other text, an archive or another kind of file, a
            truncated zip or safetensors file.
    """
    path = Path(path).expanduser()
    name = f"{what} {path}"
    if not path.exists():
        raise WeightsFileNotFoundError(f"{name} does not exist", f"check the path (expected {expected})")
    if path.is_dir():
        raise WeightsFileError(f"{name} is a folder, not a file", f"give the weights file itself ({expected})")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError as exc:
        raise WeightsFileError(f"{name} cannot be read ({exc.strerror or exc})",
                               "check its permissions and the disk") from None
    if size == 0:
        raise WeightsFileError(f"{name} is empty (0 bytes): an interrupted download or copy?", _REDOWNLOAD)
    header_size = int.from_bytes(head[:8], "little") if len(head) >= 10 else 0
    if head[8:10] in (b'{"', b"{}") and 2 <= header_size <= _MAX_SAFETENSORS_HEADER:  # (its size may start 0x80)
        if header_size + 8 > size:
            raise WeightsFileError(f"{name} is truncated (its safetensors header alone needs {header_size + 8} "
                                   f"bytes, the file has {size})", _REDOWNLOAD)
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        _pickle_name_in_zip(path, name, expected)  # a torch archive, or a clear error
        return "torch"
    if head[:1] == b"\x80":
        return "torch-legacy" if _first_pickle_is_magic(head) else "pickle"
    problem, todo = _describe_other(head)
    raise WeightsFileError(f"{name} {problem}", f"{todo}give {expected}")


def read_weights(path: str | os.PathLike[str], *, what: str, expected: str) -> Any:
    """What a ``torch.save`` file holds (read with ``torch.load(weights_only=True)`` onto the CPU: tensors, dicts,
    lists, numbers and strings; nothing from the file runs), or a safetensors file's ``{name: tensor}``.

    Raises:
        WeightsFileNotFoundError, WeightsFileError: see :func:`weights_file_kind`; also a truncated or corrupt
            file, a zip archive that is not torch.save's, or a plain pickle.
        UnsafeWeightsError: the file needs a Python object to load (named in the message); nothing was executed.
    """
    path = Path(path).expanduser()
    kind = weights_file_kind(path, what=what, expected=expected)
    if kind == "safetensors":
        return read_safetensors(path, what=what, expected=expected)[0]
    if kind == "pickle":
        _refuse_plain_pickle(path, f"{what} {path}", expected)
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols says nothing a user can act on
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _refusal(path, kind, f"{what} {path}", exc) from None
    except MemoryError:
        raise
    except Exception as exc:  # untrusted bytes: any other failure is a damaged file (nothing from it ran)
        raise WeightsFileError(f"{what} {path} is truncated or corrupt ({_first_line(exc)})", _REDOWNLOAD) from None


def read_tensors(path: str | os.PathLike[str], *, what: str, expected: str) -> dict[str, torch.Tensor]:
    """:func:`read_weights`, required to be a flat mapping of names to tensors (a state dict)."""
    data = read_weights(path, what=what, expected=expected)
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        found = type(data).__name__ if not isinstance(data, Mapping) else "mapping with values that are not tensors"
        raise WeightsFileError(f"{what} {Path(path).expanduser()} holds a {found}, not a mapping of names to tensors",
                               f"give {expected}")
    return {str(k): v for k, v in data.items()}


def read_safetensors(path: str | os.PathLike[str], *, what: str, expected: str
                     ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``({name: tensor}, metadata)`` of a safetensors file, on the CPU.

    Raises:
        WeightsFileError: a file of another kind (a torch.save file or a pickle is refused without being read), or a
            truncated or corrupt safetensors file. WeightsFileNotFoundError: no such file.
    """
    path = Path(path).expanduser()
    kind = weights_file_kind(path, what=what, expected=expected)
    if kind != "safetensors":
        raise WeightsFileError(f"{what} {path} is {_KIND_NAMES[kind]}, not a safetensors file", f"give {expected}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsFileError(f"{what} {path} is truncated or corrupt ({_first_line(exc)})", _REDOWNLOAD) from None
    return tensors, metadata


# ----------------------------------------------------------------------------------------------- internals
def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if not text:
        return "it ends too early" if isinstance(exc, EOFError) else type(exc).__name__
    line = text.splitlines()[0].strip()
    line = line.split(". This is an internal", 1)[0]  # torch's advice paragraph on corrupt zips
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe_other(head: bytes) -> tuple[str, str]:
    """(what a file that is not a weights file is, the start of what to do), e.g. ``("is a web page, not weights (it
    starts with '<!DOCTYPE html>…')", "download the file in a browser and ")``."""
    for magic, kind in _COMPRESSED.items():
        if head.startswith(magic):
            return f"is {kind}, not weights", "unpack or convert it: "
    text = _as_text(head)
    if text is None:
        return f"is not a weights file of a known kind (it starts with bytes {head[:8]!r})", ""
    shown = " ".join(text.split())[:40]
    if re.search(r"<(!doctype\s+)?html|<head|<body", text[:_HEAD], re.IGNORECASE):
        return (f"is a web page, not weights (it starts with {shown!r}): a file host's quota, login or confirmation "
                "page?", "download the file in a browser, then ")
    return f"is a text file, not weights (it starts with {shown!r})", ""


def _as_text(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # a cut multi-byte character at the end is fine
            return None
        text = head[: exc.start].decode("utf-8")
    return text if text and all(c.isprintable() or c in "\r\n\t" for c in text.lstrip("\ufeff")) else None


def _first_pickle_is_magic(head: bytes) -> bool:
    values = []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(head)):
            if op.name not in ("PROTO", "FRAME", "STOP"):
                values.append(arg)
    except Exception:  # a pickle longer than the head: not the 20-byte magic number
        return False
    return values == [_TORCH_LEGACY_MAGIC]


def _pickle_name_in_zip(path: Path, name: str, expected: str) -> str:
    """The ``<prefix>/data.pkl`` member of a torch.save archive (a clear error for any other zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise WeightsFileError(f"{name} is truncated or corrupt (not a complete zip archive: {_first_line(exc)})",
                               _REDOWNLOAD) from None
    pickles = [m for m in members if m.endswith("/data.pkl") and m.count("/") == 1]
    if any(m.count("/") >= 2 and m.split("/")[1] == "code" for m in members) or \
            any(m.endswith("/constants.pkl") for m in members):
        raise WeightsFileError(f"{name} is a TorchScript archive (torch.jit.save), not a state dict: it holds code, "
                               "which this toolkit does not run", f"re-save it with torch.save(model.state_dict(), "
                               f"path): {expected}")
    if not pickles:
        shown = ", ".join(members[:3]) + (", …" if len(members) > 3 else "")
        raise WeightsFileError(f"{name} is a zip archive but not a torch.save file (it holds {shown or 'nothing'})",
                               f"unpack it, or give {expected}")
    return pickles[0]


def _pickle_globals(stream: BinaryIO) -> list[str]:
    """The ``module.name`` of every global a pickle stream refers to, read from its opcodes (nothing is loaded);
    several concatenated pickles (torch's legacy format) are read in turn; a damaged stream ends the list."""
    found: list[str] = []
    strings: list[str] = []
    memo: dict[int, str] = {}
    last: str | None = None
    try:
        for _ in range(64):  # torch's legacy format is four pickles, then raw storage bytes
            memoized = len(memo)
            for count, (op, arg, _pos) in enumerate(pickletools.genops(stream)):
                if count > _MAX_SCANNED_OPS:
                    return found
                value = None
                if op.name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL":
                    found.append(".".join(strings[-2:]) if len(strings) >= 2 else "an unnamed global")
                elif isinstance(arg, str) and ("UNICODE" in op.name or "STRING" in op.name):
                    value = str(arg)
                elif op.name == "MEMOIZE":
                    if last is not None:
                        memo[memoized] = last
                    memoized += 1
                elif op.name.endswith("PUT") and last is not None:
                    memo[int(arg)] = last
                elif op.name.endswith("GET") and int(arg) in memo:
                    value = memo[int(arg)]
                if value is not None:
                    strings.append(value)
                last = value if value is not None else (last if op.name in ("MEMOIZE", "BINPUT", "LONG_BINPUT",
                                                                            "PUT") else None)
            if found:
                return found
    except Exception:  # the end of the pickles (storage bytes follow) or a damaged stream
        pass
    return found


def _needs_code(globals_: list[str]) -> list[str]:
    """The globals of a pickle that ``torch.load(weights_only=True)`` would never allow."""
    return [g for g in dict.fromkeys(globals_) if not g.startswith("torch.") and g != "collections.OrderedDict"]


def _unsafe(name: str, needed: list[str]) -> UnsafeWeightsError:
    shown = ", ".join(f"`{g}`" for g in needed[:3]) + (f" and {len(needed) - 3} more" if len(needed) > 3 else "")
    objects = "objects" if len(needed) > 1 else "object"
    return UnsafeWeightsError(f"{name} needs the Python {objects} {shown} to load: this toolkit never runs code from "
                              "files, so it was refused (nothing was executed)", _RESAVE)


def _refuse_plain_pickle(path: Path, name: str, expected: str) -> None:
    with open(path, "rb") as f:
        needed = _needs_code(_pickle_globals(f))
    if needed:
        raise _unsafe(name, needed)
    raise WeightsFileError(f"{name} is a plain Python pickle, not a torch.save or safetensors file",
                           f"{_RESAVE} ({expected})")


def _refusal(path: Path, kind: str, name: str, exc: pickle.UnpicklingError) -> WeightsFileError:
    """The one-line error for torch's safe loader refusing a torch.save file (its message advises disabling the
    safety: only the name of the global is kept)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    named = re.findall(r"GLOBAL ([\w.]+)", text)
    if named:
        return _unsafe(name, list(dict.fromkeys(named)))
    try:
        if kind == "torch":
            with zipfile.ZipFile(path) as archive, archive.open(_pickle_name_in_zip(path, name, "")) as member:
                needed = _needs_code(_pickle_globals(io.BytesIO(member.read())))
        else:
            with open(path, "rb") as f:
                needed = _needs_code(_pickle_globals(f))
    except (OSError, zipfile.BadZipFile, WeightsFileError):
        needed = []
    if needed:
        return _unsafe(name, needed)
    reason = next((line.strip() for line in text.splitlines() if re.search(r"unsupported", line, re.IGNORECASE)),
                  _first_line(exc))
    return WeightsFileError(f"{name} cannot be read by torch's safe loader ({reason.rstrip('.')})",
                            f"{_RESAVE} with torch.save's default settings")

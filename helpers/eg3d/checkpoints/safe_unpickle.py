"""Restricted unpickling of EG3D network pickles: tensors and settings come out, no code goes in.

Official EG3D checkpoints (``ffhq512-128.pkl`` …, LPFF's ``var*.pkl``) are plain Python pickles of
``torch_utils.persistence`` objects. Loading them with :func:`pickle.load` imports ``dnnlib`` and
``torch_utils`` and *executes* the module source embedded in the file. :class:`RestrictedUnpickler`
instead resolves every global of the pickle against a fixed allow-list (:data:`ALLOWED_GLOBALS`)
and maps each one to a function or class of this module. Nothing is ever imported by name from the
file and the embedded source is dropped unread. Any other global raises
:class:`UnsafeCheckpointError` naming it, before anything it refers to could run.

What comes out: tensors (parameters as plain tensors; storages read by ``torch.load`` with ``weights_only=True`` and
mapped to the CPU), ``OrderedDict`` and :class:`EasyDict` (a plain dict subclass), numbers of simple numpy types,
:class:`PersistentObject` (``class_name`` and ``state``; the ``module_src`` is discarded, never run) and inert
:class:`ReferenceObject` subclasses for the classes pickled by reference (:data:`REFERENCE_CLASSES`).

Design notes: docs/design/eg3d.md (safe_unpickle): why each allowed global is safe.
"""

from __future__ import annotations

import collections
import io
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Literal

import numpy as np
import torch

from helpers.base.weights_file import UnsafeWeightsError, WeightsFileError

__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "EasyDict",
    "PersistentObject",
    "ReferenceObject",
    "RestrictedUnpickler",
    "ALLOWED_GLOBALS",
    "REFERENCE_CLASSES",
    "safe_load",
    "weights_only_reason",
]

NOT_EXECUTED = "Nothing from the file was executed."


class CheckpointError(WeightsFileError):
    """A checkpoint file is missing, corrupt, of another kind, or lacks what is needed (a ``ValueError`` and a
    :class:`~helpers.base.errors.UserError`: one line)."""


class UnsafeCheckpointError(CheckpointError, UnsafeWeightsError):
    """A checkpoint refers to code outside the allow-list; it was refused before anything ran."""


# --------------------------------------------------------------------------------------- stubs
class EasyDict(dict):  # type: ignore[type-arg]
    """Stand-in for ``dnnlib.util.EasyDict``: a dict whose items can also be read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state: Any) -> None:
        # dnnlib stores attributes as items, so a real EasyDict carries no separate state.
        if state:
            raise CheckpointError(f"unexpected instance state on an EasyDict: {type(state).__name__}")


@dataclass(eq=False)
class PersistentObject:
    """An EG3D ``torch_utils.persistence`` object: its class name and its ``__dict__``.

    For a ``torch.nn.Module`` the state holds ``_parameters``, ``_buffers``, ``_modules``,
    ``_non_persistent_buffers_set``, ``_init_args``, ``_init_kwargs`` and plain attributes.
    """

    class_name: str
    state: dict[str, Any]
    version: int

    def __setstate__(self, state: Any) -> None:
        # The official reducer passes the whole state through the meta dict, never a BUILD.
        raise CheckpointError(f"unexpected pickle BUILD on persistent object {self.class_name!r}")


class ReferenceObject:
    """Inert stand-in for a class EG3D pickles by reference (module + name); stores its state only."""

    qualified_name: ClassVar[str] = ""
    args: tuple[Any, ...]
    state: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> ReferenceObject:
        obj = super().__new__(cls)
        obj.args, obj.state = args, {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # arguments are recorded by __new__; nothing else happens

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            for part in state:
                self.__setstate__(part)
            return
        if state is None:
            return
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise CheckpointError(f"unexpected state for {self.qualified_name}: {type(state).__name__}")
        self.state.update(state)

    def __repr__(self) -> str:
        return f"<stub {self.qualified_name}>"


# --------------------------------------------------------------------------- numpy scalars
_NUMPY_CODES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"})


@dataclass
class _DtypeSpec:
    """A numpy dtype as pickled: type code plus byte order from its ``__setstate__`` tuple."""

    code: str
    byteorder: Literal["<", ">", "|", "="] = "="

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "=")):
            raise CheckpointError(f"unexpected numpy dtype state {state!r:.80}")
        self.byteorder = state[1]

    def to_numpy(self) -> np.dtype[Any]:
        dtype = np.dtype(self.code)
        return dtype if self.byteorder in ("|", "=") else dtype.newbyteorder(self.byteorder)


def _numpy_dtype(code: Any, align: Any = False, copy: Any = False) -> _DtypeSpec:
    if not isinstance(code, str) or code not in _NUMPY_CODES:
        raise UnsafeCheckpointError(f"numpy dtype {code!r:.40} is not a plain numeric type. {NOT_EXECUTED}")
    return _DtypeSpec(code)


def _numpy_scalar(dtype: Any, data: Any = None) -> np.generic:
    if not isinstance(dtype, _DtypeSpec) or not isinstance(data, bytes):
        raise UnsafeCheckpointError(f"numpy scalar with unexpected arguments. {NOT_EXECUTED}")
    np_dtype = dtype.to_numpy()
    if len(data) != np_dtype.itemsize:
        raise CheckpointError(f"numpy {dtype.code} scalar holds {len(data)} bytes, expected {np_dtype.itemsize}")
    return np.frombuffer(data, dtype=np_dtype)[0]


# --------------------------------------------------------------------------------- tensors
def _load_storage(data: Any) -> torch.TypedStorage:
    """A storage pickled as a small legacy-format ``torch.save`` blob, read by torch's safe loader."""
    if not isinstance(data, bytes):
        raise UnsafeCheckpointError(f"tensor storage given as {type(data).__name__}, not bytes. {NOT_EXECUTED}")
    try:
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:  # torch names the global it refused
        raise UnsafeCheckpointError(
            f"a tensor storage was refused by torch's safe loader ({weights_only_reason(exc)}). {NOT_EXECUTED}"
        ) from None
    except (RuntimeError, EOFError, ValueError, KeyError) as exc:
        raise CheckpointError(f"corrupt tensor storage in the checkpoint: {exc}") from None
    if not isinstance(storage, torch.TypedStorage):
        raise UnsafeCheckpointError(f"a tensor storage blob holds a {type(storage).__name__}. {NOT_EXECUTED}")
    return storage


def weights_only_reason(exc: BaseException) -> str:
    """The informative line of torch's long ``weights_only`` refusal (it names the global)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    for line in text.splitlines():
        if re.search(r"unsupported|GLOBAL", line, re.IGNORECASE):
            return line.strip().removeprefix("WeightsUnpickler error:").strip().split(" Please use", 1)[0]
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _is_int_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.TypedStorage):
        raise UnsafeCheckpointError(f"tensor rebuilt from a {type(storage).__name__}, not a storage. {NOT_EXECUTED}")
    if not (isinstance(offset, int) and offset >= 0 and _is_int_tuple(size) and _is_int_tuple(stride)
            and len(size) == len(stride)):
        raise CheckpointError("tensor with invalid offset, sizes or strides in the checkpoint")
    if hooks or metadata:  # official snapshots carry neither; hooks would be callables
        raise UnsafeCheckpointError(f"tensor with backward hooks or metadata. {NOT_EXECUTED}")
    # set_ would silently grow a too-small storage: check that the view fits, in elements. (The
    # untyped storage is used directly: TypedStorage's own methods print a deprecation warning.)
    tensor = torch.empty((0,), dtype=storage.dtype)
    available = storage._untyped_storage.nbytes() // tensor.element_size()
    needed = 0 if 0 in size else offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if needed > available:
        raise CheckpointError(
            f"tensor view outside its storage in the checkpoint (needs {needed} elements, storage has {available})"
        )
    return tensor.set_(storage._untyped_storage, offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, state: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise UnsafeCheckpointError(f"parameter rebuilt from a {type(data).__name__}. {NOT_EXECUTED}")
    if hooks or state:
        raise UnsafeCheckpointError(f"parameter with backward hooks or Python state. {NOT_EXECUTED}")
    return data  # weights are read for inference: a plain tensor, no autograd


# ------------------------------------------------------------------------------ persistence
_PERSISTENT_META_KEYS = {"type", "version", "module_src", "class_name", "state"}


def _reconstruct_persistent(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or set(meta) != _PERSISTENT_META_KEYS:
        keys = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"persistent object with unexpected metadata {keys}")
    if meta["type"] != "class" or not isinstance(meta["class_name"], str) or not isinstance(meta["state"], dict):
        raise CheckpointError(f"persistent object of unsupported kind {meta['type']!r}")
    if not isinstance(meta["version"], int):
        raise CheckpointError("persistent object with a non-integer version")
    # meta["module_src"] is the class's Python source: deliberately dropped, never compiled.
    return PersistentObject(meta["class_name"], dict(meta["state"]), meta["version"])


# ------------------------------------------------------------------------------ allow-list
#: Classes EG3D pickles by reference (ordinary GLOBAL + state). Each becomes an inert stub.
REFERENCE_CLASSES: frozenset[str] = frozenset({
    "training.triplane.OSGDecoder",
    "training.volumetric_rendering.renderer.ImportanceRenderer",
    "training.volumetric_rendering.ray_sampler.RaySampler",
    "training.volumetric_rendering.ray_marcher.MipRayMarcher2",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.activation.Softplus",
})

_ALLOWED_CALLABLES: dict[str, Callable[..., Any]] = {
    "collections.OrderedDict": collections.OrderedDict,
    "dnnlib.util.EasyDict": EasyDict,
    "numpy.dtype": _numpy_dtype,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch.storage._load_from_bytes": _load_storage,
    "torch_utils.persistence._reconstruct_persistent_obj": _reconstruct_persistent,
}

#: Every "module.name" an EG3D network pickle may contain; anything else is refused.
ALLOWED_GLOBALS: frozenset[str] = frozenset(_ALLOWED_CALLABLES) | REFERENCE_CLASSES

_STUB_CLASSES: dict[str, type[ReferenceObject]] = {
    name: type(name.rsplit(".", 1)[1], (ReferenceObject,), {"qualified_name": name, "__module__": __name__})
    for name in sorted(REFERENCE_CLASSES)
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only through :data:`ALLOWED_GLOBALS`."""

    def __init__(self, file: BinaryIO, *, source: str = "the checkpoint") -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        key = f"{module}.{name}"
        if key in _ALLOWED_CALLABLES:
            return _ALLOWED_CALLABLES[key]
        if key in _STUB_CLASSES:
            return _STUB_CLASSES[key]
        raise UnsafeCheckpointError(
            f"refusing to load {self.source}: it references the Python global {key!r}, which is not "
            f"one of the globals EG3D checkpoints use. {NOT_EXECUTED} (Loading it with pickle.load "
            "would import and run that code.)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(f"refusing to load {self.source}: unexpected persistent id. {NOT_EXECUTED}")


def safe_load(file: BinaryIO, *, source: str = "the checkpoint") -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler`; corrupt input becomes :class:`CheckpointError`."""
    try:
        return RestrictedUnpickler(file, source=source).load()
    except (CheckpointError, MemoryError):
        raise
    except Exception as exc:  # untrusted bytes: any other failure means a damaged stream
        # (Only our own functions run during load, so this cannot hide an executed payload.)
        raise CheckpointError(
            f"{source} is truncated or corrupt (the pickle stream could not be read: "
            f"{type(exc).__name__}: {exc})"
        ) from None

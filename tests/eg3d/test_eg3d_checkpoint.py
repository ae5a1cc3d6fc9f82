"""Safe reading of EG3D checkpoints: official pickles, state-dict .pth files, native files.

Hostile pickles are built here with a real pickler. Their payloads would create a marker file, so
"the marker does not exist" proves that nothing ran. Official-style pickles of other kinds
(StyleGAN generator, discriminator, G-only snapshots) are written the way EG3D writes them: the
globals resolve through throw-away fake ``torch_utils`` / ``dnnlib`` / ``training`` modules.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from helpers import eg3d
from helpers.base.errors import UserError
from helpers.eg3d.checkpoints import checkpoint_files
from helpers.eg3d.checkpoints.checkpoint_files import read_checkpoint, sidecar_path
from helpers.eg3d.checkpoints.contents import CheckpointContents
from helpers.eg3d.checkpoints.native_format import read_native, save_native
from helpers.eg3d.checkpoints.published import _AXES_FIXED, _AXES_OFFICIAL, get_entry
from helpers.eg3d.checkpoints.safe_unpickle import (
    ALLOWED_GLOBALS,
    CheckpointError,
    EasyDict,
    PersistentObject,
    ReferenceObject,
    UnsafeCheckpointError,
    safe_load,
)


# ------------------------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def tiny_pkl(eg3d_reference: Path) -> Path:
    return eg3d_reference / "eg3d_tiny.pkl"


@pytest.fixture(scope="module")
def tiny(tiny_pkl: Path) -> CheckpointContents:
    return read_checkpoint(tiny_pkl)


@pytest.fixture(scope="module")
def tiny_raw(tiny_pkl: Path) -> dict[str, Any]:
    """The fixture snapshot as stubs (G, G_ema, D, …)."""
    with open(tiny_pkl, "rb") as f:
        return safe_load(f)


class Call:
    """Pickles as ``func(*args)``: the REDUCE of whatever global ``func`` is."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args


def _module(monkeypatch: pytest.MonkeyPatch, name: str) -> types.ModuleType:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sub = ".".join(parts[:i])
        if sub not in sys.modules:
            monkeypatch.setitem(sys.modules, sub, types.ModuleType(sub))
    return sys.modules[name]


def _fake_global(monkeypatch: pytest.MonkeyPatch, qualified: str, obj: Any) -> Any:
    """Make ``obj`` picklable by reference as ``qualified`` (a fake module, removed after the test)."""
    module_name, name = qualified.rsplit(".", 1)
    obj.__module__, obj.__qualname__ = module_name, name
    monkeypatch.setattr(_module(monkeypatch, module_name), name, obj, raising=False)
    return obj


@pytest.fixture
def write_official(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``write(data, name) -> path``: pickle stubs exactly as EG3D's persistence code would."""

    def reconstruct(meta: Any) -> None:  # never called: only its name is written
        raise AssertionError

    reconstruct = _fake_global(monkeypatch, "torch_utils.persistence._reconstruct_persistent_obj", reconstruct)
    easydict = _fake_global(monkeypatch, "dnnlib.util.EasyDict", type("EasyDict", (dict,), {}))
    real = {"torch.nn.modules.container.Sequential": torch.nn.Sequential,
            "torch.nn.modules.activation.Softplus": torch.nn.Softplus}
    classes = {name: real.get(name) or _fake_global(monkeypatch, name, type("Stub", (), {}))
               for name in ALLOWED_GLOBALS if name.startswith(("training.", "torch.nn."))}

    class Pickler(pickle.Pickler):
        module_src = "# source omitted"

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, PersistentObject):
                meta = {"type": "class", "version": obj.version, "module_src": self.module_src,
                        "class_name": obj.class_name, "state": obj.state}
                return reconstruct, (meta,)
            # (EG3D writes these two with NEWOBJ, which pickle only allows for the object's own class;
            # a REDUCE of the class reads back the same way.)
            if isinstance(obj, ReferenceObject):
                return classes[obj.qualified_name], (), obj.state
            if isinstance(obj, EasyDict):
                return easydict, (), None, None, iter(obj.items())
            if isinstance(obj, Call):
                return obj.func, obj.args
            return NotImplemented

    def write(data: Any, name: str = "net.pkl", protocol: int = 4, module_src: str | None = None) -> Path:
        path = tmp_path / name
        with open(path, "wb") as f:
            pickler = Pickler(f, protocol=protocol)
            pickler.module_src = module_src or Pickler.module_src
            pickler.dump(data)
        return path

    return write


def _generator(tiny_raw: dict[str, Any], **state_changes: Any) -> PersistentObject:
    g = tiny_raw["G_ema"]
    return PersistentObject(g.class_name, {**g.state, **state_changes}, g.version)


def _assert_same(a: CheckpointContents, b: CheckpointContents) -> None:
    assert list(a.state_dict) == list(b.state_dict)
    for key, tensor in a.state_dict.items():
        other = b.state_dict[key]
        assert other.dtype == tensor.dtype and other.shape == tensor.shape and torch.equal(other, tensor), key
    assert (a.init_kwargs, a.rendering_kwargs, a.neural_rendering_resolution, a.class_name, a.extras) == (
        b.init_kwargs, b.rendering_kwargs, b.neural_rendering_resolution, b.class_name, b.extras)


# ------------------------------------------------------------------------------- the fixture
def test_fixture_state_dict_equals_reference_key_list(tiny: CheckpointContents, eg3d_reference: Path) -> None:
    expected = [line.split("\t") for line in (eg3d_reference / "state_keys.txt").read_text().splitlines()]
    got = [[name, str(tuple(t.shape)), str(t.dtype)] for name, t in tiny.state_dict.items()]
    assert got == expected  # names, shapes, dtypes and order
    assert len(got) == 176


def test_fixture_settings_equal_meta_json(tiny: CheckpointContents, eg3d_reference: Path) -> None:
    meta = json.loads((eg3d_reference / "meta.json").read_text())["generator"]
    assert tiny.init_kwargs == {**meta["constructor_kwargs"], **meta["common_kwargs"]}
    assert tiny.rendering_kwargs == meta["constructor_kwargs"]["rendering_kwargs"]
    assert tiny.neural_rendering_resolution == 128
    assert tiny.class_name == "TriPlaneGenerator"
    assert tiny.extras["plane_axes"] == _AXES_OFFICIAL  # the official (XY, XZ, ZX) projection
    buffers = ("resample_filter", "noise_const", "w_avg")
    counts = [sum(t.numel() for n, t in tiny.state_dict.items() if n.endswith(buffers) == is_buffer)
              for is_buffer in (False, True)]
    assert counts == [meta["n_parameters"], meta["n_buffer_elements"]]


def test_fixture_tensor_values_are_the_recorded_ones(tiny: CheckpointContents, eg3d_reference: Path) -> None:
    w_avg = np.load(eg3d_reference / "outputs.npz")["w_avg"]
    np.testing.assert_array_equal(tiny.state_dict["backbone.mapping.w_avg"].numpy(), w_avg)
    assert not any(t.requires_grad for t in tiny.state_dict.values())


def test_g_and_g_ema_are_one_object_in_the_fixture(tiny_raw: dict[str, Any], tiny_pkl: Path,
                                                   tiny: CheckpointContents) -> None:
    assert tiny_raw["G"] is tiny_raw["G_ema"]
    assert sorted(tiny_raw) == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
    _assert_same(read_checkpoint(tiny_pkl, network="G"), tiny)


def test_numpy2_spelling_and_repickled_fixture_load_identically(tiny_raw: dict[str, Any], write_official,
                                                               tiny: CheckpointContents) -> None:
    path = write_official(tiny_raw)  # numpy 2 writes 'numpy._core.multiarray scalar'
    assert b"numpy._core.multiarray" in path.read_bytes()
    _assert_same(read_checkpoint(path), tiny)


def test_snapshot_without_g_ema_falls_back_to_g(tiny_raw: dict[str, Any], write_official,
                                                tiny: CheckpointContents) -> None:
    path = write_official({"G": tiny_raw["G_ema"], "D": tiny_raw["D"]})
    with pytest.warns(UserWarning, match="no 'G_ema'; reading 'G'"):
        contents = read_checkpoint(path)
    _assert_same(contents, tiny)
    assert "[G]" in contents.source


def test_cuda_storage_attributes_load_on_cpu(tiny_raw: dict[str, Any], write_official) -> None:
    # Official snapshots keep the renderer's plane_axes where the last forward left it (a GPU).
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation
        torch.save(torch.tensor(_AXES_FIXED, dtype=torch.float32).storage(), buffer,
                   _use_new_zipfile_serialization=False)
    blob = buffer.getvalue().replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    assert b"cuda:0" in blob
    axes = Call(torch._utils._rebuild_tensor_v2, Call(torch.storage._load_from_bytes, blob),
                0, (3, 3, 3), (9, 3, 1), False, collections.OrderedDict())
    camera = torch.linspace(0, 1, 25, dtype=torch.float16)  # LPFF's average_camera attribute, in half
    g = _generator(tiny_raw, average_camera=camera)
    old: ReferenceObject = g.state["_modules"]["renderer"]
    renderer = type(old)()
    renderer.state = {**old.state, "plane_axes": axes}
    g.state["_modules"] = {**g.state["_modules"], "renderer": renderer}
    contents = read_checkpoint(write_official({"G_ema": g}))
    assert contents.extras["plane_axes"] == _AXES_FIXED
    assert contents.extras["average_camera"] == camera.tolist()


def test_cyclic_module_graph_is_an_error(tiny_raw: dict[str, Any], write_official) -> None:
    g = _generator(tiny_raw)
    g.state["_modules"] = {**g.state["_modules"], "loop": g}
    with pytest.raises(CheckpointError, match="cyclic"):
        read_checkpoint(write_official({"G_ema": g}))


def test_embedded_module_source_is_never_executed(tiny_raw: dict[str, Any], write_official, tmp_path: Path,
                                                  tiny: CheckpointContents) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\nclass TriPlaneGenerator: pass\n"
    path = write_official({"G_ema": tiny_raw["G_ema"]}, module_src=source)
    assert source.encode() in path.read_bytes()
    _assert_same(read_checkpoint(path), tiny)  # the official loader would exec() that source
    assert not marker.exists()


# ------------------------------------------------------------------------------ hostile files
def _payloads(marker: Path) -> dict[str, Call]:
    cmd = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    return {
        "posix.system": Call(os.system, cmd),
        "builtins.eval": Call(eval, code),
        "builtins.exec": Call(exec, code),
        "subprocess.Popen": Call(subprocess.Popen, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("name", ["posix.system", "builtins.eval", "builtins.exec", "subprocess.Popen"])
def test_malicious_global_is_refused_and_named(name: str, write_official, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_official(_payloads(marker)[name])
    with pytest.raises(UnsafeCheckpointError, match=rf"'{name}'.*Nothing from the file was executed"):
        read_checkpoint(path)
    assert not marker.exists()


def test_os_system_spelling_is_refused(write_official, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_official(_payloads(marker)["posix.system"], protocol=2)  # GLOBAL opcode: b"cposix\nsystem\n"
    path.write_bytes(path.read_bytes().replace(b"cposix\nsystem\n", b"cos\nsystem\n"))
    with pytest.raises(UnsafeCheckpointError, match="'os.system'"):
        read_checkpoint(path)
    assert not marker.exists()


def test_global_nested_in_persistent_state_is_refused(tiny_raw: dict[str, Any], write_official,
                                                      tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    g = _generator(tiny_raw, rendering_kwargs={"ray_start": _payloads(marker)["posix.system"]})
    with pytest.raises(UnsafeCheckpointError, match="'posix.system'"):
        read_checkpoint(write_official({"G_ema": g, "D": tiny_raw["D"]}))
    assert not marker.exists()


def test_allowed_storage_loader_with_hostile_blob_is_refused(write_official, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    _CallPickle.Pickler(buffer, protocol=2).dump(_payloads(marker)["posix.system"])
    blob = buffer.getvalue()  # torch.load of the storage would unpickle this
    path = write_official({"G_ema": Call(torch.storage._load_from_bytes, blob)})
    with pytest.raises(UnsafeCheckpointError, match="posix.system"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    Call(torch._utils._rebuild_tensor_v2, "not a storage", 0, (1,), (1,), False, collections.OrderedDict()),
    Call(torch._utils._rebuild_parameter, "not a tensor", False, collections.OrderedDict()),
    Call(np.dtype, "O", False, True),  # object dtype: would let scalar() hand back arbitrary objects
])
def test_allowed_callables_reject_hostile_arguments(payload: Call, write_official) -> None:
    with pytest.raises(UnsafeCheckpointError, match="Nothing from the file was executed"):
        read_checkpoint(write_official({"G_ema": payload}))


def test_tensor_view_outside_its_storage_is_an_error(write_official) -> None:
    storage = torch.zeros(4).untyped_storage()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        typed = torch.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)
    tensor = Call(torch._utils._rebuild_tensor_v2, typed, 0, (1000,), (1,), False, collections.OrderedDict())
    with pytest.raises(CheckpointError, match="outside its storage"):
        read_checkpoint(write_official({"G_ema": tensor}))


# ------------------------------------------------------------------------ other kinds of files
def test_stylegan_generator_pickle_is_named(tiny_raw: dict[str, Any], write_official) -> None:
    stylegan = PersistentObject("Generator", dict(tiny_raw["G_ema"].state["_modules"]["backbone"].state), 6)
    with pytest.raises(CheckpointError, match="StyleGAN2/StyleGAN3 generator.*expected a persistent 'TriPlaneGenerator'"):
        read_checkpoint(write_official({"G": stylegan, "G_ema": stylegan, "D": tiny_raw["D"]}))


def test_discriminator_is_named(tiny_pkl: Path, tiny_raw: dict[str, Any], write_official) -> None:
    with pytest.raises(CheckpointError, match=r"\[D\] is an EG3D discriminator"):
        read_checkpoint(tiny_pkl, network="D")
    with pytest.raises(CheckpointError, match="is an EG3D discriminator"):
        read_checkpoint(write_official(tiny_raw["D"]))


def test_missing_network_lists_what_is_there(tiny_pkl: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no network 'G_avg'.*'G_ema'"):
        read_checkpoint(tiny_pkl, network="G_avg")


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (bytes(range(1, 128)), r"EG3D checkpoint .* is not a weights file of a known kind .*b'\\x01\\x02"),
    (b"<!DOCTYPE html><html>quota exceeded</html>", "is a web page, not weights .*'<!DOCTYPE html><html>quota"),
    (b"hello world\n", "is a text file, not weights .*'hello world'"),
    (pickle.dumps([1, 2, 3], protocol=4), "pickle of a list"),
])
def test_wrong_files_give_clear_errors(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "ffhq512-128.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)


def test_truncated_pickle_is_reported(tiny_pkl: Path, tmp_path: Path) -> None:
    path = tmp_path / "partial.pkl"
    path.write_bytes(tiny_pkl.read_bytes()[: 5_000_000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="is a folder, not a file"):
        read_checkpoint(tmp_path)


# ------------------------------------------------------------------------------ state dicts
@pytest.mark.parametrize("layout", ["G_ema", "state_dict", "bare", "legacy"])
def test_state_dict_files_with_config(layout: str, tiny: CheckpointContents, tmp_path: Path) -> None:
    sd = tiny.state_dict
    data = sd if layout in ("bare", "legacy") else {layout: sd}
    path = tmp_path / "model.pth"
    torch.save(data, path, _use_new_zipfile_serialization=layout != "legacy")
    config = {"init_kwargs": tiny.init_kwargs, "neural_rendering_resolution": 128}
    contents = read_checkpoint(path, config=config)
    _assert_same(contents, CheckpointContents(sd, tiny.init_kwargs, tiny.rendering_kwargs, 128, extras={}))
    with pytest.raises(CheckpointError, match="pass config="):
        read_checkpoint(path)


def test_state_dict_with_registry_config(tiny: CheckpointContents, tmp_path: Path) -> None:
    path = tmp_path / "model_pti.pth"
    torch.save({"G_ema": tiny.state_dict}, path)
    contents = read_checkpoint(path, config="ffhq512-128")
    assert contents.init_kwargs["channel_base"] == 32768 and contents.neural_rendering_resolution == 128
    assert "config ffhq512-128" in contents.source
    with pytest.raises(CheckpointError, match="unknown checkpoint name 'ffhq9000'.*ffhq512-128"):
        read_checkpoint(path, config="ffhq9000")


def test_truncated_pth_is_reported(tiny: CheckpointContents, tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save({"G_ema": tiny.state_dict}, path)
    path.write_bytes(path.read_bytes()[:1_000_000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(path, config="ffhq512-128")


def test_state_dict_of_another_network_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(2, 3, 3, 3)}, path)
    with pytest.raises(CheckpointError, match="not of an EG3D TriPlaneGenerator"):
        read_checkpoint(path, config="ffhq512-128")


def test_pth_with_code_is_refused_by_weights_only(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"G_ema": Call(os.system, f"touch {marker}")}, path, pickle_module=_CallPickle)
    with pytest.raises(UnsafeCheckpointError, match="posix.system"):
        read_checkpoint(path, config="ffhq512-128")
    assert not marker.exists()


class _CallPickle:
    """A ``pickle_module`` for torch.save that understands :class:`Call`."""

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            return (obj.func, obj.args) if isinstance(obj, Call) else NotImplemented

    Unpickler = pickle.Unpickler
    dump = staticmethod(pickle.dump)
    load = staticmethod(pickle.load)


# ---------------------------------------------------------------------------------- native
def test_native_round_trip_is_exact(tiny: CheckpointContents, tmp_path: Path) -> None:
    json_path = save_native(tiny, tmp_path / "tiny")
    assert json_path == tmp_path / "tiny.json" and (tmp_path / "tiny.safetensors").is_file()
    for name in ("tiny", "tiny.json", "tiny.safetensors"):
        again = read_checkpoint(tmp_path / name)
        _assert_same(again, tiny)
        assert tiny.source in again.source
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_native_detects_a_modified_tensor_file(tiny: CheckpointContents, tmp_path: Path) -> None:
    save_native(tiny, tmp_path / "tiny")
    tensors = tmp_path / "tiny.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        read_native(tmp_path / "tiny.json")


def test_native_refuses_foreign_json_and_lone_tensor_file(tiny: CheckpointContents, tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a native EG3D checkpoint"):
        read_checkpoint(tmp_path / "other.json")
    save_native(tiny, tmp_path / "tiny")
    (tmp_path / "tiny.json").unlink()
    with pytest.raises(CheckpointError, match="no settings file tiny.json"):
        read_checkpoint(tmp_path / "tiny.safetensors")


# ------------------------------------------------------------------- local files: sidecar sha256 and identity
def _flip_a_weight_byte(path: Path, tensor: torch.Tensor) -> None:
    """Flip one bit inside ``tensor``'s bytes in the file (a weight changes; the file still loads), and move the
    modification time on (as any later edit would)."""
    data = bytearray(path.read_bytes())
    at = data.find(tensor.numpy().tobytes())
    assert at > 0
    data[at + 1] ^= 0x01
    info = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 2_000_000_000))


def test_a_flipped_byte_in_a_local_checkpoint_warns_on_the_next_load(tiny_pkl: Path, tiny: CheckpointContents,
                                                                     tmp_path: Path) -> None:
    """Issue 19, item 7: the first load records the file's sha256 beside it; a later change is reported."""
    path = tmp_path / "mine.pkl"
    shutil.copyfile(tiny_pkl, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = eg3d.load(path)
    record = json.loads(sidecar_path(path).read_text())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar_path(path) == tmp_path / "mine.pkl.json"  # the downloader's sidecar name and fields
    assert (record["sha256"], record["size"]) == (digest, path.stat().st_size)
    assert eg3d.generator_identity(first) == {"checkpoint": str(path), "path": str(path), "sha256": digest,
                                                      "tiny_seed": None}
    name, tensor = max(tiny.state_dict.items(), key=lambda item: item[1].numel())
    _flip_a_weight_byte(path, tensor)
    for _ in range(2):  # the record is kept: it warns until the file is restored or the record deleted
        with pytest.warns(UserWarning, match=r"mine\.pkl changed since its sha256 was recorded in mine\.pkl\.json "
                                             r"\(was [0-9a-f]{12}…, now [0-9a-f]{12}…\): it is corrupt or was "
                                             r"replaced — .*delete .*mine\.pkl\.json") as caught:
            second = eg3d.load(path)
        assert all("\n" not in str(w.message) for w in caught)
    assert not torch.equal(second.state_dict()[f"{name}"], first.state_dict()[f"{name}"])  # it loads, but differs
    assert json.loads(sidecar_path(path).read_text())["sha256"] == digest


def test_state_dict_files_are_recorded_too_and_unchanged_files_are_not_hashed_again(
        tiny: CheckpointContents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.pth"
    torch.save({"G_ema": tiny.state_dict}, path)
    read_checkpoint(path, config="ffhq512-128")
    assert json.loads(sidecar_path(path).read_text())["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    hashed = []
    real = checkpoint_files.sha256_file
    monkeypatch.setattr(checkpoint_files, "sha256_file", lambda p: hashed.append(p) or real(p))
    read_checkpoint(path, config="ffhq512-128")
    assert hashed == []  # same size and modification time: the record is trusted
    _flip_a_weight_byte(path, tiny.state_dict["decoder.net.0.weight"])
    with pytest.warns(UserWarning, match="model.pth changed since its sha256 was recorded"):
        read_checkpoint(path, config="ffhq512-128")
    assert hashed == [path]
    other = tmp_path / "other.pth"
    shutil.copyfile(path, other)
    read_checkpoint(other, config="ffhq512-128", record_sha256=False)  # registry downloads: the downloader's job
    assert not sidecar_path(other).exists()


def test_a_read_only_folder_gets_no_sidecar(tiny_pkl: Path, tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    shutil.copyfile(tiny_pkl, folder / "model.pkl")
    folder.chmod(0o555)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            generator = eg3d.load(folder / "model.pkl")
    finally:
        folder.chmod(0o755)
    assert sorted(p.name for p in folder.iterdir()) == ["model.pkl"]
    assert eg3d.generator_identity(generator)["sha256"] == hashlib.sha256(tiny_pkl.read_bytes()).hexdigest()


def test_checkpoint_identity_names_the_tiny_seed_and_the_native_tensors(tiny: CheckpointContents,
                                                                        tmp_path: Path) -> None:
    """Issue 19, item 2: the recorded base of tiny-random includes its seed; load() remembers each identity."""
    assert eg3d.checkpoint_identity("tiny-random") == {"checkpoint": "tiny-random", "path": None, "sha256": None,
                                                       "tiny_seed": 0}
    assert eg3d.checkpoint_identity("tiny-random:7")["tiny_seed"] == 7
    generator = eg3d.load("tiny-random:7")
    assert eg3d.generator_identity(generator) == eg3d.checkpoint_identity("tiny-random:7")
    assert eg3d.generator_identity(eg3d.tiny_random(seed=7)) is None  # not from load(): unknown
    json_path = save_native(tiny, tmp_path / "tiny")
    tensors_sha = hashlib.sha256((tmp_path / "tiny.safetensors").read_bytes()).hexdigest()
    for name in ("tiny.json", "tiny.safetensors"):
        assert eg3d.checkpoint_identity(tmp_path / name)["sha256"] == tensors_sha
    assert eg3d.generator_identity(eg3d.load(json_path))["sha256"] == tensors_sha
    assert not sidecar_path(json_path).exists() and not sidecar_path(tmp_path / "tiny.safetensors").exists()


def test_checkpoint_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path / "nope.pkl")
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"EG3D checkpoint {tmp_path / 'nope.pkl'} does not exist — check the path")


# -------------------------------------------------------------------------------- registry
def test_registry_ffhq512_128_config_matches_the_fixture(tiny: CheckpointContents) -> None:
    config = get_entry("ffhq512-128").config
    assert config is not None
    assert config["rendering_kwargs"] == tiny.rendering_kwargs  # the fixture used ffhq512-128's settings
    sizes = {"channel_base", "channel_max", "sr_kwargs"}
    assert {k: v for k, v in config["init_kwargs"].items() if k not in sizes} == \
        {k: v for k, v in tiny.init_kwargs.items() if k not in sizes}
    assert config["extras"]["plane_axes"] == tiny.extras["plane_axes"]

"""The one safe loader of weight files (issue 19, item 3): what it reads, how each kind of bad file is refused, and
that every loader of the toolkit (EG3D, depth models, the original project's files, latent encoders, LPIPS, weight
deltas) goes through it: a malicious pickle, an empty file, text, a web page or a truncated zip give one line that
says what the file is and what to do, never torch's advice to disable the safety, and nothing from the file runs.

The malicious files would create a marker file if anything unpickled them; "the marker does not exist" proves that
nothing ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from safetensors.torch import save_file

from helpers import eg3d
from helpers.base.errors import UserError
from helpers.base.weights_file import (
    UnsafeWeightsError,
    WeightsFileError,
    WeightsFileNotFoundError,
    read_safetensors,
    read_tensors,
    read_weights,
    weights_file_kind,
)
from helpers.depth.models import load_depth_model
from helpers.depth.networks.attention_unet import AttentionUNet
from helpers.depth.networks.midas_dpt import load_midas_dpt
from helpers.eg3d.checkpoints.checkpoint_files import read_checkpoint
from helpers.eg3d.checkpoints.native_format import FORMAT as NATIVE_FORMAT
from helpers.eg3d.checkpoints.native_format import read_native
from helpers.invert.lpips_weights import load_lpips
from helpers.invert.weight_delta import load_weight_delta
from helpers.latent.encoder import load_latent_encoder
from helpers.latent.published_regressors import load_published_regressor
from helpers.training.training_loop import _load_state as load_training_state
from tests.bad_files import BAD_FILES, Call, bad_weights_file, torch_bytes

WHAT, EXPECTED = "test model", "a state dict written by torch.save"




def _native(path: Path) -> Any:
    """A native EG3D checkpoint whose JSON describes ``path`` as its tensor file (size and sha256 match)."""
    record = {"format": NATIVE_FORMAT, "version": 1, "class_name": "TriPlaneGenerator", "init_kwargs": {},
              "rendering_kwargs": {}, "neural_rendering_resolution": 64, "keys": [], "extras": {},
              "tensors": {"file": path.name, "bytes": path.stat().st_size,
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    json_path = path.with_name(path.stem + "_native.json")
    json_path.write_text(json.dumps(record))
    return read_native(json_path)


#: Every loader of a weight file in the toolkit, as ``load(path)``.
LOADERS: dict[str, Callable[[Path], Any]] = {
    "EG3D state dict": lambda p: read_checkpoint(p, config="ffhq512-128"),
    "eg3d.load": lambda p: eg3d.load(p, config="ffhq512-128"),
    "EG3D native tensors": _native,
    "depth model": load_depth_model,
    "published U-Net file": AttentionUNet.load_original_weights,
    "published MiDaS file": load_midas_dpt,
    "latent encoder": load_latent_encoder,
    "published regressor file": load_published_regressor,
    "LPIPS file": load_lpips,
    "LPIPS trunk and linear files": lambda p: load_lpips((p, p)),
    "weight delta": load_weight_delta,
    "training state (resume)": load_training_state,
}
_SAFETENSORS_ONLY = {"EG3D native tensors", "weight delta"}  # a pickle is refused unread: no global to name


@pytest.mark.parametrize("bad", BAD_FILES)
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_refuses_a_bad_file_in_one_line(loader: str, bad: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = bad_weights_file(bad, tmp_path, marker)
    with pytest.raises(Exception) as info:
        LOADERS[loader](path)
    message = str(info.value)
    assert isinstance(info.value, UserError), f"{type(info.value).__name__}: {message}"
    assert "\n" not in message and "weights_only" not in message, message  # no advice to disable the safety
    assert path.name in message, message  # says which file
    if bad.startswith("malicious"):
        assert isinstance(info.value, ValueError)
        if loader not in _SAFETENSORS_ONLY:
            assert "posix.system" in message, message  # names what it would have run
    elif bad == "empty":
        assert "empty (0 bytes)" in message and isinstance(info.value, ValueError)
    elif bad == "truncated zip":
        assert "truncated or corrupt" in message
    elif bad == "web page":
        assert "web page" in message
    assert not marker.exists()  # nothing from the file ran


# ------------------------------------------------------------------------------------------------ the loader itself
@pytest.mark.parametrize("legacy", [False, True])
def test_torch_files_load_on_the_cpu(legacy: bool, tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"  # the name does not matter: the content decides
    state = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2])}
    path.write_bytes(torch_bytes({"state_dict": state, "epoch": 3}, _use_new_zipfile_serialization=not legacy))
    assert weights_file_kind(path, what=WHAT, expected=EXPECTED) == ("torch-legacy" if legacy else "torch")
    data = read_weights(path, what=WHAT, expected=EXPECTED)
    assert data["epoch"] == 3 and torch.equal(data["state_dict"]["a"], state["a"])
    with pytest.raises(WeightsFileError, match="holds a mapping with values that are not tensors"):
        read_tensors(path, what=WHAT, expected=EXPECTED)
    path.write_bytes(torch_bytes(state, _use_new_zipfile_serialization=not legacy))
    assert set(read_tensors(path, what=WHAT, expected=EXPECTED)) == {"a", "b"}


def test_safetensors_files_load_with_their_metadata(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    save_file({"w": torch.ones(3, 2)}, str(path), metadata={"format": "x"})
    assert weights_file_kind(path, what=WHAT, expected=EXPECTED) == "safetensors"
    tensors, metadata = read_safetensors(path, what=WHAT, expected=EXPECTED)
    assert metadata == {"format": "x"} and torch.equal(tensors["w"], torch.ones(3, 2))
    assert torch.equal(read_tensors(path, what=WHAT, expected=EXPECTED)["w"], torch.ones(3, 2))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(WeightsFileError, match=r"is truncated or corrupt \(.*\) — delete it and download"):
        read_safetensors(path, what=WHAT, expected=EXPECTED)
    torch_file = tmp_path / "torch.safetensors"
    torch_file.write_bytes(torch_bytes({"w": torch.ones(2)}))
    with pytest.raises(WeightsFileError, match="is a torch.save file, not a safetensors file — give a state dict"):
        read_safetensors(torch_file, what=WHAT, expected=EXPECTED)


def test_a_pickle_that_needs_code_names_it_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for name, data in [("zip.pt", torch_bytes({"w": Call(os.system, f"touch {marker}")})),
                       ("legacy.pt", torch_bytes([Call(os.system, f"touch {marker}")],
                                                  _use_new_zipfile_serialization=False)),
                       ("protocol4.pt", torch_bytes({"w": Call(os.system, f"touch {marker}")}, pickle_protocol=4)),
                       ("plain.pkl", pickle.dumps({"w": Call(os.system, f"touch {marker}")}, protocol=2)),
                       ("plain5.pkl", pickle.dumps(Call(os.system, f"touch {marker}"), protocol=5))]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UnsafeWeightsError) as info:
            read_weights(path, what=WHAT, expected=EXPECTED)
        assert str(info.value) == (
            f"{WHAT} {path} needs the Python object `posix.system` to load: this toolkit never runs code from files, "
            "so it was refused (nothing was executed) — re-save the weights as a plain state dict "
            "(torch.save(model.state_dict(), path)) or as safetensors")
        assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)
    assert not marker.exists()


def test_a_class_of_the_users_own_is_named_too(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    path.write_bytes(torch_bytes({"model": _Model()}))
    with pytest.raises(UnsafeWeightsError, match=r"needs the Python object `tests\.base\.test_weights_file\._Model`"):
        read_weights(path, what=WHAT, expected=EXPECTED)


class _Model:
    """A pickled class: a whole-module torch.save, as users sometimes write."""


@pytest.mark.parametrize("content, error, message", [
    (b"", WeightsFileError, r"^test model .*empty\.pt is empty \(0 bytes\): an interrupted download or copy\? — "
                            r"delete it and download \(or save\) it again$"),
    (b"hello\nworld", WeightsFileError, r"is a text file, not weights \(it starts with 'hello world'\) — give a state"),
    (b"<html><head><title>Sign in</title>", WeightsFileError, r"is a web page, not weights \(it starts with "
                                                              r"'<html><head><title>Sign in</title>'\): .* — download "
                                                              r"the file in a browser, then give a state dict"),
    (bytes(range(1, 64)), WeightsFileError, r"is not a weights file of a known kind \(it starts with bytes "
                                            r"b'\\x01\\x02"),
    (b"\x1f\x8b\x08\x00data", WeightsFileError, r"is a gzip archive, not weights — unpack or convert it"),
    (pickle.dumps([1, 2, 3]), WeightsFileError, r"is a plain Python pickle, not a torch.save or safetensors file"),
])
def test_files_that_are_not_weights_say_what_they_are(content: bytes, error: type[Exception], message: str,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "empty.pt"
    path.write_bytes(content)
    with pytest.raises(error, match=message) as info:
        read_weights(path, what=WHAT, expected=EXPECTED)
    assert "\n" not in str(info.value) and " — " in str(info.value)


def test_truncated_archives_missing_files_and_folders(tmp_path: Path) -> None:
    data = torch_bytes({"w": torch.zeros(1000)})
    for name, cut in (("zip.pt", data[: len(data) // 2]),
                      ("legacy.pt", torch_bytes({"w": torch.zeros(1000)}, _use_new_zipfile_serialization=False)[:600])):
        (tmp_path / name).write_bytes(cut)
        with pytest.raises(WeightsFileError, match=r"is truncated or corrupt \(.+\) — delete it and download"):
            read_weights(tmp_path / name, what=WHAT, expected=EXPECTED)
    import zipfile

    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("a.png", b"x")
    with pytest.raises(WeightsFileError, match=r"is a zip archive but not a torch.save file \(it holds a.png\)"):
        read_weights(tmp_path / "photos.zip", what=WHAT, expected=EXPECTED)
    with pytest.raises(WeightsFileNotFoundError, match=r"missing\.pt does not exist — check the path") as info:
        read_weights(tmp_path / "missing.pt", what=WHAT, expected=EXPECTED)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, UserError)
    with pytest.raises(WeightsFileError, match="is a folder, not a file — give the weights file itself"):
        read_weights(tmp_path, what=WHAT, expected=EXPECTED)


def test_a_torchscript_archive_is_named_as_such_and_not_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(WeightsFileError) as info:
        read_weights(path, what=WHAT, expected=EXPECTED)
    message = str(info.value)
    assert "is a TorchScript archive (torch.jit.save), not a state dict" in message, message
    assert "weights_only" not in message and "\n" not in message and message.count(" — ") == 1
    assert capsys.readouterr().err == ""  # no warning of torch's either

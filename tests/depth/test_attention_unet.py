"""helpers.depth.networks.attention_unet: parity with the original Attention U-Net, weight loading, predict.

Reference: ``shared/fixtures/attention_unet_reference`` (see its README), recorded from the original
notebook's U-Net code with a tiny (start_filts=4), randomly perturbed model in eval mode, float32 CPU.
Tolerance: the README's suggested atol (1e-5) for outputs, attention maps and intermediates.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from helpers.base.weights_file import UnsafeWeightsError
from helpers.depth.networks.attention_unet import AttentionUNet, AttentionUNetConfig
from helpers.depth.networks.original_weights import IncompatibleCheckpointError, PublishedWeights, download_weights
from helpers.depth.networks.unet_weights import PUBLISHED_WEIGHTS
from helpers.download.http_download import DownloadError, recorded_sha256
from tests.local_http import FileServer, serving

ATOL = 1e-5
TINY = AttentionUNetConfig(start_filts=4)


def assert_close(actual: torch.Tensor, expected: np.ndarray, name: str, atol: float = ATOL) -> None:
    expected_t = torch.from_numpy(np.asarray(expected))
    assert tuple(actual.shape) == tuple(expected_t.shape), f"{name}: shape {tuple(actual.shape)} != {expected_t.shape}"
    err = (actual.detach().double() - expected_t.double()).abs().max().item()
    assert err <= atol, f"{name}: max abs error {err:.3g} > {atol:g}"


def read_key_list(path: Path) -> list[tuple[str, tuple[int, ...], str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        name, shape, dtype, kind = line.split("\t")
        rows.append((name, tuple(int(s) for s in shape.strip("()").split(",") if s.strip()), dtype, kind))
    return rows


def key_list(model: nn.Module) -> list[tuple[str, tuple[int, ...], str, str]]:
    params = {name for name, _ in model.named_parameters()}
    return [
        (name, tuple(t.shape), str(t.dtype).removeprefix("torch."), "param" if name in params else "buffer")
        for name, t in model.state_dict().items()
    ]


@pytest.fixture(scope="module")
def ref_dir(attention_unet_reference: Path) -> Path:
    return attention_unet_reference


@pytest.fixture(scope="module")
def io_ref(ref_dir: Path) -> dict[str, np.ndarray]:
    with np.load(ref_dir / "io.npz") as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def tiny(ref_dir: Path) -> AttentionUNet:
    return AttentionUNet.load_original_weights(ref_dir / "unet_tiny_state.pt")


# ------------------------------------------------------------------------------------ structure
def test_tiny_state_dict_names_shapes_and_order(ref_dir: Path) -> None:
    assert key_list(AttentionUNet(TINY)) == read_key_list(ref_dir / "state_keys.txt")


def test_full_size_state_dict_and_parameter_count(ref_dir: Path) -> None:
    with torch.device("meta"):
        model = AttentionUNet()
    assert model.config == AttentionUNetConfig(3, 1, 5, 32, True, 128)
    assert key_list(model) == read_key_list(ref_dir / "full_size_keys.txt")
    assert sum(p.numel() for p in model.parameters()) == 8_987_429
    assert sum(b.numel() for b in model.buffers() if b.is_floating_point()) == 7_808


def test_initialisation_reproduces_the_original_for_the_same_seed(ref_dir: Path) -> None:
    """Seed 0, construct, then the fixture's recorded perturbation walk: the whole state matches."""
    torch.manual_seed(0)
    model = AttentionUNet(TINY)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(c))
                module.running_var.copy_(1 + 0.1 * torch.rand(c))
                module.weight.copy_(1 + 0.1 * torch.randn(c))
                module.bias.copy_(0.1 * torch.randn(c))
            elif isinstance(module, nn.Conv2d) and module.bias is not None:
                module.bias.copy_(0.05 * torch.randn(module.bias.shape))
    with np.load(ref_dir / "unet_tiny_state.npz") as npz:
        for name, tensor in model.state_dict().items():
            assert_close(tensor, npz[name], name, atol=0.0)


def test_fresh_model_initialisation_scheme() -> None:
    model = AttentionUNet(TINY)
    assert model.training
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.bias is not None:
            assert not module.bias.any(), name
        if isinstance(module, nn.BatchNorm2d) and ".attention." not in f".{name}.":
            assert bool((module.weight == 1).all() and (module.bias == 0).all()), name
    gate_bn = model.up_convs[0].attention.w[1].weight
    assert not bool((gate_bn == 1).all()) and (gate_bn - 1).abs().max() < 0.2  # N(1, 0.02)


# ------------------------------------------------------------------------------------ loading
def test_tiny_state_loads_key_for_key_from_pt_and_npz(ref_dir: Path, tiny: AttentionUNet) -> None:
    assert tiny.config == TINY and not tiny.training
    with np.load(ref_dir / "unet_tiny_state.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    from_npz = AttentionUNet.load_original_weights(arrays)
    assert list(from_npz.state_dict()) == list(arrays) == list(tiny.state_dict())
    for name, tensor in from_npz.state_dict().items():
        assert tensor.dtype == tiny.state_dict()[name].dtype, name
        assert torch.equal(tensor, tiny.state_dict()[name]), name
    assert tiny.state_dict()["down_convs.0.norm0.num_batches_tracked"].dtype == torch.int64


def test_training_state_wrapper_is_unwrapped(tmp_path: Path, tiny: AttentionUNet) -> None:
    path = tmp_path / "training_state.pth"
    torch.save({"epoch": 3, "state_dict": tiny.state_dict(), "optimizer": {"state": {}, "param_groups": []}}, path)
    loaded = AttentionUNet.load_original_weights(path)
    assert all(torch.equal(v, tiny.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_checkpoint_without_attention_is_inferred_or_refused_clearly() -> None:
    plain = AttentionUNet(AttentionUNetConfig(start_filts=4, attention=False)).state_dict()
    assert AttentionUNet.load_original_weights(plain).config.attention is False
    with pytest.raises(IncompatibleCheckpointError) as info:
        AttentionUNet.load_original_weights(plain, config=TINY)
    message = str(info.value)
    assert "missing keys (48)" in message and "up_convs.0.attention.w.0.weight" in message
    assert "has no attention gates" in message and "\n" not in message  # one line


def test_wrong_width_and_foreign_checkpoints_are_refused(tmp_path: Path, tiny: AttentionUNet) -> None:
    with pytest.raises(IncompatibleCheckpointError, match=r"shape mismatches \(\d+\): down_convs\.0\.conv1\.weight"):
        AttentionUNet.load_original_weights(tiny.state_dict(), config=AttentionUNetConfig(start_filts=8))
    extra = dict(tiny.state_dict(), **{"head.weight": torch.zeros(1)})
    with pytest.raises(IncompatibleCheckpointError, match=r"unexpected keys \(1\): head\.weight"):
        AttentionUNet.load_original_weights(extra)
    with pytest.raises(IncompatibleCheckpointError, match="not an Attention U-Net state dict.*MiDaS DPT checkpoint"):
        AttentionUNet.load_original_weights({"pretrained.model.patch_embed.proj.weight": torch.zeros(2, 3)})
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": _NotATensor()}, pickled)
    with pytest.raises(UnsafeWeightsError, match=r"needs the Python object `tests\.depth\.test_attention_unet\._NotA"):
        AttentionUNet.load_original_weights(pickled)


class _NotATensor:
    """A pickled class: ``weights_only`` loading refuses it."""


# ------------------------------------------------------------------------------------ parity
@pytest.mark.parametrize("case", ["1", "2", "3"])
def test_outputs_and_attention_maps_match_the_original(tiny: AttentionUNet, io_ref: dict, case: str) -> None:
    with torch.no_grad():
        y, attention = tiny.forward_with_attention(torch.from_numpy(io_ref[f"x{case}"]))
    assert_close(y, io_ref[f"y{case}"], f"y{case}")
    assert len(attention) == 4
    for k, coefficients in enumerate(attention):
        assert_close(coefficients, io_ref[f"x{case}_att_up{k}"], f"x{case}_att_up{k}")
    with torch.no_grad():
        assert torch.equal(tiny(torch.from_numpy(io_ref[f"x{case}"])), y)


def test_intermediates_match_the_original(ref_dir: Path, tiny: AttentionUNet, io_ref: dict) -> None:
    """Encoder skip tensors and decoder outputs, captured with forward hooks as documented."""
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            captured[name] = output[0] if isinstance(output, tuple) else output
        return hook

    handles = [block.register_forward_hook(keep(f"down{i}_before_pool")) for i, block in enumerate(tiny.down_convs)]
    handles += [block.register_forward_hook(keep(f"up{k}_out")) for k, block in enumerate(tiny.up_convs)]
    try:
        with torch.no_grad():
            tiny(torch.from_numpy(io_ref["x1"]))
    finally:
        for handle in handles:
            handle.remove()
    with np.load(ref_dir / "intermediates_x1.npz") as npz:
        assert sorted(npz.files) == sorted(captured)
        for name in npz.files:
            assert_close(captured[name], npz[name], name)


# ------------------------------------------------------------------------------------ predict
def test_predict_matches_forward_and_keeps_the_input_size(tiny: AttentionUNet) -> None:
    images = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    depth = tiny.predict(images)
    with torch.no_grad():
        expected = tiny(images * 2 - 1)
    assert torch.allclose(depth, expected, atol=1e-6)
    odd = tiny.predict(torch.rand(1, 3, 100, 90))  # not square, not 128: resized there and back
    assert odd.shape == (1, 1, 100, 90) and odd.dtype == torch.float32 and torch.isfinite(odd).all()
    small = tiny.predict(torch.rand(1, 3, 40, 40))
    assert small.shape == (1, 1, 40, 40)


def test_predict_accepts_uint8_and_checks_its_input(tiny: AttentionUNet) -> None:
    as_uint8 = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    assert torch.allclose(tiny.predict(as_uint8), tiny.predict(as_uint8.float() / 255), atol=1e-6)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        tiny.predict(torch.full((1, 3, 64, 64), 255.0))
    with pytest.raises(ValueError, match=r"shape \(N, 3, H, W\)"):
        tiny.predict(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match="too small"):
        tiny(torch.rand(1, 3, 8, 8))


def test_predict_restores_training_mode_and_leaves_statistics_alone() -> None:
    model = AttentionUNet(AttentionUNetConfig(start_filts=4, input_size=32))
    model.train()
    model.up_convs[1].eval()  # a mixed state is restored module by module
    before = {k: v.clone() for k, v in model.state_dict().items()}
    depth = model.predict(torch.rand(2, 3, 48, 48))
    assert depth.shape == (2, 1, 48, 48) and not depth.requires_grad
    assert model.training and model.down_convs[0].norm0.training and not model.up_convs[1].training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    model.eval()
    model.predict(torch.rand(1, 3, 32, 32))
    assert not model.training


# ------------------------------------------------------------------------------------ training
def test_a_few_training_steps_reduce_the_l1_loss() -> None:
    torch.manual_seed(0)
    model = AttentionUNet(AttentionUNetConfig(start_filts=4, input_size=32)).train()
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    target = images.mean(dim=1, keepdim=True)  # a learnable per-pixel map in [-1, 1]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = nn.functional.l1_loss(model(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


# ------------------------------------------------------------------------------------ download
def test_published_weights_record() -> None:
    assert PUBLISHED_WEIGHTS.filename == "Attention_UNET_b5_e10ckp9_weights.pt"
    assert PUBLISHED_WEIGHTS.gdrive_id == "10-4brg5EkaonV7bPWI_FpyBKpXr-kzfi"
    dropbox, drive = PUBLISHED_WEIGHTS.urls
    assert dropbox.startswith("https://www.dropbox.com/scl/fi/") and dropbox.endswith("&dl=1")
    assert drive == ("https://drive.usercontent.google.com/download?id=10-4brg5EkaonV7bPWI_FpyBKpXr-kzfi"
                     "&export=download&confirm=t")


def _served(server: FileServer, *names: str) -> PublishedWeights:
    return dataclasses.replace(PUBLISHED_WEIGHTS, urls=tuple(server.url(name) for name in names))


def test_download_goes_to_the_second_url_once_then_uses_the_cache(tmp_path: Path, ref_dir: Path) -> None:
    payload = (ref_dir / "unet_tiny_state.pt").read_bytes()
    with serving(FileServer(files={"drive.pt": payload})) as server:
        weights = _served(server, "dropbox.pt", "drive.pt")  # the first answers 404
        path = download_weights(weights, tmp_path, progress=False)
        assert path == tmp_path / "depth" / PUBLISHED_WEIGHTS.filename and path.read_bytes() == payload
        assert [r.path for r in server.requests] == ["/dropbox.pt", "/drive.pt"]
        assert download_weights(weights, tmp_path, progress=False) == path and len(server.requests) == 2
    assert recorded_sha256(path) == hashlib.sha256(payload).hexdigest()  # checked on every later use
    assert not list(path.parent.glob("*.part"))
    assert AttentionUNet.load_original_weights(path).config == TINY


def test_download_failures_are_clear_and_leave_nothing_behind(tmp_path: Path) -> None:
    with serving(FileServer(files={"a.pt": b"<!DOCTYPE html><html>quota</html>"})) as server:
        with pytest.raises(DownloadError, match=r"a\.pt gave a file that is not a PyTorch checkpoint.*HTTP 404"):
            download_weights(_served(server, "a.pt", "b.pt"), tmp_path, progress=False)
        server.content_type = "text/html"
        with pytest.raises(DownloadError, match=r"web page instead of the file.*put it at"):
            download_weights(_served(server, "a.pt"), tmp_path, progress=False)
    assert not list((tmp_path / "depth").iterdir())  # neither a final file, a sidecar nor a .part is left

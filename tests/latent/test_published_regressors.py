"""The original project's published latent-code regressors: parity with the original architectures and
preprocessing (tests/fixtures/code_regressor_reference, recorded with the original code; its README.md), loading by
name through the one downloader (a local HTTP server stands in for Dropbox / Google Drive), one-line errors for wrong
files, and the encoder contract (predict → ws, evaluation, EG3D)."""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from helpers import eg3d
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.networks.original_weights import IncompatibleCheckpointError
from helpers.download.http_download import DownloadError, recorded_sha256
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset
from helpers.latent.code_regressor_unet import CodeRegressorUNet
from helpers.latent.code_regressor_vit import PretrainedViTB16, VitPytorchViT
from helpers.latent.encoder import load_latent_encoder
from helpers.latent.evaluate_latent import encoder_predictor, evaluate_latents
from helpers.latent.infer import reconstruct_from_latent
from helpers.latent.latent_dataset import LatentDataset
from helpers.latent.published_regressors import (
    PUBLISHED_REGRESSORS,
    PublishedCodeRegressor,
    regressor_from_state_dict,
)
from tests.local_http import FileServer, serving

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "code_regressor_reference"
PHOTOS = ("photo_512", "photo_256")
#: fixture prefix → our builder of the full-size original network (its keys and shapes)
ORIGINALS = {"vit": VitPytorchViT, "vit_b16": PretrainedViTB16, "unet": CodeRegressorUNet}
PERIOD = 65537


def rule_array(key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The fixture's weight rule (README.md): uniform values seeded by the key's crc32, std 1/sqrt(fan_in) for
    tensors of 2+ dims and 0.1·U(-1, 1) for vectors, a prime-period tiling beyond 65537 values."""
    n = int(np.prod(shape))
    u = np.random.RandomState(zlib.crc32(key.encode("utf-8"))).random_sample(min(n, PERIOD))
    scale = np.sqrt(3.0 / np.prod(shape[1:])) if len(shape) >= 2 else 0.1
    return np.resize(((2.0 * u - 1.0) * scale).astype(np.float32), n).reshape(shape)


def rule_state_dict(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(rule_array(key, tuple(t.shape))) for key, t in network.state_dict().items()}


def _meta(cls: type[torch.nn.Module], **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return cls(**kwargs)


def _photo(name: str) -> torch.Tensor:
    image = np.asarray(PIL.Image.open(REFERENCE / f"{name}.png").convert("RGB"))
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def reference() -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((REFERENCE / "reference.json").read_text(encoding="utf-8"))
    with np.load(REFERENCE / "reference.npz") as arrays:
        return meta, dict(arrays)


# ----------------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("prefix", list(ORIGINALS))
def test_networks_have_the_original_keys_and_shapes(prefix, reference) -> None:
    meta, _ = reference
    ours = {key: list(t.shape) for key, t in _meta(ORIGINALS[prefix]).state_dict().items()}
    assert ours == meta["state_dicts"][prefix]  # same names, same order, same shapes


@pytest.mark.parametrize("prefix", list(ORIGINALS))
def test_preprocessing_matches_the_original(prefix, reference) -> None:
    """Our resize + normalisation of the fixture's photos against the original's (PIL ``Resize((384, 384))`` +
    ``ToTensor`` + ``Normalize(0.5, 0.5)``; MiDaS ``read_image`` + ``Resize(512, 512, minimal, INTER_CUBIC)`` +
    ``NormalizeImage(0.5, 0.5)``): every 24th pixel to 1e-6, the sums over all pixels to 1e-5 relative (the
    original computes in float64, we in float32)."""
    meta, arrays = reference
    config = PUBLISHED_REGRESSORS["published-code-regressor-unet" if prefix == "unet" else "published-code-regressor-vit"]
    model = PublishedCodeRegressor(config, torch.nn.Linear(1, 1), "")  # preprocessing needs no weights
    for photo in PHOTOS:
        recorded = meta["inputs"][f"{prefix}__{photo}"]
        x = model.preprocess(_photo(photo))
        assert list(x.shape) == recorded["shape"]
        np.testing.assert_allclose(x[0, :, ::24, ::24].numpy(), arrays[f"{prefix}__{photo}__input_samples"],
                                   rtol=0, atol=1e-6)
        assert float(x.double().sum()) == pytest.approx(recorded["sum"], rel=1e-5)
        assert float(x.double().abs().sum()) == pytest.approx(recorded["abs_sum"], rel=1e-5)


#: One photo per network (a forward pass at the original size takes seconds on two cores): the ViT on the synthetic
#: set's own 512² (shrunk to 384²), the others on the 256² photo (enlarged: bilinear, bicubic).
PARITY_PHOTO = {"vit": "photo_512", "vit_b16": "photo_256", "unet": "photo_256"}


@pytest.mark.parametrize("prefix", list(ORIGINALS))
def test_predictions_match_the_original_code(prefix, reference) -> None:
    """Rule weights in the original key naming; a fixture photo through our preprocessing and network: the ws the
    original pipeline predicted (vit_pytorch 0.38.1 / pytorch_pretrained_vit 0.0.7 / the notebook's UNet class,
    PIL / OpenCV preprocessing), to 1e-5."""
    meta, arrays = reference
    state = rule_state_dict(_meta(ORIGINALS[prefix]))
    for key, value in meta["weights"][prefix].items():  # the rule reproduces the recorded weights
        if key in state:
            assert float(state[key].double().sum()) == pytest.approx(value, rel=1e-9, abs=1e-9)
    model = regressor_from_state_dict(state)
    assert model.variant == {"vit": "vit-pytorch", "vit_b16": "pytorch-pretrained-vit", "unet": "unet"}[prefix]
    photo = PARITY_PHOTO[prefix]
    ws = model.predict(_photo(photo))
    assert ws.shape == (1, 14, 512) and ws.dtype == torch.float32
    np.testing.assert_allclose(ws.numpy(), arrays[f"{prefix}__{photo}__ws"], rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------------------------------- small stand-ins
def _tiny_vit(num_classes: int = 14 * 512) -> dict[str, torch.Tensor]:
    return rule_state_dict(_meta(VitPytorchViT, image_size=32, dim=32, depth=1, heads=1, mlp_dim=64,
                                 num_classes=num_classes))


def _tiny_unet() -> dict[str, torch.Tensor]:
    return rule_state_dict(_meta(CodeRegressorUNet, width=2))


def _file(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path)  # as the notebooks saved: torch.save(model.state_dict(), path)
    return path


def test_stand_ins_take_their_sizes_from_the_keys() -> None:
    vit = regressor_from_state_dict(_tiny_vit(num_classes=14 * 8))
    assert (vit.config.input_size, vit.config.num_ws, vit.config.w_dim) == (32, 14, 8)
    b16 = regressor_from_state_dict(rule_state_dict(_meta(PretrainedViTB16, image_size=32, dim=64, ff_dim=32,
                                                          num_layers=2, num_classes=14 * 4)))
    assert (b16.variant, b16.config.input_size, b16.config.w_dim) == ("pytorch-pretrained-vit", 32, 4)
    unet = regressor_from_state_dict(_tiny_unet())
    assert (unet.config.input_size, unet.config.w_dim, unet.config.resize) == (512, 16, "bicubic")
    images = torch.randint(0, 256, (2, 3, 100, 80), dtype=torch.uint8)
    for model in (vit, b16, unet):
        ws = model.predict(images)
        assert ws.shape == (2, 14, model.config.w_dim) and model.ws(ws) is ws
        assert torch.allclose(model.predict(images.float() / 255), ws, atol=1e-2)  # float input: no uint8 rounding
        assert model.ws(ws[:, 0]).shape == ws.shape
    with pytest.raises(ValueError, match=r"shape \(N, 3, H, W\)"):
        vit.predict(images[0])


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A local server with a stand-in for each published file (original key naming, small sizes); the registry's
    links point at it."""
    files = {"vit.pt": _file(_tiny_vit(), tmp_path / "vit.pt").read_bytes(),
             "unet.pt": _file(_tiny_unet(), tmp_path / "unet.pt").read_bytes()}
    with serving(FileServer(files=files)) as server:
        for name, stem in (("published-code-regressor-vit", "vit"), ("published-code-regressor-unet", "unet")):
            spec = PUBLISHED_REGRESSORS[name]
            weights = dataclasses.replace(spec.weights, urls=(server.url(f"{stem}.pt"),))
            monkeypatch.setitem(PUBLISHED_REGRESSORS, name, dataclasses.replace(spec, weights=weights))
        yield server


def test_published_names_download_once_then_load_from_the_cache(served, tmp_path) -> None:
    cache = tmp_path / "cache"
    for name in ("published-code-regressor-vit", "published-code-regressor-unet"):
        model = load_latent_encoder(name, cache_dir=cache)
        assert isinstance(model, PublishedCodeRegressor) and not model.training
        assert model.config.name == name and model.config.wplus
        path = cache / "latent" / PUBLISHED_REGRESSORS[name].weights.filename
        assert path.is_file() and recorded_sha256(path)  # verified from now on against the recorded sha256
    assert len(served.requests) == 2
    again = load_latent_encoder("published-code-regressor-vit", cache_dir=cache)
    assert len(served.requests) == 2  # no network: the cache
    assert again.config.input_size == 32


def test_download_failures_are_one_line_and_leave_nothing(served, tmp_path) -> None:
    cache = tmp_path / "cache"
    served.content_type = "text/html"  # Drive's quota / confirmation page
    with pytest.raises(DownloadError, match="could not download") as info:
        load_latent_encoder("published-code-regressor-unet", cache_dir=cache)
    assert "\n" not in str(info.value) and "web page" in str(info.value)
    served.content_type = "application/octet-stream"
    served.files["vit.pt"] = b"<html>not a checkpoint</html>"
    with pytest.raises(DownloadError, match="not a PyTorch checkpoint"):
        load_latent_encoder("published-code-regressor-vit", cache_dir=cache)
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_wrong_files_give_one_line_errors_naming_the_keys(tmp_path) -> None:
    state = _tiny_vit()
    state.pop("mlp_head.0.weight")
    state["head.weight"] = torch.zeros(3)
    with pytest.raises(IncompatibleCheckpointError) as info:
        load_latent_encoder(_file(state, tmp_path / "broken.pt"))
    message = str(info.value)
    assert "\n" not in message and "missing keys (1): mlp_head.0.weight" in message
    assert "unexpected keys (1): head.weight" in message
    depth = {"down_convs.0.conv1.weight": torch.zeros(32, 3, 3, 3), "conv_final.weight": torch.zeros(1, 32, 1, 1)}
    with pytest.raises(IncompatibleCheckpointError, match="not a checkpoint of the original latent-code regressor"):
        load_latent_encoder(_file(depth, tmp_path / "depth.pt"))
    with pytest.raises(IncompatibleCheckpointError, match="holds the UNET-modified, not the vit"):
        regressor_from_state_dict(_tiny_unet(), config=PUBLISHED_REGRESSORS["published-code-regressor-vit"])
    with pytest.raises(IncompatibleCheckpointError, match="predicts 100 values, not 14 ws"):
        regressor_from_state_dict(_tiny_vit(num_classes=100))
    with pytest.raises(FileNotFoundError, match="published-code-regressor-vit"):
        load_latent_encoder("published-code-regressor-vt")


# ----------------------------------------------------------------------------------------------------- contract
def test_a_prediction_reaches_eg3d_as_all_14_ws_and_is_scored(tmp_path) -> None:
    """ws (1, 14, 512) go to the synthesis network as they are (W+, no mapping, no truncation), and evaluation
    scores them per layer against the sample's w and renders their depth."""
    generator = eg3d.tiny_random(seed=0).eval()
    model = regressor_from_state_dict(_tiny_vit())
    ws = model.ws(model.predict(torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)))
    assert ws.shape == (1, 14, 512)
    rec = reconstruct_from_latent(generator, ws, mesh_resolution=0)
    assert rec.ws is ws and rec.w.shape == (14, 512) and rec.image.shape[-1] == 3
    root = write_head_dataset(tmp_path / "heads", HeadDatasetConfig(count=2, image_size=32, depth_size=32),
                              progress=False)
    dataset = LatentDataset(root, DepthDatasetConfig(image_size=model.config.input_size, depth_size=32))
    table, _ = evaluate_latents(encoder_predictor(model), dataset, generator, num_ws=model.config.num_ws,
                                progress=False)
    means = table.mean()
    assert {"latent_l1", "ws_l1", "abs_rel"} <= set(means) and means["latent_l1"] == pytest.approx(means["ws_l1"])

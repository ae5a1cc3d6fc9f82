"""LPIPS (helpers.invert.lpips), VGG16 and AlexNet: formula, trunk layouts, weight loading and key checks, the
download path, several networks by name.

No network: random weights, hand-made weight files with the published key names, and the local HTTP server of
``local_http.py`` standing in for the download URLs. Images are 32×32 to keep VGG16 fast on 2 CPU cores. Parity with
the ``lpips`` package itself: test_lpips_parity.py.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers.download.http_download import ChecksumError
from helpers.invert import lpips_weights as lw
from helpers.invert.lpips import (
    LPIPS,
    NETS,
    LPIPSNets,
    TrunkFeatures,
    downsample_for_lpips,
    select_lpips,
    unit_normalize,
)
from helpers.invert.lpips_weights import load_lpips, load_lpips_nets
from tests.local_http import FileServer, serving

# Written out by hand (not taken from the module) so that a wrong index or shape there fails here.
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
CONV_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
POOL_AFTER = {2, 7, 14, 21}  # conv indices followed (after their ReLU) by a 2×2 max-pool
TAP_AFTER = (2, 7, 14, 21, 28)  # conv indices whose ReLU output LPIPS reads
LIN_CHANNELS = (64, 128, 256, 512, 512)
# torchvision's AlexNet `features`: conv index → (out, in, kernel, stride, padding); 3×3 stride-2 max-pools after the
# ReLUs of convs 0 and 3; LPIPS reads the ReLU after every conv.
ALEX_CONVS = {0: (64, 3, 11, 4, 2), 3: (192, 64, 5, 1, 2), 6: (384, 192, 3, 1, 1), 8: (256, 384, 3, 1, 1),
              10: (256, 256, 3, 1, 1)}
ALEX_POOL_AFTER = {0, 3}
ALEX_LIN_CHANNELS = (64, 192, 384, 256, 256)
SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


def vgg_file_state(seed: int) -> dict[str, torch.Tensor]:
    """A torchvision-named VGG16 state dict with random values, plus (small, ignored) classifier tensors.

    A fresh dict each call (edits replace entries, never tensors in place) over cached tensors (59 MB to draw).
    """
    return dict(_vgg_file_tensors(seed))


@functools.lru_cache(maxsize=2)
def _vgg_file_tensors(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    in_ch = 3
    for index, out_ch in zip(CONV_INDICES, CONV_CHANNELS):
        state[f"features.{index}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=g) * math.sqrt(2 / (9 * out_ch))
        state[f"features.{index}.bias"] = torch.randn(out_ch, generator=g) * 0.01
        in_ch = out_ch
    for index in (0, 3, 6):
        state[f"classifier.{index}.weight"] = torch.randn(4, 4, generator=g)
        state[f"classifier.{index}.bias"] = torch.randn(4, generator=g)
    return state


def lin_file_state(seed: int, channels: tuple[int, ...] = LIN_CHANNELS) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for i, c in enumerate(channels)}


def alex_file_state(seed: int) -> dict[str, torch.Tensor]:
    """A torchvision-named AlexNet state dict with random values, plus (small, ignored) classifier tensors."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, (out_ch, in_ch, k, _, _) in ALEX_CONVS.items():
        scale = math.sqrt(2 / (k * k * in_ch))
        state[f"features.{index}.weight"] = torch.randn(out_ch, in_ch, k, k, generator=g) * scale
        state[f"features.{index}.bias"] = torch.randn(out_ch, generator=g) * 0.01
    for index in (1, 4, 6):
        state[f"classifier.{index}.weight"] = torch.randn(4, 4, generator=g)
        state[f"classifier.{index}.bias"] = torch.randn(4, generator=g)
    return state


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: these tiny convolutions only lose time to thread sync on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("weights")
    torch.save(vgg_file_state(1), folder / "vgg16-397923af.pth")
    torch.save(lin_file_state(2), folder / "vgg.pth")
    return folder / "vgg16-397923af.pth", folder / "vgg.pth"


@pytest.fixture(scope="module")
def alex_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("alex_weights")
    torch.save(alex_file_state(3), folder / "alexnet-owt-7be5be79.pth")
    torch.save(lin_file_state(4, ALEX_LIN_CHANNELS), folder / "alex.pth")
    return folder / "alexnet-owt-7be5be79.pth", folder / "alex.pth"


@pytest.fixture(scope="module")
def alex() -> LPIPS:
    """LPIPS-AlexNet with seeded random weights."""
    return load_lpips("random", net="alex", seed=0)


@pytest.fixture
def model(request: pytest.FixtureRequest, lpips: LPIPS, alex: LPIPS) -> LPIPS:
    """The network named by the test's ``net`` parameter."""
    return {"vgg": lpips, "alex": alex}[request.getfixturevalue("net")]


def images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ----------------------------------------------------------------------------------------- trunk layouts
def test_vgg_features_have_torchvision_key_names_and_shapes() -> None:
    with torch.device("meta"):
        state = TrunkFeatures("vgg").state_dict()
    expected = {}
    in_ch = 3
    for index, out_ch in zip(CONV_INDICES, CONV_CHANNELS):
        expected[f"features.{index}.weight"] = (out_ch, in_ch, 3, 3)
        expected[f"features.{index}.bias"] = (out_ch,)
        in_ch = out_ch
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert len(TrunkFeatures("vgg").features) == 30  # no final pool after relu5_3


def test_alexnet_features_have_torchvision_key_names_and_shapes() -> None:
    with torch.device("meta"):
        trunk = TrunkFeatures("alex")
    expected = {}
    for index, (out_ch, in_ch, k, _, _) in ALEX_CONVS.items():
        expected[f"features.{index}.weight"] = (out_ch, in_ch, k, k)
        expected[f"features.{index}.bias"] = (out_ch,)
    assert {k: tuple(v.shape) for k, v in trunk.state_dict().items()} == expected
    assert len(trunk.features) == 12  # no final pool (index 12) after relu5
    assert NETS["alex"].channels == ALEX_LIN_CHANNELS and NETS["vgg"].channels == LIN_CHANNELS
    assert (NETS["alex"].min_size, NETS["vgg"].min_size) == (31, 16)


def test_alexnet_taps_match_an_independent_conv_relu_pool_chain(alex: LPIPS) -> None:
    x = images(2, 0, size=64)
    weights = alex.trunk.state_dict()
    expected, h = [], x
    for index, (_, _, _, stride, padding) in ALEX_CONVS.items():
        h = F.relu(F.conv2d(h, weights[f"features.{index}.weight"], weights[f"features.{index}.bias"],
                            stride=stride, padding=padding))
        expected.append(h)
        if index in ALEX_POOL_AFTER:
            h = F.max_pool2d(h, 3, 2)
    taps = alex.alex(x)  # registered under the network's name
    assert [tuple(t.shape) for t in taps] == [(2, 64, 15, 15), (2, 192, 7, 7), (2, 384, 3, 3), (2, 256, 3, 3),
                                              (2, 256, 3, 3)]
    for got, want in zip(taps, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_vgg_taps_match_an_independent_conv_relu_pool_chain(lpips: LPIPS) -> None:
    x = images(2, 0)
    weights = lpips.vgg.state_dict()
    expected, h = [], x
    for index in CONV_INDICES:
        h = F.relu(F.conv2d(h, weights[f"features.{index}.weight"], weights[f"features.{index}.bias"], padding=1))
        if index in TAP_AFTER:
            expected.append(h)
        if index in POOL_AFTER:
            h = F.max_pool2d(h, 2)
    taps = lpips.vgg(x)
    assert [tuple(t.shape) for t in taps] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8), (2, 512, 4, 4),
                                              (2, 512, 2, 2)]
    for got, want in zip(taps, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------ the distance
@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_matches_a_hand_written_lpips_formula(model: LPIPS, net: str) -> None:
    lpips = model
    x, y = images(2, 1), images(2, 2)
    fx, fy = lpips.trunk((x - SHIFT) / SCALE), lpips.trunk((y - SHIFT) / SCALE)
    total = torch.zeros(2)
    per_layer = []
    for layer, (a, b) in enumerate(zip(fx, fy)):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        w = lpips.lins[layer].weight.view(1, -1, 1, 1)
        term = (w * (a - b) ** 2).sum(1).mean(dim=(1, 2))
        per_layer.append(term)
        total = total + term
    torch.testing.assert_close(lpips(x, y), total, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(lpips.layer_distances(x, y), torch.stack(per_layer, 1), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_zero_for_identical_positive_for_different_and_symmetric(model: LPIPS, net: str) -> None:
    lpips = model
    x, y = images(3, 4), images(3, 5)
    assert lpips(x, x).abs().max() == 0
    d = lpips(x, y)
    assert d.shape == (3,) and bool((d > 1e-3).all())
    torch.testing.assert_close(lpips(y, x), d)
    # A small perturbation is closer than an unrelated image.
    assert bool((lpips(x, x + 0.05 * (y - x)) < d).all())


def test_normalize_flag_maps_unit_range_inputs(lpips: LPIPS) -> None:
    x01, y01 = (images(2, 6) + 1) / 2, (images(2, 7) + 1) / 2
    torch.testing.assert_close(lpips(x01, y01, normalize=True), lpips(2 * x01 - 1, 2 * y01 - 1))


def test_batch_one_target_is_broadcast(lpips: LPIPS) -> None:
    x, y = images(3, 8), images(1, 9)
    d = lpips(x, y)
    assert d.shape == (3,)
    torch.testing.assert_close(d, lpips(x, y.expand(3, -1, -1, -1)))
    torch.testing.assert_close(lpips(y, x), d)


@pytest.mark.parametrize(("shape_x", "shape_y", "message"), [
    ((1, 1, 32, 32), (1, 3, 32, 32), "RGB"),
    ((1, 3, 32, 32), (1, 3, 32, 24), "same size"),
    ((1, 3, 8, 8), (1, 3, 8, 8), "LPIPS-vgg needs images of at least 16×16"),
    ((2, 3, 32, 32), (3, 3, 32, 32), "batch sizes"),
])
def test_bad_inputs_are_refused(lpips: LPIPS, shape_x: tuple[int, ...], shape_y: tuple[int, ...],
                                message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lpips(torch.zeros(shape_x), torch.zeros(shape_y))


def test_alexnet_minimum_size_is_31(alex: LPIPS) -> None:
    assert alex(torch.zeros(1, 3, 31, 31), torch.zeros(1, 3, 31, 31)).shape == (1,)
    with pytest.raises(ValueError, match="LPIPS-alex needs images of at least 31×31"):
        alex(torch.zeros(1, 3, 30, 64), torch.zeros(1, 3, 30, 64))


def test_gradients_reach_inputs_not_weights_and_mode_stays_eval(lpips: LPIPS) -> None:
    x = images(2, 10).requires_grad_(True)
    lpips(x, images(1, 11)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in lpips.parameters())
    parent = torch.nn.Sequential(lpips)
    parent.train()
    assert not lpips.training and not any(m.training for m in lpips.modules())


def test_unit_normalize_has_finite_gradient_at_zero_vectors() -> None:
    f = torch.zeros(1, 4, 2, 2)
    f[0, :, 0, 0] = torch.tensor([3.0, 0.0, 4.0, 0.0])
    f.requires_grad_(True)
    out = unit_normalize(f)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.6, 0.0, 0.8, 0.0]))
    assert out[0, :, 1, 1].abs().sum() == 0
    (out * torch.arange(16.0).view(1, 4, 2, 2)).sum().backward()
    assert torch.isfinite(f.grad).all()


# ------------------------------------------------------------------------------------------ weights
@pytest.mark.parametrize(("net", "channels"), [("vgg", LIN_CHANNELS), ("alex", ALEX_LIN_CHANNELS)])
def test_random_weights_are_seeded_non_negative_and_leave_the_global_rng_alone(net: str,
                                                                                channels: tuple[int, ...]) -> None:
    state = torch.get_rng_state()
    a, b, c = (load_lpips("random", net=net, seed=0), load_lpips("random", net=net, seed=0),
               load_lpips("random", net=net, seed=1))
    assert torch.equal(torch.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa[f"{net}.features.0.weight"], sc[f"{net}.features.0.weight"])
    assert all(bool((lin.weight >= 0).all()) and lin.weight.shape == (1, ch, 1, 1)
               for lin, ch in zip(a.lins, channels))
    assert all(not p.requires_grad for p in a.parameters()) and not a.training and a.net == net


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_loads_torchvision_and_lpips_named_files(weight_files: tuple[Path, Path], alex_files: tuple[Path, Path],
                                                 net: str) -> None:
    files, trunk, lin, convs = {
        "vgg": (weight_files, vgg_file_state(1), lin_file_state(2), CONV_INDICES),
        "alex": (alex_files, alex_file_state(3), lin_file_state(4, ALEX_LIN_CHANNELS), tuple(ALEX_CONVS)),
    }[net]
    model = load_lpips(files, net=net)
    state = model.state_dict()
    for index in convs:
        for kind in ("weight", "bias"):
            assert torch.equal(state[f"{net}.features.{index}.{kind}"], trunk[f"features.{index}.{kind}"])
    for i in range(5):
        assert torch.equal(model.lins[i].weight, lin[f"lin{i}.model.1.weight"])
    assert not any("classifier" in k for k in state) and model.net == net
    assert all(not p.requires_grad for p in model.parameters())
    if net == "vgg":
        assert torch.equal(load_lpips(files).lins[0].weight, model.lins[0].weight)  # net="vgg" is the default


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_combined_state_dict_round_trip(model: LPIPS, net: str, tmp_path: Path) -> None:
    path = tmp_path / "lpips.pth"
    torch.save(model.state_dict(), path)
    again = load_lpips(str(path), net=net)
    x, y = images(1, 12), images(1, 13)
    assert torch.equal(again(x, y), model(x, y))
    with pytest.raises(ValueError, match=rf"saved from LPIPS\(net='{net}'\): pass it alone with net='{net}'"):
        load_lpips(path, net="alex" if net == "vgg" else "vgg")


@pytest.mark.parametrize(("which", "edit", "names"), [
    ("vgg", lambda s: s.pop("features.28.bias"), ["vgg16", "missing keys", "features.28.bias"]),
    ("vgg", lambda s: s.__setitem__("features.30.weight", torch.zeros(1)), ["unexpected keys", "features.30.weight"]),
    ("vgg", lambda s: s.__setitem__("features.5.weight", torch.zeros(128, 64, 1, 1)),
     ["wrong shapes", "features.5.weight", r"\(128, 64, 3, 3\)"]),
    ("lin", lambda s: s.__setitem__("lin2.model.1.weight", torch.zeros(1, 128, 1, 1)),
     ["v0.1/vgg.pth", "lin2.model.1.weight", r"\(1, 256, 1, 1\)"]),
    ("lin", lambda s: s.__setitem__("lin0.model.0.weight", s.pop("lin0.model.1.weight")),
     ["missing keys: lin0.model.1.weight", "unexpected keys: lin0.model.0.weight"]),
])
def test_bad_keys_or_shapes_name_the_file_and_the_key(tmp_path: Path, weight_files: tuple[Path, Path], which: str,
                                                      edit: Callable[[dict[str, torch.Tensor]], object],
                                                      names: list[str]) -> None:
    state = vgg_file_state(1) if which == "vgg" else lin_file_state(2)
    edit(state)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError) as info:
        load_lpips((bad, weight_files[1]) if which == "vgg" else (weight_files[0], bad))
    message = str(info.value)
    assert str(bad) in message
    for name in names:
        assert re.search(name, message), (name, message)


def test_swapped_or_wrong_network_files_get_a_hint(weight_files: tuple[Path, Path],
                                                    alex_files: tuple[Path, Path]) -> None:
    vgg_path, lin_path = weight_files
    with pytest.raises(ValueError, match=r"looks like the LPIPS v0.1 VGG16 linear-layer file .*: pass \(trunk_path, "
                                         r"lin_path\) with net='vgg'"):
        load_lpips((lin_path, vgg_path))
    with pytest.raises(ValueError, match=r"looks like torchvision's ImageNet VGG16 state dict .*: pass \(trunk_path"):
        load_lpips(vgg_path)  # a single path must be our own combined state dict
    with pytest.raises(ValueError, match=r"looks like torchvision's ImageNet AlexNet state dict .* with net='alex'"):
        load_lpips(alex_files)  # net defaults to "vgg"
    with pytest.raises(ValueError, match=r"is not the LPIPS v0.1 AlexNet linear-layer file .* with net='vgg'"):
        load_lpips((alex_files[0], lin_path), net="alex")


class Payload:
    """Pickled as a global reference: loading it would need code from the file."""


def test_files_that_are_not_plain_state_dicts_are_refused_without_unpickling(tmp_path: Path) -> None:
    torch.save({"features.0.weight": Payload()}, tmp_path / "code.pth")
    with pytest.raises(ValueError, match=r"needs the Python object `tests\.invert\.test_lpips\.Payload`") as info:
        load_lpips(tmp_path / "code.pth")
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth is a text file, not weights"):
        load_lpips(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_lpips((tmp_path / "missing.pth", tmp_path / "junk.pth"))


def test_registry_entries() -> None:
    vgg, lin = lw.WEIGHTS["vgg16"], lw.WEIGHTS["lpips-vgg-v0.1"]
    assert vgg.url == "https://download.pytorch.org/models/vgg16-397923af.pth"
    assert lin.url.endswith("/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth")
    assert vgg.sha256 is not None and vgg.sha256.startswith("397923af")  # torchvision names files by sha256 prefix
    alexnet, alex_lin = lw.WEIGHTS["alexnet"], lw.WEIGHTS["lpips-alex-v0.1"]
    assert alexnet.url == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert alexnet.sha256 is not None and alexnet.sha256.startswith("7be5be79")
    assert alex_lin.url.endswith("/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth")
    assert len({e.filename for e in lw.WEIGHTS.values()}) == len(lw.WEIGHTS)
    assert {(s.trunk_file, s.lin_file) for s in NETS.values()} == {("vgg16", "lpips-vgg-v0.1"),
                                                                   ("alexnet", "lpips-alex-v0.1")}


# ------------------------------------------------------------------------------------------ download
@pytest.fixture
def server(weight_files: tuple[Path, Path], alex_files: tuple[Path, Path],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    files = {"vgg16-397923af.pth": weight_files[0].read_bytes(), "vgg.pth": weight_files[1].read_bytes(),
             "alexnet-owt-7be5be79.pth": alex_files[0].read_bytes(), "alex.pth": alex_files[1].read_bytes()}
    with serving(FileServer(files=files)) as state:
        for key, name in (("vgg16", "vgg16-397923af.pth"), ("lpips-vgg-v0.1", "vgg.pth"),
                          ("alexnet", "alexnet-owt-7be5be79.pth"), ("lpips-alex-v0.1", "alex.pth")):
            entry = dataclasses.replace(lw.WEIGHTS[key], url=state.url(name),
                                        sha256=hashlib.sha256(files[name]).hexdigest(), size=len(files[name]))
            monkeypatch.setitem(lw.WEIGHTS, key, entry)
        yield state


def test_pretrained_downloads_both_files_once(server: FileServer, weight_files: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_lpips("pretrained", cache_dir=cache, progress=False)
    assert sorted(r.path for r in server.requests) == ["/vgg.pth", "/vgg16-397923af.pth"]
    assert (cache / "vgg16-397923af.pth").is_file() and (cache / "lpips-v0.1-vgg.pth").is_file()
    second = load_lpips("pretrained", cache_dir=cache, progress=False)
    assert len(server.requests) == 2  # served from the cache
    reference = load_lpips(weight_files)
    x, y = images(1, 14), images(1, 15)
    assert torch.equal(first(x, y), reference(x, y)) and torch.equal(second(x, y), reference(x, y))


def test_pretrained_networks_download_their_own_files(server: FileServer, alex_files: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    nets = load_lpips_nets("pretrained", ("alex",), cache_dir=cache, progress=False)
    assert sorted(r.path for r in server.requests) == ["/alex.pth", "/alexnet-owt-7be5be79.pth"]
    assert (cache / "alexnet-owt-7be5be79.pth").is_file() and (cache / "lpips-v0.1-alex.pth").is_file()
    both = load_lpips_nets("pretrained", cache_dir=cache, progress=False)  # VGG's two files now, AlexNet's cached
    assert len(server.requests) == 4 and list(both) == ["vgg", "alex"]
    x, y = images(1, 16), images(1, 17)
    reference = load_lpips(alex_files, net="alex")
    assert torch.equal(nets["alex"](x, y), reference(x, y)) and torch.equal(both["alex"](x, y), reference(x, y))


def test_pretrained_with_a_corrupt_download_fails(server: FileServer, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    entry = dataclasses.replace(lw.WEIGHTS["lpips-vgg-v0.1"], sha256="0" * 64)
    monkeypatch.setitem(lw.WEIGHTS, "lpips-vgg-v0.1", entry)
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        load_lpips("pretrained", cache_dir=tmp_path, progress=False)


# ------------------------------------------------------------------------------------------ downsampling
def test_downsample_for_lpips_averages_blocks_and_keeps_small_images() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out = downsample_for_lpips(x, size=4)
    assert out.shape == (2, 3, 4, 4)
    torch.testing.assert_close(out, x.view(2, 3, 4, 2, 4, 2).mean(dim=(3, 5)))
    assert downsample_for_lpips(x, size=8) is x
    assert downsample_for_lpips(torch.zeros(1, 3, 512, 512)).shape == (1, 3, 256, 256)
    assert downsample_for_lpips(torch.zeros(1, 3, 512, 256)).shape == (1, 3, 256, 128)
    with pytest.raises(ValueError, match="N, C, H, W"):
        downsample_for_lpips(torch.zeros(3, 8, 8))


def test_distance_to_precomputed_features_equals_forward(lpips: LPIPS) -> None:
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    y = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    with torch.no_grad():
        target = lpips.features(y)
    assert torch.allclose(lpips.distance_to_features(x, target), lpips(x, y), atol=1e-6)
    with pytest.raises(ValueError, match="feature maps"):
        lpips.distance_to_features(x, target[:3])


# ------------------------------------------------------------------------------------------ several networks
def test_networks_by_name_and_the_stage_picker(weight_files: tuple[Path, Path], alex_files: tuple[Path, Path]) -> None:
    nets = load_lpips_nets("random", seed=3)
    assert isinstance(nets, LPIPSNets) and list(nets) == ["vgg", "alex"]
    assert all(nets[n].net == n and not any(p.requires_grad for p in nets[n].parameters()) for n in nets)
    assert torch.equal(nets["alex"].lins[0].weight, load_lpips("random", net="alex", seed=3).lins[0].weight)
    assert select_lpips(nets, "alex") is nets["alex"] and select_lpips(nets["vgg"], "vgg") is nets["vgg"]
    with pytest.raises(ValueError, match=r"^PTI's tuning stage uses LPIPS-alex but only LPIPS-vgg was given: pass "
                                         r"load_lpips_nets\(weights, nets=config.lpips_nets\)"):
        select_lpips(nets["vgg"], "alex", "PTI's tuning stage")
    with pytest.raises(ValueError, match="only LPIPS-vgg was given"):
        select_lpips(load_lpips_nets("random", ["vgg", "vgg"]), "alex")  # repeats are loaded once
    local = load_lpips_nets({"vgg": weight_files, "alex": alex_files})
    assert torch.equal(local["alex"].lins[1].weight, lin_file_state(4, ALEX_LIN_CHANNELS)["lin1.model.1.weight"])
    with pytest.raises(ValueError, match="no weights given for LPIPS-alex"):
        load_lpips_nets({"vgg": weight_files})
    with pytest.raises(ValueError, match="unknown LPIPS network 'squeeze'"):
        load_lpips("random", net="squeeze")
    with pytest.raises(ValueError, match="must be an LPIPS module with net='alex'"):
        LPIPSNets({"alex": nets["vgg"]})
    parent = torch.nn.Sequential(nets)
    parent.train()
    assert not any(m.training for m in nets.modules())

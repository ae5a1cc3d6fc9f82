"""helpers.depth.networks.dpt: transformer depth models (MiDaS DPT, Depth Anything V2) on tiny random configs, offline.

Nothing here downloads: the tiny models are built from small local configs, and the Hub path is checked with
``from_pretrained`` replaced by a stand-in that records the requested ids.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # set before transformers / huggingface_hub are imported: never touch the network

import sys

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from helpers.depth.networks.dpt import TransformerDepthModel
from helpers.depth.networks.dpt_config import BACKBONES, HF_IDS, TransformerDepthConfig

TINY = ("tiny-random-dpt", "tiny-random-depth-anything")


@pytest.fixture(scope="module", autouse=True)
def offline():
    """Belt and braces: huggingface_hub reads HF_HUB_OFFLINE when first imported; force it in case another test
    module imported it earlier without the variable."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    yield
    constants.HF_HUB_OFFLINE = before


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny models are far too small to gain from intra-op threads; on a busy 2-core machine OpenMP threads
    waiting for each other made a training step 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_hybrid_hf_model(seed: int = 0) -> nn.Module:
    """A tiny DPT-Hybrid (ResNet/BiT stem + ViT) shaped like Intel/dpt-hybrid-midas, at its fixed 384x384 size."""
    import transformers as tf

    torch.manual_seed(seed)
    bit = tf.BitConfig(
        global_padding="same",
        layer_type="bottleneck",
        depths=[1, 1, 1],
        hidden_sizes=[8, 16, 32, 64],
        embedding_size=8,
        out_features=["stage1", "stage2", "stage3"],
        embedding_dynamic_padding=True,
        num_groups=2,
    )
    config = tf.DPTConfig(
        is_hybrid=True,
        backbone_config=bit,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=384,
        patch_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 32, 32],  # the first two are the BiT stage widths (hidden_sizes[:2])
        reassemble_factors=[1, 1, 1, 0.5],
        fusion_hidden_size=16,
        backbone_featmap_shape=[1, 32, 24, 24],
        neck_ignore_stages=[0, 1],
    )
    return tf.DPTForDepthEstimation(config).eval()


def tiny(backbone: str, seed: int = 0, **fields) -> TransformerDepthModel:
    torch.manual_seed(seed)
    return TransformerDepthModel(TransformerDepthConfig(backbone=backbone, **fields))


@pytest.fixture(scope="module", params=TINY)
def model(request) -> TransformerDepthModel:
    # output="depth": a random tiny ReLU head may be dead (all zeros), which would make the contract checks vacuous.
    return tiny(request.param, output="depth")


# ------------------------------------------------------------------------------------------- config
def test_hf_id_mapping_of_public_backbones() -> None:
    assert HF_IDS == {
        "dpt-large": "Intel/dpt-large",
        "dpt-hybrid-midas": "Intel/dpt-hybrid-midas",
        "depth-anything-v2-small": "depth-anything/Depth-Anything-V2-Small-hf",
    }
    assert TransformerDepthConfig(backbone="dpt-large").hf_id == "Intel/dpt-large"
    assert TransformerDepthConfig(backbone="dpt-large", model_id="/my/finetuned").hf_id == "/my/finetuned"


def test_config_defaults_and_preprocessing() -> None:
    dpt = TransformerDepthConfig()
    assert (dpt.backbone, dpt.input_size, dpt.output, dpt.pretrained) == ("dpt-large", 384, "relative_inverse", True)
    assert dpt.spec.mean == dpt.spec.std == (0.5, 0.5, 0.5)
    da = TransformerDepthConfig(backbone="depth-anything-v2-small")
    assert da.input_size == 518 and da.spec.patch_size == 14
    assert da.spec.mean == (0.485, 0.456, 0.406) and da.spec.std == (0.229, 0.224, 0.225)
    assert TransformerDepthConfig(backbone="tiny-random-dpt").pretrained is False
    original = TransformerDepthConfig.original_midas()
    assert (original.backbone, original.input_size, original.output, original.pretrained) == (
        "dpt-large",
        128,
        "depth",
        True,
    )
    assert dpt.replace(backbone="depth-anything-v2-small").input_size == 518


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"backbone": "dpt-huge"}, "unknown backbone 'dpt-huge'"),
        ({"backbone": "depth-anything-v2-small", "input_size": 512}, "multiple of the patch size 14"),
        ({"backbone": "dpt-large", "input_size": 100}, "multiple of the patch size 16"),
        ({"output": "metric"}, "unknown output 'metric'"),
        ({"backbone": "tiny-random-dpt", "pretrained": True}, "without published weights"),
        ({"backbone": "dpt-hybrid-midas", "input_size": 128}, "only at its native input_size 384"),
    ],
)
def test_config_errors(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TransformerDepthConfig(**fields)


def test_missing_transformers_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` raise ImportError
    with pytest.raises(ImportError, match="pip install transformers"):
        TransformerDepthModel(TransformerDepthConfig(backbone="tiny-random-dpt"))


# -------------------------------------------------------------------------------------------- model
def test_forward_shapes(model: TransformerDepthModel) -> None:
    size = model.config.input_size
    x = torch.randn(2, 3, size, size)
    assert model(x).shape == (2, 1, size, size)
    # Not a multiple of the patch size: the head's map is resized to the input.
    odd = size + 5
    assert model(torch.randn(1, 3, odd, odd)).shape == (1, 1, odd, odd)
    assert model.training  # random weights: built in train mode


def test_forward_non_square() -> None:
    da = tiny("tiny-random-depth-anything")
    assert da(torch.randn(1, 3, 56, 84)).shape == (1, 1, 56, 84)
    dpt = tiny("tiny-random-dpt")
    with pytest.raises(ValueError, match="square"):
        dpt(torch.randn(1, 3, 64, 96))
    with pytest.raises(ValueError, match=r"shape \(N, 3, H, W\)"):
        dpt(torch.randn(3, 64, 64))


def test_predict_contract(model: TransformerDepthModel) -> None:
    model.train()
    model.hf_model.neck.eval()  # a mixed state that predict must restore exactly
    modes = [m.training for m in model.modules()]
    images = torch.rand(2, 3, 50, 70)
    depth = model.predict(images)
    assert depth.shape == (2, 1, 50, 70) and depth.dtype == torch.float32
    assert torch.isfinite(depth).all() and not depth.requires_grad
    assert float(depth.std()) > 1e-3  # the tiny models' output varies visibly (not ~0), so comparisons mean something
    assert [m.training for m in model.modules()] == modes
    # Equivalent to resize -> normalize -> forward in eval mode -> resize back.
    model.eval()
    side = model.config.input_size
    with torch.no_grad():
        # 50x70 -> side x side shrinks the width, so antialiased as predict does.
        x = torch.nn.functional.interpolate(images, size=(side, side), mode="bilinear", antialias=True)
        manual = torch.nn.functional.interpolate(
            model(model.normalize(x)), size=(50, 70), mode="bilinear", antialias=True
        )
    torch.testing.assert_close(depth, manual, atol=1e-5, rtol=1e-4)
    # uint8 input: same as the float image in [0, 1].
    as_uint8 = (images * 255).round().to(torch.uint8)
    torch.testing.assert_close(model.predict(as_uint8), model.predict(as_uint8.float() / 255))


def test_predict_input_errors(model: TransformerDepthModel) -> None:
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        model.predict(torch.rand(1, 3, 32, 32) * 255)
    with pytest.raises(ValueError, match=r"images\[None\]"):
        model.predict(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="uint8 or floating"):
        model.predict(torch.ones(1, 3, 32, 32, dtype=torch.int32))


@pytest.mark.parametrize("backbone", TINY)
def test_outputs_relative_inverse_is_relu_of_depth(backbone: str) -> None:
    relative, linear = tiny(backbone), tiny(backbone, output="depth")
    # Same parameters and state-dict keys: only the final activation differs.
    assert relative.state_dict().keys() == linear.state_dict().keys()
    linear.load_state_dict(relative.state_dict())
    size = linear.config.input_size  # forward at the native size: no resize after the head
    x = linear.normalize(torch.rand(2, 3, size, size))
    with torch.no_grad():
        # Shift the last conv's bias so that the linear output straddles zero.
        median = linear(x).median()
        for model in (relative, linear):
            [m for m in model.hf_model.head.modules() if isinstance(m, nn.Conv2d)][-1].bias -= median
        depth, inverse = linear(x), relative(x)
    assert float(depth.min()) < 0.0 < float(depth.max())  # "depth" can regress negative values
    assert float(inverse.min()) == 0.0  # the published head is non-negative
    torch.testing.assert_close(inverse, depth.clamp(min=0.0))


@pytest.mark.parametrize("backbone", TINY)
def test_fine_tuning_reduces_loss_on_signed_target(backbone: str) -> None:
    model = tiny(backbone, output="depth")
    size = model.config.input_size
    torch.manual_seed(1)
    images = torch.rand(2, 3, size, size)
    # A signed target in [-1, 0] (the original's [-1, 1] depth has such values), L1 loss as the original.
    yy = torch.linspace(-1, 1, size).view(1, 1, size, 1)
    target = (0.5 * yy - 0.5).expand(2, 1, size, size)
    optimizer = torch.optim.Adam(model.parameter_groups(backbone_lr=1e-3, head_lr=1e-3))
    losses = []
    for _ in range(12):
        loss = (model(model.normalize(images)) - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Adam on a random tiny net may overshoot once; the loss must have clearly dropped by the last steps.
    assert min(losses[-3:]) < 0.7 * losses[0], losses
    with torch.no_grad():
        assert float(model(model.normalize(images)).min()) < 0.0


@pytest.mark.parametrize("backbone", TINY)
def test_freeze_backbone_and_parameter_groups(backbone: str) -> None:
    model = tiny(backbone, output="depth")
    backbone_params, head_params = model.backbone_parameters(), model.head_parameters()
    assert backbone_params and head_params
    assert len(backbone_params) + len(head_params) == len(list(model.parameters()))
    assert {id(p) for p in backbone_params}.isdisjoint(id(p) for p in head_params)

    groups = model.parameter_groups(backbone_lr=1e-5, head_lr=1e-4)
    assert [(g["name"], g["lr"]) for g in groups] == [("backbone", 1e-5), ("head", 1e-4)]
    torch.optim.AdamW(groups)  # accepted as is

    model.freeze_backbone()
    assert all(not p.requires_grad for p in backbone_params)
    assert all(p.requires_grad for p in head_params)
    assert [g["name"] for g in model.parameter_groups(backbone_lr=1e-5, head_lr=1e-4)] == ["head"]
    model.zero_grad(set_to_none=True)
    model(torch.randn(1, 3, model.config.input_size, model.config.input_size)).square().mean().backward()
    assert all(p.grad is None for p in backbone_params)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in head_params)

    model.freeze_backbone(False)
    assert all(p.requires_grad for p in model.parameters())


# ---------------------------------------------------------------------------------------- Hub path
@pytest.mark.parametrize(
    ("backbone", "tiny_backbone", "class_name"),
    [
        ("dpt-large", "tiny-random-dpt", "DPTForDepthEstimation"),
        ("dpt-hybrid-midas", "hybrid", "DPTForDepthEstimation"),
        ("depth-anything-v2-small", "tiny-random-depth-anything", "DepthAnythingForDepthEstimation"),
    ],
)
def test_pretrained_path_loads_the_mapped_hub_id(
    monkeypatch: pytest.MonkeyPatch, backbone: str, tiny_backbone: str, class_name: str
) -> None:
    import transformers

    hf_tiny = tiny_hybrid_hf_model() if tiny_backbone == "hybrid" else tiny(tiny_backbone).hf_model.eval()
    requested: list[tuple[str, str, dict]] = []

    def fake_config(model_id, **kwargs):
        requested.append(("config", model_id, kwargs))
        return hf_tiny.config

    def fake_model(model_id, **kwargs):
        requested.append(("model", model_id, {k: v for k, v in kwargs.items() if k != "config"}))
        return hf_tiny

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", staticmethod(fake_config))
    monkeypatch.setattr(getattr(transformers, class_name), "from_pretrained", staticmethod(fake_model))

    model = TransformerDepthModel.from_pretrained(backbone, output="depth", revision="abc123")
    hf_id = HF_IDS[backbone]
    assert requested == [("config", hf_id, {"revision": "abc123"}), ("model", hf_id, {"revision": "abc123"})]
    assert model.hf_model is hf_tiny and not model.training  # published weights: eval mode
    assert model.config.input_size == BACKBONES[backbone].input_size
    # output="depth" was applied to the loaded model.
    last = hf_tiny.head.head[-1] if class_name.startswith("DPT") else hf_tiny.head.activation2
    assert isinstance(last, nn.Identity)
    # The whole wrapper works on the stand-in: predict at the native size, backbone vs head split.
    assert model.predict(torch.rand(1, 3, 40, 40)).shape == (1, 1, 40, 40)
    assert model.backbone_parameters() and model.head_parameters()


def test_hybrid_fixed_input_size_and_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    hf_tiny = tiny_hybrid_hf_model()
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", staticmethod(lambda model_id, **kw: hf_tiny.config))
    monkeypatch.setattr(
        transformers.DPTForDepthEstimation, "from_pretrained", staticmethod(lambda model_id, **kw: hf_tiny)
    )
    model = TransformerDepthModel.from_pretrained("dpt-hybrid-midas")
    assert model.fixed_input_size == 384
    with pytest.raises(ValueError, match="only 384x384 input"):
        model(torch.randn(1, 3, 128, 128))
    # The ResNet stem belongs to the backbone (frozen with it).
    stem = list(hf_tiny.dpt.embeddings.backbone.parameters())
    assert stem and {id(p) for p in stem} <= {id(p) for p in model.backbone_parameters()}
    model.freeze_backbone()
    assert not any(p.requires_grad for p in stem)
    # A saved hybrid given with another input size is refused when loaded.
    with pytest.raises(ValueError, match="set input_size=384"):
        TransformerDepthModel(TransformerDepthConfig(backbone="dpt-large", model_id="my/hybrid", input_size=128))


def test_pretrained_path_rejects_a_model_of_another_family(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    da_config = tiny("tiny-random-depth-anything").hf_model.config
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", staticmethod(lambda model_id, **kw: da_config))
    with pytest.raises(ValueError, match="'depth_anything' model, not 'dpt'"):
        TransformerDepthModel(TransformerDepthConfig(backbone="dpt-large", model_id="someone/depth-anything"))


def test_missing_weights_errors_are_clear(tmp_path) -> None:
    # Offline (HF_HUB_OFFLINE) and in no cache: fails at once; the message says what was tried and what to do.
    config = TransformerDepthConfig(backbone="dpt-large", model_id="nobody/not-a-cached-model-xyz")
    with pytest.raises(OSError, match=r"could not load 'nobody/not-a-cached-model-xyz' .* Downloads need internet"):
        TransformerDepthModel(config)
    # A local directory that is not a saved model.
    with pytest.raises(OSError, match="holds no config.json"):
        TransformerDepthModel(TransformerDepthConfig(backbone="dpt-large", model_id=str(tmp_path)))


@pytest.mark.parametrize("backbone", TINY)
def test_saved_model_reloads_through_from_pretrained(tmp_path, backbone: str) -> None:
    # The real transformers loading path, offline: a model saved to a local directory is given as model_id.
    trained = tiny(backbone, seed=3, output="depth")
    trained.hf_model.save_pretrained(tmp_path)
    loaded = TransformerDepthModel(TransformerDepthConfig(backbone=backbone, model_id=str(tmp_path), output="depth"))
    assert loaded.config.pretrained and not loaded.training
    assert isinstance(
        loaded.hf_model.head.head[-1] if backbone.endswith("dpt") else loaded.hf_model.head.activation2, nn.Identity
    )
    images = torch.rand(1, 3, 40, 40)
    torch.testing.assert_close(loaded.predict(images), trained.predict(images))

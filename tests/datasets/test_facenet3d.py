"""3DFaceNet CoarseData/FineData and the BFM readers, on a random stand-in model written in the real formats.

The stand-in (:func:`helpers.datasets.facenet3d.bfm_standin.write_standin_model`): a dome-shaped grid "face" (BFM frame: y up, facing
+z, micrometres) of a few hundred vertices, unit-norm random components, ``01_MorphableModel.mat`` and the
trimming files written with ``scipy.io.savemat`` (v5, real field names, 1-based indices), ``Exp_Pca.bin`` in its
binary layout.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy.spatial.transform import Rotation

from helpers.datasets.facenet3d import bfm_files as bfm
from helpers.datasets.facenet3d import bfm_standin
from helpers.datasets.facenet3d.bfm_files import MissingModelFilesError, ModelFileFormatError
from helpers.datasets.facenet3d.face_model import FaceModel, FaceModelOptions
from helpers.datasets.facenet3d.facenet3d_convert import convert_coarse
from helpers.datasets.facenet3d.facenet3d_data import (
    CoarseParams,
    PoseConvention,
    load_coarse_sample,
    posed_mesh,
    project,
    read_coarse_params,
    read_fine_depth,
    rotation_matrix,
    write_coarse_params,
)
from helpers.mesh.rasterize import RasterOptions, rasterize_depth

GRID = 24  # full stand-in model: GRID² vertices
NUM_ID_PCS = 120  # the real BFM has 199; the files use the first 100
NUM_EXP = 79
IMAGE = 128
SCALE = 6e-4  # pixels per micrometre: the 1.6e5 µm wide stand-in spans ~96 px


def make_standin(folder: Path, *, seed: int = 0, trim_file: str = "BFM_exp_idx.mat") -> dict:
    """Write the three model files (:func:`helpers.datasets.facenet3d.bfm_standin.write_standin_model`); returns the arrays written."""
    return bfm_standin.write_standin_model(folder, seed=seed, grid=GRID, num_identity=NUM_ID_PCS, num_expression=NUM_EXP,
                                   trim_file=trim_file)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("bfm")
    return folder, make_standin(folder, trim_file="model_info.mat")


@pytest.fixture(scope="module")
def model(standin: tuple[Path, dict]) -> FaceModel:
    return FaceModel.from_files(standin[0])


def _params(identity: float = 0.0, expression: float = 0.0, angles=(0.0, 0.0, 0.0),
            translation=(64.0, 60.0), scale: float = SCALE, seed: int = 1) -> CoarseParams:
    rng = np.random.default_rng(seed)
    return CoarseParams(identity=identity * rng.standard_normal(100), expression=expression * rng.standard_normal(79),
                        angles=np.array(angles, float), translation=np.array(translation, float), scale=scale)


def _write_sample(folder: Path, name: str, params: CoarseParams, seed: int = 0) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / f"{name}.jpg"
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (IMAGE, IMAGE, 3), dtype=np.uint8)).save(image)
    return image, write_coarse_params(folder / f"{name}.txt", params)


# ------------------------------------------------------------------------------------------------
# Readers
# ------------------------------------------------------------------------------------------------


def test_readers_decode_the_real_layouts(standin: tuple[Path, dict]) -> None:
    folder, ref = standin
    model_file = bfm.read_bfm2009(folder / "01_MorphableModel.mat", num_components=100)
    np.testing.assert_allclose(model_file.shape_mean, ref["full"], rtol=1e-6)
    np.testing.assert_allclose(model_file.shape_basis.reshape(-1, 100), ref["shape_pc"][:, :100])
    np.testing.assert_allclose(model_file.shape_std, ref["shape_ev"][:100])
    np.testing.assert_array_equal(model_file.triangles, ref["faces"])
    exp = bfm.read_expression_basis(folder / "Exp_Pca.bin", num_vertices=len(ref["kept"]))
    np.testing.assert_array_equal(exp.mean, ref["exp_mean"])
    np.testing.assert_array_equal(exp.basis.reshape(-1, NUM_EXP), ref["exp_pc"])
    trim = bfm.read_trim_index(folder / "model_info.mat")
    np.testing.assert_array_equal(trim.vertices, ref["kept"])
    np.testing.assert_array_equal(trim.landmarks, ref["landmarks"])
    np.testing.assert_array_equal(trim.triangles, ref["trimmed_faces"])


def test_face_model_is_mean_plus_bases(standin: tuple[Path, dict], model: FaceModel) -> None:
    _, ref = standin
    kept = ref["kept"]
    np.testing.assert_allclose(model.mean, ref["full"][kept] + ref["exp_mean"], rtol=1e-6, atol=1e-2)
    alpha, beta = np.random.default_rng(3).normal(0, 2e4, 100), np.random.default_rng(4).normal(0, 2e4, 79)
    expected = (ref["full"][kept] + ref["exp_mean"]
                + (ref["shape_pc"][:, :100] @ alpha).reshape(-1, 3)[kept] + (ref["exp_pc"] @ beta).reshape(-1, 3))
    np.testing.assert_allclose(model.shape(alpha, beta), expected, rtol=1e-4, atol=1.0)
    assert model.vertex_colors is not None and model.vertex_colors.dtype == np.uint8
    np.testing.assert_array_equal(model.landmarks, ref["landmarks"])


def test_bfm_exp_idx_gives_bfm_triangles_and_no_landmarks(tmp_path: Path) -> None:
    ref = make_standin(tmp_path, trim_file="BFM_exp_idx.mat")
    model = FaceModel.from_files(tmp_path, FaceModelOptions(texture=False))
    assert model.landmarks is None and model.vertex_colors is None
    np.testing.assert_array_equal(model.triangles, ref["trimmed_faces"])
    assert len(model.triangles) < len(ref["faces"])  # the triangles touching the mouth block are gone


def test_scale_by_std_needs_std_file_and_multiplies(tmp_path: Path) -> None:
    make_standin(tmp_path)
    with pytest.raises(MissingModelFilesError, match="std_exp.txt"):
        FaceModel.from_files(tmp_path, FaceModelOptions(scale_by_std=True))
    std = np.linspace(5e4, 100, 79)
    np.savetxt(tmp_path / "std_exp.txt", std[None], fmt="%g")
    scaled = FaceModel.from_files(tmp_path, FaceModelOptions(scale_by_std=True))
    raw = FaceModel.from_files(tmp_path)
    alpha, beta = np.zeros(100), np.zeros(79)
    alpha[2], beta[5] = 1.5, -2.0
    a2, b2 = alpha.copy(), beta.copy()
    a2[2] *= raw.identity_std[2]
    b2[5] *= std[5]
    np.testing.assert_allclose(scaled.shape(alpha, beta), raw.shape(a2, b2), rtol=1e-5, atol=1e-2)


def test_expression_basis_of_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Exp_Pca.bin"
    path.write_bytes(np.int32(79).tobytes() + np.zeros(1001, "<f4").tobytes())
    with pytest.raises(ModelFileFormatError, match="do not hold"):
        bfm.read_expression_basis(path)
    path.write_bytes(np.int32(2).tobytes() + np.zeros(3 * 10 * 3, "<f4").tobytes())
    with pytest.raises(ModelFileFormatError, match="10 vertices"):
        bfm.read_expression_basis(path, num_vertices=12)


def test_missing_files_are_all_listed_before_any_work(tmp_path: Path) -> None:
    empty = tmp_path / "bfm"
    empty.mkdir()
    with pytest.raises(MissingModelFilesError) as info:
        FaceModel.from_files(empty)
    message = str(info.value)
    for text in ("01_MorphableModel.mat", "Exp_Pca.bin", "BFM_exp_idx.mat or model_info.mat",
                 "faces.dmi.unibas.ch/bfm", "github.com/Juyong/3DFace", "Deep3DFaceReconstruction", "3DDFA"):
        assert text in message
    (empty / "Exp_Pca.bin").write_bytes(b"x")
    with pytest.raises(MissingModelFilesError) as info:
        FaceModel.from_files(empty)
    assert [item.names[0] for item in info.value.missing] == ["01_MorphableModel.mat", "BFM_exp_idx.mat"]
    # The converter checks first: nothing is read from src and nothing is written.
    src = tmp_path / "src"
    _write_sample(src, "a", _params())
    out = tmp_path / "out"
    with pytest.raises(MissingModelFilesError):
        convert_coarse(src, out, empty, progress=False)
    assert not out.exists()


def test_v73_mat_gives_a_clear_error(tmp_path: Path) -> None:
    make_standin(tmp_path)
    # A MATLAB 7.3 file: 128-byte text header, then the HDF5 signature at the user-block end (byte 512).
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    blob = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    (tmp_path / "01_MorphableModel.mat").write_bytes(blob.ljust(512, b"\x00") + b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ModelFileFormatError, match=r"v7\.3 \(HDF5\).*-v7"):
        FaceModel.from_files(tmp_path)


def test_mat_without_the_fields_names_what_it_holds(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "x.mat", {"foo": np.zeros(3)}, format="5")
    with pytest.raises(ModelFileFormatError, match=r"lacks.*trimIndex.*foo"):
        bfm.read_trim_index(tmp_path / "x.mat")


# ------------------------------------------------------------------------------------------------
# Parameters and pose
# ------------------------------------------------------------------------------------------------


def test_parameter_file_roundtrip_and_errors(tmp_path: Path) -> None:
    params = _params(identity=1e4, expression=1e4, angles=(0.1, -0.2, 0.05), translation=(70.5, 50.25))
    path = write_coarse_params(tmp_path / "p.txt", params)
    assert [len(line.split()) for line in path.read_text().splitlines()] == [100, 79, 6]
    back = read_coarse_params(path)
    np.testing.assert_allclose(back.to_vector(), params.to_vector(), rtol=1e-8)
    np.savetxt(tmp_path / "one_per_line.txt", params.to_vector())  # the 185-line layout some scripts write
    np.testing.assert_allclose(read_coarse_params(tmp_path / "one_per_line.txt").to_vector(),
                               params.to_vector())
    (tmp_path / "bad.txt").write_text(" ".join(["1"] * 100) + "\n" + " ".join(["1"] * 78) + "\n1 2 3 4 5 6\n")
    with pytest.raises(ValueError, match=r"found 184 values in lines of \[100, 78, 6\]"):
        read_coarse_params(tmp_path / "bad.txt")


def test_rotation_matches_intrinsic_zyx_euler() -> None:
    angles = (0.3, -0.7, 0.2)  # pitch, yaw, roll
    expected = Rotation.from_euler("ZYX", [angles[2], angles[1], angles[0]]).as_matrix()
    np.testing.assert_allclose(rotation_matrix(angles, "zyx"), expected, atol=1e-12)
    expected_xyz = Rotation.from_euler("XYZ", angles).as_matrix()
    np.testing.assert_allclose(rotation_matrix(angles, "xyz"), expected_xyz, atol=1e-12)


def test_identity_pose_projects_scale_mean_plus_t(tmp_path: Path, model: FaceModel) -> None:
    params = _params(translation=(64.0, 60.0))
    image, txt = _write_sample(tmp_path, "s", params)
    sample = load_coarse_sample(image, txt, model)
    np.testing.assert_allclose(sample["shape"], model.mean)
    expected_xy = SCALE * model.mean[:, :2].astype(np.float64) + params.translation
    projected = project(model.mean, params)
    np.testing.assert_allclose(projected[:, :2], expected_xy, atol=1e-9)
    # Image frame: v counts rows down from the top, depth is away from the viewer.
    lm = model.landmarks
    # Pixel centres at integer dataset coordinates (Deep3D's): u = x + 0.5, v = H − y − 0.5.
    np.testing.assert_allclose(sample["landmarks"][:, 0], expected_xy[lm, 0] + 0.5, atol=1e-3)
    np.testing.assert_allclose(sample["landmarks"][:, 1], IMAGE - 0.5 - expected_xy[lm, 1], atol=1e-3)
    np.testing.assert_allclose(sample["landmarks_depth"], -SCALE * model.mean[lm, 2], atol=1e-3)


@pytest.mark.parametrize("row_vectors", [True, False])
def test_yaw_moves_landmarks_as_the_analytic_projection(model: FaceModel, row_vectors: bool) -> None:
    yaw = math.radians(25)
    params = _params(angles=(0.0, yaw, 0.0))
    convention = PoseConvention(row_vectors=row_vectors)
    mesh, _ = posed_mesh(params, model, IMAGE, convention)
    x, y, z = (model.mean[model.landmarks, i].astype(np.float64) for i in range(3))
    # Row vectors X·Ry(β) rotate by −β about y: x' = x cos β − z sin β; column vectors: x cos β + z sin β.
    sign = -1.0 if row_vectors else 1.0
    u = SCALE * (x * math.cos(yaw) + sign * z * math.sin(yaw)) + params.translation[0] + 0.5
    v = IMAGE - 0.5 - (SCALE * y + params.translation[1])
    np.testing.assert_allclose(mesh.vertices[model.landmarks, 0], u, atol=1e-3)
    np.testing.assert_allclose(mesh.vertices[model.landmarks, 1], v, atol=1e-3)  # yaw keeps heights
    frontal, _ = posed_mesh(_params(), model, IMAGE, convention)
    shift = mesh.vertices[model.landmarks, 0] - frontal.vertices[model.landmarks, 0]
    assert (z > 3e4).any() and np.all(np.sign(shift[z > 3e4]) == sign)  # the nose side moves the way the sign says


def test_pitch_and_roll_follow_the_rotation_matrix(model: FaceModel) -> None:
    angles = (0.2, 0.1, -0.3)
    params = _params(angles=angles)
    rot = Rotation.from_euler("ZYX", [angles[2], angles[1], angles[0]]).as_matrix()
    expected = SCALE * (model.mean.astype(np.float64) @ rot.T)  # default: column vectors, R·X (Deep3D's)
    got = project(model.mean, params)
    np.testing.assert_allclose(got[:, :2], expected[:, :2] + params.translation, atol=1e-9)
    np.testing.assert_allclose(got[:, 2], expected[:, 2], atol=1e-9)


# ------------------------------------------------------------------------------------------------
# Depth
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("near_first", [True, False])
def test_zbuffer_keeps_the_nearest_surface(near_first: bool) -> None:
    far = [[1, 1, 5.0], [15, 1, 5.0], [1, 15, 5.0]]
    near = [[4, 4, 2.0], [15, 4, 2.0], [4, 15, 2.0]]
    vertices = np.array(near + far if near_first else far + near, dtype=float)
    faces = np.array([[0, 1, 2], [3, 5, 4]])  # the second triangle wound the other way: no culling
    depth, mask, face = rasterize_depth(vertices, faces, 16, 16)
    near_face = 0 if near_first else 1
    assert depth[5, 5] == pytest.approx(2.0) and face[5, 5] == near_face  # overlap: the nearer wins
    assert depth[1, 1] == pytest.approx(5.0) and face[1, 1] == 1 - near_face  # only the far one
    assert not mask[14, 14] and np.isnan(depth[14, 14]) and face[14, 14] == -1


def test_rasterised_depth_is_the_planar_interpolation() -> None:
    # A slanted square (two triangles): depth = 0.5·u + 0.25·v + 3 at every covered pixel centre.
    corners = np.array([[2.0, 2.0], [30.0, 2.0], [2.0, 30.0], [30.0, 30.0]])
    vertices = np.column_stack([corners, 0.5 * corners[:, 0] + 0.25 * corners[:, 1] + 3])
    depth, mask, _ = rasterize_depth(vertices, np.array([[0, 2, 1], [1, 2, 3]]), 32, 32,
                                               RasterOptions(batch_candidates=50))
    rows, cols = np.nonzero(mask)
    assert mask.sum() == 28 * 28  # centres 2.5 … 29.5: no gaps or double counts along the diagonal
    np.testing.assert_allclose(depth[rows, cols], 0.5 * (cols + 0.5) + 0.25 * (rows + 0.5) + 3, atol=1e-5)


def test_parameters_to_mesh_to_depth(tmp_path: Path, model: FaceModel) -> None:
    params = _params(identity=2e4, expression=2e4, angles=(0.1, 0.4, -0.1))
    image, txt = _write_sample(tmp_path, "s", params)
    sample = load_coarse_sample(image, txt, model)
    depth, mask = sample["depth"], sample["mask"]
    assert depth.shape == mask.shape == (IMAGE, IMAGE) and depth.dtype == np.float32
    assert 0.15 < mask.mean() < 0.9 and np.isfinite(depth[mask]).all() and np.isnan(depth[~mask]).all()
    # The visible surface is the front one: no pixel lies behind the nearest vertex depth of its triangle.
    mesh = sample["mesh"]
    face = sample["face_index"][mask]
    assert np.all(depth[mask] >= mesh.vertices[mesh.faces[face], 2].min(1) - 1e-3)
    assert sample["landmarks"].shape == (68, 2)


# ------------------------------------------------------------------------------------------------
# Conversion and FineData
# ------------------------------------------------------------------------------------------------


def test_read_fine_depth_encodings(tmp_path: Path) -> None:
    depth = np.random.default_rng(0).uniform(0, 200, (6, 5)).astype(np.float32)
    depth.astype("<f4").tofile(tmp_path / "a.bin")
    np.testing.assert_array_equal(read_fine_depth(tmp_path / "a.bin", shape=(6, 5)), depth)
    (tmp_path / "b.bin").write_bytes(np.array([6, 5], "<i4").tobytes() + depth.astype("<f4").tobytes())
    np.testing.assert_array_equal(read_fine_depth(tmp_path / "b.bin", shape=(6, 5)), depth)
    Image.fromarray(depth.astype(np.uint16)).save(tmp_path / "c.png")
    np.testing.assert_array_equal(read_fine_depth(tmp_path / "c.png"), depth.astype(np.uint16))
    with pytest.raises(ValueError, match="tried: image"):
        read_fine_depth(tmp_path / "a.bin", shape=(7, 5))
    with pytest.raises(ValueError, match="needs shape"):
        read_fine_depth(tmp_path / "a.bin")

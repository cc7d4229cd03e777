"""3DMM-fitted datasets (300W-LP, AFLW2000-3D): BFM grid, registration, dense labels, import."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io

from mtface.cli.main import main
from mtface.core.data.threedmm import (
    BfmModel,
    ThreeDmmError,
    ThreeDmmLabeller,
    find_fitted_images,
    grid_triangles,
    pin_landmarks,
    read_fit,
)
from mtface.core.geometry import barycentric_points
from mtface.core.imageio import load_image
from mtface.core.registration import (
    SEED_CORRESPONDENCES,
    anchor_warp,
    closest_points_on_mesh,
)
from mtface.core.training.dataset import ConcatFaces, SyntheticFaces
from mtface.core.training.trainer import training_set
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def labeller(topology):
    return ThreeDmmLabeller.from_folder(shared_path("bfm_subset"), topology)


def box_nme(pred: np.ndarray, gt: np.ndarray) -> float:
    x0, y0 = gt.min(0)
    x1, y1 = gt.max(0)
    return float(np.linalg.norm(pred - gt, axis=1).mean() / np.sqrt((x1 - x0) * (y1 - y0)) * 100)


# --- smoke / shapes -------------------------------------------------------------------------


def test_grid_triangles_cover_the_grid_once():
    tri = grid_triangles(4)
    assert tri.shape == (2 * 9, 3)
    assert tri.min() == 0 and tri.max() == 15
    # every interior edge is shared by exactly two triangles
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert set(counts.tolist()) == {1, 2}


def test_closest_points_on_a_flat_square():
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    triangles = np.array([[0, 1, 2], [0, 2, 3]])
    points = np.array([[0.25, 0.5, 2.0], [3.0, 0.5, 0.0], [-1.0, -1.0, 0.0]] * 20)  # > 1 chunk
    closest, bary, tri = closest_points_on_mesh(vertices, triangles, points)
    assert closest.shape == (60, 3) and bary.shape == (60, 3) and tri.shape == (60,)
    assert np.allclose(closest[:3], [[0.25, 0.5, 0], [1.0, 0.5, 0], [0, 0, 0]])
    assert np.allclose(bary.sum(1), 1.0)


def test_anchor_warp_takes_anchors_exactly_and_is_identity_for_equal_sets():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(12, 3))
    target = 2.0 * source + 1.0 + rng.normal(scale=0.05, size=source.shape)
    assert np.allclose(anchor_warp(source, source, target), target, atol=1e-6)
    points = rng.normal(size=(30, 3))
    assert np.allclose(anchor_warp(points, source, source), points, atol=1e-8)


def test_pin_landmarks_moves_the_embedding_onto_keypoints(topology):
    vertices = topology.vertices.astype(np.float64) * 10
    target = topology.landmarks_from_vertices(vertices) + np.array([0.5, -0.3, 0.2])
    pinned = pin_landmarks(vertices, topology, target)
    assert np.abs(topology.landmarks_from_vertices(pinned) - target).max() < 1e-6


# --- exceptions -----------------------------------------------------------------------------


def test_bfm_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(ThreeDmmError, match="missing Model_PAF.pkl"):
        BfmModel.load(tmp_path)
    for name in ("Model_PAF.pkl", "u_base.txt", "w_shp_base.txt", "w_exp_base.txt"):
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(ThreeDmmError, match="unreadable BFM file"):
        BfmModel.load(tmp_path)


def test_fit_errors_name_the_problem(tmp_path):
    text = tmp_path / "a.mat"
    text.write_text("not a mat file")
    with pytest.raises(ThreeDmmError, match="not a readable .mat"):
        read_fit(text)
    partial = tmp_path / "b.mat"
    scipy.io.savemat(partial, {"Pose_Para": np.zeros((1, 7)), "Shape_Para": np.zeros((199, 1))})
    with pytest.raises(ThreeDmmError, match="missing Exp_Para"):
        read_fit(partial)
    short = tmp_path / "c.mat"
    scipy.io.savemat(
        short,
        {
            "Pose_Para": np.zeros((1, 3)),
            "Shape_Para": np.zeros((199, 1)),
            "Exp_Para": np.zeros((29, 1)),
        },
    )
    with pytest.raises(ThreeDmmError, match="malformed fit"):
        read_fit(short)


# --- numerical values on the real files -----------------------------------------------------


@pytest.mark.shared
def test_registration_reproduces_the_shipped_landmark_embedding(topology):
    """tools/build_topology.py's registration, now in core.registration, is unchanged."""
    bfm = np.loadtxt(shared_path("bfm_subset", "u_base.txt")).reshape(-1, 3) * [1, -1, 1]
    seeds = sorted(SEED_CORRESPONDENCES)
    vertices = topology.vertices.astype(np.float64)
    warped = anchor_warp(bfm, bfm[seeds], vertices[[SEED_CORRESPONDENCES[i] for i in seeds]])
    _, bary, tri = closest_points_on_mesh(vertices, topology.triangles, warped)
    # Compare the embedded points, not triangle ids: a point on an edge shared by two triangles
    # is the same point whichever triangle the closest-point search picks (numpy / scipy
    # versions break such ties differently).
    found = barycentric_points(vertices, topology.triangles, tri, bary)
    shipped = barycentric_points(
        vertices, topology.triangles, topology.landmark_triangles, topology.landmark_barycentric
    )
    scale = np.ptp(vertices, axis=0).max()
    assert np.abs(found - shipped).max() < 1e-5 * scale


@pytest.mark.shared
def test_dense_labels_of_aflw2000_fits_match_pt3d_68(labeller, topology):
    """The 68 landmarks of the dense labels land on the dataset's own 3D landmarks."""
    pairs = find_fitted_images(shared_path("aflw2000_3d_subset", "images"))
    assert len(pairs) == 16
    errors = []
    for image_path, mat_path in pairs:
        fit = read_fit(mat_path)
        vertices = labeller.vertices(fit, load_image(image_path).shape[0])
        assert vertices.shape == (topology.num_vertices, 3) and np.isfinite(vertices).all()
        gt = scipy.io.loadmat(mat_path)["pt3d_68"][:2].T - 1.0  # 1-based -> 0-based
        errors.append(box_nme(topology.landmarks_from_vertices(vertices)[:, :2], gt))
    # the BFM keypoints themselves reproduce pt3d_68 to 0.1-1.3 % (data README: 2-3 px)
    assert max(errors) < 1.5, errors
    # every vertex lies in the photo, on the face's side of the image
    assert (vertices[:, :2] > -50).all()


@pytest.mark.shared
def test_300wlp_sample_pose_and_landmarks(labeller, topology):
    ((image_path, mat_path),) = find_fitted_images(shared_path("w300lp_sample"))
    fit = read_fit(mat_path)
    image = load_image(image_path)
    vertices = labeller.vertices(fit, image.shape[0])
    keypoints = labeller.keypoints(fit, image.shape[0])
    landmarks = topology.landmarks_from_vertices(vertices)
    assert box_nme(landmarks[:, :2], keypoints[:, :2]) < 0.5
    # pt2d is the warped original annotation, about 9 px from the model projection
    pt2d = scipy.io.loadmat(mat_path)["pt2d"].T - 1.0
    assert box_nme(landmarks[:, :2], pt2d) < 8.0
    assert fit.angles_degrees[1] == pytest.approx(-44.0, abs=1.0)


@pytest.mark.shared
def test_import_command_writes_a_training_set_and_refuses_aflw2000(tmp_path, topology, capsys):
    source = tmp_path / "300W_LP" / "IBUG"
    source.mkdir(parents=True)
    for f in shared_path("w300lp_sample").iterdir():
        shutil.copy(f, source / f.name)
    (source / "broken.jpg").write_bytes(b"no image")
    scipy.io.savemat(source / "broken.mat", {"Pose_Para": np.zeros((1, 7))})
    out = tmp_path / "set"
    assert (
        main(
            [
                "data",
                "import-3dmm",
                "--images",
                str(tmp_path / "300W_LP"),
                "--bfm",
                str(shared_path("bfm_subset")),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "skipped:" in capsys.readouterr().err
    data = SyntheticFaces(out, topology)
    assert len(data) == 1
    image, keypoints, vertices, pose = data[0]
    assert image.shape == (3, 120, 120) and keypoints.shape == (68, 3)
    assert abs(float(keypoints[:, :2].abs().max())) < 1.0  # inside the crop
    assert float(pose[1]) * 90 == pytest.approx(-44.0, abs=1.0)
    both = training_set([str(out), str(out)], topology, 120, seed=0)
    assert isinstance(both, ConcatFaces) and len(both) == 2
    both.set_epoch(3)
    assert all(part.epoch == 3 for part in both.datasets)

    benchmark = tmp_path / "AFLW2000"
    shutil.copytree(source, benchmark)
    assert (
        main(
            [
                "data",
                "import-3dmm",
                "--images",
                str(benchmark),
                "--bfm",
                str(shared_path("bfm_subset")),
                "--out",
                str(tmp_path / "no"),
            ]
        )
        == 2
    )
    assert "test benchmark" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()

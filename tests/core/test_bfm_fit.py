"""BFM keypoint fits of 68 points (core/data/bfm_fit.py) and the pose-frame calibration
(core/pose_frame.py, CascadeMTCNN.offset_pose, tools/calibrate_pose.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io
import torch

from mtface.core.checkpoint import load_cascade
from mtface.core.data.bfm_fit import KeypointFitter, ParameterPrior
from mtface.core.data.threedmm import ThreeDmmError, find_fitted_images, read_fit
from mtface.core.geometry import rotation_from_angles
from mtface.core.imageio import load_image
from mtface.core.pose_frame import PoseFrameReport, measure_pose_frame
from mtface.core.predictor import Predictor
from tests.conftest import REPO, shared_path


@pytest.fixture(scope="module")
def fitter() -> KeypointFitter:
    return KeypointFitter.from_folder(shared_path("bfm_subset"))


def box_nme(pred: np.ndarray, gt: np.ndarray) -> float:
    w, h = np.ptp(gt, axis=0)
    return float(np.linalg.norm(pred - gt, axis=1).mean() / np.sqrt(w * h) * 100)


def project(fitter: KeypointFitter, shape, expression, angles, scale, shift, height):
    """Keypoints (68, 2) in 0-based image pixels for a known fit (Pose_Para's camera)."""
    points = fitter.bfm.keypoints(shape, expression)
    p = scale * points @ rotation_from_angles(*angles).T
    return np.stack([p[:, 0] + shift[0] - 1.0, height - (p[:, 1] + shift[1])], axis=1)


# --- numerical values -----------------------------------------------------------------------


def test_fit_recovers_a_known_face_and_pose(fitter):
    rng = np.random.default_rng(0)
    prior = fitter.prior
    shape = prior.shape_mean + 0.5 * prior.shape_std * rng.standard_normal(40)
    expression = prior.expression_mean + 0.5 * prior.expression_std * rng.standard_normal(10)
    angles = (8.0, -20.0, 5.0)
    points = project(fitter, shape, expression, angles, 1.2e-3, (100.0, 110.0), 220)
    result = fitter.fit(points, 220, march=False)
    np.testing.assert_allclose(result.fit.angles_degrees, angles, atol=1.5)
    assert box_nme(result.keypoints[:, :2], points) < 0.5
    assert result.residual_px < 1.0


def test_fit_of_aflw2000_keypoints_recovers_pose_para(fitter):
    """pt3d_68 are keypoints of each photo's fit: fitting them (no marching) gives Pose_Para back
    (measured: mean absolute error 1.1 / 0.5 / 0.4 degrees pitch / yaw / roll on the 16)."""
    errors = []
    for image_path, mat_path in find_fitted_images(shared_path("aflw2000_3d_subset", "images")):
        gt = scipy.io.loadmat(mat_path)["pt3d_68"][:2].T - 1.0
        result = fitter.fit(gt, load_image(image_path).shape[0], march=False)
        errors.append(result.fit.angles_degrees - read_fit(mat_path).angles_degrees)
        assert box_nme(result.keypoints[:, :2], gt) < 1.5
    mae = np.abs(np.array(errors)).mean(axis=0)
    assert (mae < [1.5, 1.0, 1.0]).all(), mae


def test_marching_fit_of_human_points_matches_the_300wlp_fit(fitter):
    """300W-LP's labels are such a fit of its human points: on its sample (yaw -44 degrees)
    the fit lands within 1 degree of Pose_Para's yaw and pitch, 2 % of its keypoints; without
    marching the yaw is 12 degrees off."""
    ((image_path, mat_path),) = find_fitted_images(shared_path("w300lp_sample"))
    human = scipy.io.loadmat(mat_path)["pt2d"].T - 1.0
    height = load_image(image_path).shape[0]
    truth = read_fit(mat_path)
    result = fitter.fit(human, height)
    assert abs(result.fit.angles_degrees[1] - truth.angles_degrees[1]) < 1.0
    assert abs(result.fit.angles_degrees[0] - truth.angles_degrees[0]) < 1.0
    from mtface.core.data.threedmm import ThreeDmmLabeller
    from mtface.core.topology import Topology

    labeller = ThreeDmmLabeller.from_folder(shared_path("bfm_subset"), Topology.load())
    dataset_keypoints = labeller.keypoints(truth, height)[:, :2]
    assert box_nme(result.keypoints[:, :2], dataset_keypoints) < 2.5
    fixed = fitter.fit(human, height, march=False)
    assert abs(fixed.fit.angles_degrees[1] - truth.angles_degrees[1]) > 5.0


def test_a_point_with_zero_weight_is_left_out(fitter):
    prior = fitter.prior
    points = project(
        fitter, prior.shape_mean, prior.expression_mean, (0.0, 10.0, 0.0), 1e-3, (90, 90), 200
    )
    clean = fitter.fit(points, 200)
    corrupted = points.copy()
    corrupted[30] += 60.0
    weights = np.ones(68)
    weights[30] = 0.0
    again = fitter.fit(corrupted, 200, weights=weights)
    np.testing.assert_allclose(again.fit.angles_degrees, clean.fit.angles_degrees, atol=0.2)
    assert fitter.fit(corrupted, 200).residual_px > clean.residual_px + 0.5


# --- exceptions -----------------------------------------------------------------------------


def test_bad_points_and_bad_statistics_are_clear_errors(fitter, tmp_path):
    with pytest.raises(ValueError, match="68 finite"):
        fitter.fit(np.zeros((21, 2)), 100)
    with pytest.raises(ValueError, match="68 finite"):
        fitter.fit(np.full((68, 2), np.nan), 100)
    with pytest.raises(ValueError, match="weights"):
        fitter.fit(np.zeros((68, 2)), 100, weights=-np.ones(68))
    with pytest.raises(ThreeDmmError, match="param_whitening"):
        ParameterPrior.load(tmp_path)
    (tmp_path / "param_whitening.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ThreeDmmError, match="unreadable parameter statistics"):
        ParameterPrior.load(tmp_path)


# --- the pose frame -------------------------------------------------------------------------


def test_offset_pose_shifts_every_stage_pitch_only(tiny_weights):
    model, _ = load_cascade(tiny_weights)
    crops = torch.rand(2, 3, model.config.crop_size, model.config.crop_size)
    with torch.no_grad():
        before = [p.clone() for p in model(crops).pose]
        model.offset_pose(2.5)
        after = model(crops).pose
    for b, a in zip(before, after, strict=True):
        np.testing.assert_allclose((a - b).numpy(), [[2.5 / 90, 0, 0]] * 2, atol=1e-6)


def test_pose_frame_report_offset_and_summary():
    fit = np.array([[0.0, 0.0, 0.0], [10.0, 20.0, 0.0], [5.0, 50.0, 0.0]])
    model = fit + np.array([[-2.0, 0.5, 0.0], [-3.0, 0.5, 0.0], [-20.0, 0.5, 0.0]])
    report = PoseFrameReport(["a", "b", "c"], model, fit)
    assert report.near_frontal.tolist() == [True, True, False]
    np.testing.assert_allclose(report.offset_deg, [2.5, -0.5, 0.0])
    summary = report.summary(2.5)
    assert summary["near_frontal"]["pitch_signed"] == pytest.approx(0.0)
    assert summary["all"]["pitch_mae"] == pytest.approx((0.5 + 0.5 + 17.5) / 3)
    with pytest.raises(ValueError, match="near-frontal"):
        _ = PoseFrameReport(["c"], model[2:], fit[2:]).offset_deg


def test_calibration_writes_weights_whose_pitch_moved(tmp_path, tiny_weights, fitter):
    """End to end on three annotated photos: measure, apply, and the written weights predict
    the pitch plus the offset; the metadata keeps the total."""
    import importlib.util

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted(shared_path("w300", "helen_train").glob("*.pts"))[:3]:
        shutil.copy(path, folder)
        shutil.copy(path.with_suffix(".jpg"), folder)
    spec = importlib.util.spec_from_file_location("calibrate", REPO / "tools/calibrate_pose.py")
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    predictor = Predictor.from_weights(tiny_weights, refiner_2d=None)
    report = measure_pose_frame(predictor, fitter, [folder])
    assert len(report.names) == 3 and np.isfinite(report.fit_deg).all()
    out = tmp_path / "calibrated.pt"
    calibrate.apply_pitch_offset(tiny_weights, out, 3.0, 3)
    calibrate.apply_pitch_offset(out, out, 1.0, 3)
    _, meta = load_cascade(out)
    assert meta["pose_calibration"]["pitch_offset_deg"] == pytest.approx(4.0)
    moved = measure_pose_frame(Predictor.from_weights(out, refiner_2d=None), fitter, [folder])
    np.testing.assert_allclose(moved.model_deg - report.model_deg, [[4.0, 0, 0]] * 3, atol=1e-3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no 68-point annotated face"):
        measure_pose_frame(predictor, fitter, [tmp_path / "empty"], None)


def test_shipped_model_records_its_pose_calibration():
    _, meta = load_cascade()
    assert 2.0 < meta["pose_calibration"]["pitch_offset_deg"] < 3.0

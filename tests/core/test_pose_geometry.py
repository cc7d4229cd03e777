"""The pose of the predicted mesh in the ``Pose_Para`` frame (core/pose_geometry.py, ADR 34)."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.core.geometry import angles_from_rotation, image_to_model_axes, rotation_from_angles
from mtface.core.pose_geometry import (
    MeshPoseFrame,
    angle_errors,
    angles_of_rotations,
    fit_mesh_pose_frame,
    mesh_pose_frame_of,
    mesh_rotation,
    pose_from_mesh,
    rotation_x,
)


def posed_mesh(topology, pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The template turned by R(pitch, yaw, roll), scaled and moved, in image pixels (V, 3)."""
    model = image_to_model_axes(topology.vertices.astype(np.float64))
    turned = 7.5 * model @ rotation_from_angles(pitch, yaw, roll).T + np.array([120.0, -80, 3])
    return image_to_model_axes(turned)


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (12.0, -35.0, 8.0), (-20.0, 70.0, -15.0)])
def test_a_known_rotation_is_recovered(topology, angles):
    vertices = posed_mesh(topology, *angles)
    rotation = mesh_rotation(vertices, topology)
    assert rotation.shape == (3, 3)
    np.testing.assert_allclose(rotation, rotation_from_angles(*angles), atol=1e-9)
    np.testing.assert_allclose(pose_from_mesh(vertices, topology), angles, atol=1e-6)


def test_the_frame_tilts_the_head_and_the_camera(topology):
    vertices = posed_mesh(topology, 10.0, 0.0, 0.0)
    # at zero yaw and roll both tilts add to the pitch
    frame = MeshPoseFrame(head_tilt_deg=2.0, camera_tilt_deg=1.5)
    np.testing.assert_allclose(pose_from_mesh(vertices, topology, frame), [13.5, 0, 0], atol=1e-9)
    # on a turned face a camera tilt is still a pitch; a head tilt is not (it spreads into roll)
    side = posed_mesh(topology, 0.0, 60.0, 0.0)
    head = MeshPoseFrame(head_tilt_deg=3.0).angles(mesh_rotation(side, topology))
    camera = MeshPoseFrame(camera_tilt_deg=3.0).angles(mesh_rotation(side, topology))
    np.testing.assert_allclose(camera, [3.0, 60.0, 0.0], atol=1e-9)
    expected = angles_from_rotation(rotation_from_angles(0.0, 60.0, 0.0) @ rotation_x(3.0))
    np.testing.assert_allclose(head, expected, atol=1e-9)
    assert abs(head[2]) > 5.0  # 5.18: the tilt shows as roll


def test_a_mirrored_mesh_gets_the_mirrored_pose(topology):
    """Both tilts are about x: mirroring (x -> -x) negates yaw and roll and keeps pitch, as
    ``--flip-test`` assumes."""
    frame = MeshPoseFrame(head_tilt_deg=-4.0, camera_tilt_deg=2.5)
    vertices = posed_mesh(topology, 8.0, 40.0, -12.0)
    mirrored = vertices[topology.flip_permutation] * np.array([-1.0, 1.0, 1.0])
    pitch, yaw, roll = pose_from_mesh(vertices, topology, frame)
    np.testing.assert_allclose(
        pose_from_mesh(mirrored, topology, frame), [pitch, -yaw, -roll], atol=1e-6
    )


def test_fit_recovers_known_tilts():
    rng = np.random.default_rng(3)
    angles = np.column_stack(
        [rng.uniform(-30, 30, 300), rng.uniform(-85, 85, 300), rng.uniform(-30, 30, 300)]
    )
    mesh = np.stack([rotation_from_angles(*a) for a in angles])
    truth = angles_of_rotations(MeshPoseFrame(-3.2, 1.7).rotation(mesh))
    frame = fit_mesh_pose_frame(mesh, truth)
    assert frame.head_tilt_deg == pytest.approx(-3.2, abs=0.06)
    assert frame.camera_tilt_deg == pytest.approx(1.7, abs=0.06)
    assert frame.faces == 300
    np.testing.assert_allclose(angle_errors(frame.rotation(mesh), truth), 0.0, atol=0.2)
    np.testing.assert_allclose(
        angles_of_rotations(mesh), [angles_from_rotation(r) for r in mesh], atol=1e-9
    )


def test_metadata_round_trip_and_errors(topology):
    frame = MeshPoseFrame(1.25, -0.5, 40)
    assert MeshPoseFrame.from_dict(frame.to_dict()) == frame
    assert mesh_pose_frame_of({}) is None
    assert mesh_pose_frame_of({"pose_calibration": {"pitch_offset_deg": 2.56}}) is None
    held = {"pose_calibration": {"pitch_offset_deg": 2.56, "mesh_frame": frame.to_dict()}}
    assert mesh_pose_frame_of(held) == frame
    with pytest.raises(ValueError, match="not a mesh pose frame"):
        MeshPoseFrame.from_dict({"head_tilt_deg": 1.0})
    with pytest.raises(ValueError, match="finite"):
        MeshPoseFrame.from_dict({"head_tilt_deg": float("nan"), "camera_tilt_deg": 0.0})
    with pytest.raises(ValueError, match="finite vertices"):
        mesh_rotation(np.zeros((10, 3)), topology)
    bad = posed_mesh(topology, 0, 0, 0)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite vertices"):
        mesh_rotation(bad, topology)
    with pytest.raises(ValueError, match="rotations"):
        fit_mesh_pose_frame(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="true angles"):
        fit_mesh_pose_frame(np.zeros((0, 3, 3)), np.zeros((0, 3)))


def test_a_model_file_with_a_mesh_frame_reports_the_mesh_pose(tmp_path, tiny_weights, sample_image):
    """tools/calibrate_pose.py writes the frame into the model file; the predictor then
    reports the mesh's pose in it, and the stages keep the regression head's."""
    import importlib.util

    from mtface.core.predictor import Predictor
    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("calibrate", REPO / "tools/calibrate_pose.py")
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    out = tmp_path / "framed.pt"
    frame = MeshPoseFrame(2.0, -1.0, 5)
    calibrate.apply_mesh_frame(tiny_weights, out, frame, "test")
    plain = Predictor.from_weights(tiny_weights, refiner_2d=None)
    framed = Predictor.from_weights(out, refiner_2d=None)
    assert plain.pose_frame is None and framed.pose_frame == frame
    box = plain.predict(sample_image).faces[0].box
    face = framed.predict(sample_image, [box], refine=False).faces[0]
    head = plain.predict(sample_image, [box], refine=False).faces[0]
    np.testing.assert_allclose(
        list(face.pose.as_dict().values()),
        pose_from_mesh(face.vertices, framed.topology, frame),
        atol=1e-4,
    )
    assert face.stages[-1].pose == head.pose


def test_shipped_model_holds_a_mesh_pose_frame():
    """The shipped file was calibrated by ``tools/calibrate_pose.py --mesh-frame`` on training
    faces only (ADR 34): a small tilt, both ways measured on thousands of faces."""
    from mtface.core.model_file import load_model

    frame = mesh_pose_frame_of(load_model(None).meta)
    assert frame is not None and frame.faces > 1000
    assert 1.0 < frame.head_tilt_deg < 4.0 and abs(frame.camera_tilt_deg) < 2.0


def test_training_poses_round_trip_and_calibration_table(tmp_path):
    """The readings cache (core/pose_frame.TrainingPoses) and the tool's per-bin table."""
    import importlib.util

    from mtface.core.pose_frame import TrainingPoses
    from tests.conftest import REPO

    truth = np.array([[0.0, 10.0, 0.0], [5.0, 45.0, 2.0], [-3.0, -75.0, 1.0]])
    rotations = np.stack([rotation_from_angles(*t) for t in truth + [1.0, 0.0, 0.0]])
    poses = TrainingPoses(np.array(["photo", "view", "view"]), truth, truth + 2.0, rotations)
    poses.save(tmp_path / "poses.npz")
    back = TrainingPoses.load(tmp_path / "poses.npz")
    assert back.kind.tolist() == ["photo", "view", "view"]
    np.testing.assert_array_equal(back.mesh_rotation, rotations)
    spec = importlib.util.spec_from_file_location("calibrate", REPO / "tools/calibrate_pose.py")
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    lines = calibrate.bin_lines(angles_of_rotations(rotations), back)
    assert len(lines) == 3 and "photo |yaw| [0,30]" in lines[0] and "(60,90]" in lines[2]
    assert "pitch  +1.00 /  1.00" in lines[1]


def test_the_pitch_offset_is_measured_on_the_head_not_the_mesh(tmp_path, tiny_weights):
    """ADR 14's offset moves the regression head, so measure_pose_frame reads the head's pose
    even when the model reports its mesh's (ADR 34)."""
    import importlib.util
    import shutil

    from mtface.core.data.bfm_fit import KeypointFitter
    from mtface.core.pose_frame import measure_pose_frame
    from mtface.core.predictor import Predictor
    from tests.conftest import REPO, shared_path

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted(shared_path("w300", "helen_train").glob("*.pts"))[:2]:
        shutil.copy(path, folder)
        shutil.copy(path.with_suffix(".jpg"), folder)
    fitter = KeypointFitter.from_folder(shared_path("bfm_subset"))
    spec = importlib.util.spec_from_file_location("calibrate", REPO / "tools/calibrate_pose.py")
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    framed = tmp_path / "framed.pt"
    calibrate.apply_mesh_frame(tiny_weights, framed, MeshPoseFrame(5.0, 5.0), "test")
    plain = measure_pose_frame(
        Predictor.from_weights(tiny_weights, refiner_2d=None), fitter, [folder]
    )
    moved = measure_pose_frame(Predictor.from_weights(framed, refiner_2d=None), fitter, [folder])
    np.testing.assert_allclose(moved.model_deg, plain.model_deg, atol=1e-6)

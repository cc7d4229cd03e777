"""Geometry: conventions, round trips, and the AFLW2000-3D labels reproduced."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtface.core.geometry import (
    CropTransform,
    angles_from_rotation,
    landmark_visibility,
    pose_from_vertices,
    project_orthographic,
    rotation_from_angles,
    similarity_fit,
    yaw_bin,
)
from tests.conftest import shared_path

angle = st.floats(-89.0, 89.0)


@settings(max_examples=200, deadline=None)
@given(angle, angle, angle)
def test_rotation_angles_round_trip(pitch, yaw, roll):
    rot = rotation_from_angles(pitch, yaw, roll)
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rot), 1.0)
    back = angles_from_rotation(rot)
    assert np.allclose(back, (pitch, yaw, roll), atol=1e-7)
    assert np.allclose(rotation_from_angles(*back), rot, atol=1e-10)


def test_rotation_matrices_are_the_pose_para_ones():
    # yaw alone: Ry = [[c,0,-s],[0,1,0],[s,0,c]]
    c, s = np.cos(np.deg2rad(30)), np.sin(np.deg2rad(30))
    assert np.allclose(rotation_from_angles(0, 30, 0), [[c, 0, -s], [0, 1, 0], [s, 0, c]])
    assert np.allclose(rotation_from_angles(30, 0, 0), [[1, 0, 0], [0, c, s], [0, -s, c]])
    assert np.allclose(rotation_from_angles(0, 0, 30), [[c, s, 0], [-s, c, 0], [0, 0, 1]])


def test_gimbal_lock_gives_a_valid_decomposition():
    rot = rotation_from_angles(20, 90, 0)
    assert np.allclose(rotation_from_angles(*angles_from_rotation(rot)), rot, atol=1e-9)


def test_orthographic_projection_drops_z():
    pts = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, -6.0]])
    assert np.array_equal(project_orthographic(pts), pts[:, :2])


def test_frontal_template_landmarks_visible_and_turned_face_hides_far_jaw(topology):
    pts = topology.vertices * 10.0
    vis = landmark_visibility(
        pts, topology.triangles, topology.landmark_triangles, topology.landmark_barycentric
    )
    assert vis[17:].all()  # everything but the jaw is visible on a frontal face
    flip_y = np.diag([1.0, -1.0, 1.0])
    rot = flip_y @ rotation_from_angles(0, 70, 0) @ flip_y
    turned = pts @ rot.T
    vis = landmark_visibility(
        turned, topology.triangles, topology.landmark_triangles, topology.landmark_barycentric
    )
    # positive yaw turns the face to the image's left: its left-side points (image right,
    # iBUG 9-16) stay visible and the other cheek's jaw (iBUG 0-5) is hidden
    assert not vis[:5].any()
    assert vis[11:17].all()
    assert vis[30]


def test_zbuffer_refinement_hides_points_behind_the_nose(topology):
    flip_y = np.diag([1.0, -1.0, 1.0])
    turned = topology.vertices * 10.0 @ (flip_y @ rotation_from_angles(0, 80, 0) @ flip_y).T
    normal_only = landmark_visibility(
        turned, topology.triangles, topology.landmark_triangles, topology.landmark_barycentric
    )
    refined = landmark_visibility(
        turned,
        topology.triangles,
        topology.landmark_triangles,
        topology.landmark_barycentric,
        zbuffer=True,
    )
    assert (refined <= normal_only).all()
    assert refined.sum() < normal_only.sum()


def test_pose_from_vertices_recovers_a_known_rotation(topology):
    flip_y = np.diag([1.0, -1.0, 1.0])
    rot = flip_y @ rotation_from_angles(10, -40, 5) @ flip_y
    pts = 3.0 * topology.vertices @ rot.T + np.array([100.0, 80.0, 0.0])
    assert np.allclose(
        pose_from_vertices(pts, topology.vertices, topology.pose_weights), (10, -40, 5), atol=1e-6
    )


def test_similarity_fit_exact():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(20, 3))
    rot = rotation_from_angles(10, 20, 30)
    dst = 2.5 * src @ rot.T + np.array([1.0, -2.0, 3.0])
    s, r, t = similarity_fit(src, dst)
    assert np.isclose(s, 2.5) and np.allclose(r, rot) and np.allclose(t, [1, -2, 3])


def test_crop_transform_round_trip_and_centre():
    tf = CropTransform.from_box((10.0, 20.0, 110.0, 100.0), 120, enlarge=1.5)
    pts = np.array([[60.0, 60.0, 5.0], [10.0, 20.0, -3.0]])
    assert np.allclose(tf.to_image(tf.to_crop(pts)), pts)
    assert np.allclose(tf.to_crop(np.array([[60.0, 60.0]])), [[59.5, 59.5]])
    assert np.isclose(tf.scale, 120 / 150)
    affine = tf.affine()
    assert np.allclose(affine @ np.array([60.0, 60.0, 1.0]), [59.5, 59.5])


def test_crop_transform_rejects_empty_box():
    with pytest.raises(ValueError):
        CropTransform.from_box((5.0, 5.0, 5.0, 5.0), 120)


def test_yaw_bins():
    assert [yaw_bin(y) for y in (0, -30, 30.1, -60, 61, 90)] == [
        "[0,30]",
        "[0,30]",
        "(30,60]",
        "(30,60]",
        "(60,90]",
        "(60,90]",
    ]


@pytest.mark.shared
def test_aflw2000_pose_para_and_bfm_bases_reproduce_pt3d_68():
    import scipy.io

    from mtface.core.imageio import load_image

    bfm = shared_path("bfm_subset")
    images = shared_path("aflw2000_3d_subset", "images")
    u = np.loadtxt(bfm / "u_base.txt")
    w_shp = np.loadtxt(bfm / "w_shp_base.txt")
    w_exp = np.loadtxt(bfm / "w_exp_base.txt")
    errors = []
    for mat_path in sorted(images.glob("*.mat")):
        mat = scipy.io.loadmat(mat_path)
        pose = mat["Pose_Para"][0]
        height = load_image(mat_path.with_suffix(".jpg")).shape[0]
        shape = u + w_shp @ mat["Shape_Para"][:40, 0] + w_exp @ mat["Exp_Para"][:10, 0]
        rot = rotation_from_angles(*np.rad2deg(pose[:3]))
        projected = pose[6] * shape.reshape(-1, 3) @ rot.T + pose[3:6]
        x, y = projected[:, 0], height + 1 - projected[:, 1]  # 1-based rows, flipped
        gt = mat["pt3d_68"]
        errors.append(np.hypot(x - gt[0], y - gt[1]).mean())
        # the angles survive our decomposition exactly
        assert np.allclose(angles_from_rotation(rot), np.rad2deg(pose[:3]), atol=1e-6)
    assert len(errors) == 16
    assert max(errors) < 3.0  # the data README: about 2-3 px

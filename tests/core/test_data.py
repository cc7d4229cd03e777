"""Data engine: overlay removal, face profiling, label storage, synthesis, training samples."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mtface.core.data.labels import LabelWriter, load_labels
from mtface.core.data.overlay import drawn_green_mask, remove_drawn_overlay
from mtface.core.data.profiling import boundary_loop, profile_face, working_crop
from mtface.core.data.synthesis import sample_delta, synthesize
from mtface.core.geometry import landmark_visibility, pose_from_vertices
from mtface.core.training.dataset import AugmentConfig, SyntheticFaces


def template_face(topology, centre=(256.0, 150.0), width=110.0):
    """The template mesh placed on the sample image's face (a plausible, exact label)."""
    v = topology.vertices / np.ptp(topology.vertices[:, 0]) * width
    return (v - v.mean(0) + np.array([centre[0], centre[1], 0.0])).astype(np.float32)


def test_overlay_removal_finds_green_strokes_and_leaves_clean_photos(sample_image):
    marked = sample_image.copy()
    cv2.rectangle(marked, (100, 100), (300, 300), (0, 128, 0), 2)
    for x in range(150, 260, 15):
        cv2.circle(marked, (x, 200), 1, (0, 128, 0), -1)
    mask = drawn_green_mask(marked)
    assert mask[100, 200] == 255 and mask[200, 150] == 255
    cleaned = remove_drawn_overlay(marked)
    diff = np.abs(cleaned.astype(int) - sample_image.astype(int))
    assert diff[100, 150:250].mean() < 40  # the stroke is gone
    plain = np.full((64, 64, 3), 128, np.uint8)
    assert np.array_equal(remove_drawn_overlay(plain), plain)


def test_boundary_loop_is_the_face_oval(topology):
    loop = boundary_loop(topology)
    assert len(loop) == 36 and len(set(loop.tolist())) == 36


def test_boundary_loop_keeps_the_order_of_the_hand_written_walk(topology):
    """trimesh's outline starts elsewhere; the loop keeps the start and direction the
    hand-written walk had (the polygon order feeds the synthesis warp)."""
    assert boundary_loop(topology).tolist() == [
        356,
        389,
        251,
        284,
        332,
        297,
        338,
        10,
        109,
        67,
        103,
        54,
        21,
        162,
        127,
        234,
        93,
        132,
        58,
        172,
        136,
        150,
        149,
        176,
        148,
        152,
        377,
        400,
        378,
        379,
        365,
        397,
        288,
        361,
        323,
        454,
    ]
    edges = {
        frozenset(e) for t in topology.triangles for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))
    }
    loop = boundary_loop(topology).tolist()
    assert all(frozenset((a, b)) in edges for a, b in zip(loop, loop[1:] + loop[:1]))


#: A 4 x 4 vertex grid without its middle square: an outer loop and a hole (whose edge comes
#: first), with the loops the hand-written walk gave for these triangle orders.
_HOLED = [
    [9, 10, 14],
    [8, 13, 12],
    [10, 15, 14],
    [6, 11, 10],
    [0, 5, 4],
    [1, 2, 6],
    [10, 11, 15],
    [8, 9, 13],
    [0, 1, 5],
    [2, 3, 7],
    [4, 9, 8],
    [4, 5, 9],
    [9, 14, 13],
    [2, 7, 6],
    [1, 6, 5],
    [6, 7, 11],
]


@pytest.mark.parametrize(
    "triangles, expected",
    [
        (_HOLED, [12, 13, 14, 15, 11, 7, 3, 2, 1, 0, 4, 8]),
        (_HOLED[::-1], [7, 11, 15, 14, 13, 12, 8, 4, 0, 1, 2, 3]),
    ],
    ids=["hole-edge-first", "reversed"],
)
def test_boundary_loop_of_a_mesh_with_a_hole(triangles, expected):
    from types import SimpleNamespace

    grid = np.array([[c, r, 0.0] for r in range(4) for c in range(4)])
    mesh = SimpleNamespace(vertices=grid, triangles=np.array(triangles))
    assert boundary_loop(mesh).tolist() == expected  # type: ignore[arg-type]


def test_profiling_rotates_labels_exactly(topology, sample_image):
    verts = template_face(topology)
    crop, v = working_crop(sample_image, verts.astype(np.float64), 160)
    pose0 = pose_from_vertices(v, topology.vertices, topology.pose_weights)
    sample = profile_face(crop, v, pose0, (0.0, 60.0, 0.0), topology)
    assert sample.image.shape == (160, 160, 3) and sample.image.dtype == np.uint8
    assert abs(sample.pose[1] - 60.0) < 1.0
    # the composed pose label equals the pose measured on the rotated vertices
    assert np.allclose(
        pose_from_vertices(sample.vertices, topology.vertices, topology.pose_weights),
        sample.pose,
        atol=0.5,
    )
    vis = landmark_visibility(
        sample.vertices,
        topology.triangles,
        topology.landmark_triangles,
        topology.landmark_barycentric,
    )
    assert not vis[:4].all()  # the far jaw is hidden
    assert not np.array_equal(sample.image, crop)


def test_sample_delta_respects_the_visible_side():
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = sample_delta(25.0, rng, int(rng.integers(0, 3)))
        assert 25.0 + d[1] >= 25.0 - 1e-9  # turned further the same way only
    bins = [abs(sample_delta(0.0, rng, 2)[1]) for _ in range(20)]
    assert min(bins) >= 60.0


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory, topology, sample_image):
    root = tmp_path_factory.mktemp("synth")
    images = root / "images" / "person_a"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "a.jpg"), cv2.cvtColor(sample_image, cv2.COLOR_RGB2BGR))
    (root / "images" / "person_b").mkdir()
    cv2.imwrite(
        str(root / "images" / "person_b" / "b.jpg"),
        cv2.cvtColor(sample_image[:, ::-1], cv2.COLOR_RGB2BGR),
    )
    writer = LabelWriter(root / "labels", root / "images", {"licence": "test"})
    verts = template_face(topology)
    pose = pose_from_vertices(verts, topology.vertices, topology.pose_weights)
    writer.add(images / "a.jpg", "person_a", verts, pose, 0.01, (0, 0, 1, 1))
    mirrored = verts[topology.flip_permutation].copy()
    mirrored[:, 0] = 511 - mirrored[:, 0]
    writer.add(
        root / "images" / "person_b" / "b.jpg", "person_b", mirrored, pose, 0.01, (0, 0, 1, 1)
    )
    writer.close()
    labels = load_labels(root / "labels")
    count = synthesize(labels, root / "synth", variants=4, seed=0)
    return root, count


def test_labels_round_trip_and_identity_split(synthetic_set):
    root, _ = synthetic_set
    labels = load_labels(root / "labels")
    assert len(labels) == 2 and labels.vertices.shape == (2, 468, 3)
    assert labels.manifest["licence"] == "test" and labels.manifest["count"] == 2
    train, val = labels.split_by_identity(0.5)
    assert len(train) + len(val) == 2
    assert not set(train.identity) & set(val.identity)


def test_corrupt_label_folder_is_reported(tmp_path):
    with pytest.raises(ValueError, match="not a label folder"):
        load_labels(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="unknown label format"):
        load_labels(tmp_path)


def test_synthetic_set_and_training_items(synthetic_set, topology):
    root, count = synthetic_set
    assert count == 8
    data = SyntheticFaces(root / "synth", topology, 120, AugmentConfig())
    image, kp, verts, pose = data[0]
    assert image.shape == (3, 120, 120) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert kp.shape == (68, 3) and verts.shape == (468, 3) and pose.shape == (3,)
    assert float(kp[:, :2].abs().max()) < 1.2  # the face is inside the crop
    # the keypoint targets are the embedded landmarks of the dense targets
    assert np.allclose(
        topology.landmarks_from_vertices(verts.numpy().astype(np.float64)), kp.numpy(), atol=1e-4
    )


def test_flip_augmentation_mirrors_labels(synthetic_set, topology):
    root, _ = synthetic_set
    plain = SyntheticFaces(root / "synth", topology, 120, augment=None)
    flip_only = AugmentConfig(
        scale_jitter=(1.0, 1.0),
        shift_jitter=0.0,
        flip=1.0,
        colour=0,
        grayscale=0,
        blur=0,
        noise=0,
        occluder=0,
        spots=0,
    )
    flipped = SyntheticFaces(root / "synth", topology, 120, augment=flip_only)
    a, b = plain[1], flipped[1]
    # the crop follows the mirrored landmark box, which the (nearly symmetric) embedding moves
    # by a fraction of a pixel: compare on average
    assert (b[0] - torch.flip(a[0], dims=[2])).abs().mean() < 0.03
    assert torch.allclose(b[3], a[3] * torch.tensor([1.0, -1.0, -1.0]), atol=1e-6)
    mirrored = a[2].numpy()[topology.flip_permutation] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(b[2].numpy() - mirrored).max() < 0.03

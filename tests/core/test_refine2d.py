"""The 2D landmark refiner (core/refine2d.py) and its fit (core/training/refine2d_fit.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mtface.core.refine2d import (
    LocalRefineStage,
    Refiner2D,
    RefineStage,
    apply_affine,
    canonical_frame,
    descriptor,
    local_features,
    orientation_maps,
)
from mtface.core.training.refine2d_fit import (
    RefinerFitConfig,
    fit_refiner,
    mirrored,
    nearest_points,
)

SIZE = 200


def _template() -> np.ndarray:
    """68 points of a face of unit radius centred at 0: jaw on the lower half of the circle,
    the other points inside it, outer eye corners (36, 45) level."""
    rng = np.random.default_rng(5)
    points = np.zeros((68, 2))
    angles = np.linspace(np.pi, 0.0, 17)
    points[:17] = np.stack([np.cos(angles), np.abs(np.sin(angles))], 1)
    points[17:] = rng.uniform(-0.5, 0.5, (51, 2))
    points[36], points[45] = (-0.5, -0.2), (0.5, -0.2)
    return points


def _face(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grey photo of a bright disc, its true points, and points whose jaw is off the disc's
    edge by a random radial factor (what only the photo can correct)."""
    centre = rng.uniform(80, 120, 2)
    radius = rng.uniform(45, 60)
    grey = np.full((SIZE, SIZE), 40, np.uint8)
    cv2.circle(grey, tuple(int(v) for v in np.round(centre)), int(round(radius)), 210, -1)
    truth = centre + radius * _template()
    predicted = truth.copy()
    predicted[:17] = centre + radius * rng.uniform(0.85, 1.15) * _template()[:17]
    return grey, truth, predicted


def _jaw_error(points: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(points[:, :17] - truth[:, :17], axis=2).mean())


# --- smoke and shapes -----------------------------------------------------------------------


def test_orientation_maps_shape_and_values() -> None:
    grey = np.zeros((32, 40), np.uint8)
    grey[:, 20:] = 255  # one vertical edge: horizontal gradients, bin 0
    maps = orientation_maps(grey, 4)
    assert maps.shape == (9, 32, 40) and maps.dtype == np.float32
    assert maps[0, 16, 20] > 0 and np.allclose(maps[1:, 16, 20], 0)
    assert np.allclose(maps[:, 16, 5], 0)  # flat far from the edge


def test_descriptor_shape() -> None:
    maps = orientation_maps(np.zeros((64, 64), np.uint8), 8)
    points = np.random.default_rng(0).uniform(0, 64, (68, 2))
    assert descriptor(maps, points, 8, 40.0).shape == (68 * 81 + 136,)


# --- numerical values -----------------------------------------------------------------------


def test_canonical_frame_levels_the_eyes_and_fixes_the_size() -> None:
    points = 100 + 30 * _template()
    angle = np.deg2rad(25.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = (points - 100) @ rotation.T + np.array([140.0, 90.0])
    canonical = apply_affine(canonical_frame(tilted, 160.0, 256), tilted)
    assert canonical[36, 1] == pytest.approx(canonical[45, 1], abs=1e-9)
    assert canonical[36, 0] < canonical[45, 0]
    extent = canonical.max(0) - canonical.min(0)
    assert np.sqrt(extent[0] * extent[1]) == pytest.approx(160.0)
    assert canonical.mean(0) == pytest.approx([128.0, 128.0])


def test_a_refiner_without_steps_returns_the_points() -> None:
    grey, _, predicted = _face(np.random.default_rng(1))
    features = 68 * 81 + 136
    zero = RefineStage(
        np.zeros(features, np.float32), np.zeros((features, 136), np.float32), np.zeros(136)
    )
    refiner = Refiner2D(160.0, 256, 8, (zero,), "test")
    np.testing.assert_allclose(refiner.refine(grey, predicted), predicted, atol=1e-9)


def test_a_step_never_moves_a_point_further_than_the_guard() -> None:
    from mtface.core.refine2d import MAX_STEP_FRACTION

    grey, _, predicted = _face(np.random.default_rng(7))
    features = 68 * 81 + 136
    wild = RefineStage(
        np.zeros(features, np.float32),
        np.zeros((features, 136), np.float32),
        np.full(136, 500.0, np.float32),  # 500 canonical px in x and y
    )
    moved = Refiner2D(160.0, 256, 8, (wild,), "wild").refine(grey, predicted)
    frame = canonical_frame(predicted, 160.0, 256)
    step = apply_affine(frame, moved) - apply_affine(frame, predicted)
    np.testing.assert_allclose(np.linalg.norm(step, axis=1), MAX_STEP_FRACTION * 160.0)
    np.testing.assert_allclose(step[:, 0], step[:, 1])  # the direction is kept


def test_mirrored_twice_is_the_identity(topology) -> None:
    grey, truth, _ = _face(np.random.default_rng(2))
    perm = topology.landmark_flip_permutation
    m_grey, m_points = mirrored(grey, truth, perm)
    back_grey, back_points = mirrored(m_grey, m_points, perm)
    np.testing.assert_array_equal(back_grey, grey)
    np.testing.assert_allclose(back_points, truth)


def test_fit_learns_to_put_the_jaw_on_the_edge(topology) -> None:
    rng = np.random.default_rng(3)
    train = [_face(rng) for _ in range(60)]
    test = [_face(rng) for _ in range(20)]
    refiner = fit_refiner(
        [g for g, _, _ in train],
        np.stack([p for _, _, p in train]),
        np.stack([t for _, t, _ in train]),
        topology.landmark_flip_permutation,
        RefinerFitConfig(stages=2, ridge=100.0, perturbations=3),
        source="discs",
    )
    truth = np.stack([t for _, t, _ in test])
    before = np.stack([p for _, _, p in test])
    after = np.stack([refiner.refine(g, p) for g, _, p in test])
    assert _jaw_error(after, truth) < 0.5 * _jaw_error(before, truth)


def test_the_label_shift_moves_every_point_along_the_eye_line() -> None:
    grey, _, predicted = _face(np.random.default_rng(1))
    features = 68 * 81 + 136
    zero = RefineStage(
        np.zeros(features, np.float32), np.zeros((features, 136), np.float32), np.zeros(136)
    )
    refiner = Refiner2D(160.0, 256, 8, (zero,), "test", label_shift=np.array([4.0, 0.0]))
    moved = refiner.refine(grey, predicted)
    scale = np.linalg.norm(canonical_frame(predicted, 160.0, 256)[0, :2])
    np.testing.assert_allclose(moved - predicted, np.tile([4.0 / scale, 0.0], (68, 1)), atol=1e-9)


def test_fit_keeps_a_one_sided_label_habit_as_its_shift(topology) -> None:
    """Labels drawn 1.5 px right of a symmetric face: the mirrored copies see the habit on the
    other side, so the stages cannot learn it; the label shift does."""
    perm = topology.landmark_flip_permutation
    template = _template()
    symmetric = (template + template[perm] * [-1.0, 1.0]) / 2.0
    rng = np.random.default_rng(3)
    faces = []
    for _ in range(41):
        centre, radius = rng.uniform(80, 120, 2), rng.uniform(45, 60)
        grey = np.full((SIZE, SIZE), 40, np.uint8)
        cv2.circle(grey, tuple(int(v) for v in np.round(centre)), int(round(radius)), 210, -1)
        faces.append((grey, centre + radius * symmetric))
    (test_grey, test_truth), train = faces[0], faces[1:]
    args = (
        [g for g, _ in train],
        np.stack([t for _, t in train]),  # the starts lie on the content
        np.stack([t + [1.5, 0.0] for _, t in train]),
        perm,
    )
    errors = {}
    for keep in (True, False):
        config = RefinerFitConfig(
            stages=1, ridge=100.0, perturbations=2, local_cells=(), label_shift=keep
        )
        refiner = fit_refiner(*args, config, source="discs")
        moved = refiner.refine(test_grey, test_truth) - test_truth
        errors[keep] = abs(moved[:, 0].mean() - 1.5)
    assert errors[True] < 0.3 and errors[False] > 1.0


# --- files and exceptions -------------------------------------------------------------------


def _small_refiner() -> Refiner2D:
    rng = np.random.default_rng(4)
    features = 68 * 81 + 136
    stage = RefineStage(
        rng.normal(size=features).astype(np.float32),
        (rng.normal(size=(features, 136)) * 1e-3).astype(np.float32),
        rng.normal(size=136).astype(np.float32),
    )
    return Refiner2D(160.0, 256, 8, (stage,), "random")


def test_save_and_load_round_trip(tmp_path) -> None:
    refiner = _small_refiner()
    refiner.save(tmp_path / "r.refine2d.npz")
    loaded = Refiner2D.load(tmp_path / "r.refine2d.npz")
    assert loaded.source == "random" and loaded.cell == 8 and len(loaded.stages) == 1
    # weights are stored in float16
    np.testing.assert_allclose(
        loaded.stages[0].weights, refiner.stages[0].weights, rtol=1e-3, atol=1e-7
    )
    grey, _, predicted = _face(np.random.default_rng(6))
    np.testing.assert_allclose(
        loaded.refine(grey, predicted), refiner.refine(grey, predicted), atol=1e-2
    )
    shifted = Refiner2D(160.0, 256, 8, refiner.stages, "shifted", label_shift=np.array([0.4, -0.1]))
    shifted.save(tmp_path / "s.refine2d.npz")
    np.testing.assert_allclose(Refiner2D.load(tmp_path / "s.refine2d.npz").label_shift, [0.4, -0.1])


def _local_refiner() -> Refiner2D:
    """A global 16 px stage, then a local 6 px stage (points and 3 neighbours)."""
    rng = np.random.default_rng(5)
    glob = _small_refiner().stages[0]
    neighbours = nearest_points(_template(), 3)
    features = 4 * 81 + 136
    local = LocalRefineStage(
        neighbours,
        rng.normal(size=(68, features)).astype(np.float32),
        (rng.normal(size=(68, features, 2)) * 1e-3).astype(np.float32),
        rng.normal(size=(68, 2)).astype(np.float32),
        6,
    )
    return Refiner2D(
        160.0, 256, 16, (RefineStage(glob.mean, glob.weights, glob.bias, 16), local), "mixed"
    )


def test_nearest_points_shapes_and_order() -> None:
    shape = _template()
    neighbours = nearest_points(shape, 3)
    assert neighbours.shape == (68, 4) and neighbours.dtype == np.int64
    np.testing.assert_array_equal(neighbours[:, 0], np.arange(68))  # each point first
    distance = np.linalg.norm(shape[neighbours[:, 1:]] - shape[:, None], axis=2)
    assert (np.diff(distance, axis=1) >= 0).all()  # then nearest first


def test_local_features_shape_and_values() -> None:
    grey, _, predicted = _face(np.random.default_rng(7))
    maps = orientation_maps(grey, 6)
    neighbours = nearest_points(_template(), 3)
    features = local_features(maps, predicted, 6, 160.0, neighbours)
    assert features.shape == (68, 4 * 81 + 136)
    full = descriptor(maps, predicted, 6, 160.0)
    np.testing.assert_allclose(features[5, :81], full[5 * 81 : 6 * 81])  # point 5's own cells
    np.testing.assert_allclose(features[5, -136:], full[-136:])  # then the shape


def test_mixed_refiner_round_trip_keeps_cells_and_kinds(tmp_path) -> None:
    refiner = _local_refiner()
    refiner.save(tmp_path / "m.refine2d.npz")
    loaded = Refiner2D.load(tmp_path / "m.refine2d.npz")
    assert [type(s) for s in loaded.stages] == [RefineStage, LocalRefineStage]
    assert [loaded.stage_cell(s) for s in loaded.stages] == [16, 6]
    grey, _, predicted = _face(np.random.default_rng(8))
    np.testing.assert_allclose(
        loaded.refine(grey, predicted), refiner.refine(grey, predicted), atol=1e-2
    )


def test_a_version_1_file_loads_and_refines_as_before(tmp_path) -> None:
    """Files written before stages had their own cell (no format_version key) still load."""
    refiner = _small_refiner()
    stage = refiner.stages[0]
    path = tmp_path / "v1.refine2d.npz"
    np.savez(
        path,
        face_size=160.0,
        canvas=256,
        cell=8,
        source="v1",
        stages=1,
        mean_0=stage.mean,
        weights_0=stage.weights.astype(np.float16),
        bias_0=stage.bias,
    )
    loaded = Refiner2D.load(path)
    assert loaded.stage_cell(loaded.stages[0]) == 8
    grey, _, predicted = _face(np.random.default_rng(9))
    np.testing.assert_allclose(
        loaded.refine(grey, predicted), refiner.refine(grey, predicted), atol=1e-2
    )


def test_a_newer_format_version_is_refused(tmp_path) -> None:
    path = tmp_path / "v9.refine2d.npz"
    np.savez(path, format_version=99, face_size=160.0, canvas=256, cell=8, source="x", stages=0)
    with pytest.raises(RuntimeError, match="newer than this mtface reads"):
        Refiner2D.load(path)


def test_fit_without_any_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one stage"):
        fit_refiner(
            [],
            np.zeros((0, 68, 2)),
            np.zeros((0, 68, 2)),
            np.arange(68),
            RefinerFitConfig(stages=0, local_cells=()),
        )


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04broken"])
def test_unreadable_refiner_file_is_a_clear_error(tmp_path, content: bytes) -> None:
    path = tmp_path / "bad.refine2d.npz"
    path.write_bytes(content)
    with pytest.raises(RuntimeError, match="cannot read the 2D landmark refiner"):
        Refiner2D.load(path)


def test_refiner_with_wrong_shapes_is_refused(tmp_path) -> None:
    path = tmp_path / "shapes.refine2d.npz"
    np.savez(
        path,
        face_size=160.0,
        canvas=256,
        cell=8,
        source="x",
        stages=1,
        mean_0=np.zeros(10, np.float32),
        weights_0=np.zeros((10, 5), np.float16),
        bias_0=np.zeros(136, np.float32),
    )
    with pytest.raises(RuntimeError, match="bad stage shapes"):
        Refiner2D.load(path)


# --- the predictor --------------------------------------------------------------------------


def _shift_refiner(dx: float) -> Refiner2D:
    """A one-step refiner that moves every point by ``dx`` canonical pixels to the right."""
    features = 68 * 81 + 136
    bias = np.zeros((68, 2), np.float32)
    bias[:, 0] = dx
    stage = RefineStage(
        np.zeros(features, np.float32), np.zeros((features, 136), np.float32), bias.ravel()
    )
    return Refiner2D(160.0, 256, 8, (stage,), "shift")


@pytest.fixture
def weights_with_refiner(tmp_path, tiny_weights):
    import shutil

    from mtface.core.predictor import refiner_path

    weights = tmp_path / "model.pt"
    shutil.copy(tiny_weights, weights)
    _shift_refiner(5.0).save(refiner_path(weights))
    return weights


def test_refiner_path_is_beside_the_weights(tmp_path) -> None:
    from mtface.core.predictor import refiner_path

    assert refiner_path(tmp_path / "best.pt") == tmp_path / "best.refine2d.npz"
    assert refiner_path().name == "mtface_default.refine2d.npz"


def test_predictor_refines_2d_landmarks_only(weights_with_refiner, sample_image) -> None:
    from mtface.core.predictor import Predictor
    from mtface.core.types import FaceBox

    box = [FaceBox(150, 60, 330, 260, 1.0)]
    with_refiner = Predictor.from_weights(weights_with_refiner, landmarks="2d")
    without = Predictor.from_weights(weights_with_refiner, landmarks="2d", refiner_2d=None)
    assert with_refiner.refiner_2d is not None and without.refiner_2d is None
    moved = with_refiner.predict(sample_image, box).faces[0].landmarks_2d
    plain = without.predict(sample_image, box).faces[0].landmarks_2d
    shift = moved - plain
    # one translation of every point, 5 canonical pixels long, along the eye line
    np.testing.assert_allclose(shift, np.broadcast_to(shift.mean(0), shift.shape), atol=1e-3)
    eye_line = plain[45] - plain[36]
    assert np.linalg.norm(shift[0]) > 0.1
    assert (
        abs(np.dot(shift[0], eye_line) / np.linalg.norm(shift[0]) / np.linalg.norm(eye_line)) > 0.99
    )
    with_refiner.landmarks = without.landmarks = "3d"
    np.testing.assert_array_equal(
        with_refiner.predict(sample_image, box).faces[0].landmarks,
        without.predict(sample_image, box).faces[0].landmarks,
    )


def test_corrupt_refiner_beside_weights_is_a_weights_error(weights_with_refiner) -> None:
    from mtface.core.predictor import Predictor, refiner_path
    from mtface.core.weights import WeightsError

    refiner_path(weights_with_refiner).write_bytes(b"truncated")
    Predictor.from_weights(weights_with_refiner)  # 3d: the refiner is not read
    with pytest.raises(WeightsError, match="2D landmark refiner"):
        Predictor.from_weights(weights_with_refiner, landmarks="2d")


def test_the_shipped_model_has_its_refiner() -> None:
    from mtface.core.checkpoint import default_weights_path
    from mtface.core.predictor import Predictor
    from mtface.core.weights import verify_checksum

    assert verify_checksum(default_weights_path())  # one file, in SHA256SUMS and intact
    predictor = Predictor.from_weights(landmarks="2d")
    assert predictor.refiner_2d is not None and "training faces" in predictor.refiner_2d.source


# --- mtface data fit-refiner ----------------------------------------------------------------


@pytest.fixture
def label_folder(tmp_path):
    """Two photos (the sample and its mirror) with human points, all in the training part."""
    from mtface.core.data.human_labels import import_annotations
    from mtface.core.formats.pts import write_pts
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor
    from mtface.core.resources import resource_path

    image = load_image(resource_path("samples", "astronaut.jpg"))
    points = Predictor.from_weights(landmarks="2d").predict(image).faces[0].landmarks_2d
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, photo, pts in (
        ("a", image, points),
        ("b", image[:, ::-1], np.stack([image.shape[1] - 1 - points[:, 0], points[:, 1]], 1)),
    ):
        cv2.imwrite(
            str(folder / f"{name}.png"),
            cv2.cvtColor(np.ascontiguousarray(photo), cv2.COLOR_RGB2BGR),
        )
        write_pts(folder / f"{name}.pts", pts)
    import_annotations([folder], tmp_path / "labels", "test", mesh_from="model", val_fraction=0.0)
    return tmp_path / "labels"


def test_cli_fit_refiner_writes_it_into_the_model_file(
    tmp_path, label_folder, tiny_weights, capsys
) -> None:
    import shutil

    from mtface.cli.main import main
    from mtface.core.model_file import load_model
    from mtface.core.predictor import Predictor, refiner_path

    weights = tmp_path / "mine.pt"
    shutil.copy(tiny_weights, weights)
    fit = ["data", "fit-refiner", "--labels", str(label_folder), "--force"]
    code = main([*fit, "--weights", str(weights)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "model train: inter-ocular NME" in out and "refined train" in out
    assert not refiner_path(weights).exists() and "fitted on 2 faces" in err
    assert load_model(weights).identity.parts == ("cascade", "refiner2d")
    refiner = Predictor.from_weights(weights, landmarks="2d").refiner_2d
    assert refiner is not None and "mine.pt" in refiner.source
    # the model now holds a refiner: a second fit replaces it only when asked
    before = weights.read_bytes()
    assert main([*fit, "--weights", str(weights)]) == 2
    assert "already holds a 2D refiner" in capsys.readouterr().err
    assert weights.read_bytes() == before
    # --out: a new model file, the original untouched; an existing --out needs --overwrite
    other = tmp_path / "other.pt"
    assert main([*fit, "--weights", str(tiny_weights), "--out", str(other)]) == 0
    assert load_model(other).refiner is not None and load_model(tiny_weights).refiner is None
    assert main([*fit, "--weights", str(tiny_weights), "--out", str(other)]) == 2
    assert "exists; give --overwrite" in capsys.readouterr().err


def test_cli_fit_refiner_refuses_to_overwrite_the_bundled_one(label_folder, capsys) -> None:
    from mtface.cli.main import main
    from mtface.core.checkpoint import default_weights_path

    before = default_weights_path().read_bytes()
    code = main(["data", "fit-refiner", "--labels", str(label_folder)])
    assert code == 2 and "is a bundled file" in capsys.readouterr().err
    assert default_weights_path().read_bytes() == before


def test_cli_fit_refiner_on_a_folder_without_human_labels(tmp_path, capsys) -> None:
    from mtface.cli.main import main

    code = main(
        [
            "data",
            "fit-refiner",
            "--labels",
            str(tmp_path / "nothing"),
            "--out",
            str(tmp_path / "r.npz"),
        ]
    )
    assert code == 2 and "not a label folder" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


def test_training_fits_the_refiner_of_best_pt(tmp_path, label_folder, tiny_weights) -> None:
    import shutil

    from mtface.core.data.human_labels import import_annotations
    from mtface.core.model_file import load_model
    from mtface.core.predictor import refiner_path
    from mtface.core.training.trainer import fit_refiner_beside

    weights = tmp_path / "run" / "best.pt"
    weights.parent.mkdir()
    shutil.copy(tiny_weights, weights)
    assert fit_refiner_beside(weights, label_folder, log=False) == weights
    assert load_model(weights).refiner.stages  # inside best.pt: a copy keeps it (ADR 20)
    # a label folder whose photos are all held out: nothing to fit on, said, nothing written
    shutil.copy(tiny_weights, weights)
    import_annotations(
        [label_folder.parent / "photos"],
        tmp_path / "val_only",
        "t",
        mesh_from="model",
        val_fraction=1.0,
    )
    assert fit_refiner_beside(weights, tmp_path / "val_only", log=False) is None
    assert load_model(weights).refiner is None and not refiner_path(weights).exists()


def test_local_stages_run_only_within_the_fitted_yaw_range(tmp_path) -> None:
    full = _local_refiner()
    limited = Refiner2D(full.face_size, full.canvas, full.cell, full.stages, "x", 45.0)
    global_only = Refiner2D(full.face_size, full.canvas, full.cell, full.stages[:1], "x")
    assert limited.stages_for(None) == full.stages and limited.stages_for(-44.0) == full.stages
    assert limited.stages_for(60.0) == full.stages[:1]
    grey, _, predicted = _face(np.random.default_rng(10))
    np.testing.assert_allclose(
        limited.refine(grey, predicted, yaw_deg=-70.0), global_only.refine(grey, predicted)
    )
    np.testing.assert_allclose(
        limited.refine(grey, predicted, yaw_deg=10.0), full.refine(grey, predicted)
    )
    limited.save(tmp_path / "l.refine2d.npz")
    assert Refiner2D.load(tmp_path / "l.refine2d.npz").local_max_yaw_deg == 45.0
    assert math.isinf(full.local_max_yaw_deg)  # no limit unless fitted with yaws


def test_fit_records_the_largest_training_yaw(topology) -> None:
    rng = np.random.default_rng(11)
    faces = [_face(rng) for _ in range(6)]
    refiner = fit_refiner(
        [f[0] for f in faces],
        np.stack([f[2] for f in faces]),
        np.stack([f[1] for f in faces]),
        topology.landmark_flip_permutation,
        RefinerFitConfig(stages=1, local_cells=(6,), perturbations=2),
        yaws_deg=np.array([5.0, -38.5, 12.0, 20.0, -3.0, 30.0]),
    )
    assert refiner.local_max_yaw_deg == 38.5

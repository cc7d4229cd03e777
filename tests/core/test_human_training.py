"""Training with human labels: checkpoint selection, the human validation figure, set weights."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mtface.core.data.human_labels import import_annotations
from mtface.core.formats.pts import write_pts
from mtface.core.predictor import Predictor
from mtface.core.resources import resource_path
from mtface.core.training.trainer import selection_score, training_set
from mtface.core.training.validation import human_val_report


def test_selection_score_prefers_the_real_face_figures():
    assert selection_score(
        {"aflw_val_mean": 6.0, "human_val_nme": 4.0, "synthetic_val_mean": 1.0}
    ) == pytest.approx(5.0)
    assert selection_score({"aflw_val_mean": 6.0, "synthetic_val_mean": 1.0}) == 6.0
    assert selection_score({"synthetic_val_mean": 1.5}) == 1.5
    assert selection_score({}) == float("inf")


def test_human_val_report_scores_the_held_out_photos(tmp_path, sample_image):
    predictor = Predictor.from_weights(landmarks="2d")
    points = predictor.predict(sample_image).faces[0].landmarks_2d
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("p", "q"):
        shutil.copy(resource_path("samples", "astronaut.jpg"), folder / f"{name}.jpg")
        write_pts(folder / f"{name}.pts", points)
    import_annotations([folder], tmp_path / "labels", "x", mesh_from="model", val_fraction=1.0)
    report = human_val_report(Predictor.from_weights(), str(tmp_path / "labels"))
    assert 0.0 < report["human_val_nme"] < 3.0  # the model's own 2d points as the labels


def test_a_set_listed_twice_is_augmented_differently(topology, tmp_path):
    from mtface.core.data.sampleset import SampleSetWriter

    writer = SampleSetWriter(tmp_path / "set", 1, 160, topology.num_vertices)
    v = topology.vertices / np.ptp(topology.vertices[:, 0]) * 70 + 80
    writer.add(np.full((160, 160, 3), 100, np.uint8), v.astype(np.float32), (0, 0, 0), 0)
    writer.close({})
    both = training_set([str(tmp_path / "set")] * 2, topology, 120, seed=0)
    first, second = both[0], both[1]
    assert len(both) == 2
    assert not np.allclose(first[1].numpy(), second[1].numpy())  # different jitter


def test_augment_overrides_reach_the_samples(topology, tmp_path):
    from mtface.core.data.sampleset import SampleSetWriter
    from mtface.core.training.trainer import augment_config

    writer = SampleSetWriter(tmp_path / "set", 1, 160, topology.num_vertices)
    v = topology.vertices / np.ptp(topology.vertices[:, 0]) * 70 + 80
    writer.add(np.full((160, 160, 3), 100, np.uint8), v.astype(np.float32), (0, 0, 0), 0)
    writer.close({})
    still = augment_config({"scale_jitter": [1.0, 1.0], "shift_jitter": 0.0, "flip": 0.0})
    assert still.scale_jitter == (1.0, 1.0) and still.occluder == 0.25  # others keep defaults
    fixed = training_set([str(tmp_path / "set")] * 2, topology, 120, seed=0, augment=still)
    # no geometric jitter: both copies have the same labels; the default jitter moves them
    np.testing.assert_allclose(fixed[0][1].numpy(), fixed[1][1].numpy(), atol=1e-6)
    jittered = training_set([str(tmp_path / "set")] * 2, topology, 120, seed=0)
    assert not np.allclose(jittered[0][1].numpy(), jittered[1][1].numpy())

"""The review queue's confidence (core/confidence.py) and ordering (core/annotation/review.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mtface.core.annotation.review import ImageStatus, review_order, scan_annotation
from mtface.core.confidence import (
    HALF_CONFIDENCE_MIRROR,
    HALF_CONFIDENCE_STAGES,
    ConfidenceEvidence,
    confidence_from_disagreement,
    confidence_from_evidence,
    crop_evidence,
    face_confidence,
    spearman,
    unmirror,
)
from mtface.core.types import Face, FaceBox, Pose, StageOutput


def _face(shift: float) -> Face:
    rng = np.random.default_rng(0)
    lm = np.c_[rng.uniform(100, 200, (68, 2)), np.zeros(68)].astype(np.float32)
    first = lm + np.float32([shift, 0, 0])
    verts = np.zeros((468, 3), np.float32)
    pose = Pose(0, 0, 0)
    vis = np.ones(68, bool)
    return Face(
        FaceBox(100, 100, 200, 200),
        verts,
        lm,
        vis,
        pose,
        (StageOutput(verts, first, vis, pose), StageOutput(verts, lm, vis, pose)),
    )


def test_confidence_falls_as_the_stages_disagree():
    values = [face_confidence(_face(s)) for s in (0.0, 1.0, 5.0, 20.0)]
    assert values[0] == 1.0 and all(a > b for a, b in zip(values, values[1:]))
    assert confidence_from_disagreement(HALF_CONFIDENCE_STAGES, HALF_CONFIDENCE_STAGES) == 0.5
    one_stage = _face(0.0)
    assert (
        face_confidence(
            Face(
                one_stage.box,
                one_stage.vertices,
                one_stage.landmarks,
                one_stage.visible,
                one_stage.pose,
                one_stage.stages[:1],
            )
        )
        is None
    )


def test_spearman_matches_the_definition():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(
        np.sqrt(3) / 2
    )


def test_unmirror_flips_x_and_the_point_order():
    pts = np.array([[0.0, 1.0], [9.0, 2.0]])
    back = unmirror(pts, 10, np.array([1, 0]))
    assert np.allclose(back, [[0.0, 2.0], [9.0, 1.0]])


def test_face_confidence_is_the_predictors_when_it_has_one():
    face = _face(5.0)
    assert face_confidence(replace(face, confidence=0.8)) == 0.8
    assert face_confidence(face) < 1.0  # no predictor confidence: the stage fallback


def test_crop_evidence_numerical_values():
    size = 100
    stages = np.zeros((2, 3, 2))
    stages[1] = [[10.0, 10.0], [30.0, 10.0], [20.0, 50.0]]  # box 20 x 40: face size sqrt(800)
    stages[0] = stages[1] + [2.0, 0.0]
    perm = np.array([1, 0, 2])
    # stage 1 on the mirror image, as predicted on the flipped crop (x -> 99 - x, order swapped)
    mirrored = unmirror(stages[0], size, perm) + [0.0, 1.0]
    e = crop_evidence(stages, mirrored, 20.0, -18.0, size, perm, 0.1)
    assert e.stages == pytest.approx(2.0 / np.sqrt(800.0))
    assert e.mirror == pytest.approx(1.0 / np.sqrt(800.0))
    assert e.mirror_yaw == pytest.approx(2.0) and e.box == 0.1


def test_confidence_from_evidence_is_half_at_the_medians_and_falls():
    median = ConfidenceEvidence(HALF_CONFIDENCE_MIRROR, HALF_CONFIDENCE_STAGES, 0.0, 0.0)
    assert confidence_from_evidence(median) == pytest.approx(0.5)
    assert confidence_from_evidence(ConfidenceEvidence(0.0, 0.0, 0.0, 0.0)) == 1.0
    worse = ConfidenceEvidence(2 * HALF_CONFIDENCE_MIRROR, HALF_CONFIDENCE_STAGES, 0.0, 0.0)
    assert confidence_from_evidence(worse) < 0.5


def test_predictor_confidence_of_the_shipped_model_on_the_sample(sample_image):
    """Every predicted face carries the confidence; a box on noise scores lower than the face."""
    from mtface.core.predictor import Predictor

    predictor = Predictor.from_weights()
    (face,) = predictor.predict(sample_image).faces
    assert face.confidence is not None and 0.0 < face.confidence <= 1.0
    noise = np.random.default_rng(0).integers(0, 255, sample_image.shape, dtype=np.uint8)
    (worse,) = predictor.predict(noise, [face.box]).faces  # the same place, no face there
    assert worse.confidence < face.confidence


def test_mirror_run_with_the_first_pass_gives_the_confidence_of_its_own_pass(sample_image):
    """A near-frontal face's mirrored stage 1 runs in the first pass's batch; it must give the
    evidence that the mirror's own pass on the final crop gives (the same crop, mirrored)."""
    from mtface.core.predictor import Predictor

    predictor = Predictor.from_weights()
    (face,) = predictor.predict(sample_image).faces
    tf = predictor.crop_from_box(face.box)
    result = predictor.run_on_transforms(sample_image, [tf], mirrored=[0])
    assert set(result.mirrored) == {0}
    alone = predictor.run_on_transforms(sample_image, [tf])
    assert alone.mirrored == {}
    np.testing.assert_allclose(result.keypoints, alone.keypoints, atol=1e-4)
    batched = predictor.confidence_evidence(sample_image, [tf], [tf], result)[0]
    own_pass = predictor.confidence_evidence(sample_image, [tf], [tf], alone)[0]
    for name in ("mirror", "stages", "mirror_yaw", "box"):
        assert getattr(batched, name) == pytest.approx(getattr(own_pass, name), rel=1e-4, abs=1e-6)
    assert face.confidence == pytest.approx(confidence_from_evidence(batched), rel=1e-4)


def test_review_order_sorts_least_confident_first_and_filters():
    statuses = [
        ImageStatus("saved", False, 0.9),
        ImageStatus("none", False, 0.2),
        ImageStatus("none", True, None),
        ImageStatus("unreadable", False, 0.3),
    ]
    assert review_order(statuses) == [0, 1, 2, 3]
    assert review_order(statuses, "confidence") == [1, 3, 0, 2]  # unknown last
    assert review_order(statuses, "folder", "unsaved") == [1, 2, 3]
    assert review_order(statuses, "confidence", "low confidence") == [1, 3]
    assert statuses[3].label("x.jpg") == "x.jpg  [0.30]  ⚠ unreadable annotation"
    assert statuses[2].label("x.jpg") == "* x.jpg"
    with pytest.raises(ValueError):
        review_order(statuses, "size")


def test_scan_annotation_tells_saved_from_unreadable(tmp_path):
    from mtface.core.annotation.face import FaceAnnotation
    from mtface.core.formats.annotations import write_annotation

    image = tmp_path / "a.jpg"
    assert scan_annotation(image) == ImageStatus()
    face = FaceAnnotation.from_points(np.full((68, 2), 5.0))
    face.confidence = 0.33
    write_annotation(tmp_path / "a.json", "labelme", [face], "a.jpg", (64, 64))
    assert scan_annotation(image) == ImageStatus("saved", False, pytest.approx(0.33), faces=1)
    (tmp_path / "a.json").write_text("[]")
    assert scan_annotation(image).annotation == "unreadable"


def test_predict_json_and_annotate_file_carry_the_same_confidence(tmp_path, tiny_weights):
    """One confidence everywhere: predict's JSON and annotate's labelme file hold the
    predictor's Face.confidence of the face (ADR 29)."""
    import json
    import shutil

    from mtface.cli.main import main
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor
    from mtface.core.resources import resource_path

    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(resource_path("samples", "astronaut.jpg"), folder / "a.jpg")
    assert (
        main(
            ["predict", str(folder), "--out", str(tmp_path / "out"), "--weights", str(tiny_weights)]
        )
        == 0
    )
    assert main(["annotate", str(folder), "--weights", str(tiny_weights)]) == 0
    predicted = json.loads((tmp_path / "out" / "a.json").read_text())["faces"]
    annotated = json.loads((folder / "a.json").read_text())["mtface"]["confidence"]
    face = Predictor.from_weights(tiny_weights).predict(load_image(folder / "a.jpg")).faces[0]
    assert len(predicted) == len(annotated) >= 1
    assert predicted[0]["confidence"] == pytest.approx(face.confidence, abs=1e-4)
    assert annotated[0] == pytest.approx(face.confidence, abs=1e-4)

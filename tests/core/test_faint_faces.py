"""Faint faces beside settled ones (ADR 32 addendum): YuNet's coarse answers scoring below its
threshold are added when every kept face is settled, and the predictor keeps them only where the
cascade's fit is confident (core/detection/yunet.py, core/detection/chain.py, the predictor)."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.core.detection.chain import MergingDetector
from mtface.core.types import Face, FaceBox, Pose

FRONTAL = np.array([[40.0, 40.0], [60.0, 40.0], [50.0, 50.0], [42.0, 60.0], [58.0, 60.0]])
TURNED = FRONTAL.copy()
TURNED[2] = [66.0, 50.0]  # nose beyond the left eye: turn ratio 0.8
IMAGE = np.zeros((8, 8, 3), np.uint8)


class WithFaint:
    """A first detector with faint faces (as ``YuNetDetector.detect_with_faint``)."""

    def __init__(self, faces: list[FaceBox], faint: list[FaceBox]) -> None:
        self.faces, self.faint = faces, faint

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        return list(self.faces)

    def detect_with_faint(self, image: np.ndarray) -> tuple[list[FaceBox], list[FaceBox]]:
        return list(self.faces), list(self.faint)


class Counting:
    def __init__(self, boxes: list[FaceBox]) -> None:
        self.boxes, self.calls = boxes, 0

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        self.calls += 1
        return list(self.boxes)


def test_faint_faces_off_settled_faces_are_added_without_asking_later_detectors():
    settled_face = FaceBox(0, 0, 100, 100, 0.95, keypoints=FRONTAL)
    profile = FaceBox(300, 0, 400, 100, 0.3, keypoints=TURNED)
    on_kept = FaceBox(10, 10, 90, 90, 0.4)
    second_on_profile = FaceBox(310, 10, 390, 90, 0.26)  # the same faint face twice: once
    later = Counting([FaceBox(500, 0, 600, 100, 0.9)])
    chain = MergingDetector(
        [WithFaint([settled_face], [profile, on_kept, second_on_profile]), later],
        second_opinion=later,
    )
    assert chain.detect_with_alternatives(IMAGE) == ([settled_face, profile], [])
    assert later.calls == 0


def test_faint_faces_are_ignored_when_the_answer_is_not_settled_or_empty():
    turned = FaceBox(0, 0, 100, 100, 0.95, keypoints=TURNED)
    faint = FaceBox(300, 0, 400, 100, 0.3)
    blaze = FaceBox(500, 0, 600, 100, 0.9)
    later = Counting([blaze])
    chain = MergingDetector([WithFaint([turned], [faint]), later], second_opinion=later)
    assert chain.detect(IMAGE) == [turned, blaze]
    empty = MergingDetector([WithFaint([], [faint]), later], second_opinion=later)
    assert empty.detect(IMAGE) == [blaze]
    assert later.calls == 2


def test_a_first_detector_without_faint_faces_keeps_the_old_rule():
    settled_face = FaceBox(0, 0, 100, 100, 0.95, keypoints=FRONTAL)
    chain = MergingDetector([Counting([settled_face])])
    assert chain.detect_with_alternatives(IMAGE) == ([settled_face], [])


def face_of(score: float, confidence: float | None) -> Face:
    return Face(
        box=FaceBox(0, 0, 10, 10, score),
        vertices=np.zeros((1, 3)),
        landmarks=np.zeros((68, 3)),
        visible=np.ones(68, bool),
        pose=Pose(0.0, 0.0, 0.0),
        confidence=confidence,
    )


def test_confirmed_gates_only_faint_faces_by_the_confidence():
    from mtface.core.detection.chain import FAINT_BOX_SCORE, FAINT_MIN_CONFIDENCE, confirmed

    faint = FAINT_BOX_SCORE - 0.2
    assert confirmed(face_of(FAINT_BOX_SCORE, None))  # a detector's usual face: never gated
    assert confirmed(face_of(0.9, 0.01))
    assert confirmed(face_of(faint, FAINT_MIN_CONFIDENCE))
    assert not confirmed(face_of(faint, FAINT_MIN_CONFIDENCE - 0.01))
    assert not confirmed(face_of(faint, None))


def test_faces_of_the_equalised_search_are_gated_by_the_confidence():
    from mtface.core.detection.chain import EQUALISED_MIN_CONFIDENCE, confirmed

    assert confirmed(face_of(0.9, EQUALISED_MIN_CONFIDENCE), equalised=True)
    assert not confirmed(face_of(0.9, EQUALISED_MIN_CONFIDENCE - 0.01), equalised=True)
    assert not confirmed(face_of(0.9, None), equalised=True)
    assert confirmed(face_of(0.9, EQUALISED_MIN_CONFIDENCE - 0.01))  # the plain search's


class FakeYuFace:
    """yuface.detect's seam: the coarse search (128 px) finds a frontal face scoring 90 and a
    faint one scoring 30 (percent), only when asked down to that score."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float]] = []

    def __call__(self, bgr: np.ndarray, conf: float = 0.5) -> tuple[list, list, list]:
        side = max(bgr.shape[:2])
        self.calls.append((side, conf))
        scale = side / 640.0
        found = [(90, 100.0, FRONTAL * 4 + 100), (30, 400.0, FRONTAL * 4 + 400)]
        found = [f for f in found if f[0] >= conf * 100]
        boxes = [np.array([x, 120, 160, 180]) * scale for _, x, _ in found]
        points = [(pts * scale).ravel() for _, _, pts in found]
        return [s for s, _, _ in found], boxes, points


def test_yunet_gives_its_coarse_searchs_faint_faces_at_no_extra_search():
    pytest.importorskip("yuface")
    from mtface.core.detection.yunet import FAINT_MIN_SCORE, YuNetDetector

    fake = FakeYuFace()
    detector = YuNetDetector(calibration=None, turned_calibration=None)
    detector._detect = fake  # noqa: SLF001 - the seam to yuface
    faces, faint = detector.detect_with_faint(np.zeros((480, 640, 3), np.uint8))
    assert fake.calls == [(128, FAINT_MIN_SCORE)]  # one search, down to the faint score
    assert [f.score for f in faces] == [pytest.approx(0.9)]
    assert [f.score for f in faint] == [pytest.approx(0.3)]
    assert faint[0].x0 > faces[0].x1  # the second face, right of the first
    again = detector.detect(np.zeros((480, 640, 3), np.uint8))
    assert [f.as_tuple() for f in again] == [f.as_tuple() for f in faces]
    none = YuNetDetector(calibration=None, turned_calibration=None, faint_min_score=0.5)
    none._detect = FakeYuFace()  # noqa: SLF001
    assert none.detect_with_faint(np.zeros((480, 640, 3), np.uint8))[1] == []


def test_the_predictor_keeps_a_faint_face_only_when_its_fit_is_confident(sample_image, monkeypatch):
    """A composite of the bundled sample and its mirror: the settled face and a faint one on the
    mirrored copy; the faint face is kept or dropped by the confidence gate alone."""
    from mtface.core.detection import chain as chain_module
    from mtface.core.predictor import Predictor

    composite = np.concatenate([sample_image, sample_image[:, ::-1]], 1)
    w = sample_image.shape[1]
    first = FaceBox(180.0, 70.0, 280.0, 190.0, 0.95, keypoints=FRONTAL)
    mirrored = FaceBox(2 * w - 280.0, 70.0, 2 * w - 180.0, 190.0, 0.3)
    predictor = Predictor.from_weights(detector=MergingDetector([WithFaint([first], [mirrored])]))
    monkeypatch.setattr(chain_module, "FAINT_MIN_CONFIDENCE", 0.0)
    faces = predictor.predict(composite).faces
    assert [f.box for f in faces] == [first, mirrored]
    assert faces[1].landmarks_2d[:, 0].mean() > w  # its fit lies on the mirrored copy
    monkeypatch.setattr(chain_module, "FAINT_MIN_CONFIDENCE", 1.01)
    assert [f.box for f in predictor.predict(composite).faces] == [first]

"""Issue 20's "Done when": a scripted labelling job through the real window.

A folder of 20 photos (copies, mirror images and re-crops of the bundled sample) is
pre-annotated by the real ``mtface annotate`` code (core/commands/annotate.py; the predictor is
the test double, one image gets a false second face), opened in the studio built by
create_window() as main() builds it, every image reviewed in queue order with Ctrl+Enter, a
whole brow moved with the keyboard, one image flagged, the false face deleted, every format
chosen; then the files on disk must hold exactly that, in every format."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from PySide6 import QtCore

from mtface.core.annotation.review import scan_annotation
from mtface.core.commands.annotate import run_annotate
from mtface.core.formats.annotations import (
    FORMATS,
    annotation_path,
    find_annotation,
    read_annotation_record,
)
from mtface.core.resources import resource_path
from mtface.core.types import Face, Prediction
from tests.gui.conftest import FakePredictor
from tests.gui.test_group_edit import click

pytestmark = pytest.mark.gui
Key = QtCore.Qt.Key
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
ALT = QtCore.Qt.KeyboardModifier.AltModifier

FLAGGED, BROW, FALSE_FACE = 5, 3, 7  # image numbers in queue (folder) order


class FalsePositiveOnWidePhotos(FakePredictor):
    """The fake face, plus a small false "face" in the top-left corner of wide photos."""

    def predict(self, image, boxes=None):
        prediction = super().predict(image, boxes)
        h, w = image.shape[:2]
        if boxes is not None or w <= h:
            return prediction
        real = prediction.faces[0]
        centre = np.array([w / 2, h / 2, 0.0], np.float32)
        shift = np.array([60.0, 60.0, 0.0], np.float32)
        small = Face(
            real.box,
            (real.vertices - centre) * 0.2 + shift,
            (real.landmarks - centre) * 0.2 + shift,
            real.visible,
            real.pose,
            real.stages,
        )
        return Prediction([real, small], prediction.image_size, prediction.timings)


def _make_folder(root) -> list:
    """20 photos from one sample: as is, mirrored, darker, re-cropped; image 7 is wide."""
    folder = root / "job"
    folder.mkdir()
    sample = resource_path("samples", "astronaut.jpg")
    img = cv2.imread(str(sample))
    variants = [
        img,
        img[:, ::-1],
        (img * 0.8).astype(np.uint8),
        cv2.resize(img[40:472], (400, 400)),
    ]
    paths = []
    for k in range(20):
        path = folder / f"img{k:02d}.jpg"
        if k == 0:
            shutil.copy(sample, path)
        elif k == FALSE_FACE:
            cv2.imwrite(str(path), cv2.copyMakeBorder(img, 0, 0, 64, 64, cv2.BORDER_CONSTANT))
        else:
            cv2.imwrite(str(path), np.ascontiguousarray(variants[k % 4]))
        paths.append(path)
    return paths


def test_a_labelling_job_ends_with_exactly_that_in_every_format(
    make_studio, topology, qtbot, tmp_path
):
    paths = _make_folder(tmp_path)
    folder = paths[0].parent
    summary = run_annotate([folder], FalsePositiveOnWidePhotos(topology), "labelme")
    assert summary.annotated == 20 and summary.exit_code == 0
    assert all(not scan_annotation(p).reviewed for p in paths)  # pre-annotation: unreviewed
    before = [read_annotation_record(annotation_path(p), p.name) for p in paths]
    assert len(before[FALSE_FACE].faces) == 2

    window = make_studio([folder], predictor=lambda: FalsePositiveOnWidePhotos(topology))
    for fmt in ("coco", "csv", "pts"):  # File > Save formats for this folder
        window.format_actions[fmt].trigger()
    assert window.review_count.text() == "reviewed 0 of 20"

    moved = None
    for k, path in enumerate(paths):  # the queue, in order
        qtbot.waitUntil(
            lambda p=path: (
                window.doc is not None
                and window.doc.path == p
                and window.doc.prediction is not None
            ),
            timeout=10000,
        )
        session = window.doc.session
        if k == BROW:  # the right brow (17-21), 10 px up and 1 px right, with the keyboard
            qtbot.keyClick(window, Key.Key_2)
            qtbot.keyClick(window, Key.Key_2)
            window.image_view.setFocus()
            qtbot.keyClick(window.image_view, Key.Key_Up, SHIFT)
            qtbot.keyClick(window.image_view, Key.Key_Right)
            moved = session.faces[0].landmarks.copy()
        if k == FLAGGED:
            qtbot.keyClick(window, Key.Key_3, ALT)  # "occluded"
            window.set_note("helmet visor")
        if k == FALSE_FACE:
            click(window, session.faces[1].landmarks[30])  # a point of the false face
            assert session.selected == 1
            qtbot.keyClick(window, Key.Key_A, CTRL)
            qtbot.keyClick(window, Key.Key_Delete)
            assert len(session.faces) == 1
        qtbot.keyClick(window, Key.Key_Return, CTRL)  # reviewed, saved, the next unreviewed
        assert window.review_count.text().startswith(f"reviewed {k + 1} of 20 (last: {path.name}")
    assert "no other unreviewed image" in window.status.currentMessage()

    right_brow = list(range(17, 22))
    expected_brow = before[BROW].faces[0].landmarks.copy()
    expected_brow[right_brow] += (1.0, -10.0)
    assert np.allclose(moved, expected_brow, atol=1e-6)
    for k, path in enumerate(paths):
        for fmt in FORMATS:
            record = read_annotation_record(find_annotation(path, (fmt,)), path.name)
            where = f"{path.name} {fmt}"
            assert record.review.reviewed, where
            assert record.review.flags == (("occluded",) if k == FLAGGED else ()), where
            assert record.review.note == ("helmet visor" if k == FLAGGED else ""), where
            assert len(record.faces) == 1, where  # the false face is gone everywhere
            face, old = record.faces[0], before[k].faces[0]
            want = expected_brow if k == BROW else old.landmarks
            assert np.allclose(face.landmarks, want, atol=2e-3), where
            edited = np.zeros(68, bool)
            if k == BROW:
                edited[right_brow] = True
            assert np.array_equal(face.edited, edited), where
            assert face.definition == "3d" and not face.drawn_by_person, where
            assert np.array_equal(face.visible, old.visible), where
    assert sorted(p.name for p in folder.glob("img07*")) == [
        "img07.coco.json",
        "img07.csv",
        "img07.jpg",
        "img07.json",
        "img07.pts",
        "img07.pts.json",
    ]

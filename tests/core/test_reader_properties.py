"""Property tests (hypothesis): the boxes reader and every annotation reader, on random and
adversarial files, either return well-formed finite data or raise their one error type."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtface.core.commands.predict import BoxesFileError, read_boxes
from mtface.core.formats.annotations import read_annotation
from mtface.core.formats.pts import AnnotationFormatError

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 0.0, -0.0, 1e6, 1e-320]),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    st.one_of(numbers, st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _dump(value: object) -> str:
    return json.dumps(value, allow_nan=True)


def _check_faces(faces: list) -> None:
    assert faces
    for face in faces:
        assert len(face.landmarks) > 0 and np.isfinite(face.landmarks).all()
        assert face.visible.shape == (len(face.landmarks),)


# --- boxes ------------------------------------------------------------------------------------

box = st.lists(numbers, min_size=0, max_size=6)
boxes_json = st.one_of(
    json_values,
    st.dictionaries(
        st.text(max_size=12), st.one_of(box, st.lists(box, max_size=3), json_values), max_size=4
    ),
)


def _check_boxes(table: dict) -> None:
    for name, faces in table.items():
        assert isinstance(name, str) and name.strip()
        for b in faces:
            values = b.as_tuple()
            assert all(math.isfinite(v) for v in values)
            assert b.x1 > b.x0 and b.y1 > b.y0


@SETTINGS
@given(boxes_json)
def test_boxes_json_reader_returns_finite_boxes_or_a_clear_error(tmp_path, value):
    path = tmp_path / "b.json"
    path.write_text(_dump(value))
    try:
        _check_boxes(read_boxes(path))
    except BoxesFileError as exc:
        assert str(path) in str(exc)


csv_cell = st.one_of(st.text(max_size=8), numbers.map(str))


@SETTINGS
@given(st.lists(st.lists(csv_cell, max_size=7), max_size=6), st.binary(max_size=40))
def test_boxes_csv_reader_on_random_rows_and_bytes(tmp_path, rows, junk):
    path = tmp_path / "b.csv"
    text = "\n".join(",".join(r) for r in rows)
    for data in (text.encode("utf-8", "surrogatepass"), junk, text.encode() + junk):
        path.write_bytes(data)
        try:
            _check_boxes(read_boxes(path))
        except BoxesFileError as exc:
            assert str(path) in str(exc)


# --- annotations -------------------------------------------------------------------------------

point_shape = st.fixed_dictionaries(
    {
        "label": st.one_of(
            st.integers(-5, 80).map(str), st.sampled_from(["99999999", "x", ""]), numbers
        ),
        "points": st.one_of(st.lists(st.lists(numbers, max_size=3), max_size=2), numbers),
        "shape_type": st.sampled_from(["point", "polygon", 3]),
        "group_id": st.one_of(st.none(), st.integers(-2, 3), numbers),
        "flags": st.one_of(
            st.none(), st.dictionaries(st.sampled_from(["visible", "edited"]), numbers)
        ),
    }
)
labelme = st.fixed_dictionaries(
    {
        "shapes": st.one_of(st.lists(st.one_of(point_shape, json_values), max_size=8), json_values),
        "imagePath": st.one_of(st.just("a.jpg"), st.text(max_size=8), numbers),
    }
)
coco = st.fixed_dictionaries(
    {
        "images": st.one_of(st.just([{"id": 1, "file_name": "a.jpg"}]), json_values),
        "annotations": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "image_id": st.one_of(st.just(1), numbers),
                        "keypoints": st.one_of(st.lists(numbers, max_size=12), json_values),
                        "mtface_edited": st.one_of(st.none(), json_values),
                    }
                ),
                max_size=3,
            ),
            json_values,
        ),
    }
)


@SETTINGS
@given(st.one_of(labelme, coco, json_values))
def test_json_annotation_readers(tmp_path, value):
    path = tmp_path / "a.json"
    path.write_text(_dump(value))
    for image_name in (None, "a.jpg"):
        try:
            _check_faces(read_annotation(path, image_name))
        except AnnotationFormatError as exc:
            assert str(path) in str(exc)


@SETTINGS
@given(
    st.lists(st.lists(csv_cell, min_size=0, max_size=8), max_size=6),
    st.booleans(),
    st.binary(max_size=30),
)
def test_csv_annotation_reader(tmp_path, rows, header, junk):
    path = tmp_path / "a.csv"
    lines = (["face,point,name,x,y,visible,edited"] if header else []) + [",".join(r) for r in rows]
    for data in ("\n".join(lines).encode("utf-8", "surrogatepass"), junk):
        path.write_bytes(data)
        try:
            _check_faces(read_annotation(path))
        except AnnotationFormatError as exc:
            assert str(path) in str(exc)


pts_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "version: 1",
                "{",
                "}",
                "n_points: 2",
                "n_points: 99999999999",
                "n_points: -1",
                "n_points: x",
            ]
        ),
        st.tuples(numbers, numbers).map(lambda t: f"{t[0]} {t[1]}"),
        st.text(max_size=10),
    ),
    max_size=10,
)


@SETTINGS
@given(pts_lines, st.binary(max_size=30))
def test_pts_reader(tmp_path, lines, junk):
    path = tmp_path / "a.pts"
    for data in ("\n".join(lines).encode("utf-8", "surrogatepass"), junk):
        path.write_bytes(data)
        try:
            _check_faces(read_annotation(path))
        except AnnotationFormatError as exc:
            assert str(path) in str(exc)

"""Annotation and export formats: round trips, conventions, malformed files, atomic writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mtface.core.formats import atomic
from mtface.core.formats.atomic import SaveError, atomic_write_text
from mtface.core.formats.mesh import mesh_bytes, write_mesh
from mtface.core.formats.pts import AnnotationFormatError, format_pts, read_pts, write_pts

coords = arrays(np.float64, (68, 2), elements=st.floats(-500, 5000, allow_nan=False))


@settings(max_examples=50, deadline=None)
@given(coords)
def test_pts_round_trip(tmp_path_factory, points):
    path = tmp_path_factory.mktemp("pts") / "a.pts"
    write_pts(path, points)
    assert np.allclose(read_pts(path), points, atol=1e-3)


def test_pts_is_one_based_on_disk():
    text = format_pts(np.array([[0.0, 0.0], [9.5, 19.25]]))
    assert "1.000 1.000" in text and "10.500 20.250" in text
    assert text.startswith("version: 1\nn_points: 2\n{")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "version: 1\nn_points: 2\n{\n1 2\n}\n",
        "version: 1\nn_points: 1\n{\n1 x\n}\n",
        "version: 1\nn_points: 1\n1 2\n",
        "version: 1\nn_points: 1\n{\nnan 2\n}\n",
    ],
)
def test_malformed_pts_is_reported(tmp_path, text):
    path = tmp_path / "bad.pts"
    path.write_text(text)
    with pytest.raises(AnnotationFormatError, match="bad.pts"):
        read_pts(path)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(SaveError, match="No space left"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temp file left


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_gives_save_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SaveError, match="cannot write"):
            atomic_write_text(folder / "a.txt", "x")
    finally:
        folder.chmod(0o700)


def test_mesh_obj_and_ply(tmp_path, topology):
    import trimesh

    obj = mesh_bytes(topology.vertices, topology.triangles, "obj", topology.uv).decode()
    assert obj.count("\nv ") == 468 and obj.count("\nvt ") == 468 and obj.count("\nf ") == 898
    for suffix in ("obj", "ply"):
        path = write_mesh(tmp_path / f"m.{suffix}", topology.vertices, topology.triangles)
        mesh = trimesh.load(path, process=False, force="mesh")
        assert mesh.vertices.shape == (468, 3)
        assert np.allclose(mesh.vertices, topology.vertices, atol=1e-3)
        assert np.array_equal(mesh.faces, topology.triangles)
    with pytest.raises(ValueError):
        mesh_bytes(topology.vertices, topology.triangles, "stl")


def test_prediction_json_schema(topology):
    from mtface.core.formats.prediction_json import prediction_to_dict
    from mtface.core.types import Face, FaceBox, Pose, Prediction

    lm = np.zeros((68, 3), np.float32)
    face = Face(
        FaceBox(1, 2, 3, 4, 0.9),
        topology.vertices.astype(np.float32),
        lm,
        np.ones(68, bool),
        Pose(1.0, 45.0, -2.0),
    )
    payload = prediction_to_dict(Prediction([face], (10, 20)), "x.jpg", ["x_face0.obj"])
    text = json.dumps(payload)
    back = json.loads(text)
    assert back["schema"] == "mtface-prediction/1"
    f = back["faces"][0]
    assert f["box"] == [1, 2, 3, 4] and len(f["landmarks"]) == 68 and len(f["visible"]) == 68
    assert f["pose"] == {"pitch": 1.0, "yaw": 45.0, "roll": -2.0} and f["yaw_bin"] == "(30,60]"
    assert f["mesh"] == "x_face0.obj"


def test_writers_refuse_nan_and_infinity(tmp_path, topology):
    from mtface.core.formats.atomic import atomic_write_json

    bad = np.zeros((68, 2))
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        format_pts(bad)
    vertices = topology.vertices.copy()
    vertices[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        mesh_bytes(vertices, topology.triangles, "obj")
    with pytest.raises(ValueError, match="non-finite"):
        atomic_write_json(tmp_path / "a.json", {"x": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_atomic_csv_and_unique_temp_names(tmp_path, monkeypatch):
    from mtface.core.formats.atomic import atomic_write_csv

    path = atomic_write_csv(tmp_path / "e.csv", ["a", "b"], [[1, "x,y"]])
    assert path.read_text() == 'a,b\n1,"x,y"\n'
    names = []
    real_replace = atomic.os.replace
    monkeypatch.setattr(
        atomic.os, "replace", lambda a, b: (names.append(os.path.basename(a)), real_replace(a, b))
    )
    atomic_write_text(tmp_path / "t.txt", "1")
    atomic_write_text(tmp_path / "t.txt", "2")
    assert len(set(names)) == 2 and all(n.startswith(".t.txt.") for n in names)

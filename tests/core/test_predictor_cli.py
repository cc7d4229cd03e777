"""The predictor and ``mtface predict`` end to end, with bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mtface.cli.main import main
from mtface.core.commands.predict import BoxesFileError, read_boxes
from mtface.core.predictor import Predictor
from mtface.core.resources import resource_path
from mtface.core.types import FaceBox


@pytest.fixture(scope="module")
def predictor(tiny_weights):
    return Predictor.from_weights(tiny_weights)


def test_predict_returns_faces_in_image_coordinates(predictor, sample_image):
    pred = predictor.predict(sample_image)
    assert pred.image_size == (512, 512)
    assert len(pred.faces) == 1
    face = pred.faces[0]
    assert face.vertices.shape == (468, 3) and face.landmarks.shape == (68, 3)
    assert face.visible.shape == (68,) and face.visible.dtype == bool
    assert len(face.stages) == 2
    # the landmarks lie around the detected face
    cx, cy = face.landmarks[:, :2].mean(0)
    assert face.box.x0 - 50 < cx < face.box.x1 + 50 and face.box.y0 - 50 < cy < face.box.y1 + 50
    assert pred.timings.total_ms > 0


def test_caller_boxes_skip_the_detector_and_batch_all_faces(predictor, sample_image):
    boxes = [FaceBox(180, 80, 300, 220), FaceBox(10, 10, 100, 100)]
    pred = predictor.predict(sample_image, boxes)
    assert len(pred.faces) == 2 and pred.timings.detect_ms < 1.0
    assert pred.faces[1].box.x0 == 10


def test_no_face_gives_an_empty_prediction(predictor):
    assert predictor.predict(np.zeros((200, 200, 3), np.uint8)).faces == []


def test_flip_test_is_mirror_consistent(tiny_weights, sample_image):
    p = Predictor.from_weights(tiny_weights, flip_test=True)
    mirrored = np.ascontiguousarray(sample_image[:, ::-1])
    a = p.predict(sample_image).faces[0]
    b = p.predict(mirrored).faces[0]
    assert abs(a.pose.yaw + b.pose.yaw) < 3.0


def test_cli_predict_writes_json_pts_mesh_overlay(tmp_path, tiny_weights):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(resource_path("samples", "astronaut.jpg")),
            "--out",
            str(out),
            "--weights",
            str(tiny_weights),
            "--overlay",
        ]
    )
    assert code == 0
    payload = json.loads((out / "astronaut.json").read_text())
    assert payload["schema"] == "mtface-prediction/1" and len(payload["faces"]) == 1
    face = payload["faces"][0]
    assert (out / face["mesh"]).exists() and (out / "astronaut_face0.pts").exists()
    assert (out / "astronaut_overlay.png").stat().st_size > 1000
    assert set(face["pose"]) == {"pitch", "yaw", "roll"}


def test_cli_folder_skips_bad_files_and_goes_on(tmp_path, tiny_weights, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(resource_path("samples", "astronaut.jpg"), folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"")
    (folder / "c.png").write_bytes(b"not a png")
    code = main(
        ["predict", str(folder), "--out", str(tmp_path / "o"), "--weights", str(tiny_weights)]
    )
    err = capsys.readouterr().err
    assert code == 0 and "b.jpg" in err and "c.png" in err
    assert (tmp_path / "o" / "a.json").exists()


def test_cli_nothing_processed_exits_non_zero(tmp_path, tiny_weights):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"junk")
    assert (
        main(["predict", str(bad), "--out", str(tmp_path / "o"), "--weights", str(tiny_weights)])
        == 1
    )


def test_cli_missing_or_corrupt_weights(tmp_path, capsys):
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"junk")
    img = str(resource_path("samples", "astronaut.jpg"))
    assert main(["predict", img, "--out", str(tmp_path), "--weights", str(bad)]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert (
        main(["predict", img, "--out", str(tmp_path), "--weights", str(tmp_path / "none.pt")]) == 2
    )
    assert "not found" in capsys.readouterr().err


def test_boxes_files(tmp_path, tiny_weights):
    js = tmp_path / "b.json"
    js.write_text(json.dumps({"astronaut.jpg": [[180, 80, 300, 220]]}))
    assert read_boxes(js)["astronaut.jpg"][0].x1 == 300
    csv = tmp_path / "b.csv"
    csv.write_text("image,x0,y0,x1,y1\nastronaut.jpg,180,80,300,220\nastronaut.jpg,1,1,50,50\n")
    assert len(read_boxes(csv)["astronaut.jpg"]) == 2
    for text in ("[1,2]", '{"a.jpg": [[5, 5, 1, 1]]}'):
        js.write_text(text)
        with pytest.raises(BoxesFileError):
            read_boxes(js)
    out = tmp_path / "o"
    csv.write_text("astronaut.jpg,180,80,300,220\n")
    assert (
        main(
            [
                "predict",
                str(resource_path("samples", "astronaut.jpg")),
                "--out",
                str(out),
                "--weights",
                str(tiny_weights),
                "--boxes",
                str(csv),
            ]
        )
        == 0
    )
    payload = json.loads((out / "astronaut.json").read_text())
    assert payload["faces"][0]["box"] == [180, 80, 300, 220]


def test_benchmark_prints_the_table(capsys):
    from mtface.core.commands.benchmark import run_benchmark

    assert run_benchmark(repeats=2, threads=[1]) == 0
    out = capsys.readouterr().out
    for row in ("detector", "stage 1", "stage 2", "cascade", "predict", "peak memory", "32.00"):
        assert row in out


def test_cli_annotate_writes_labelme_and_keeps_human_work(tmp_path, tiny_weights):
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(resource_path("samples", "astronaut.jpg"), folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"")
    args = ["annotate", str(folder), "--weights", str(tiny_weights)]
    assert main(args) == 0
    data = json.loads((folder / "a.json").read_text())
    assert len(data["shapes"]) == 68 and data["imagePath"] == "a.jpg"
    (folder / "a.json").write_text("human work")
    assert main(args) == 0  # nothing new: the existing file is kept (b.jpg: skipped)
    assert (folder / "a.json").read_text() == "human work"
    assert main(args + ["--overwrite"]) == 0  # not an annotation: kept even so
    assert (folder / "a.json").read_text() == "human work"
    assert main(args + ["--overwrite", "--format", "csv"]) == 0
    assert (folder / "a.csv").read_text().startswith("face,point,name")

"""Issue 21's command-line defects (predict, annotate, evaluate --pts, import-annotations, data):
each test fails on the code before its fix. docs/bad_inputs.md lists them."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from mtface.cli.main import main
from mtface.core.commands.batch import OutputLock
from mtface.core.formats.annotations import write_annotation
from mtface.core.formats.pts import AnnotationFormatError, read_pts, write_pts
from mtface.core.imageio import load_image
from mtface.core.predictor import Predictor
from mtface.core.resources import resource_path

SAMPLE = resource_path("samples", "astronaut.jpg")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def points(sample_image):
    """The shipped model's 2d landmarks of the sample (68, 2): a plausible annotation."""
    return Predictor.from_weights(landmarks="2d").predict(sample_image).faces[0].landmarks_2d


# --- predict ------------------------------------------------------------------------------------


def test_box_entirely_outside_the_image_is_skipped(tmp_path, capsys, tiny_weights):
    small = tmp_path / "small.jpg"
    Image.open(SAMPLE).resize((150, 225)).save(small)
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps({"small.jpg": [[5000, 5000, 5100, 5100]]}))
    args = ("predict", small, "--out", tmp_path / "o", "--weights", tiny_weights, "--boxes", boxes)
    code, _, err = _run(capsys, *args)
    assert code == 1 and "lie entirely outside the 150x225 image" in err
    assert not (tmp_path / "o" / "small.json").exists()
    # a box partly outside is fine; with one outside beside it, that one is left out
    boxes.write_text(json.dumps({"small.jpg": [[-20, -20, 100, 120], [5000, 5000, 5100, 5100]]}))
    code, _, err = _run(capsys, *args)
    assert code == 0 and "warning:" in err and "1 box(es)" in err
    assert len(json.loads((tmp_path / "o" / "small.json").read_text())["faces"]) == 1


def test_out_inside_the_input_never_reads_its_own_overlays(tmp_path, capsys, tiny_weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(SAMPLE, photos / name)
    for out in (photos / "out", photos):  # a subfolder of the input, the input itself
        for _ in range(2):
            code, _, err = _run(
                capsys, "predict", photos, "--out", out, "--overlay", "--weights", tiny_weights
            )
            assert code == 0 and "2 of 2 image(s)" in err
    assert not list(photos.rglob("*_overlay_overlay*"))
    from mtface.core.imageio import list_images  # data label, import-annotations, the studio

    assert len(list(photos.rglob("*_overlay.png"))) == 4 and len(list_images([photos])) == 2


def test_predict_never_replaces_an_annotation(tmp_path, capsys, tiny_weights, sample_image):
    ann = tmp_path / "ann"
    ann.mkdir()
    shutil.copy(SAMPLE, ann / "a.jpg")
    face = Predictor.from_weights(tiny_weights).predict(sample_image).faces[0]
    from mtface.core.annotation.face import FaceAnnotation

    write_annotation(
        ann / "a.json", "labelme", [FaceAnnotation.from_face(face)], "a.jpg", (512, 512)
    )
    before = (ann / "a.json").read_bytes()
    code, _, err = _run(capsys, "predict", ann, "--out", ann, "--weights", tiny_weights)
    assert code == 2 and "did not write" in _error_line(err) and "a.json" in err
    assert (ann / "a.json").read_bytes() == before and not (ann / "a_face0.pts").exists()
    # annotate's per-face .pts files (no prediction JSON beside them) are not predict's either
    pts = tmp_path / "pts"
    pts.mkdir()
    shutil.copy(SAMPLE, pts / "b.jpg")
    write_pts(pts / "b_face0.pts", face.landmarks_2d)
    code, _, err = _run(capsys, "predict", pts, "--out", pts, "--weights", tiny_weights)
    assert code == 2 and "b_face0.pts" in _error_line(err)


def test_a_rerun_replaces_all_of_an_images_outputs(tmp_path, capsys, tiny_weights):
    out = tmp_path / "o"
    args = ("predict", SAMPLE, "--out", out, "--weights", tiny_weights)
    assert _run(capsys, *args, "--overlay")[0] == 0
    assert (out / "astronaut_overlay.png").exists()
    assert _run(capsys, *args)[0] == 0
    assert not (out / "astronaut_overlay.png").exists()  # stale overlay removed
    assert not (out / ".mtface.lock").exists()


def test_a_second_run_into_a_locked_folder_stops(tmp_path, capsys, tiny_weights):
    out = tmp_path / "o"
    with OutputLock(out):
        code, _, err = _run(capsys, "predict", SAMPLE, "--out", out, "--weights", tiny_weights)
        assert code == 1 and "another mtface run is writing into" in _error_line(err)
        assert not (out / "astronaut.json").exists()
        # shards of one plan share a folder; a plain run and a shard do not
    with OutputLock(out, (1, 2)):
        with OutputLock(out, (2, 2)):
            with pytest.raises(OSError, match="another mtface run"):
                OutputLock(out).__enter__()


def test_folder_scans_read_gif_first_frame(tmp_path, capsys, tiny_weights):
    frames = [Image.open(SAMPLE).convert("RGB"), Image.new("RGB", (512, 512), (0, 0, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    image = load_image(tmp_path / "anim.gif")
    assert image.shape == (512, 512, 3) and image.mean() > 20  # the first frame, not black
    code, _, err = _run(
        capsys, "predict", tmp_path, "--out", tmp_path / "o", "--weights", tiny_weights
    )
    assert code == 0 and "1 of 1 image(s)" in err and (tmp_path / "o" / "anim.json").exists()


def test_a_self_symlink_is_a_clear_error(tmp_path, capsys, tiny_weights):
    loop = tmp_path / "loop.jpg"
    os.symlink(loop.name, loop)
    code, _, err = _run(capsys, "predict", loop, "--out", tmp_path / "o", "--weights", tiny_weights)
    assert code == 2 and "points to itself" in _error_line(err)


def test_weights_folder_says_it_is_a_folder(tmp_path, capsys):
    code, _, err = _run(capsys, "predict", SAMPLE, "--out", tmp_path / "o", "--weights", tmp_path)
    assert code == 2 and "is a folder" in _error_line(err)


# --- output folders and option types (one shared check) ----------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["annotate", "IMG"],
        ["predict", "IMG"],
        ["evaluate", "--pts", "DIR"],
        ["data", "import-annotations", "--images", "DIR", "--licence", "x"],
        ["data", "synthesize", "--labels", "DIR"],
    ],
    ids=["annotate", "predict", "evaluate", "import-annotations", "synthesize"],
)
def test_out_that_is_a_file_or_empty_is_the_same_exit_2(tmp_path, capsys, command):
    target = tmp_path / "taken"
    target.write_text("mine")
    command = [{"IMG": str(SAMPLE), "DIR": str(tmp_path)}.get(a, a) for a in command]
    code, _, err = _run(capsys, *command, "--out", target)
    assert code == 2 and "is a file, not a folder" in _error_line(err)
    assert target.read_text() == "mine"
    code, _, err = _run(capsys, *command, "--out", "")
    assert code == 2 and "--out: is empty" in _error_line(err)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--variants", "0", "must be at least 1, not 0"),
        ("--variants", "-3", "must be at least 1, not -3"),
        ("--val-fraction", "-0.5", "must be a share from 0 to 1, not -0.5"),
    ],
)
def test_synthesize_rejects_bad_counts_and_fractions(tmp_path, capsys, option, value, message):
    args = ("data", "synthesize", "--labels", tmp_path, "--out", tmp_path / "s", option, value)
    code, _, err = _run(capsys, *args)
    assert code == 2 and message in _error_line(err)
    assert not (tmp_path / "s").exists()


def test_workers_and_shard_are_checked(tmp_path, capsys):
    for option, value in (("--workers", "0"), ("--shard", "3/2"), ("--shard", "x")):
        code, _, err = _run(capsys, "predict", SAMPLE, "--out", tmp_path / "o", option, value)
        assert code == 2 and _error_line(err).startswith(f"error: argument {option}")


# --- annotate -----------------------------------------------------------------------------------


def test_annotate_with_everything_present_exits_0(tmp_path, capsys, tiny_weights):
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(SAMPLE, tmp_path / name)
    args = ("annotate", tmp_path, "--weights", tiny_weights)
    assert _run(capsys, *args)[0] == 0
    code, _, err = _run(capsys, *args)
    assert code == 0 and "all 2 image(s) already annotated" in err


def test_annotate_overwrite_keeps_a_persons_corrections_and_predictions(
    tmp_path, capsys, tiny_weights
):
    shutil.copy(SAMPLE, tmp_path / "a.jpg")
    args = ("annotate", tmp_path, "--weights", tiny_weights, "--overwrite")
    assert _run(capsys, *args)[0] == 0
    data = json.loads((tmp_path / "a.json").read_text())
    data["shapes"][0]["flags"]["edited"] = True  # a person moved a point in the studio
    (tmp_path / "a.json").write_text(json.dumps(data))
    before = (tmp_path / "a.json").read_text()
    code, _, err = _run(capsys, *args)
    assert code == 0 and "holds a person's corrections" in err
    assert (tmp_path / "a.json").read_text() == before
    # a prediction JSON of `mtface predict` in the folder is not an annotation: kept too
    (tmp_path / "a.json").unlink()
    assert (
        _run(capsys, "predict", tmp_path, "--out", tmp_path / "p", "--weights", tiny_weights)[0]
        == 0
    )
    shutil.copy(tmp_path / "p" / "a.json", tmp_path / "a.json")
    code, _, err = _run(capsys, *args)
    assert code == 0 and "not an annotation mtface can read" in err
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "p" / "a.json").read_bytes()


# --- multi-face .pts, bad .pts, subsets --------------------------------------------------------


@pytest.fixture()
def pts_folder(tmp_path, points):
    """x.jpg with two faces as annotate writes them (x_face0.pts, x_face1.pts, no sidecar),
    y.jpg with y.pts: three faces."""
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in ("x", "y"):
        shutil.copy(SAMPLE, folder / f"{name}.jpg")
    write_pts(folder / "x_face0.pts", points)
    write_pts(folder / "x_face1.pts", points + 2.0)
    write_pts(folder / "y.pts", points)
    return folder


def test_multi_face_pts_are_read_everywhere(tmp_path, capsys, tiny_weights, pts_folder):
    from mtface.core.data.human_labels import find_annotated_images, read_annotated_faces

    items = find_annotated_images([pts_folder])
    assert sum(len(read_annotated_faces(i)) for i in items) == 3
    code, out, _ = _run(capsys, "evaluate", "--pts", pts_folder, "--weights", tiny_weights)
    assert code == 0 and "3 faces" in out
    code, _, err = _run(
        capsys,
        "data",
        "import-annotations",
        "--images",
        pts_folder,
        "--out",
        tmp_path / "labels",
        "--licence",
        "x",
        "--weights",
        tiny_weights,
        "--val-fraction",
        "0.5",
    )
    assert code == 0 and "imported 3 faces of 2 images" in err
    listed = [
        line
        for part in ("train", "val")
        for line in (tmp_path / "labels" / f"{part}.txt").read_text().split()
    ]
    assert sorted(listed) == ["x_face0.pts", "x_face1.pts", "y.pts"]


def test_import_needs_no_mediapipe_and_counts_model_meshes(
    tmp_path, capsys, tiny_weights, pts_folder
):
    args = ("data", "import-annotations", "--images", pts_folder, "--licence", "x")
    code, _, err = _run(capsys, *args, "--out", tmp_path / "l", "--weights", tiny_weights)
    assert code == 0 and "3 meshes from the model" in err
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        code, _, err = _run(capsys, *args, "--out", tmp_path / "t", "--mesh-from", "teacher")
        assert code == 2 and "--mesh-from model" in _error_line(err)


def test_pts_messages_say_what_is_wrong(tmp_path, points):
    bad = tmp_path / "nan.pts"
    write_pts(bad, points)
    bad.write_text(bad.read_text().replace(bad.read_text().split("\n")[5], "nan 3.0"))
    with pytest.raises(AnnotationFormatError, match="point 3 is NaN or infinite"):
        read_pts(bad)
    short = tmp_path / "short.pts"
    write_pts(short, points)
    short.write_text(short.read_text().replace("n_points: 68", "n_points: 69"))
    with pytest.raises(AnnotationFormatError, match="header says 69 points, the file holds 68"):
        read_pts(short)


def test_bad_pts_files_are_skipped_with_a_warning(
    tmp_path, capsys, tiny_weights, pts_folder, points
):
    shutil.copy(SAMPLE, pts_folder / "nan.jpg")
    write_pts(pts_folder / "nan.pts", points)
    text = (pts_folder / "nan.pts").read_text().split("\n")
    text[3] = "nan nan"
    (pts_folder / "nan.pts").write_text("\n".join(text))
    shutil.copy(SAMPLE, pts_folder / "short.jpg")
    write_pts(pts_folder / "short.pts", points[:67])
    code, out, err = _run(capsys, "evaluate", "--pts", pts_folder, "--weights", tiny_weights)
    assert code == 0 and "3 faces" in out
    assert "skipped: " in err and "nan.pts: point 1 is NaN or infinite" in err
    assert "short.pts: 67 points, not 68" in err
    labels = tmp_path / "labels"
    code, _, err = _run(
        capsys,
        "data",
        "import-annotations",
        "--images",
        pts_folder,
        "--out",
        labels,
        "--licence",
        "x",
        "--weights",
        tiny_weights,
        "--val-fraction",
        "1",
    )
    assert code == 0 and "short.pts: 67 points, not 68" in err
    val = (labels / "val.txt").read_text().split()
    assert "short.pts" not in val and "nan.pts" not in val and len(val) == 3
    (tmp_path / "only_short.txt").write_text("short.pts\n")
    code, _, err = _run(
        capsys,
        "evaluate",
        "--pts",
        pts_folder,
        "--subset",
        tmp_path / "only_short.txt",
        "--weights",
        tiny_weights,
    )
    assert code == 2 and "has a usable 68-point face" in _error_line(err)


def test_subset_names_not_found_are_reported(tmp_path, capsys, tiny_weights, pts_folder):
    subset = tmp_path / "val.txt"
    subset.write_text("y.pts\nmissing1.pts\nmissing2.pts\n")
    args = ("evaluate", "--pts", pts_folder, "--weights", tiny_weights, "--subset", subset)
    code, out, err = _run(capsys, *args)
    assert code == 0 and "1 faces" in out
    assert "2 of the 3 file(s) the subset list names were not found" in err
    assert "missing1.pts" in err
    subset.write_text("missing1.pts\n")
    code, _, err = _run(capsys, *args)
    assert code == 2 and "none of the 1 file(s) the subset list names" in _error_line(err)


def test_evaluate_names_the_weights(tmp_path, capsys, tiny_weights, pts_folder):
    from mtface.core.weights import sha256_of

    code, out, _ = _run(capsys, "evaluate", "--pts", pts_folder, "--weights", tiny_weights)
    assert code == 0 and f"weights: {tiny_weights} (sha256 {sha256_of(tiny_weights)[:12]})" in out


def test_read_annotated_faces_uses_the_sidecar(tmp_path, points, tiny_weights, sample_image):
    """``annotate --format pts`` with two faces: the sidecar lists both files."""
    from mtface.core.annotation.face import FaceAnnotation
    from mtface.core.data.human_labels import find_annotated_images, read_annotated_faces

    shutil.copy(SAMPLE, tmp_path / "z.jpg")
    faces = [FaceAnnotation.from_points(points), FaceAnnotation.from_points(points + 1.0)]
    write_annotation(tmp_path / "z.pts", "pts", faces, "z.jpg", (512, 512))
    (item,) = find_annotated_images([tmp_path])
    read = read_annotated_faces(item)
    assert len(read) == 2
    np.testing.assert_allclose(read[1].landmarks, points + 1.0, atol=1e-3)

"""Benchmark metrics (NME, bins, AFLW 21 points, pose MAE, CED) and `mtface evaluate`."""

from __future__ import annotations

import numpy as np
import pytest

from mtface.cli.main import main
from mtface.core.evaluation import (
    AFLW_SIDE_PER_NORMALISER,
    aflw21_nme,
    aflw21_visibility,
    auroc,
    binned,
    binned_visibility,
    ced_curve,
    nme_box,
    pose_mae,
    visibility_agreement,
)
from mtface.core.topology import AFLW21_FROM_68
from tests.conftest import shared_path


def test_nme_box_numerical_value():
    gt = np.array([[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]])
    pred = gt + np.array([3.0, 4.0])  # 5 px from every point; box sqrt(10 * 10) = 10
    assert nme_box(pred, gt)[0] == pytest.approx(50.0)
    mask = np.array([[True, True, True, False]])
    pred_masked = pred.copy()
    pred_masked[0, 3] += 100.0  # masked out: no effect
    assert nme_box(pred_masked, gt, mask)[0] == pytest.approx(50.0)


def test_binned_is_the_mean_of_bin_means():
    errors = np.array([1.0, 3.0, 10.0, 20.0])
    yaws = np.array([5.0, -29.0, 45.0, -80.0])
    report = binned(errors, yaws)
    assert report.bins == {"[0,30]": 2.0, "(30,60]": 10.0, "(60,90]": 20.0}
    assert report.counts == {"[0,30]": 2, "(30,60]": 1, "(60,90]": 1}
    assert report.mean == pytest.approx(32.0 / 3)


def test_aflw21_scores_visible_points_with_the_crop_normaliser():
    pred68 = np.zeros((1, 68, 2))
    gt21 = np.zeros((1, 21, 2))
    gt21[0, :, 0] = 2.0  # every visible point is 2 px off
    gt21[0, 5] = np.nan  # invisible: not scored
    side = 120.0
    expected = 2.0 / (side / AFLW_SIDE_PER_NORMALISER) * 100
    assert aflw21_nme(pred68, gt21, side)[0] == pytest.approx(expected)
    assert len(AFLW21_FROM_68) == 21


def test_pose_mae_drops_faces_beyond_99_degrees():
    gt = np.array([[10.0, 20.0, 30.0], [0.0, 120.0, 0.0]])
    pred = np.array([[12.0, 17.0, 30.0], [50.0, 50.0, 50.0]])
    mae = pose_mae(pred, gt)
    assert mae["count"] == 1
    assert (mae["pitch"], mae["yaw"], mae["roll"]) == (2.0, 3.0, 0.0)
    assert mae["mean"] == pytest.approx(5.0 / 3)


def test_ced_curve_is_monotone_and_ends_at_the_share_under_the_limit():
    thresholds, fraction = ced_curve(np.array([1.0, 2.0, 50.0]), max_error=10.0)
    assert thresholds[0] == 0 and thresholds[-1] == 10.0
    assert (np.diff(fraction) >= 0).all()
    assert fraction[-1] == pytest.approx(2 / 3)


@pytest.mark.shared
def test_cli_evaluate_writes_tables_csv_and_ced(tmp_path, tiny_weights, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--aflw2000",
            str(shared_path("aflw2000_3d_subset", "images")),
            "--aflw2000-protocol",
            str(shared_path("aflw2000_3d_subset", "protocol")),
            "--aflw-val",
            str(shared_path("aflw_val")),
            "--weights",
            str(tiny_weights),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "the method (paper)" in text and "3.24" in text and "4.24" in text
    assert "reannotated, yaw new (1306/462/232)" in text  # both label sets, both yaw files
    assert "n=10/4/2" in text and "n=667/667/667" in text
    for line in (
        "faces on the person (misses)",
        "gross failures (NME > 20 %)",
        "confidence AUROC, NME > 10 % (n)",
        "points hidden %, reported",
        "points hidden %, cascade normal",
        "visibility vs AFLW's human labels",
        "cascade normal (before)",
    ):
        assert line in text
    for name in (
        "aflw2000_gt_errors.csv",
        "aflw2000_gt_ced.png",
        "aflw_val_errors.csv",
        "aflw_val_ced.png",
    ):
        assert (out / name).stat().st_size > 0
    rows = (out / "aflw2000_gt_errors.csv").read_text().splitlines()
    assert rows[0] == "image,nme_percent,yaw_deg" and len(rows) == 17


def test_cli_evaluate_errors(tmp_path, capsys):
    assert main(["evaluate"]) == 2
    assert "give --aflw2000" in capsys.readouterr().err
    assert main(["evaluate", "--aflw2000", str(tmp_path)]) == 2
    assert "no AFLW2000-3D image" in capsys.readouterr().err
    (tmp_path / "image00001.jpg").write_bytes(b"x")
    (tmp_path / "image00001.mat").write_bytes(b"MATLAB")  # truncated
    assert main(["evaluate", "--aflw2000", str(tmp_path)]) == 2
    assert "image00001.mat: not a readable .mat file" in capsys.readouterr().err


@pytest.mark.shared
def test_shipped_model_keeps_its_documented_accuracy_on_the_16_images():
    """The model card's AFLW2000-3D subset figure (ground-truth crops) still holds: a guard
    against preprocessing regressions (crop rule, colour order, coordinate conventions)."""
    from mtface.core.commands.evaluate import evaluate_aflw2000
    from mtface.core.predictor import Predictor

    result = evaluate_aflw2000(
        Predictor.from_weights(), shared_path("aflw2000_3d_subset", "images"), None, "gt", None
    )
    report = result["original labels, |yaw| from .mat"]
    assert report["mean"] < 6.0  # card: 5.10 (an untrained cascade: 24.8)
    assert result["pose_mae"]["mean"] < 6.0  # card: 4.10 (untrained: 17.0)


@pytest.mark.shared
def test_predict_with_landmark_boxes_reproduces_evaluate(tmp_path):
    """`mtface predict --boxes B --box-kind landmarks --no-refine` with B the ground-truth
    landmark boxes gives exactly the landmarks that `mtface evaluate` scores."""
    import json
    import shutil

    from mtface.core.commands.evaluate import _predict_aflw2000
    from mtface.core.evaluation import load_aflw2000_folder
    from mtface.core.geometry import box_of_points
    from mtface.core.predictor import Predictor

    samples = load_aflw2000_folder(shared_path("aflw2000_3d_subset", "images"))[:2]
    folder = tmp_path / "images"
    folder.mkdir()
    boxes = {}
    for s in samples:
        shutil.copy(s.image_path, folder / s.image_path.name)
        boxes[s.image_path.name] = [list(box_of_points(s.gt68))]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    assert (
        main(
            [
                "predict",
                str(folder),
                "--out",
                str(tmp_path / "out"),
                "--boxes",
                str(tmp_path / "boxes.json"),
                "--box-kind",
                "landmarks",
                "--no-refine",
            ]
        )
        == 0
    )
    expected = _predict_aflw2000(Predictor.from_weights(), samples, "gt").landmarks
    for s, pred in zip(samples, expected):
        payload = json.loads((tmp_path / "out" / f"{s.image_path.stem}.json").read_text())
        landmarks = np.array(payload["faces"][0]["landmarks"])[:, :2]
        np.testing.assert_allclose(landmarks, pred, atol=2e-3)  # JSON keeps 3 decimals


def test_interocular_and_region_errors_numerical_values():
    from mtface.core.evaluation import REGIONS, nme_interocular, region_errors

    gt = np.zeros((1, 68, 2))
    gt[0, 36], gt[0, 45] = (0.0, 0.0), (50.0, 0.0)  # inter-ocular distance 50 px
    pred = gt.copy()
    pred[0, 17:27] += np.array([0.0, 5.0])  # the 10 brow points 5 px off
    assert nme_interocular(pred, gt)[0] == pytest.approx(100 * 10 * 5 / 68 / 50)
    regions = region_errors(pred, gt, np.array([50.0]))
    assert regions["brows"] == pytest.approx(10.0)
    assert all(regions[name] == 0.0 for name in REGIONS if name != "brows")


def test_visibility_agreement_numerical_values():
    labelled = np.array([[True, True, True, False], [True, False, False, False]])
    predicted = np.array([[True, False, True, False], [True, True, False, False]])
    a = visibility_agreement(predicted, labelled)
    assert a.visible_recall == pytest.approx(3 / 4) and a.hidden_recall == pytest.approx(3 / 4)
    assert a.balanced_accuracy == pytest.approx(0.75) and (a.points, a.hidden) == (8, 4)
    only_visible = visibility_agreement(predicted[:, :2], labelled[:, :2] | True)
    assert np.isnan(only_visible.hidden_recall) and np.isnan(only_visible.balanced_accuracy)
    per_bin = binned_visibility(predicted, labelled, np.array([10.0, -75.0]))
    assert set(per_bin) == {"[0,30]", "(60,90]"}
    assert per_bin["(60,90]"].hidden_recall == pytest.approx(2 / 3)


def test_auroc_numerical_values():
    positives = np.array([False, False, True, True])
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), positives) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), positives) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.5, 0.5]), positives) == 0.5
    assert auroc(np.array([0.1, 0.6, 0.5, 0.9]), positives) == pytest.approx(0.75)
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([False, False])))


def test_aflw21_visibility_takes_the_majority_of_a_group():
    visible = np.ones((1, 68), bool)
    visible[0, [36, 37, 38]] = False  # half of the right eye's six points, and its outer corner
    out = aflw21_visibility(visible)
    assert out.shape == (1, 21)
    assert out[0, 7] and not out[0, 6]  # eye centre (3 of 6 seen) visible; corner 36 hidden
    visible[0, 39] = False
    assert not aflw21_visibility(visible)[0, 7]


def test_face_on_person_rejects_a_face_on_someone_else():
    from mtface.core.commands.evaluate import face_on_person
    from mtface.core.types import Face, FaceBox, Pose

    gt = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]])

    def face_at(x: float) -> Face:
        lm = np.c_[gt + [x, 0.0], np.zeros(4)].astype(np.float32)
        return Face(FaceBox(0, 0, 1, 1), np.zeros((4, 3)), lm, np.ones(4, bool), Pose(0, 0, 0))

    near, far = face_at(30.0), face_at(300.0)
    assert face_on_person([far, near], gt) is near
    assert face_on_person([far], gt) is None and face_on_person([], gt) is None


@pytest.mark.shared
def test_cli_evaluate_detector_path_reports_misses_and_visibility(tmp_path, tiny_weights, capsys):
    images = shared_path("aflw2000_3d_subset", "images")
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted(images.glob("*"))[:6]:  # three image + .mat pairs
        (folder / path.name).write_bytes(path.read_bytes())
    code = main(
        [
            "evaluate",
            "--aflw2000",
            str(folder),
            "--crop",
            "detector",
            "--weights",
            str(tiny_weights),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "detector crop" in text and "faces on the person (misses)" in text
    assert "|yaw|<=10:" in text

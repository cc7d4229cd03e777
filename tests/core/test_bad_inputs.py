"""One test per row of docs/bad_inputs.md: every bad input gives a one-line ``error:`` message
and a non-zero exit code, without a traceback (unless --debug), and changes nothing."""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil

import numpy as np
import pytest

from mtface.cli.main import main
from mtface.core.commands import predict as predict_cmd
from mtface.core.formats import atomic
from mtface.core.resources import resource_path

SAMPLE = resource_path("samples", "astronaut.jpg")


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- predict: boxes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"astronaut.jpg": [[0, 0, Infinity, 100]]}', "Infinity is not a number"),
        ('{"astronaut.jpg": [[0, 0, 1e308, 100]]}', "not a finite pixel coordinate"),
        ('{"astronaut.jpg": {"x0": 1}}', "expected a list of"),
        ("[[0, 0, 10, 10]]", "expected a JSON object"),
        ('{"astronaut.jpg": [[0, 0, "a", 10]]}', "could not convert"),
    ],
    ids=["infinity", "1e308", "object-of-wrong-shape", "list", "text"],
)
def test_boxes_json_rows(tmp_path, capsys, tiny_weights, content, message):
    boxes = tmp_path / "b.json"
    boxes.write_text(content)
    code, err = _predict_with_boxes(capsys, tmp_path, tiny_weights, str(boxes))
    assert code == 2 and message in _error_line(err)
    assert not (tmp_path / "o").exists()


def _predict_with_boxes(capsys, tmp_path, weights, boxes):
    """``mtface predict SAMPLE --boxes BOXES`` into tmp_path/o: (exit code, stderr)."""
    return _run(
        capsys,
        "predict",
        str(SAMPLE),
        "--out",
        str(tmp_path / "o"),
        "--weights",
        str(weights),
        "--boxes",
        str(boxes),
    )


def test_boxes_csv_with_nan(tmp_path, capsys, tiny_weights):
    boxes = tmp_path / "b.csv"
    boxes.write_text("astronaut.jpg,nan,0,10,10\n")
    code, err = _predict_with_boxes(capsys, tmp_path, tiny_weights, str(boxes))
    assert code == 2 and "not a finite pixel coordinate" in _error_line(err)


def test_boxes_from_a_device_is_not_read(tmp_path, capsys, tiny_weights):
    code, err = _predict_with_boxes(capsys, tmp_path, tiny_weights, "/dev/zero")
    assert code == 2 and "not a regular file" in _error_line(err)


def test_boxes_file_over_the_size_limit(tmp_path, capsys, tiny_weights, monkeypatch):
    monkeypatch.setattr(predict_cmd, "MAX_BOXES_BYTES", 1000)
    boxes = tmp_path / "b.csv"
    boxes.write_text("astronaut.jpg,1,1,50,50\n" * 100)
    code, err = _predict_with_boxes(capsys, tmp_path, tiny_weights, str(boxes))
    assert code == 2 and "larger than" in _error_line(err)


def test_predict_out_is_a_file(tmp_path, capsys, tiny_weights):
    out = tmp_path / "o"
    out.write_text("mine")
    code, err = _run(
        capsys, "predict", str(SAMPLE), "--out", str(out), "--weights", str(tiny_weights)
    )
    assert code == 2 and "is a file" in _error_line(err) and out.read_text() == "mine"


# --- weights and bundled files ------------------------------------------------------------------


def test_user_weights_with_bit_rot(tmp_path, capsys, tiny_weights):
    rotten = tmp_path / "rot.pt"
    data = bytearray(tiny_weights.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = (
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    )
    rotten.write_bytes(bytes(data))
    code, err = _run(
        capsys, "predict", str(SAMPLE), "--out", str(tmp_path / "o"), "--weights", str(rotten)
    )
    assert code == 2 and "corrupt" in _error_line(err)


def test_user_weights_without_checksum_that_predict_nan(tmp_path, capsys, tiny_weights):
    import torch

    payload = torch.load(tiny_weights, weights_only=True)
    del payload["checksum"]  # as written before checksums were embedded
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name][...] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(payload, bad)
    code, err = _run(
        capsys, "predict", str(SAMPLE), "--out", str(tmp_path / "o"), "--weights", str(bad)
    )
    assert code == 2 and "NaN" in _error_line(err)


@pytest.mark.parametrize(
    "name",
    ["topology/mediapipe_canonical.npz", "detector/blazeface_short.pt", "detector/yunet_crop.json"],
)
def test_corrupt_bundled_file(tmp_path, capsys, monkeypatch, tiny_weights, name):
    from mtface.core import weights

    copy = tmp_path / "resources"
    shutil.copytree(resource_path(), copy)
    target = copy / name
    target.write_bytes(target.read_bytes()[:-100])
    monkeypatch.setattr(weights, "resource_path", lambda *parts: copy.joinpath(*parts))
    code, err = _run(
        capsys, "predict", str(SAMPLE), "--out", str(tmp_path / "o"), "--weights", str(tiny_weights)
    )
    assert code == 2 and f"resources/{name} is corrupt" in _error_line(err)


# --- failures while writing, interruption, unexpected errors ------------------------------------


def _disk_full(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_predict_keeps_the_old_set(tmp_path, capsys, tiny_weights, monkeypatch):
    """The disk fills up at the second image's JSON: the run exits 1, and that image keeps its
    earlier outputs only (no new mesh beside the old JSON, no temporary file)."""
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(SAMPLE, tmp_path / name)
    out = tmp_path / "o"
    args = [
        "predict",
        str(tmp_path / "a.jpg"),
        str(tmp_path / "b.jpg"),
        "--out",
        str(out),
        "--weights",
        str(tiny_weights),
    ]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name.startswith("b")}
    real_fsync = atomic.os.fsync

    def full_at_b_json(fd):
        if "b.json" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full_at_b_json)
    code, err = _run(capsys, *args, "--mesh-format", "ply")
    assert code == 1 and "No space left on device" in _error_line(err)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name.startswith(("b", "."))}
    assert after == before


def test_disk_full_during_annotate(tmp_path, capsys, tiny_weights, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "a.jpg")
    monkeypatch.setattr(atomic.os, "fsync", _disk_full)
    code, err = _run(capsys, "annotate", str(folder), "--weights", str(tiny_weights))
    assert code == 1 and "No space left on device" in _error_line(err)
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg"]


def test_ctrl_c_gives_a_message_and_130(tmp_path, capsys, tiny_weights, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_cmd, "run_predict", interrupted)
    code, err = _run(
        capsys, "predict", str(SAMPLE), "--out", str(tmp_path / "o"), "--weights", str(tiny_weights)
    )
    assert code == 130 and err.strip().endswith("interrupted")


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    tmp_path, capsys, tiny_weights, monkeypatch
):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(predict_cmd, "run_predict", broken)
    args = ["predict", str(SAMPLE), "--out", str(tmp_path / "o"), "--weights", str(tiny_weights)]
    code, err = _run(capsys, *args)
    assert code == 1 and "unexpected ZeroDivisionError: boom" in _error_line(err)
    with pytest.raises(ZeroDivisionError):
        main(["--debug", *args])


# --- train ---------------------------------------------------------------------------------------


@pytest.fixture
def sample_set(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "meta.json").write_text("{}")
    return folder


@pytest.mark.parametrize(
    "config, message",
    [
        ('{"train_dir": ', "not valid JSON"),
        ("[1, 2]", "not a list"),
        ('{"train_dir": "SET", "epochz": 3}', "unknown key(s) 'epochz'"),
        ('{"train_dir": "SET", "epochs": "ten"}', "'epochs' must be int"),
        ('{"train_dir": "SET", "lr": NaN}', "NaN is not a number"),
        ('{"train_dir": "SET/missing"}', "does not exist"),
        ('{"epochs": 3}', "'train_dir' is required"),
        ('{"train_dir": ["SET", "SET"], "sample_weights": [1.0]}', "1 value(s) for 2"),
        ('{"train_dir": "SET", "augment": {"zoom": 1}}', "'augment': unknown key 'zoom'"),
        (
            '{"train_dir": "SET", "augment": {"scale_jitter": [1.2, 0.8]}}',
            "'scale_jitter' must be [low, high]",
        ),
        ('{"train_dir": "SET", "augment": {"flip": 2}}', "'flip' must be a number from 0 to 1"),
    ],
    ids=[
        "malformed",
        "list",
        "unknown-key",
        "wrong-type",
        "nan",
        "missing-train-dir",
        "no-train-dir",
        "sample-weights-length",
        "augment-unknown",
        "augment-range",
        "augment-probability",
    ],
)
def test_train_config_rows(tmp_path, capsys, sample_set, config, message):
    path = tmp_path / "c.json"
    path.write_text(config.replace("SET", str(sample_set)))
    out = tmp_path / "run"
    code, err = _run(capsys, "train", "--config", str(path), "--out-dir", str(out))
    assert code == 2 and message in _error_line(err)
    assert not out.exists()  # config.json is not written before the config is checked


def test_train_negative_epochs(tmp_path, capsys, sample_set):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train_dir": str(sample_set)}))
    code, err = _run(
        capsys, "train", "--config", str(path), "--epochs", "-2", "--out-dir", str(tmp_path / "run")
    )
    assert code == 2 and "'epochs' must be finite and at least 1" in _error_line(err)
    assert not (tmp_path / "run").exists()


def test_train_resume_from_a_truncated_checkpoint(
    tmp_path,
    capsys,
    synthetic_set,  # noqa: F811
    tiny_weights,
):
    root, _ = synthetic_set
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(tiny_weights.read_bytes()[:5000])
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "train_dir": str(root / "synth"),
                "out_dir": str(out),
                "epochs": 2,
                "stage1_epochs": 1,
                "batch_size": 4,
                "num_workers": 0,
            }
        )
    )
    code, err = _run(capsys, "train", "--config", str(path), "--resume")
    assert code == 2 and "truncated" in _error_line(err)


# --- evaluate, benchmark, data ------------------------------------------------------------------


def test_evaluate_out_is_a_file(tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.write_text("mine")
    code, err = _run(capsys, "evaluate", "--aflw2000", str(tmp_path), "--out", str(out))
    assert code == 2 and "is a file" in _error_line(err) and out.read_text() == "mine"


def test_evaluate_mat_without_pt3d_68(tmp_path, capsys, tiny_weights):
    import scipy.io

    shutil.copy(SAMPLE, tmp_path / "image00001.jpg")
    scipy.io.savemat(tmp_path / "image00001.mat", {"Pose_Para": np.zeros((1, 7))})
    code, err = _run(
        capsys, "evaluate", "--aflw2000", str(tmp_path), "--weights", str(tiny_weights)
    )
    assert code == 2 and "pt3d_68" in _error_line(err)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--repeats", "0"], "must be at least 1"),
        (["--image", "NONIMAGE"], "not an image file"),
    ],
    ids=["repeats-0", "non-image"],
)
def test_benchmark_rows(tmp_path, capsys, args, message):
    junk = tmp_path / "x.jpg"
    junk.write_text("not an image")
    code, err = _run(capsys, "benchmark", *[a.replace("NONIMAGE", str(junk)) for a in args])
    assert code == 2 and message in _error_line(err)


@pytest.mark.parametrize(
    "command, message",
    [
        (["preview", "--data", "MISSING", "--out", "OUT/g.png"], "not a training set"),
        (["preview", "--data", "EMPTY", "--out", "OUT/g.png"], "not a training set"),
        (["synthesize", "--labels", "MISSING", "--out", "OUT/s"], "not a label folder"),
        (["synthesize", "--labels", "EMPTY", "--out", "OUT/s"], "not a label folder"),
    ],
    ids=["preview-missing", "preview-empty", "synthesize-missing", "synthesize-empty"],
)
def test_data_rows(tmp_path, capsys, command, message):
    (tmp_path / "empty").mkdir()
    args = [
        a.replace("MISSING", str(tmp_path / "none"))
        .replace("EMPTY", str(tmp_path / "empty"))
        .replace("OUT", str(tmp_path / "out"))
        for a in command
    ]
    code, err = _run(capsys, "data", *args)
    assert code == 2 and message in _error_line(err)
    assert not (tmp_path / "out").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_import_3dmm_refuses_a_crafted_pickle(tmp_path, capsys, monkeypatch):
    bfm = tmp_path / "bfm"
    bfm.mkdir()
    with open(bfm / "Model_PAF.pkl", "wb") as handle:
        pickle.dump({"mu_filter": _Evil()}, handle)
    for name in ("u_base.txt", "w_shp_base.txt", "w_exp_base.txt"):
        (bfm / name).write_text("0\n")
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(SAMPLE, images / "a.jpg")
    (images / "a.mat").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    code, err = _run(
        capsys,
        "data",
        "import-3dmm",
        "--images",
        str(images),
        "--bfm",
        str(bfm),
        "--out",
        str(tmp_path / "set"),
    )
    assert code == 2 and "refusing to load" in _error_line(err)
    assert not (tmp_path / "PWNED").exists()


from tests.core.test_data import synthetic_set  # noqa: E402, F401 - fixture


def test_corrupt_refiner_beside_user_weights(tmp_path, capsys, tiny_weights):
    import shutil

    weights = tmp_path / "w.pt"
    shutil.copy(tiny_weights, weights)
    (tmp_path / "w.refine2d.npz").write_bytes(b"half a file")
    args = ("predict", str(SAMPLE), "--out", str(tmp_path / "o"), "--weights", str(weights))
    code, err = _run(capsys, *args, "--landmarks", "2d")
    assert code == 2
    assert "cannot read the 2D landmark refiner" in _error_line(err) and "w.refine2d.npz" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    code, _ = _run(capsys, *args)  # the 3d definition does not read it
    assert code == 0

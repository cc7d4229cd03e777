"""The studio shows which model it uses and can switch to another model file (gui/model_switch.py);
``--weights`` of ``mtface studio`` and ``mtface live``: a bad file is one error, exit 2."""

from __future__ import annotations

import pytest

from mtface.core.model_file import load_model, update_model
from mtface.core.predictor import Predictor
from mtface.core.resources import resource_path


@pytest.fixture
def other_model(tmp_path, tiny_weights):
    path = tmp_path / "other.pt"
    update_model(tiny_weights, path, meta={"name": "other"})
    return path


def test_the_studio_shows_the_model_it_uses(make_studio, other_model):
    from mtface.gui.app import preloaded_factory

    window = make_studio(predictor=preloaded_factory(other_model))
    identity = load_model(other_model).identity
    assert window.model_switch.label.text() == f"model: other ({identity.sha256[:12]})"
    assert window.model_identity == identity.to_dict()


def test_load_model_switches_and_a_bad_file_keeps_the_current_one(
    make_studio, qtbot, tmp_path, tiny_weights, other_model
):
    window = make_studio(predictor=lambda: Predictor.from_weights(tiny_weights))
    before = window.model_switch.label.text()
    assert before.startswith("model: tiny (")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(other_model.read_bytes()[:500])
    for bad, message in (
        (tmp_path, "is a folder, expected a model file (.pt)"),
        (corrupt, "corrupt, truncated"),
        (tmp_path / "missing.pt", "model file not found"),
    ):
        assert not window.model_switch.load(bad)
        assert message in window.dialogs[-1][1] and "current model is kept" in window.dialogs[-1][1]
        assert window.model_switch.label.text() == before
    other = Predictor.from_weights(other_model)
    calls = []
    predict = other.predict
    other.predict = lambda *a, **k: calls.append(1) or predict(*a, **k)
    window.model_switch.loader = lambda path: other
    assert window.model_switch.load(other_model)
    assert window.model_switch.label.text().startswith("model: other (")
    assert window.model_identity["name"] == "other"
    window.open_paths([resource_path("samples", "astronaut.jpg")])
    qtbot.waitUntil(lambda: bool(calls), timeout=10000)


def test_the_load_model_action_is_in_the_file_menu(make_studio):
    window = make_studio()
    file_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "File"
    )
    texts = [a.text() for a in file_menu.actions()]
    assert "Load model…" in texts and texts.index("Load model…") < texts.index("Quit")


def test_studio_and_live_with_bad_weights_exit_2_before_any_window(tmp_path, capsys):
    from mtface.cli.main import main
    from mtface.gui.app import live_main
    from mtface.gui.app import main as studio_main

    corrupt = tmp_path / "bad.pt"
    corrupt.write_bytes(b"not a model")
    assert studio_main([f"--weights={corrupt}"]) == 2
    assert "corrupt, truncated" in capsys.readouterr().err
    assert live_main("0", benchmark=True, weights=corrupt) == 2
    assert "corrupt, truncated" in capsys.readouterr().err
    for command in (["studio"], ["live", "--benchmark"]):
        assert main([*command, "--weights", str(tmp_path)]) == 2
        assert "is a folder, expected a model file (.pt)" in capsys.readouterr().err


def test_find_faces_at_any_rotation_reaches_the_model_and_is_remembered(
    make_studio, qtbot, tmp_path, sample_image
):
    import cv2
    import numpy as np

    from mtface.core.crop_search import RETRY_TURNS
    from mtface.gui import settings

    shipped = Predictor.from_weights()
    upright = shipped.predict(sample_image).faces[0].landmarks[:, :2]
    size = float(np.sqrt(np.prod(np.ptp(upright, axis=0))))
    side = tmp_path / "side.png"  # the sample turned a quarter clockwise: read as upright
    cv2.imwrite(str(side), cv2.cvtColor(np.rot90(sample_image, -1).copy(), cv2.COLOR_RGB2BGR))
    truth = np.stack([sample_image.shape[0] - 1 - upright[:, 1], upright[:, 0]], 1)

    def error(window) -> float:
        faces = window.doc.session.faces
        return min(np.linalg.norm(f.landmarks[:, :2] - truth, axis=1).mean() for f in faces) / size

    window = make_studio([side], predictor=Predictor.from_weights)
    action = window.model_switch.rotation_action
    assert not action.isChecked() and window.model_switch.predictor.retry_turns == ()
    assert error(window) > 0.15
    action.trigger()
    qtbot.waitUntil(lambda: error(window) < 0.04, timeout=20000)
    assert window.model_switch.predictor.retry_turns == RETRY_TURNS
    assert settings.read("any_rotation", False) is True
    again = make_studio([side], predictor=Predictor.from_weights)
    assert again.model_switch.rotation_action.isChecked()
    assert again.model_switch.predictor.retry_turns == RETRY_TURNS

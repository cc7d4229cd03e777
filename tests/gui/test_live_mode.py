"""Issue 9 in live mode: the list names the live source, pause does not jump ahead, the Step
shortcut works, and a benchmark on a missing file fails clearly instead of hanging."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from tests.gui.conftest import display_available

pytestmark = pytest.mark.gui


@pytest.fixture()
def real_tiny_predictor(tiny_weights):
    from mtface.core.predictor import Predictor

    return lambda: Predictor.from_weights(tiny_weights)


def test_during_live_the_list_names_the_source(make_studio, real_tiny_predictor, tmp_path):
    from tests.core.test_video import write_video

    video = write_video(tmp_path / "clip.avi", frames=10)
    window = make_studio(predictor=real_tiny_predictor)
    assert window.live.start(str(video))
    names = [window.file_list.item(r).text() for r in range(window.file_list.count())]
    assert names[0] == "● live: clip.avi" and "astronaut" not in window.windowTitle()
    assert "astronaut.jpg" in names[1]  # the folder's list stays (issue 20)
    assert window.pose_panel.labels["yaw"].text() == "-"
    window.live.stop()
    names = [window.file_list.item(r).text() for r in range(window.file_list.count())]
    assert len(names) == 1 and "astronaut.jpg" in names[0]


def test_live_pauses_without_jumping_and_steps_with_period(
    make_studio, real_tiny_predictor, tmp_path, qtbot
):
    from tests.core.test_video import write_video

    video = write_video(tmp_path / "clip.avi", frames=240)
    window = make_studio(predictor=real_tiny_predictor)
    live = window.live
    assert live.start(str(video))
    qtbot.waitUntil(lambda: live.controller.stats.frames >= 3, timeout=15000)
    source = live.controller.source
    live.toggle_pause()
    qtbot.wait(300)  # a frame read before the pause may still be drawn
    read, drawn = source.index, live.controller.stats.frames
    qtbot.wait(1500)  # 45 frames' worth of waiting
    assert source.index == read and live.controller.stats.frames == drawn
    # Step (the "." key): exactly one frame, then still paused
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: live.controller.stats.frames == drawn + 1, timeout=5000)
    qtbot.wait(300)
    assert source.index == read + 1 and live.controller.paused
    # resume: playback goes on from there, not 1.5 s further on
    live.toggle_pause()
    qtbot.wait(150)
    assert source.index - (read + 1) <= 12, source.index - read
    live.stop()


def test_live_benchmark_on_a_missing_file_exits_with_an_error(capsys):
    from mtface.gui.app import live_main

    assert live_main("missing.mp4", benchmark=True) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "missing.mp4" in err


def test_live_summary_prints_model_only_cost_beside_end_to_end():
    from mtface.gui.live_threads import LiveStats

    stats = LiveStats(frames=10, processed=12, model_ms=[5.0] * 12)
    stats.started -= 1.0
    text = stats.summary()
    assert "model only" in text and "end-to-end" in text and "end-to-end / model" in text
    assert "3D view: no mesh updates" in text
    stats.mesh_ms.extend([4.0, 5.0, 6.0])
    assert "3D view: 3 mesh updates, median 5.0 ms each" in stats.summary()


@pytest.mark.vtk
@pytest.mark.skipif(not display_available(), reason="the VTK view needs an X display (Xvfb)")
def test_live_updates_the_offscreen_3d_view(make_studio, real_tiny_predictor, tmp_path, qtbot):
    from tests.core.test_video import write_video

    video = write_video(tmp_path / "clip.avi", frames=60)
    window = make_studio(predictor=real_tiny_predictor, enable_3d=True)
    view = window.mesh_view
    assert view is not None
    live = window.live
    assert live.start(str(video))
    qtbot.waitUntil(lambda: len(live.controller.stats.mesh_ms) >= 2, timeout=15000)
    assert "live_face" in view.plotter.actors and view.renders > 0
    live.stop()
    assert "live_face" not in view.plotter.actors

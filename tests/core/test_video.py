"""Video sources, One-Euro smoothing and tracking (no camera needed: video files)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mtface.core.predictor import Predictor
from mtface.core.video.sources import FrameSource, SourceError
from mtface.core.video.tracking import FaceSmoother, FaceTracker, OneEuroFilter, jitter


def write_video(path, frames: int = 40, noise: float = 6.0, shift_per_frame: float = 0.0):
    from mtface.core.imageio import load_image
    from mtface.core.resources import resource_path

    img = load_image(resource_path("samples", "astronaut.jpg"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    rng = np.random.default_rng(0)
    for i in range(frames):
        canvas = np.zeros((480, 640, 3), np.uint8)
        dx = int(round(i * shift_per_frame))
        canvas[:, 64 + dx : 576 + dx] = img[16:496, : 512 - max(0, 64 + dx + 512 - 640)]
        noisy = np.clip(canvas + rng.normal(0, noise, canvas.shape), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_one_euro_smooths_noise_and_follows_steps():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    rng = np.random.default_rng(0)
    noisy = 5 + rng.normal(0, 1, 300)
    out = np.array([f(np.array([x]), t / 30)[0] for t, x in enumerate(noisy)])
    assert out[50:].std() < 0.5 * noisy[50:].std()
    g = OneEuroFilter(min_cutoff=1.0, beta=1.0)
    values = [g(np.array([0.0 if t < 30 else 10.0]), t / 30)[0] for t in range(60)]
    assert values[-1] > 9.0  # a real move is followed
    assert g(np.array([1.0]), 0.0)[0] == 1.0  # time going back resets


def test_sources_report_missing_and_broken_inputs(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        FrameSource(str(tmp_path / "none.mp4"))
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    with pytest.raises(SourceError):
        FrameSource(str(bad))
    with pytest.raises(SourceError, match="absent or busy"):
        FrameSource(63)


def test_file_source_reads_every_frame_and_ends_cleanly(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=12)
    with FrameSource(str(path)) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert len(frames) == 12 and frames[0].image.shape == (480, 640, 3)
    assert frames[-1].index == 11 and frames[1].timestamp > frames[0].timestamp


@pytest.mark.slow
def test_tracking_detects_once_and_smoothing_reduces_jitter(tmp_path):
    path = write_video(tmp_path / "still.avi", frames=60, noise=8.0)
    predictor = Predictor.from_weights()  # the shipped model: jitter is about real outputs
    results = {}
    for smoothing in (False, True):
        tracker = FaceTracker(
            predictor, FaceSmoother(min_cutoff=1.0, beta=0.0, enabled=smoothing), recheck_every=1000
        )
        series = []
        with FrameSource(str(path)) as source:
            while (frame := source.read()) is not None:
                pred = tracker.process(frame.image, frame.timestamp)
                assert len(pred.faces) == 1
                series.append(pred.faces[0].landmarks)
        assert tracker.detections == 1  # tracked from the landmarks after the first frame
        results[smoothing] = jitter(series[30:])  # after the filter has settled
    assert results[True] < 0.6 * results[False], results


def test_tracker_redetects_when_the_face_is_lost():
    """A tracked face that leaves the frame: the next frame's check fails, the detector runs
    again, finds nothing, and the track is dropped (no face is invented from old landmarks)."""
    from mtface.core.imageio import load_image
    from mtface.core.resources import resource_path

    tracker = FaceTracker(Predictor.from_weights())
    face = cv2.resize(load_image(resource_path("samples", "astronaut.jpg")), (320, 240))
    assert len(tracker.process(face, 0.0).faces) == 1
    assert len(tracker.process(face, 0.033).faces) == 1  # tracked: no new detection
    assert tracker.state.landmarks is not None and tracker.detections == 1
    empty = np.full((240, 320, 3), 90, np.uint8)
    assert tracker.process(empty, 0.066).faces == []
    assert tracker.state.landmarks is None and tracker.detections == 2


def _switching_frames(count: int = 30, every: int = 10):
    """640x480 frames: the sample face (320 px) jumps between the left and the right half
    every ``every`` frames, as when a new face replaces the tracked one."""
    from mtface.core.imageio import load_image
    from mtface.core.resources import resource_path

    face = cv2.resize(load_image(resource_path("samples", "astronaut.jpg")), (320, 320))
    frames = []
    for i in range(count):
        canvas = np.full((480, 640, 3), 90, np.uint8)
        x = 0 if (i // every) % 2 == 0 else 320
        canvas[80:400, x : x + 320] = face
        frames.append((canvas, x + 160))
    return frames


class _PastedFaceDetector:
    """Finds the pasted photo of ``_switching_frames`` (what differs from the grey canvas) and
    returns its face box: the tracker's logic is tested, not a detector's recall."""

    def detect(self, image: np.ndarray) -> list:
        from mtface.core.types import FaceBox

        ys, xs = np.nonzero(np.abs(image.astype(int) - 90).sum(axis=2) > 0)
        x0, y0 = xs.min(), ys.min()
        s = 320 / 512  # the sample (512 px, face box 177-271 x 84-175) pasted at 320 px
        return [FaceBox(x0 + 177 * s, y0 + 84 * s, x0 + 271 * s, y0 + 175 * s, 0.99)]


@pytest.mark.slow
def test_tracker_notices_a_replaced_face_and_follows_it():
    """Issue 9: the tracker kept cropping where the old face was; a consistency check of the
    face's region now runs the detector again when the scene changes."""
    predictor = Predictor.from_weights(detector=_PastedFaceDetector())
    tracker = FaceTracker(predictor, FaceSmoother(enabled=False), recheck_every=1000)
    for i, (image, centre_x) in enumerate(_switching_frames()):
        pred = tracker.process(image, i / 30)
        assert len(pred.faces) == 1
        assert abs(float(pred.faces[0].landmarks[:, 0].mean()) - centre_x) < 60, i
    assert tracker.changes == 2 and tracker.detections == 3


@pytest.mark.slow
def test_a_moving_face_is_not_taken_for_a_new_one(tmp_path):
    path = write_video(tmp_path / "moving.avi", frames=40, noise=6.0, shift_per_frame=1.5)
    tracker = FaceTracker(Predictor.from_weights(), recheck_every=1000)
    with FrameSource(str(path)) as source:
        while (frame := source.read()) is not None:
            assert len(tracker.process(frame.image, frame.timestamp).faces) == 1
    assert tracker.changes == 0 and tracker.detections == 1


def test_tracking_crops_follow_the_networks_own_keypoints():
    """The next frame's crop comes from the keypoints the training crop rule was made for, not
    from the 3d offsets' (or the 2d definition's) reading of them."""
    from mtface.core.imageio import load_image
    from mtface.core.landmarks3d import Landmark3DOffsets
    from mtface.core.resources import resource_path

    offsets = Landmark3DOffsets(np.tile([0.0, 1.5, 0.0], (68, 1)), 1)
    tracker = FaceTracker(Predictor.from_weights(offsets_3d=offsets), FaceSmoother(enabled=False))
    frame = cv2.resize(load_image(resource_path("samples", "astronaut.jpg")), (320, 240))
    tracker.process(frame, 0.0)
    (face,) = tracker.process(frame, 0.033).faces
    np.testing.assert_array_equal(tracker.state.landmarks, face.stages[-1].landmarks)
    assert np.abs(face.landmarks[:, 1] - face.stages[-1].landmarks[:, 1]).mean() > 2.0

"""Still-image cost: mtface's whole predict path (detector, crops, cascade, post) against
MediaPipe FaceMesh with detection on every image (static_image_mode), timed in the same
process on one thread, on a one-face 640x480 photo (the bundled sample on a 640x480 canvas).
The issue's target: mtface at most 2x MediaPipe. The one-pass path (`--no-refine`) is printed
beside the default. MediaPipe is the project's optional teacher
dependency; without it the comparison is skipped (the mtface rows are still printed).

Two ratios are printed: the median over ``--rounds`` alternating rounds of ``--repeats`` calls,
and the steadier one of ``--pairs`` calls of each timed in turn (on a shared machine whose
speed drifts within a round, the rounds' ratios spread widely). ``--processes N`` runs the
latter in N fresh processes and prints their median (processes differ by about +-5 %).

With ``--photos DIR [--list LIST]`` it also times many real photos: each is fitted into a
640x480 mid-grey frame, and the two are timed alternately on it (``--photo-repeats`` each);
it prints the median ratio over the photos and the share at most 2x.

Usage: python tools/predict_vs_mediapipe.py [--repeats 50] [--rounds 5] [--pairs 500]
       [--processes 1] [--threads 1]
       [--photos ../shared/data/w300 --list data_cache/w300_labels/val.txt]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import cv2
import numpy as np

from mtface.core.commands.benchmark import median_ms


def frame_640x480() -> np.ndarray:
    from mtface.core.imageio import load_image
    from mtface.core.resources import resource_path

    sample = load_image(resource_path("samples", "astronaut.jpg"))  # 512x512, one face
    canvas = np.full((480, 640, 3), 110, np.uint8)
    canvas[:, 64:576] = sample[16:496]
    return canvas


def letterboxed(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """``image`` scaled to fit a ``width`` x ``height`` mid-grey frame, centred."""
    scale = min(width / image.shape[1], height / image.shape[0])
    w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    frame = np.full((height, width, 3), 110, np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    frame[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return frame


def photo_ratios(predictor: object, mesh: object, paths: list, repeats: int) -> list[float]:
    """mtface predict / MediaPipe on each photo (letterboxed), timed alternately."""
    from mtface.core.imageio import load_image

    ratios = []
    for path in paths:
        frame = letterboxed(load_image(path))
        ours = median_ms(lambda f=frame: predictor.predict(f), repeats)  # type: ignore[attr-defined]
        theirs = median_ms(lambda f=frame: mesh.process(f), repeats)  # type: ignore[attr-defined]
        ratios.append(ours / theirs)
    return ratios


def alternated_ms(ours: object, theirs: object, pairs: int) -> tuple[float, float]:
    """Median milliseconds of two callables timed call by call in turn (ours, theirs, ours,
    ...), so that a change of the machine's speed, even within a round, meets both alike."""
    import time

    for _ in range(5):
        ours(), theirs()  # type: ignore[operator]
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(pairs):
        for fn, out in zip((ours, theirs), times):
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            out.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times[0])), float(np.median(times[1]))


PAIRED_LINE = re.compile(r"calls of each timed in turn: ([\d.]+) / ([\d.]+) ms = ([\d.]+)x")


def across_processes(args: argparse.Namespace) -> int:
    """``--processes N``: this script run N times in fresh processes (one ``--pairs`` ratio
    each, nothing else), each ratio printed and their median: a process's speed as a whole
    differs from the next one's by about +-5 % on a shared machine."""
    import subprocess

    ratios = []
    for k in range(args.processes):
        command = [sys.executable, __file__, "--repeats", "5", "--rounds", "1"]
        command += ["--pairs", str(args.pairs), "--threads", str(args.threads)]
        out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        found = PAIRED_LINE.search(out)
        if found is None:
            print(f"process {k + 1}: no ratio printed\n{out}", file=sys.stderr)
            return 1
        ours, theirs, ratio = (float(v) for v in found.groups())
        ratios.append(ratio)
        print(f"process {k + 1}: {ours:.2f} / {theirs:.2f} ms = {ratio:.2f}x", flush=True)
    print(
        f"mtface predict / MediaPipe over {args.processes} processes ({args.pairs} calls of "
        f"each timed in turn in each): median {np.median(ratios):.2f}x "
        f"(range {min(ratios):.2f}-{max(ratios):.2f}x; target <= 2x)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (ratio)")
    parser.add_argument(
        "--pairs", type=int, default=500, help="calls of each, timed in turn (the steadier ratio)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="run the --pairs ratio in this many processes"
    )
    parser.add_argument("--photos", type=Path, help="a folder of photos to time as well")
    parser.add_argument("--list", type=Path, help="with --photos: annotation paths to take")
    parser.add_argument("--photo-repeats", type=int, default=10)
    args = parser.parse_args()
    if args.processes > 1:
        return across_processes(args)
    import torch

    from mtface.core.predictor import Predictor

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    image = frame_640x480()
    predictor = Predictor.from_weights()
    faces = predictor.predict(image).faces
    if len(faces) != 1:
        print(f"error: expected one face in the test frame, found {len(faces)}", file=sys.stderr)
        return 1
    crop = cv2.warpAffine(
        image,
        predictor.crop_from_landmarks(faces[0].landmarks_2d).affine(),
        (predictor.crop_size, predictor.crop_size),
    )[None]
    rows = {
        "mtface predict (detector + crops + cascade + post)": median_ms(
            lambda: predictor.predict(image), args.repeats
        ),
        "mtface predict --no-refine (one cascade pass, no landmark re-crop)": median_ms(
            lambda: predictor.predict(image, refine=False), args.repeats
        ),
        "mtface detector alone": median_ms(lambda: predictor.detector.detect(image), args.repeats),
        "mtface cascade alone (one crop, both stages)": median_ms(
            lambda: predictor.predict_crops(crop), args.repeats
        ),
    }
    print(
        f"640x480 one-face frame, {args.threads} thread(s), median of {args.repeats} runs "
        f"(torch {torch.__version__})"
    )
    for name, ms in rows.items():
        print(f"  {name}: {ms:.2f} ms")
    try:
        import mediapipe as mp
    except ImportError:
        print("MediaPipe not installed: comparison skipped (pip install 'mtface[teacher]')")
        return 0
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=False
    )
    found = mesh.process(image).multi_face_landmarks
    # alternate the two in rounds, so that a drift of the machine's speed meets both alike
    ratios, mp_times = [], []
    for _ in range(args.rounds):
        ours = median_ms(lambda: predictor.predict(image), args.repeats)
        theirs = median_ms(lambda: mesh.process(image), args.repeats)
        ratios.append(ours / theirs)
        mp_times.append(theirs)
    paired = alternated_ms(
        lambda: predictor.predict(image), lambda: mesh.process(image), args.pairs
    )
    photo = None
    if args.photos is not None:
        names = (
            [line.strip() for line in args.list.read_text().splitlines() if line.strip()]
            if args.list
            else sorted(p.name for p in args.photos.glob("*.jpg"))
        )
        paths = [(args.photos / n).with_suffix(".jpg") for n in names]
        photo = photo_ratios(predictor, mesh, paths, args.photo_repeats)
    mesh.close()
    mp_ms = float(np.median(mp_times))
    whole = rows["mtface predict (detector + crops + cascade + post)"]
    one_pass = rows["mtface predict --no-refine (one cascade pass, no landmark re-crop)"]
    print(
        f"  MediaPipe FaceMesh {mp.__version__} (detection every image): {mp_ms:.2f} ms"
        f"{'' if found else ' (found no face!)'}"
    )
    print(
        f"mtface predict / MediaPipe, {args.rounds} alternating rounds of {args.repeats}: "
        f"median {np.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}x; "
        f"target <= 2x)"
    )
    print(
        f"mtface predict / MediaPipe, {args.pairs} calls of each timed in turn: "
        f"{paired[0]:.2f} / {paired[1]:.2f} ms = {paired[0] / paired[1]:.2f}x (target <= 2x)"
    )
    print(f"mtface predict --no-refine / MediaPipe = {one_pass / mp_ms:.2f}x")
    print(f"(mtface predict above / MediaPipe = {whole / mp_ms:.2f}x)")
    if photo:
        r = np.array(photo)
        print(
            f"{len(r)} photos from {args.photos} in 640x480 frames: mtface / MediaPipe median "
            f"{np.median(r):.2f}x (quartiles {np.percentile(r, 25):.2f}-"
            f"{np.percentile(r, 75):.2f}x); at most 2x on {np.mean(r <= 2.0):.0%} of them"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Still-image cost: mtface's whole predict path (detector, crops, cascade, post) against
MediaPipe FaceMesh with detection on every image (static_image_mode), timed in the same
process on one thread, on a one-face 640x480 photo (the bundled sample on a 640x480 canvas).
The issue's target: mtface at most 2x MediaPipe. The one-pass path (`--no-refine`) is printed
beside the default. MediaPipe is the project's optional teacher
dependency; without it the comparison is skipped (the mtface rows are still printed).

Usage: python tools/predict_vs_mediapipe.py [--repeats 50] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (ratio)")
    args = parser.parse_args()
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
    print(f"mtface predict --no-refine / MediaPipe = {one_pass / mp_ms:.2f}x")
    print(f"(mtface predict above / MediaPipe = {whole / mp_ms:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``mtface evaluate``: the method's benchmarks, printed beside its numbers."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mtface.core.commands.evaluate_pts import (
    box_normalised_regions,
    evaluate_pts,
    print_pts_report,
)
from mtface.core.data.human_labels import read_subset
from mtface.core.evaluation import (
    BINS,
    PAPER_AFLW,
    PAPER_AFLW2000,
    BinnedReport,
    aflw21_nme,
    aflw21_visibility,
    auroc,
    binned,
    binned_visibility,
    ced_curve,
    load_aflw2000_folder,
    load_aflw_val,
    nme_box,
    pose_mae,
)
from mtface.core.formats.atomic import atomic_write
from mtface.core.formats.atomic import atomic_write_csv as write_csv
from mtface.core.geometry import CropTransform, box_of_points, yaw_bin
from mtface.core.imageio import load_image
from mtface.core.predictor import Predictor
from mtface.core.topology import AFLW21_EAR_POINTS
from mtface.core.types import Face, FaceBox
from mtface.core.weights import WeightsError

# sorted-name rows of the 16 images of ../shared/data are found by name in the protocol files
PROTOCOL_FILES = {
    "original": "AFLW2000-3D.pts68.npy",
    "reannotated": "AFLW2000-3D-Reannotated.pts68.npy",
}
YAW_FILES = {
    "new (1306/462/232)": "AFLW2000-3D-new.pose.npy",
    "old (1312/383/305)": "AFLW2000-3D.pose.npy",
}


def _print_table(title: str, reports: dict[str, BinnedReport], paper: dict[str, float]) -> None:
    print(f"\n{title}")
    print(f"{'':34s}" + "".join(f"{b:>8s}" for b in BINS) + f"{'mean':>9s}")
    for name, rep in reports.items():
        cells = "".join(f"{rep.bins.get(b, float('nan')):8.2f}" for b in BINS)
        counts = "/".join(str(rep.counts[b]) for b in BINS)
        print(f"{name:34s}{cells}{rep.mean:9.2f}   n={counts}")
    cells = "".join(f"{paper[b]:8.2f}" if b in paper else f"{'-':>8s}" for b in BINS)
    print(f"{'the method (paper)':34s}{cells}{paper['mean']:9.2f}")


#: A predicted face is on the labelled person when its landmarks' centre lies within this
#: fraction of the person's face size (sqrt(w h) of the labelled box) of the labels' centre.
ON_PERSON = 0.5
#: Gross failure: box NME (%) above this.
GROSS_NME = 20.0
#: The confidence must tell faces above this NME (%) from the rest (AUROC).
FAILURE_NME = 10.0
#: Faces within this |yaw| (degrees, labels) are frontal: a person sees all their points.
FRONTAL_YAW = 10.0


@dataclass
class FacePredictions:
    """What one evaluation pass predicted for N labelled faces (NaN / False where no face lay
    on the person): landmarks (N, 68, 2), poses (N, 3) degrees, found (N,), visible (N, 68) the
    reported visibility (core/visibility.py), normal_visible (N, 68) the cascade's own normal
    test, confidence (N,) (NaN where none)."""

    landmarks: np.ndarray
    poses: np.ndarray
    found: np.ndarray
    visible: np.ndarray
    normal_visible: np.ndarray
    confidence: np.ndarray

    @staticmethod
    def collect(faces: list[Face | None]) -> FacePredictions:
        nan68 = np.full((68, 2), np.nan)
        return FacePredictions(
            np.array([nan68 if f is None else f.landmarks_2d for f in faces]),
            np.array(
                [[np.nan] * 3 if f is None else list(f.pose.as_dict().values()) for f in faces]
            ),
            np.array([f is not None for f in faces]),
            np.array([np.zeros(68, bool) if f is None else f.visible for f in faces]),
            np.array([np.zeros(68, bool) if f is None else f.stages[-1].visible for f in faces]),
            np.array(
                [np.nan if f is None or f.confidence is None else f.confidence for f in faces]
            ),
        )


def face_on_person(faces: list[Face], gt: np.ndarray) -> Face | None:
    """The predicted face nearest the labelled points gt (K, 2), when it lies on that person
    (``ON_PERSON``); None otherwise."""
    centre = np.nanmean(gt, axis=0)
    x0, y0, x1, y1 = box_of_points(gt[np.isfinite(gt).all(1)])
    reach = ON_PERSON * np.sqrt(max((x1 - x0) * (y1 - y0), 1e-9))
    best = min(faces, default=None, key=lambda f: np.linalg.norm(f.landmarks_2d.mean(0) - centre))
    if best is None or np.linalg.norm(best.landmarks_2d.mean(0) - centre) > reach:
        return None
    return best


def _predict_aflw2000(predictor: Predictor, samples: list, crop: str) -> FacePredictions:
    """With ``crop='gt'`` the predictor runs exactly as ``mtface predict --boxes B --box-kind
    landmarks --no-refine`` with B the ground-truth landmark boxes: the protocol crop; with
    'detector' as ``mtface predict`` (a face counts when it lies on the person)."""
    faces: list[Face | None] = []
    for s in samples:
        image = load_image(s.image_path)
        if crop == "gt":
            faces.append(
                predictor.predict(
                    image, [FaceBox(*box_of_points(s.gt68))], box_kind="landmarks", refine=False
                ).faces[0]
            )
        else:
            faces.append(face_on_person(predictor.predict(image).faces, s.gt68))
    return FacePredictions.collect(faces)


#: Width of a cell of the per-bin report: "1969/2000 (31 miss)" and a space.
REPORT_CELL = 20


def print_bin_report(
    nme: np.ndarray, yaws: np.ndarray, found: np.ndarray, confidence: np.ndarray
) -> dict:
    """Per |yaw| bin: faces on the person and misses, gross failures (> ``GROSS_NME``), and the
    confidence's AUROC for NME > ``FAILURE_NME`` (nme (N,) with NaN where not found)."""
    labels = np.array([yaw_bin(y) for y in yaws])
    out: dict = {}
    header = "".join(f"{b:>{REPORT_CELL}s}" for b in [*BINS, "all"])
    print(f"{'per |yaw| bin (labels)':34s}{header}")
    groups = [(b, labels == b) for b in BINS] + [("all", np.ones(len(labels), bool))]
    cells = {"found": "", "gross": "", "auroc": ""}
    for name, m in groups:
        f = m & found
        gross = int((nme[f] > GROSS_NME).sum())
        fail = nme[f] > FAILURE_NME
        score = auroc(-confidence[f], fail)
        out[name] = {
            "faces": int(m.sum()),
            "found": int(f.sum()),
            "missed": int((m & ~found).sum()),
            "gross": gross,
            "failures": int(fail.sum()),
            "confidence_auroc": score,
        }
        cells["found"] += (
            f"{f'{int(f.sum())}/{int(m.sum())} ({int((m & ~found).sum())} miss)':>{REPORT_CELL}s}"
        )
        share = 100 * gross / max(int(f.sum()), 1)
        cells["gross"] += f"{f'{gross} ({share:.1f} %)':>{REPORT_CELL}s}"
        cells["auroc"] += f"{f'{score:.3f} ({int(fail.sum())})':>{REPORT_CELL}s}"
    print(f"{'faces on the person (misses)':34s}{cells['found']}")
    print(f"{f'gross failures (NME > {GROSS_NME:.0f} %)':34s}{cells['gross']}")
    print(f"{f'confidence AUROC, NME > {FAILURE_NME:.0f} % (n)':34s}{cells['auroc']}")
    return out


def print_hidden_share(
    visible: dict[str, np.ndarray], yaws: np.ndarray, found: np.ndarray
) -> dict[str, dict[str, float]]:
    """Share (%) of points flagged hidden per |yaw| bin and on frontal faces (|yaw| <=
    ``FRONTAL_YAW``, where a person sees all points), for each visibility in ``visible``
    (name -> (N, 68) bool)."""
    labels = np.array([yaw_bin(y) for y in yaws])
    frontal = (np.abs(yaws) <= FRONTAL_YAW) & found
    out = {}
    for name, vis in visible.items():
        row = {
            b: 100 * float(1 - vis[m].mean()) if m.any() else float("nan")
            for b, m in ((b, (labels == b) & found) for b in BINS)
        }
        row["frontal"] = 100 * float(1 - vis[frontal].mean()) if frontal.any() else float("nan")
        row["frontal_faces_with_hidden"] = (
            100 * float((~vis[frontal]).any(1).mean()) if frontal.any() else float("nan")
        )
        out[name] = row
        print(
            f"{f'points hidden %, {name}':34s}"
            + "".join(f"{row[b]:16.1f}" for b in BINS)
            + f"   |yaw|<={FRONTAL_YAW:.0f}: {row['frontal']:.2f} % of points, "
            f"{row['frontal_faces_with_hidden']:.1f} % of faces with one "
            f"(n={int(frontal.sum())})"
        )
    return out


def evaluate_aflw2000(
    predictor: Predictor, folder: Path, protocol: Path | None, crop: str, out: Path | None
) -> dict:
    samples = load_aflw2000_folder(folder)
    if not samples:
        raise FileNotFoundError(f"{folder}: no AFLW2000-3D image/.mat pairs")
    if predictor.landmarks == "3d" and predictor.offsets_3d is not None:
        fitted_on = set(predictor.offsets_3d.images)
        inside = sum(s.image_path.name in fitted_on for s in samples)
        if inside:
            print(
                f"note: {inside} of these {len(samples)} images were used to fit the model's 3d "
                "offsets (ADR 15): on them the figures are in-sample, so optimistic"
            )
    predicted = _predict_aflw2000(predictor, samples, crop)
    preds, poses, found = predicted.landmarks, predicted.poses, predicted.found
    gt = np.array([s.gt68 for s in samples])
    gt_pose = np.array([s.pose for s in samples])
    reports: dict[str, BinnedReport] = {}
    ok = found
    reports["original labels, |yaw| from .mat"] = binned(nme_box(preds[ok], gt[ok]), gt_pose[ok, 1])
    if protocol is not None and (protocol / PROTOCOL_FILES["original"]).exists():
        original = np.load(protocol / PROTOCOL_FILES["original"]).astype(np.float64)
        rows = _protocol_rows(original, samples)
        for label_name, fname in PROTOCOL_FILES.items():
            if not (protocol / fname).exists():
                continue
            table = np.load(protocol / fname).astype(np.float64)
            gt_l = np.transpose(table[rows, :2], (0, 2, 1)) - 1.0
            for yaw_name, yfile in YAW_FILES.items():
                if not (protocol / yfile).exists():
                    continue
                yaws = np.load(protocol / yfile).reshape(len(table), -1)[rows, 0]
                reports[f"{label_name}, yaw {yaw_name}"] = binned(
                    nme_box(preds[ok], gt_l[ok]), yaws[ok]
                )
    title = (
        f"AFLW2000-3D, 68 points, NME % ({crop} crop; {int(found.sum())}/{len(samples)} "
        "faces found)"
    )
    _print_table(title, reports, PAPER_AFLW2000)
    nme_all = np.full(len(samples), np.nan)
    nme_all[ok] = reports["original labels, |yaw| from .mat"].per_image
    bins_report = print_bin_report(nme_all, gt_pose[:, 1], found, predicted.confidence)
    # AFLW2000-3D has no visibility labels: a person sees every point of a frontal face
    hidden = print_hidden_share(
        {"reported": predicted.visible, "cascade normal": predicted.normal_visible},
        gt_pose[:, 1],
        found,
    )
    regions = box_normalised_regions(preds[ok], gt[ok])
    print(
        "per region (NME %, original labels): "
        + "  ".join(f"{name} {value:.2f}" for name, value in regions.items())
    )
    mae = pose_mae(poses[ok], gt_pose[ok])
    print(
        f"pose MAE (degrees): pitch {mae['pitch']:.2f}  yaw {mae['yaw']:.2f}  roll "
        f"{mae['roll']:.2f}  mean {mae['mean']:.2f}  (n={mae['count']})"
    )
    bin_of = np.array([yaw_bin(y) for y in gt_pose[ok, 1]])
    for b in BINS:
        if (bin_of == b).any():
            m = pose_mae(poses[ok][bin_of == b], gt_pose[ok][bin_of == b])
            print(
                f"  |yaw| {b:8s} pitch {m['pitch']:.2f}  yaw {m['yaw']:.2f}  roll "
                f"{m['roll']:.2f}  mean {m['mean']:.2f}  (n={m['count']})"
            )
    if out is not None:
        first = next(iter(reports.values()))
        rows_out = [
            [s.image_path.name, f"{e:.4f}", f"{s.pose[1]:.2f}"]
            for s, e in zip(np.array(samples)[ok], first.per_image)
        ]
        write_csv(
            out / f"aflw2000_{crop}_errors.csv", ["image", "nme_percent", "yaw_deg"], rows_out
        )
        _write_ced(out / f"aflw2000_{crop}_ced.png", reports)
    return {name: {"bins": r.bins, "mean": r.mean} for name, r in reports.items()} | {
        "pose_mae": mae,
        "regions": regions,
        "per_bin": bins_report,
        "hidden_percent": hidden,
    }


def _protocol_rows(original: np.ndarray, samples: list) -> np.ndarray:
    """Row of each sample in the 2000-row protocol arrays: the row whose 68 points equal the
    sample's ``pt3d_68`` (they are identical copies; the rows follow the sorted 2000 names)."""
    flat = original[:, :2].reshape(len(original), -1)
    rows = []
    for s in samples:
        target = (s.gt68 + 1.0).T.reshape(-1)
        dist = np.abs(flat - target).max(axis=1)
        row = int(dist.argmin())
        if dist[row] > 1e-3:
            raise ValueError(f"{s.image_path.name}: not found in the protocol labels")
        rows.append(row)
    return np.array(rows)


#: Border (pixels of mid-grey) put around a 120 px AFLW crop for the detector path, so that the
#: detector sees the whole face with some margin, as in a photo.
AFLW_DETECTOR_BORDER = 60


def crop_faces(predictor: Predictor, crops: np.ndarray) -> list[Face]:
    """The predictor's faces on protocol crops (N, S, S, 3), in crop pixels, in its landmark
    definition (with the 2D refiner, on the crop, where it has one)."""
    result = predictor.predict_crops(crops)
    size = predictor.crop_size
    whole_crop = CropTransform(0.0, 0.0, 1.0, size)
    box = FaceBox(0.0, 0.0, size - 1.0, size - 1.0, 1.0)
    return [
        predictor.face_from_result(box, whole_crop, result, i, crops[i]) for i in range(len(crops))
    ]


def crop_landmarks(predictor: Predictor, crops: np.ndarray) -> np.ndarray:
    """The landmarks (N, 68, 2) of ``crop_faces``, in crop pixels."""
    return np.stack([f.landmarks[:, :2] for f in crop_faces(predictor, crops)])


def _aflw_val_detector(predictor: Predictor, crops: np.ndarray) -> list[Face | None]:
    """The faces through the detector path, in crop pixels (None: no face)."""
    import cv2

    b = AFLW_DETECTOR_BORDER
    out: list[Face | None] = []
    for crop in crops:
        padded = cv2.copyMakeBorder(crop, b, b, b, b, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        faces = predictor.predict(padded).faces
        if not faces:
            out.append(None)
            continue
        centre = np.array([b + (crop.shape[1] - 1) / 2, b + (crop.shape[0] - 1) / 2])
        face = min(faces, key=lambda f: np.linalg.norm(f.landmarks_2d.mean(0) - centre))
        shift = np.array([b, b, 0.0], np.float32)
        out.append(replace(face, landmarks=face.landmarks - shift, vertices=face.vertices - shift))
    return out


#: The AFLW 21-point visibility scored: all but the two ear points (the mesh has no ears).
AFLW_VISIBILITY_POINTS = [i for i in range(21) if i not in AFLW21_EAR_POINTS]


def print_visibility(
    visible68: dict[str, np.ndarray], labelled21: np.ndarray, yaws: np.ndarray, found: np.ndarray
) -> dict[str, dict[str, dict[str, float]]]:
    """Agreement of each predicted visibility (name -> (N, 68) bool) with AFLW's human 21-point
    visibility (N, 21) bool, per |yaw| bin, over ``AFLW_VISIBILITY_POINTS`` of found faces."""
    out = {}
    for name, vis in visible68.items():
        pred21 = aflw21_visibility(vis)[found][:, AFLW_VISIBILITY_POINTS]
        agreement = binned_visibility(
            pred21, labelled21[found][:, AFLW_VISIBILITY_POINTS], yaws[found]
        )
        out[name] = {b: vars(a) for b, a in agreement.items()}
        print(
            f"  {name:22s}"
            + "".join(
                f"{b:>9s} BA {a.balanced_accuracy * 100:5.1f} vis {a.visible_recall * 100:5.1f}"
                f" hid {a.hidden_recall * 100:5.1f} (hidden {a.hidden}/{a.points})"
                for b, a in agreement.items()
            )
        )
    return out


def evaluate_aflw_val(
    predictor: Predictor, folder: Path, out: Path | None, crop: str = "gt"
) -> dict:
    paths, yaws, gt21, side = load_aflw_val(folder)
    crops = np.stack([load_image(p) for p in paths])
    if crop == "gt":
        faces: list[Face | None] = [
            f for i in range(0, len(crops), 128) for f in crop_faces(predictor, crops[i : i + 128])
        ]
    else:
        faces = _aflw_val_detector(predictor, crops)
    predicted = FacePredictions.collect(faces)
    preds, found = predicted.landmarks, predicted.found
    report = binned(aflw21_nme(preds[found], gt21[found], side), yaws[found])
    _print_table(
        f"AFLW 21 points (visible only), NME % on {len(paths)} protocol crops "
        f"({crop} crop; normaliser = crop side / 1.466)",
        {"aflw_val": report},
        PAPER_AFLW,
    )
    if crop == "detector":
        labels = np.array([yaw_bin(y) for y in yaws])
        print(
            "faces without a detection per bin: "
            + "  ".join(
                f"{b} {int((~found[labels == b]).sum())}/{int((labels == b).sum())}" for b in BINS
            )
        )
    print(
        "visibility vs AFLW's human labels (a point is labelled where the annotator saw it; 19 "
        "points, ears left out): balanced accuracy, visible and hidden recall %"
    )
    visibility = print_visibility(
        {"reported": predicted.visible, "cascade normal (before)": predicted.normal_visible},
        np.isfinite(gt21).all(axis=2),
        yaws,
        found,
    )
    if out is not None:
        suffix = "" if crop == "gt" else f"_{crop}"
        write_csv(
            out / f"aflw_val{suffix}_errors.csv",
            ["image", "nme_percent", "yaw_deg"],
            [
                [p.name, f"{e:.4f}", f"{y:.2f}"]
                for p, e, y in zip(np.array(paths)[found], report.per_image, yaws[found])
            ],
        )
        _write_ced(out / f"aflw_val{suffix}_ced.png", {"aflw_val": report}, max_error=15.0)
    return {"bins": report.bins, "mean": report.mean, "visibility": visibility}


def _write_ced(
    path: Path, reports: dict[str, BinnedReport | np.ndarray], max_error: float = 15.0
) -> None:
    """CED curves of per-image errors (a report's ``per_image`` or an array) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for name, rep in reports.items():
        errors = rep if isinstance(rep, np.ndarray) else rep.per_image
        t, frac = ced_curve(errors, max_error)
        ax.plot(t, frac, label=name)
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("fraction of images")
    ax.set_xlim(0, max_error)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp))
    finally:
        plt.close(fig)


def _weights_name(weights: Path | None) -> str:
    """``name.pt (sha256 0123456789ab)`` of the weights (default: the shipped model)."""
    from mtface.core.checkpoint import default_weights_path
    from mtface.core.weights import sha256_of

    path = Path(weights) if weights is not None else default_weights_path()
    return f"{path} (sha256 {sha256_of(path)[:12]})"


def run_evaluate(args: argparse.Namespace) -> int:
    if not (args.aflw2000 or args.aflw_val or args.pts):
        print("error: give --aflw2000, --aflw-val and/or --pts", file=sys.stderr)
        return 2
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        print(
            f"error: --out {args.out} is a file; give a folder for the CSV and CED files",
            file=sys.stderr,
        )
        return 2
    refine = args.crop == "detector"  # the gt crop is the protocol's: one pass

    named: list[bool] = []

    def predictor_for(default_landmarks: str) -> Predictor:
        predictor = Predictor.from_weights(
            args.weights,
            flip_test=args.flip_test,
            refine_crop=refine,
            landmarks=args.landmarks or default_landmarks,
        )
        if not named:  # which model the figures are of
            named.append(True)
            print(f"weights: {_weights_name(args.weights)}")
        return predictor

    try:
        if args.aflw2000:
            evaluate_aflw2000(
                predictor_for("3d"), args.aflw2000, args.aflw2000_protocol, args.crop, args.out
            )
        if args.aflw_val:  # 3d with its offsets beats 2d + refiner on AFLW too (ADR 15)
            evaluate_aflw_val(predictor_for("3d"), args.aflw_val, args.out, args.crop)
        if args.pts:
            predictor = predictor_for("2d")
            report = evaluate_pts(
                predictor, args.pts, read_subset(args.subset), args.crop, args.out
            )
            print_pts_report(report, args.crop, predictor.landmarks)
            if args.out is not None:
                _write_ced(
                    args.out / f"pts_{args.crop}_ced.png",
                    {"inter-ocular NME": report.nme_io[report.found]},
                    max_error=10.0,
                )
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(
            f"error: a label file lacks {exc} (not an AFLW2000-3D / AFLW label file)",
            file=sys.stderr,
        )
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

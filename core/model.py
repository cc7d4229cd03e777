"""The two-stage cascaded multi-task CNN of the method (Eq. 5-6 and 13).

Stage k regresses the UPDATE of the 3D keypoints (68 x 3), of the dense shape (V x 3, a fully
connected map of the keypoint update, as in the method) and of the pose; the result after stage
k is the sum of the updates so far, starting from zero. Stage 1 sees the face crop; stage 2 sees
the Modified Shape-Indexed Features (patches around the stage-1 keypoints, zeroed where the
keypoint is invisible) and the stage-1 keypoints.

Tensor units: normalised crop coordinates and pose in degrees / 90, both defined (and converted)
in ``core/crop_coords.py``; z's origin is the shape's centroid. Images enter as float
(B, 3, S, S) in [0, 1], RGB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mtface.core.crop_coords import normalised_to_crop, pose_to_normalised
from mtface.core.tensor_ops import (
    modified_shape_indexed_features,
    point_normal_plan,
    visibility_scores,
)
from mtface.core.topology import Topology


@dataclass(frozen=True)
class CascadeConfig:
    """Sizes of the cascade. ``channels`` are the four conv layers of each stage's trunk."""

    crop_size: int = 120
    num_vertices: int = 468
    num_landmarks: int = 68
    channels: tuple[int, int, int, int] = (24, 48, 96, 128)
    patch_channels: tuple[int, int, int, int] = (16, 32, 32, 24)
    fc_dim: int = 256
    dropout: float = 0.2
    patch_size: int = 12  # MSIF patch side in samples
    patch_extent: float = 18.0  # MSIF patch side in crop pixels
    num_stages: int = 2

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(values: dict) -> CascadeConfig:
        values = dict(values)
        for key in ("channels", "patch_channels"):
            if key in values:
                values[key] = tuple(values[key])
        return CascadeConfig(**values)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.PReLU(cout))


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that follows a Conv2d into the conv (for inference; in place)."""
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            children = list(module)
            for i in range(len(children) - 1):
                conv, bn = children[i], children[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                    with torch.no_grad():
                        conv.weight.mul_(scale.view(-1, 1, 1, 1))
                        bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
                        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
                    module[i + 1] = nn.Identity()
    return model


class Trunk(nn.Module):
    """Four conv layers (the first and last with stride 2) and three max-pooling layers (PReLU),
    then a FC layer with dropout. 120 px input -> 60 -> 30 -> 15 -> 8 -> 4."""

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, int, int, int],
        input_size: int,
        fc_dim: int,
        dropout: float,
        extra_features: int = 0,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        self.features = nn.Sequential(
            _conv(in_channels, c1, stride=2),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv(c1, c2),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv(c2, c3),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv(c3, c4, stride=2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, input_size, input_size)).numel()
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat + extra_features, fc_dim),
            nn.PReLU(fc_dim),
            nn.Dropout(dropout),
        )
        self.extra_features = extra_features

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x).flatten(1)
        if extra is not None:
            h = torch.cat([h, extra], 1)
        return self.fc(h)


class PatchEncoder(nn.Module):
    """Shared CNN over the MSIF patches: (B, K, C, P, P) -> (B, K * c4) features."""

    def __init__(self, in_channels: int, channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        self.net = nn.Sequential(
            _conv(in_channels, c1),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv(c1, c2),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv(c2, c3),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv(c3, c4),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        b, k = patches.shape[:2]
        return self.net(patches.flatten(0, 1)).reshape(b, -1)


class Heads(nn.Module):
    """Task heads: 3D keypoints first, a FC layer from them to the dense shape, and the pose."""

    def __init__(self, fc_dim: int, num_landmarks: int, num_vertices: int) -> None:
        super().__init__()
        self.keypoints = nn.Linear(fc_dim, num_landmarks * 3)
        self.dense = nn.Linear(num_landmarks * 3, num_vertices * 3)
        self.pose = nn.Linear(fc_dim, 3)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        keypoints = self.keypoints(h)
        dense = self.dense(keypoints)
        b = h.shape[0]
        return keypoints.reshape(b, -1, 3), dense.reshape(b, -1, 3), self.pose(h)


@dataclass
class CascadeOutput:
    """Per-stage accumulated outputs (normalised crop coordinates, pose in degrees / 90).

    keypoints[k] (B, 68, 3), vertices[k] (B, V, 3), pose[k] (B, 3), visibility[k] (B, 68) the
    visibility scores N_c . N_i of the shape after stage k.
    """

    keypoints: list[torch.Tensor] = field(default_factory=list)
    vertices: list[torch.Tensor] = field(default_factory=list)
    pose: list[torch.Tensor] = field(default_factory=list)
    visibility: list[torch.Tensor] = field(default_factory=list)


class CascadeMTCNN(nn.Module):
    """forward(images (B, 3, S, S) float in [0, 1]) -> CascadeOutput."""

    def __init__(self, config: CascadeConfig, topology: Topology) -> None:
        super().__init__()
        if topology.num_vertices != config.num_vertices:
            raise ValueError(
                f"config has {config.num_vertices} vertices, topology {topology.num_vertices}"
            )
        self.config = config
        self.register_buffer(
            "triangles", torch.as_tensor(topology.triangles, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "landmark_triangles",
            torch.as_tensor(topology.landmark_triangles, dtype=torch.long),
            persistent=False,
        )
        self.register_buffer(
            "landmark_barycentric",
            torch.as_tensor(topology.landmark_barycentric, dtype=torch.float32),
            persistent=False,
        )
        # what the landmarks' normals need (tensor_ops.point_normal_plan), computed once
        for name, value in zip(
            ("normal_corners", "normal_incidence", "normal_weights"),
            point_normal_plan(self.triangles, self.landmark_triangles, self.landmark_barycentric),
        ):
            self.register_buffer(name, value, persistent=False)
        self.register_buffer(
            "pixel_mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False
        )
        c = config
        self.stage1 = Trunk(3, c.channels, c.crop_size, c.fc_dim, c.dropout)
        self.heads1 = Heads(c.fc_dim, c.num_landmarks, c.num_vertices)
        self.stage2_patches = nn.ModuleList()
        self.stage2_fc = nn.ModuleList()
        self.heads2 = nn.ModuleList()
        for _ in range(c.num_stages - 1):
            self.stage2_patches.append(PatchEncoder(3, c.patch_channels))
            in_dim = c.num_landmarks * c.patch_channels[-1] + c.num_landmarks * 3
            self.stage2_fc.append(
                nn.Sequential(
                    nn.Linear(in_dim, c.fc_dim), nn.PReLU(c.fc_dim), nn.Dropout(c.dropout)
                )
            )
            self.heads2.append(Heads(c.fc_dim, c.num_landmarks, c.num_vertices))
        self._init_from_template(topology)

    def _init_from_template(self, topology: Topology) -> None:
        """Start stage 1 at the mean face (a frontal template filling 70% of the crop) and the
        later stages at a zero update."""
        template = torch.as_tensor(topology.vertices, dtype=torch.float32)
        template = template - template.mean(0)
        template = template / (template[:, 0].max() - template[:, 0].min()) * 1.4
        keypoints = torch.as_tensor(
            topology.landmarks_from_vertices(template.double().numpy()), dtype=torch.float32
        )
        with torch.no_grad():
            self.heads1.keypoints.bias.copy_(keypoints.reshape(-1))
            self.heads1.keypoints.weight.mul_(0.1)
            # dense = W k + b with W = 0 initially, b = template: the fit learns W
            self.heads1.dense.weight.zero_()
            self.heads1.dense.bias.copy_(template.reshape(-1))
            for heads in self.heads2:
                heads.keypoints.weight.mul_(0.01)
                heads.keypoints.bias.zero_()
                heads.dense.weight.zero_()
                heads.dense.bias.zero_()
                heads.pose.weight.mul_(0.01)
                heads.pose.bias.zero_()

    def offset_pose(self, pitch_deg: float) -> None:
        """Add ``pitch_deg`` degrees to the pitch every stage outputs (stage 2 adds updates to
        stage 1's pose, so stage 1's bias carries it to both): a calibration of the pose frame
        (docs/adr/0014-pose-frame-calibration.md). Pitch only, because a mirrored crop keeps
        the pitch and negates yaw and roll (``--flip-test``)."""
        with torch.no_grad():
            self.heads1.pose.bias[0] += float(pose_to_normalised(pitch_deg))

    def visibility(self, vertices: torch.Tensor) -> torch.Tensor:
        """Visibility scores (B, 68) of the embedded landmarks of meshes (B, V, 3)."""
        return visibility_scores(
            vertices,
            self.triangles,
            self.landmark_triangles,
            self.landmark_barycentric,
            (self.normal_corners, self.normal_incidence, self.normal_weights),
        )

    def to_crop_pixels(self, points: torch.Tensor) -> torch.Tensor:
        """Normalised crop coordinates -> crop pixels (x, y only). (..., >=2) -> (..., 2)."""
        return normalised_to_crop(points[..., :2], self.config.crop_size)

    def first_stage(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage 1 alone: images (B, 3, S, S) float in [0, 1] -> keypoints (B, 68, 3), vertices
        (B, V, 3) in normalised crop coordinates and pose (B, 3) in degrees / 90."""
        return self.heads1(self.stage1(images - self.pixel_mean))

    def forward(
        self,
        images: torch.Tensor,
        num_stages: int | None = None,
        first: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> CascadeOutput:
        """``first``: :meth:`first_stage` of these images when already computed (in a batch
        shared with other crops, such as the confidence's mirrored ones)."""
        out = CascadeOutput()
        x = images - self.pixel_mean
        keypoints, vertices, pose = self.heads1(self.stage1(x)) if first is None else first
        out.keypoints.append(keypoints)
        out.vertices.append(vertices)
        out.pose.append(pose)
        out.visibility.append(self.visibility(vertices))
        stages = self.config.num_stages if num_stages is None else num_stages
        return self._later_stages(x, out, stages)

    def refine(
        self, images: torch.Tensor, keypoints: torch.Tensor, visible: torch.Tensor
    ) -> CascadeOutput:
        """Run the later stages from GIVEN keypoints (B, 68, 3) and visibility (B, 68) bool,
        e.g. a person's corrected landmarks: the MSIF follow them, and their dense shape is the
        keypoint-to-dense FC of stage 1. Stage "1" of the output is the given shape."""
        out = CascadeOutput()
        x = images - self.pixel_mean
        _, _, pose = self.heads1(self.stage1(x))
        vertices = self.heads1.dense(keypoints.flatten(1)).reshape(keypoints.shape[0], -1, 3)
        out.keypoints.append(keypoints)
        out.vertices.append(vertices)
        out.pose.append(pose)
        out.visibility.append(visible.to(keypoints.dtype) * 2 - 1)
        return self._later_stages(x, out, self.config.num_stages)

    def _later_stages(self, x: torch.Tensor, out: CascadeOutput, stages: int) -> CascadeOutput:
        for k in range(stages - 1):
            visible = (out.visibility[-1] > 0).detach()
            centres = self.to_crop_pixels(out.keypoints[-1].detach())
            patches = modified_shape_indexed_features(
                x, centres, visible, self.config.patch_size, self.config.patch_extent
            )
            h = torch.cat(
                [self.stage2_patches[k](patches), out.keypoints[-1].detach().flatten(1)], 1
            )
            d_keypoints, d_vertices, d_pose = self.heads2[k](self.stage2_fc[k](h))
            out.keypoints.append(out.keypoints[-1] + d_keypoints)
            out.vertices.append(out.vertices[-1] + d_vertices)
            out.pose.append(out.pose[-1] + d_pose)
            out.visibility.append(self.visibility(out.vertices[-1]))
        return out


def cascade_loss(
    output: CascadeOutput,
    keypoints: torch.Tensor,
    vertices: torch.Tensor,
    pose: torch.Tensor,
    weights: tuple[float, float, float] = (1.0, 1.0, 0.2),
    landmark_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict]:
    """Sum over stages of the Euclidean losses of the method (Eq. 11-16).

    keypoints (B, 68, 3), vertices (B, V, 3) normalised crop coordinates; pose (B, 3) degrees/90.
    Each term is the mean per-point Euclidean distance. Returns (loss, {name: float}).
    """
    total = keypoints.new_zeros(())
    parts: dict[str, float] = {}
    for k, (kp, vt, ps) in enumerate(zip(output.keypoints, output.vertices, output.pose)):
        kp_err = torch.linalg.vector_norm(kp - keypoints, dim=-1)
        if landmark_mask is not None:
            kp_err = kp_err * landmark_mask
        kp_loss = kp_err.mean()
        dense_loss = torch.linalg.vector_norm(vt - vertices, dim=-1).mean()
        pose_loss = F.smooth_l1_loss(ps, pose, beta=0.05)
        total = total + weights[0] * kp_loss + weights[1] * dense_loss + weights[2] * pose_loss
        parts[f"s{k + 1}_kp"] = float(kp_loss.detach())
        parts[f"s{k + 1}_dense"] = float(dense_loss.detach())
        parts[f"s{k + 1}_pose"] = float(pose_loss.detach())
    return total, parts

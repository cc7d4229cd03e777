"""The cascade: shapes, the sum of stage updates, losses, gradients, weights files, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtface.core.checkpoint import load_cascade, save_cascade
from mtface.core.model import CascadeConfig, CascadeMTCNN, cascade_loss, fuse_batchnorm
from mtface.core.weights import WeightsError
from tests.conftest import shared_path


@pytest.fixture()
def model(topology):
    torch.manual_seed(0)
    return CascadeMTCNN(CascadeConfig(), topology)


def test_smoke_shapes(model):
    out = model.eval()(torch.rand(3, 3, 120, 120))
    assert len(out.keypoints) == 2
    for k in range(2):
        assert out.keypoints[k].shape == (3, 68, 3)
        assert out.vertices[k].shape == (3, 468, 3)
        assert out.pose[k].shape == (3, 3)
        assert out.visibility[k].shape == (3, 68)


def test_untrained_stage1_starts_at_a_frontal_template(model):
    out = model.eval()(torch.rand(1, 3, 120, 120), num_stages=1)
    kp = out.keypoints[0][0]
    assert kp[:, 0].min() > -1 and kp[:, 0].max() < 1
    assert (out.visibility[0][0, 17:] > 0).float().mean() > 0.9


def test_final_shape_is_the_sum_of_stage_updates(model):
    model.eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.heads2[0].keypoints.weight, std=0.05)
        out = model(torch.rand(2, 3, 120, 120))
    update = out.keypoints[1] - out.keypoints[0]
    assert update.abs().max() > 1e-4
    # the dense update is the FC map of the keypoint update (Eq. 13 applied per stage)
    dense_update = model.heads2[0].dense(update.flatten(1)).reshape(2, -1, 3)
    assert torch.allclose(out.vertices[1] - out.vertices[0], dense_update, atol=1e-5)


def test_config_variants(topology):
    cfg = CascadeConfig(crop_size=96, channels=(8, 16, 16, 16), num_stages=3, fc_dim=64)
    out = CascadeMTCNN(cfg, topology).eval()(torch.rand(1, 3, 96, 96))
    assert len(out.keypoints) == 3
    with pytest.raises(ValueError):
        CascadeMTCNN(CascadeConfig(num_vertices=100), topology)


def test_loss_gradients_reach_both_stages(model):
    model.train()
    images = torch.rand(2, 3, 120, 120)
    out = model(images)
    loss, parts = cascade_loss(
        out, torch.zeros(2, 68, 3), torch.zeros(2, 468, 3), torch.zeros(2, 3)
    )
    loss.backward()
    assert set(parts) == {f"s{k}_{n}" for k in (1, 2) for n in ("kp", "dense", "pose")}
    assert model.stage1.features[0][0].weight.grad.abs().sum() > 0
    assert model.stage2_patches[0].net[0][0].weight.grad.abs().sum() > 0


def test_loss_value_is_mean_euclidean_distance(model):
    out = model.eval()(torch.rand(1, 3, 120, 120), num_stages=1)
    target = out.keypoints[0].detach() + torch.tensor([0.3, 0.4, 0.0])
    _, parts = cascade_loss(out, target, out.vertices[0].detach(), out.pose[0].detach())
    assert np.isclose(parts["s1_kp"], 0.5, atol=1e-5) and np.isclose(parts["s1_dense"], 0.0)


def test_fused_batchnorm_gives_the_same_output(model):
    model.train()
    for _ in range(2):
        model(torch.rand(4, 3, 120, 120))  # move the running statistics
    model.eval()
    x = torch.rand(2, 3, 120, 120)
    with torch.no_grad():
        before = model(x).keypoints[-1]
        after = fuse_batchnorm(model)(x).keypoints[-1]
    assert torch.allclose(before, after, atol=1e-4)


def test_weights_round_trip_half_precision(model, tmp_path):
    path = tmp_path / "w.pt"
    save_cascade(model, path, {"k": 1}, half=True)
    loaded, meta = load_cascade(path)
    assert meta == {"k": 1}
    x = torch.rand(1, 3, 120, 120)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x).keypoints[-1], loaded(x).keypoints[-1], atol=2e-2)


def test_missing_and_corrupt_weights_raise_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_cascade(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(WeightsError, match="corrupt"):
        load_cascade(bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(WeightsError, match="not an mtface"):
        load_cascade(other)


def _w300lp_views(topology, tmp_path, count=8):
    """Augmented 120 px crops of the 300W-LP sample (training data) with exact dense labels
    from its BFM fit: (images, keypoints, vertices, pose) as the trainer feeds them."""
    from mtface.core.data.threedmm import import_fitted_folder
    from mtface.core.training.dataset import AugmentConfig, SyntheticFaces

    import_fitted_folder(shared_path("w300lp_sample"), shared_path("bfm_subset"), tmp_path)
    data = SyntheticFaces(tmp_path, topology, 120, AugmentConfig(occluder=0.0), seed=0)
    items = []
    for epoch in range(count):
        data.set_epoch(epoch)
        items.append(data[0])
    return [torch.stack(parts) for parts in zip(*items)]


@pytest.mark.shared
@pytest.mark.slow
def test_the_whole_cascade_learns_real_dense_labels(topology, tmp_path):
    """200 steps on 8 augmented views of a real 300W-LP face (never a benchmark image)."""
    torch.manual_seed(0)
    model = CascadeMTCNN(CascadeConfig(dropout=0.0), topology)
    images, kp, vertices, pose = _w300lp_views(topology, tmp_path)

    def error() -> float:
        model.eval()
        with torch.no_grad():
            out = model(images)
        return float((out.keypoints[-1][..., :2] - kp[..., :2]).norm(dim=-1).mean())

    before = error()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(200):
        model.train()
        loss, _ = cascade_loss(model(images), kp, vertices, pose)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = error()
    assert after < 0.3 * before, (before, after)


def test_onnx_export_matches_pytorch(tmp_path, tiny_weights):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from mtface.cli.main import main

    out = tmp_path / "m.onnx"
    assert main(["export", "--onnx", str(out), "--weights", str(tiny_weights)]) == 0
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == ["keypoints", "vertices", "pose", "visibility"]
    result = session.run(None, {"image": np.random.rand(2, 3, 120, 120).astype(np.float32)})
    assert result[0].shape == (2, 68, 3) and result[1].shape == (2, 468, 3)

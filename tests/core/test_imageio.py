"""Bad and odd images give clear errors or correct RGB uint8 arrays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mtface.core.imageio import ImageLoadError, list_images, load_image, to_rgb_uint8


def _save(tmp_path, name, array, **kwargs):
    path = tmp_path / name
    Image.fromarray(array, **kwargs).save(path)
    return path


def test_rgb_jpeg(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    out = load_image(_save(tmp_path, "a.png", arr))
    assert out.dtype == np.uint8 and out.shape == (40, 50, 3)
    assert np.array_equal(out, arr)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    arr = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
    out = load_image(_save(tmp_path, "g.png", arr))
    assert out.shape == (48, 64, 3)
    assert np.array_equal(out[..., 0], arr) and np.array_equal(out[..., 2], arr)


def test_rgba_is_composited_on_black(tmp_path):
    arr = np.zeros((40, 40, 4), np.uint8)
    arr[..., 0] = 200
    arr[..., 3] = 128
    out = load_image(_save(tmp_path, "a.png", arr))
    assert out.shape == (40, 40, 3)
    assert abs(int(out[0, 0, 0]) - 100) <= 1 and out[0, 0, 1] == 0


def test_sixteen_bit_is_scaled(tmp_path):
    arr = np.full((40, 40), 65535, np.uint16)
    arr[:20] = 257 * 100
    path = tmp_path / "d.png"
    Image.fromarray(arr).save(path)
    out = load_image(path)
    assert out.dtype == np.uint8 and out[0, 0, 0] == 100 and out[-1, -1, 0] == 255


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :40] = 255  # left half white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "e.jpg"
    img.save(path, exif=exif)
    out = load_image(path)
    assert out.shape == (80, 40, 3)  # portrait after the rotation
    assert out[:30].mean() > 200 and out[-30:].mean() < 50  # left half is now on top


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
    ],
)
def test_empty_and_non_image_files(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=message):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    arr = np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    path = _save(tmp_path, "t.jpg", arr)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ImageLoadError, match="t.jpg"):
        load_image(path)


def test_missing_tiny_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="too small"):
        load_image(_save(tmp_path, "s.png", np.zeros((10, 10, 3), np.uint8)))
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_huge_image_is_refused_before_decoding(tmp_path):
    # a 1-bit PNG of 30000 x 30000 pixels is small on disk but 900 megapixels
    path = tmp_path / "huge.png"
    Image.new("1", (30000, 30000)).save(path)
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(path)


def test_array_conversion_of_floats_and_two_channels():
    assert to_rgb_uint8(np.ones((4, 4), np.float32))[0, 0].tolist() == [255, 255, 255]
    la = np.zeros((4, 4, 2), np.uint8)
    la[..., 0], la[..., 1] = 255, 255
    assert to_rgb_uint8(la)[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(ImageLoadError):
        to_rgb_uint8(np.zeros((4, 4, 5)))


def test_list_images_expands_folders_sorted(tmp_path):
    for name in ("b.jpg", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images([tmp_path])] == ["a.png", "b.jpg"]


def test_loading_leaves_pil_limit_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_234_567)  # the application's own limit
    load_image(_save(tmp_path, "a.png", np.zeros((40, 40, 3), np.uint8)))
    assert Image.MAX_IMAGE_PIXELS == 1_234_567


@pytest.mark.parametrize("orientation", range(1, 9))
def test_large_photo_path_matches_pil(tmp_path, monkeypatch, orientation):
    """Large JPEGs are decoded by OpenCV into one array; the result is PIL's (EXIF applied)."""
    import mtface.core.imageio as imageio

    arr = np.random.default_rng(orientation).integers(0, 255, (40, 64, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "p.jpg"
    img.save(path, exif=exif, quality=95)
    reference = load_image(path)
    monkeypatch.setattr(imageio, "LARGE_PIXELS", 10)
    large = load_image(path)
    assert large.shape == reference.shape and large.flags.c_contiguous
    assert np.abs(large.astype(int) - reference).max() <= 2


def test_truncated_large_jpeg_is_refused(tmp_path, monkeypatch):
    import mtface.core.imageio as imageio

    arr = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    path = tmp_path / "t.jpg"
    Image.fromarray(arr).save(path)
    path.write_bytes(path.read_bytes()[:-500])
    monkeypatch.setattr(imageio, "LARGE_PIXELS", 10)
    with pytest.raises(ImageLoadError, match="t.jpg"):
        load_image(path)

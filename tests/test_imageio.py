import io

import numpy as np
import pytest
from PIL import Image

from components.common.imageio import ImageError, decode_image, read_image, write_image


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_roundtrip_png(tmp_path, astronaut):
    write_image(tmp_path / "a.png", astronaut)
    assert np.array_equal(read_image(tmp_path / "a.png"), astronaut)
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16", "LA"])
def test_modes_become_rgb(mode, astronaut):
    img = Image.fromarray(astronaut)
    if mode == "I;16":
        grey = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        img = Image.fromarray(grey.astype(np.uint16))
        assert img.mode.startswith("I;16")
    else:
        img = img.convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    rgb = decode_image(_encode(img, fmt), f"x.{mode}")
    assert rgb.dtype == np.uint8 and rgb.shape == (512, 512, 3)
    assert rgb.mean() > 20  # not black: values were scaled, not clipped


def test_sixteen_bit_keeps_contrast(astronaut):
    grey = np.asarray(Image.fromarray(astronaut).convert("L"), dtype=np.uint16) * 257
    rgb = decode_image(_encode(Image.fromarray(grey), "PNG"), "x16.png")
    reference = np.asarray(Image.fromarray(astronaut).convert("L"))
    assert np.abs(rgb[..., 0].astype(int) - reference).max() <= 1


def test_exif_orientation_is_applied(astronaut):
    img = Image.fromarray(astronaut[:, :300])  # 512 tall, 300 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    rgb = decode_image(_encode(img, "JPEG", exif=exif), "rot.jpg")
    assert rgb.shape[:2] == (300, 512)


@pytest.mark.parametrize("payload,reason", [
    (b"", "empty"),
    (b"this is a text file, renamed .jpg", "not a recognised image format"),
])
def test_bad_bytes(payload, reason):
    with pytest.raises(ImageError, match=reason) as err:
        decode_image(payload, "bad.jpg")
    assert "bad.jpg" in str(err.value)


def test_truncated_jpeg_and_png(astronaut):
    for fmt in ("JPEG", "PNG"):
        data = _encode(Image.fromarray(astronaut), fmt)
        with pytest.raises(ImageError, match="cut.img"):
            decode_image(data[: len(data) // 2], "cut.img")


def test_tiny_and_huge_are_refused(astronaut):
    with pytest.raises(ImageError, match="smaller than"):
        decode_image(_encode(Image.new("RGB", (1, 1)), "PNG"), "one.png")
    with pytest.raises(ImageError, match="pixel limit"):
        decode_image(_encode(Image.fromarray(astronaut), "PNG"), "big.png", max_pixels=100 * 100)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)

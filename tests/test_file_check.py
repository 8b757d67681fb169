"""The cheap checks that name a broken image file before DALI reads it."""

import pytest
from PIL import Image

from solo_coss.data.file_check import check_image_files, file_problem
from solo_coss.data.image_folder import CorruptImageError


@pytest.mark.parametrize("ext", ["jpg", "png", "bmp", "tif", "webp", "ppm", "pgm"])
def test_every_format_of_the_image_folder_passes(tmp_path, ext):
    path = tmp_path / f"x.{ext}"
    Image.new("L" if ext == "pgm" else "RGB", (9, 7), 100).save(path)
    assert file_problem(str(path)) is None


def test_broken_files_are_named_with_the_reason(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (30, 30), (1, 2, 3)).save(good)
    cases = {"empty.jpg": b"", "page.jpg": b"<html>404</html>", "cut.png": good.read_bytes()[:-12],
             "tiny.png": good.read_bytes()[:10]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert "first bytes b''" in file_problem(str(tmp_path / "empty.jpg"))
    assert "first bytes b'<html>40'" in file_problem(str(tmp_path / "page.jpg"))
    assert all("truncated" in file_problem(str(tmp_path / n)) for n in ("cut.png", "tiny.png"))
    files = [str(good)] + [str(tmp_path / n) for n in cases]
    with pytest.raises(
        CorruptImageError,
        match=r"^4 of 5 image files cannot be decoded: .*empty\.jpg: .*page\.jpg: "
        r".*cut\.png: the PNG is truncated",
    ):
        check_image_files(files)
    check_image_files([str(good)])  # no error

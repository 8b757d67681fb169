"""Naming the image files a DALI pipeline cannot read.

DALI's decoder errors do not say which file failed, and DALI 2.4's CPU decoder takes the whole process down
(SIGSEGV) on some broken files (bytes that are no image format, a truncated PNG) in batches of 32 or more.
So before a pipeline is built every file gets two cheap checks (about 11 us a file from the page cache):
its first bytes name a format DALI decodes, and a PNG ends with its IEND chunk. Whatever still fails in the
pipeline is found afterwards by decoding the list with PIL.
"""

from __future__ import annotations

import logging
import os

from solo_coss.data.image_folder import CorruptImageError, load_rgb

log = logging.getLogger(__name__)

PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
SIGNATURES = {"JPEG": (b"\xff\xd8\xff",), "PNG": (PNG_SIGNATURE,), "BMP": (b"BM",),
              "TIFF": (b"II*\x00", b"MM\x00*"), "PNM": tuple(f"P{i}".encode() for i in range(1, 7))}


def file_problem(path: str) -> str | None:
    """Why ``path`` is not a readable image file, or None when the cheap checks pass."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return None
        if not any(head.startswith(s) for sigs in SIGNATURES.values() for s in sigs):
            return f"its first bytes {head[:8]!r} are no {', '.join(SIGNATURES)} or WebP signature"
        if head.startswith(PNG_SIGNATURE):
            f.seek(max(size - len(PNG_END), 0))
            if f.read() != PNG_END:
                return "the PNG is truncated (it does not end with an IEND chunk)"
    return None


def check_image_files(files: list[str]) -> None:
    """CorruptImageError naming the files that fail file_problem (the first three, and how many)."""
    bad = [(path, why) for path in files if (why := file_problem(path))]
    if bad:
        listed = "; ".join(f"{path}: {why}" for path, why in bad[:3])
        raise CorruptImageError(
            f"{len(bad)} of {len(files)} image files cannot be decoded: {listed}. Delete "
            "or replace them (data.format='image_folder' with data.skip_corrupt=true skips "
            "them)"
        )


def name_undecodable(files: list[str], err: RuntimeError) -> Exception:
    """The error to raise for a DALI decoding error: the first file PIL cannot decode either, if any."""
    if "decoders.image" not in str(err):
        return err
    log.warning("DALI could not decode an image; decoding the %d files with PIL to name it", len(files))
    for path in files:
        try:
            load_rgb(path)
        except CorruptImageError as bad:
            return CorruptImageError(f"DALI stopped on an undecodable image: {bad}")
    return RuntimeError(f"DALI could not decode an image although PIL reads all {len(files)} files; use "
                        f"data.format='image_folder' ({' '.join(str(err).split())})")

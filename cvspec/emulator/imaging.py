"""Image checks as the service applies them: byte size, format (JPEG, PNG, BMP, GIF), dimensions
and aspect ratio from the header, then a full decode of the pixel data with Pillow.

The service decodes what it stores: a file whose header and checksums are right but whose
pixel data cannot be decoded, or that ends in the middle of its pixel data, is refused
(per image ``ErrorImageFormat``, the only status of ``ImageCreateStatus`` that fits). At
request level (one image, prediction, quick test) an undecodable file answers
``BadRequestImageFormat`` and a truncated one ``BadRequestImageStream``; which of the two
the service picks for each case is inferred (service-behavior.md §6 leaves it open).
The decode runs only after the header's dimensions passed the limits, so it is bounded by
``max_dimension`` squared pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from cvspec.emulator.exceptions import ServiceError, bad_request
from cvspec.emulator.limits import TierLimits

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "BMP", "GIF"})


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


class ImageProblem(Exception):
    """Why one image was refused: the per-image status and the request-level error."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_error(self) -> ServiceError:
        return bad_request(self.code, self.message)


def inspect_image(data: bytes, limits: TierLimits, max_bytes: int) -> ImageInfo:
    """Read an image's header and check it against the limits.

    Raises:
        ImageProblem: the image is empty, too big, not a supported format, or its
            dimensions or aspect ratio are out of range.
    """
    if len(data) > max_bytes:
        raise ImageProblem(
            "ErrorImageSize",
            "BadRequestImageSizeBytes",
            f"Image size exceeds the limit of {max_bytes // (1024 * 1024)} MB.",
        )
    if not data:
        raise ImageProblem("ErrorImageFormat", "BadRequestImageStream", "The image is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        fmt, width, height = "", 0, 0
    if fmt not in ACCEPTED_FORMATS:
        raise ImageProblem(
            "ErrorImageFormat",
            "BadRequestImageFormat",
            "Unsupported image format. Supported formats are JPEG, PNG, BMP and GIF.",
        )
    check_dimensions(width, height, limits)
    decode_fully(data)
    return ImageInfo(width=width, height=height, format=fmt)


def decode_fully(data: bytes) -> None:
    """Decode every pixel (the first frame of a GIF) as the service does before storing.

    Raises:
        ImageProblem: the pixel data is truncated or cannot be decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                img.load()
    except Exception as error:  # Pillow's decoders raise OSError, ValueError, struct.error...
        if "truncated" in str(error):
            raise ImageProblem(
                "ErrorImageFormat",
                "BadRequestImageStream",
                "The image data ends before the image does (truncated file).",
            ) from None
        raise ImageProblem(
            "ErrorImageFormat",
            "BadRequestImageFormat",
            "The image data cannot be decoded.",
        ) from None


def check_dimensions(width: int, height: int, limits: TierLimits) -> None:
    if width < 1 or height < 1 or max(width, height) > limits.max_dimension:
        raise ImageProblem(
            "ErrorImageDimensions",
            "BadRequestImageDimensions",
            f"Image dimensions {width}x{height} exceed the maximum of "
            f"{limits.max_dimension} pixels.",
        )
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise ImageProblem(
            "ErrorImageDimensions",
            "BadRequestImageAspectRatio",
            f"Image aspect ratio exceeds {limits.max_aspect_ratio:g}:1.",
        )


THUMBNAIL_SIDE = 256
RESIZED_SIDE = 1024


def rendition(data: bytes, max_side: int) -> bytes:
    """The image scaled down to fit ``max_side`` (JPEG), or the bytes as they are if it fits."""
    with Image.open(io.BytesIO(data)) as img:
        if max(img.size) <= max_side:
            return data
        img.draft("RGB", (max_side, max_side))
        copy = img.convert("RGB")
    copy.thumbnail((max_side, max_side))
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=90)
    return out.getvalue()

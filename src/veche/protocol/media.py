"""Pure rules of the content repository (client-server-api/modules/content_repo.md):
media IDs, which content types may be served inline, Content-Disposition values, image
magic numbers, and the thumbnail dimensions to produce for a request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

# content_repo.md, "Security considerations": media IDs are restricted to this alphabet so
# that an mxc URI cannot traverse directories.
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]+")
MAX_MEDIA_ID_LENGTH = 255

# content_repo.md, "Serving inline content": only these types may be served `inline`.
INLINE_SAFE_TYPES = frozenset(
    {
        "text/css",
        "text/plain",
        "text/csv",
        "application/json",
        "application/ld+json",
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/apng",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mp4",
        "audio/webm",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wav",
        "audio/flac",
        "audio/x-flac",
    }
)

# The policy content_repo.md recommends on every media response.
CONTENT_SECURITY_POLICY = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; object-src 'self';"
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Larger images are not thumbnailed (content_repo.md, "Security considerations": 413).
MAX_THUMBNAIL_SOURCE_PIXELS = 32_000_000

# The image formats Veche thumbnails, by the content type naming them.
THUMBNAILABLE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


@dataclass(frozen=True, slots=True)
class ThumbnailSize:
    width: int
    height: int
    method: str  # "crop" or "scale"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header of a thumbnailable image says about it."""

    content_type: str  # one of THUMBNAILABLE_TYPES, from the decoded format
    # As displayed (EXIF rotation applied). 0×0 marks an image too large even to measure.
    width: int
    height: int
    animated: bool

    def too_large_to_thumbnail(self) -> bool:
        return not 0 < self.width * self.height <= MAX_THUMBNAIL_SOURCE_PIXELS


# content_repo.md, "Thumbnails": the sizes servers SHOULD produce.
DEFAULT_THUMBNAIL_SIZES = (
    ThumbnailSize(32, 32, "crop"),
    ThumbnailSize(96, 96, "crop"),
    ThumbnailSize(320, 240, "scale"),
    ThumbnailSize(640, 480, "scale"),
    ThumbnailSize(800, 600, "scale"),
)
THUMBNAIL_METHODS = ("crop", "scale")


def is_valid_media_id(media_id: str) -> bool:
    return len(media_id) <= MAX_MEDIA_ID_LENGTH and _MEDIA_ID.fullmatch(media_id) is not None


def mxc_uri(server_name: str, media_id: str) -> str:
    return f"mxc://{server_name}/{media_id}"


def base_content_type(content_type: str) -> str:
    """`text/plain; charset=utf-8` → `text/plain`, lower-cased."""
    return content_type.split(";", 1)[0].strip().lower()


def is_inline_safe(content_type: str) -> bool:
    return base_content_type(content_type) in INLINE_SAFE_TYPES


def content_disposition(content_type: str, filename: str | None) -> str:
    """`inline` only for the types the spec lists as safe, `attachment` otherwise; the file
    name as a quoted ASCII string when possible, else as RFC 8187 UTF-8 (`filename*`)."""
    disposition = "inline" if is_inline_safe(content_type) else "attachment"
    if not filename:
        return disposition
    if _is_plain_ascii(filename):
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'{disposition}; filename="{escaped}"'
    return f"{disposition}; filename*=utf-8''{quote(filename, safe='')}"


def _is_plain_ascii(text: str) -> bool:
    return all(0x20 <= ord(c) < 0x7F for c in text)


def sniff_image_type(head: bytes) -> str | None:
    """The thumbnailable image type the first bytes of a file announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def stored_content_type(declared: str | None, head: bytes) -> str:
    """The type to record for an upload: the declared one, except that a thumbnailable image
    type over bytes that are no image is "obviously wrong" and becomes octet-stream (the
    `downloadContentType` header rules of content-repo.yaml)."""
    if not declared or not declared.strip():
        return DEFAULT_CONTENT_TYPE
    declared = declared.strip()
    if base_content_type(declared) in THUMBNAILABLE_TYPES and sniff_image_type(head) is None:
        return DEFAULT_CONTENT_TYPE
    return declared


def effective_request(width: int, height: int, method: str) -> ThumbnailSize:
    """The smallest pre-generated size of the same method that is at least as large as the
    request (so common requests hit the cache), else the request itself."""
    fitting = [
        size
        for size in DEFAULT_THUMBNAIL_SIZES
        if size.method == method and size.width >= width and size.height >= height
    ]
    if not fitting:
        return ThumbnailSize(width, height, method)
    return min(fitting, key=lambda size: size.width * size.height)


def thumbnail_dimensions(
    source_width: int, source_height: int, request: ThumbnailSize
) -> tuple[int, int] | None:
    """The (width, height) of the thumbnail for `request`, or None when the source is no
    larger than the request and should be served itself. Never upscales (content_repo.md,
    "Thumbnails"): `scale` fits the image inside the box keeping its aspect; `crop` gives
    the box's aspect, cropping only as much of the source as scaling down cannot cover."""
    if source_width <= request.width and source_height <= request.height:
        return None
    if request.method == "scale":
        ratio = min(request.width / source_width, request.height / source_height)
        return max(1, round(source_width * ratio)), max(1, round(source_height * ratio))
    ratio = max(request.width / source_width, request.height / source_height)
    if ratio < 1:
        return request.width, request.height
    # The source is smaller than the box along one side: crop it to the box's aspect.
    width = min(source_width, round(source_height * request.width / request.height))
    height = min(source_height, round(source_width * request.height / request.width))
    return max(1, width), max(1, height)

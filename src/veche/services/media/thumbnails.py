"""Image probing and thumbnail rendering with Pillow, in a small pool of worker threads so
the event loop never decodes an image.

Untrusted images are guarded before anything is decoded: the header's dimensions are
checked against a pixel limit (decompression bombs), animations against frame and
total-pixel limits, and truncated or corrupt data fails the render instead of being
padded out. Every render also has a time limit.

Pillow is imported by the first probe or render, in a worker thread: a server that is
never sent an image does not carry it (1-2 MB).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from veche.protocol.media import ImageInfo, sniff_image_type

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_WORKERS = 2
RENDER_TIMEOUT_SECONDS = 30.0
# Animated thumbnails only for animations within these bounds; others get a still.
MAX_ANIMATED_FRAMES = 150
MAX_ANIMATION_PIXELS = 150_000_000  # source width × height × frames

_FORMAT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
# EXIF orientations that turn the image a quarter turn, swapping width and height.
_QUARTER_TURNS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


class CannotThumbnail(Exception):
    """The content could not be decoded as the image its header promised."""


@dataclass(frozen=True, slots=True)
class Thumbnail:
    data: bytes
    content_type: str


class Thumbnailer:
    def __init__(self, workers: int = MAX_WORKERS, timeout: float = RENDER_TIMEOUT_SECONDS) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="thumbnail")
        self._timeout = timeout

    async def probe(self, path: Path) -> ImageInfo | None:
        """What kind of thumbnailable image the file is, or None if it is none."""
        try:
            return await self._run(probe_image, path)
        except Exception:
            logger.debug("Probing %s failed", path, exc_info=True)
            return None

    async def render(
        self, path: Path, width: int, height: int, method: str, animated: bool
    ) -> Thumbnail:
        """A `width`×`height` thumbnail (`crop` fills the box exactly, `scale` resizes to
        it); animated WebP when `animated` and the source animation is small enough."""
        try:
            return await self._run(render_thumbnail, path, width, height, method, animated)
        except TimeoutError:
            raise CannotThumbnail("rendering took too long") from None
        except Exception as e:
            # Pillow reports truncated and corrupt data with many exception types.
            raise CannotThumbnail(str(e) or type(e).__name__) from None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), self._timeout)


def probe_image(path: Path) -> ImageInfo | None:
    """Reads only the header (and, for animations, the frame headers)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            content_type = _FORMAT_TYPES.get(image.format or "")
            if content_type is None:
                return None
            width, height = image.size
            # Only where EXIF sits in the header: PNG's getexif() would decode the image.
            rotatable = image.format in ("JPEG", "WEBP")
            if rotatable and image.getexif().get(_EXIF_ORIENTATION) in _QUARTER_TURNS:
                width, height = height, width
            return ImageInfo(content_type, width, height, bool(getattr(image, "is_animated", False)))
    except Image.DecompressionBombError:
        with open(path, "rb") as f:
            head = f.read(16)
        content_type = sniff_image_type(head)
        return ImageInfo(content_type, 0, 0, False) if content_type else None


def render_thumbnail(path: Path, width: int, height: int, method: str, animated: bool) -> Thumbnail:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        if animated and _animation_within_limits(image):
            return _render_animated(image, width, height, method)
        image.seek(0)
        if image.format == "JPEG":
            # Lets libjpeg decode at a reduced scale, far cheaper for big photos; the larger
            # side twice, since an EXIF rotation may yet swap them.
            side = max(width, height)
            image.draft("RGB", (side, side))
        image.load()
        still = ImageOps.exif_transpose(image)
        output_format = "JPEG" if image.format == "JPEG" else "PNG"
        still = still.convert("RGB" if output_format == "JPEG" else "RGBA")
        resized = _resize(still, width, height, method)
        buffer = io.BytesIO()
        if output_format == "JPEG":
            resized.save(buffer, "JPEG", quality=85, optimize=True)
            return Thumbnail(buffer.getvalue(), "image/jpeg")
        resized.save(buffer, "PNG", optimize=True)
        return Thumbnail(buffer.getvalue(), "image/png")


def _animation_within_limits(image: Image.Image) -> bool:
    if not getattr(image, "is_animated", False):
        return False
    frames = getattr(image, "n_frames", 1)
    return frames <= MAX_ANIMATED_FRAMES and image.width * image.height * frames <= MAX_ANIMATION_PIXELS


def _render_animated(image: Image.Image, width: int, height: int, method: str) -> Thumbnail:
    from PIL import ImageSequence

    frames: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(image):
        frames.append(_resize(frame.convert("RGBA"), width, height, method))
        durations.append(int(frame.info.get("duration") or 100))
    buffer = io.BytesIO()
    # content-repo.yaml (`animated`): servers SHOULD prefer WebP for animated thumbnails.
    frames[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=int(image.info.get("loop", 0)),
        quality=80,
    )
    return Thumbnail(buffer.getvalue(), "image/webp")


def _resize(image: Image.Image, width: int, height: int, method: str) -> Image.Image:
    from PIL import Image, ImageOps

    if method == "crop":
        return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    return image.resize((width, height), Image.Resampling.LANCZOS)

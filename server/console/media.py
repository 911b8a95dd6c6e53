"""Images and masks for the console: read from where dataset entries point, written where refs resolve.

Reading goes through server/datasets/sources.py (the same resolution as dataset imports: files below
the dataset root, `s3://<local bucket>/...` as files there, other s3:// refs through boto3). Uploads
are written below the dataset root and referenced as `s3://<local bucket>/console-uploads/...`, so that
UpdateDatasetEntries imports them by the API's own rules.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from server.datasets.sources import MAX_OBJECT_BYTES, SourceError, Sources
from server.s3.client import S3, S3Limits
from server.settings import Settings
from server.spec.limits import CONTENT_TYPES, IMAGE_SUFFIXES

UPLOAD_FOLDER = "console-uploads"

MAX_FOLDER_IMAGES = 20_000
IMAGE_FORMATS = {image_format: content_type for content_type, image_format in CONTENT_TYPES.items()}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class MediaError(ValueError):
    """A file the console cannot read or write; the message is for the user."""


def image_type(content: bytes) -> str:
    """The MIME type of a PNG or JPEG image; MediaError for anything else."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format or ""
            image.verify()
    except UnidentifiedImageError:
        raise MediaError("not a PNG or JPEG image") from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError(f"not a readable PNG or JPEG image ({error})") from None
    if kind not in IMAGE_FORMATS:
        raise MediaError(f"a {kind or 'unknown'} image; only PNG and JPEG are accepted")
    return IMAGE_FORMATS[kind]


def overlay(mask: bytes, background: set[str]) -> bytes:
    """The mask as an RGBA PNG whose background colours (and black/white) are transparent."""
    try:
        with Image.open(io.BytesIO(mask)) as image:
            pixels = np.asarray(image.convert("RGBA")).copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError(f"the mask is not an image ({error})") from None
    clear = pixels[..., 3] == 0
    for color in {*background, "#000000", "#FFFFFF"}:
        rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
        clear |= np.all(pixels[..., :3] == rgb, axis=-1)
    pixels[..., 3] = np.where(clear, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


class Media:
    def __init__(self, settings: Settings) -> None:
        limits = S3Limits(settings.s3_connect_timeout, settings.s3_read_timeout, settings.s3_max_attempts)
        self.s3 = S3(settings.s3_endpoint_url or None, limits)
        root = Path(settings.dataset_root).expanduser() if settings.dataset_root else None
        self.root = root.resolve() if root else None
        self.local_bucket = settings.local_bucket

    def read(self, region: str, reference: str, limit: int = MAX_OBJECT_BYTES) -> bytes:
        """An image, a mask or an evaluation manifest, by the ref a dataset entry or model holds."""
        try:
            return Sources(self.s3, region, self.root, self.local_bucket).read(reference, limit)
        except SourceError as error:
            raise MediaError(str(error)) from None

    def save_upload(self, project: str, dataset: str, filename: str, content: bytes) -> str:
        """Write an uploaded image below the dataset root; returns the s3:// ref that points at it."""
        if self.root is None:
            raise MediaError("uploads need a folder for the images: start the server with --dataset-root DIR")
        if len(content) > MAX_OBJECT_BYTES:
            raise MediaError(f"{len(content)} bytes; an image may have at most {MAX_OBJECT_BYTES}")
        kind = image_type(content)
        stem = _SAFE_NAME.sub("-", Path(filename.replace("\\", "/")).stem).strip(".-")[:80] or "image"
        suffix = ".png" if kind == "image/png" else ".jpg"
        folder = self.root / UPLOAD_FOLDER / _SAFE_NAME.sub("-", project) / dataset
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{stem}.{os.getpid()}.{threading.get_ident()}.part"
        partial.write_bytes(content)
        try:
            for number in range(1, 10_000):
                target = folder / (f"{stem}{suffix}" if number == 1 else f"{stem}-{number}{suffix}")
                try:
                    os.link(partial, target)  # atomic, and never replaces an image already there
                    break
                except FileExistsError:
                    continue
            else:
                raise MediaError(f"too many images named {stem}{suffix}")
        finally:
            partial.unlink(missing_ok=True)
        return f"s3://{self.local_bucket}/{target.relative_to(self.root).as_posix()}"

    def folder_lines(self, folder: str) -> list[str]:
        """Manifest lines for the images of a folder below the dataset root, labelled by subfolder as L4V's
        console did: `normal/` and `anomaly/` give the label, images directly in the folder none."""
        if self.root is None:
            raise MediaError(
                "folders are read below the dataset root: start the server with --dataset-root DIR"
            )
        base = (self.root / folder.strip().lstrip("/")).resolve()
        if base != self.root and self.root not in base.parents:
            raise MediaError(f"{folder} is outside the dataset root")
        if not base.is_dir():
            raise MediaError(f"{folder} is not a folder below the dataset root")
        lines = []
        for label, where in ((None, base), ("normal", base / "normal"), ("anomaly", base / "anomaly")):
            if not where.is_dir():
                continue
            for path in sorted(where.iterdir()):
                if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                resolved = path.resolve()
                if self.root not in resolved.parents:  # a link that leads out of the root
                    continue
                line: dict[str, Any] = {
                    "source-ref": f"s3://{self.local_bucket}/{resolved.relative_to(self.root).as_posix()}"
                }
                if label is not None:
                    line["anomaly-label"] = 1 if label == "anomaly" else 0
                    line["anomaly-label-metadata"] = {
                        "class-name": label,
                        "type": "groundtruth/image-classification",
                        "human-annotated": "yes",
                        "job-name": "lookoutvision-console",
                    }
                lines.append(json.dumps(line, separators=(",", ":")))
                if len(lines) > MAX_FOLDER_IMAGES:
                    raise MediaError(f"{folder} holds more than {MAX_FOLDER_IMAGES} images")
        if not lines:
            raise MediaError(f"{folder} holds no .png or .jpg images (nor normal/ and anomaly/ subfolders)")
        return lines

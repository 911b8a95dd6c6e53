"""Small pictures of parts for the console's tests and screenshots: grey plates, some with a red scratch,
with Ground Truth segmentation masks and a manifest whose refs point into the local bucket."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

LOCAL_BUCKET = "lookoutvision-local"  # the settings' default
SCRATCH = "#ff0000"
COLOR_MAP = {
    "0": {"class-name": "BACKGROUND", "hex-color": "#ffffff", "confidence": 0},
    "1": {"class-name": "scratch", "hex-color": SCRATCH, "confidence": 0},
}


def plate(seed: int, size: int = 128, scratch: bool = False) -> tuple[bytes, bytes | None]:
    """A PNG of a grey plate with bolt holes (red channel below one half, so models see no anomaly), and
    for a scratched one the PNG mask of its scratch."""
    rng = random.Random(seed)
    shade = rng.randint(90, 115)
    image = Image.new("RGB", (size, size), (40, 44, 52))
    draw = ImageDraw.Draw(image)
    margin = size // 10
    draw.rounded_rectangle(
        (margin, margin, size - margin, size - margin), radius=size // 8, fill=(shade,) * 3
    )
    for x, y in ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)):
        r = size // 16
        draw.ellipse((x * size - r, y * size - r, x * size + r, y * size + r), fill=(60, 64, 70))
    mask = None
    if scratch:
        start = (rng.randint(margin * 2, size // 2), rng.randint(margin * 2, size - margin * 2))
        end = (rng.randint(size // 2, size - margin * 2), rng.randint(margin * 2, size - margin * 2))
        width = max(3, size // 40)
        draw.line((*start, *end), fill=(235, 150, 60), width=width)
        drawn = Image.new("RGB", (size, size), (255, 255, 255))
        ImageDraw.Draw(drawn).line((*start, *end), fill=(255, 0, 0), width=width)
        mask = _png(drawn)
    return _png(image), mask


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_dataset(root: Path, folder: str, normal: int, anomalous: int, size: int = 128) -> str:
    """Images, masks and manifest below `root`/`folder`; returns the manifest's s3:// ref."""
    base = root / folder
    (base / "masks").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(normal + anomalous):
        scratched = index >= normal
        name = f"{'scratched' if scratched else 'good'}-{index:02d}.png"
        image, mask = plate(index, size, scratched)
        (base / name).write_bytes(image)
        line: dict = {
            "source-ref": f"s3://{LOCAL_BUCKET}/{folder}/{name}",
            "anomaly-label": int(scratched),
            "anomaly-label-metadata": {
                "class-name": "anomaly" if scratched else "normal",
                "type": "groundtruth/image-classification",
                "human-annotated": "yes",
            },
        }
        if mask is not None:
            (base / "masks" / name).write_bytes(mask)
            line["anomaly-mask-ref"] = f"s3://{LOCAL_BUCKET}/{folder}/masks/{name}"
            line["anomaly-mask-ref-metadata"] = {
                "internal-color-map": COLOR_MAP,
                "type": "groundtruth/semantic-segmentation",
            }
        lines.append(json.dumps(line))
    (base / "manifest.json").write_text("\n".join(lines) + "\n")
    return f"s3://{LOCAL_BUCKET}/{folder}/manifest.json"

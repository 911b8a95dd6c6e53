"""Image and mask checks for dataset entries: format, size limits, one size per project, mask colours."""

from __future__ import annotations

import io
import warnings

from server.datasets.manifest import ManifestError
from server.spec.limits import IMAGE_MAX_SIDE as MAX_SIDE
from server.spec.limits import IMAGE_MIN_SIDE as MIN_SIDE

_BACKGROUNDS = {"#FFFFFF", "#000000"}  # Ground Truth uses white; AWS's own template used black (and alpha 0)


def check_image(content: bytes, where: str) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG within the service's limits, fully decodable."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(content), formats=["PNG", "JPEG"])
            size = image.size
            if not all(MIN_SIDE <= side <= MAX_SIDE for side in size):
                raise ManifestError(
                    f"{where}: the image is {size[0]}x{size[1]}; sides must be {MIN_SIDE}-{MAX_SIDE} px"
                )
            image.load()
        except UnidentifiedImageError:
            raise ManifestError(f"{where}: not a PNG or JPEG image") from None
        except (
            OSError,
            SyntaxError,
            ValueError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as e:
            raise ManifestError(f"{where}: the image is corrupt or too large ({e})") from None
    return size


def check_mask(content: bytes, size: tuple[int, int], classes: dict[str, str], where: str) -> None:
    """A real PNG the size of its image, painted only in the colour map's colours (and background)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        mask = Image.open(io.BytesIO(content), formats=["PNG"])
        mask.load()
    except UnidentifiedImageError:
        raise ManifestError(f"{where}: the mask is not a PNG image") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ManifestError(f"{where}: the mask is corrupt ({error})") from None
    if mask.size != size:
        raise ManifestError(
            f"{where}: the mask is {mask.size[0]}x{mask.size[1]}, its image {size[0]}x{size[1]}"
        )
    rgba = np.asarray(mask.convert("RGBA"))
    opaque = rgba[rgba[:, :, 3] > 0][:, :3]
    colors = (
        {"#{:02X}{:02X}{:02X}".format(*row) for row in np.unique(opaque, axis=0)} if opaque.size else set()
    )
    unknown = sorted(colors - set(classes) - _BACKGROUNDS)
    if unknown:
        raise ManifestError(f"{where}: the mask uses {', '.join(unknown[:5])}, not in its internal-color-map")

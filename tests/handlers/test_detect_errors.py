"""Every way a DetectAnomalies request can be wrong, each a clear AWS error (never a 500)."""

from __future__ import annotations

import struct
import zlib

import pytest

from tests.support.live import host, import_model
from tests.support.onnx_models import classifier_bundle, image_bytes, solid

GREY = (100, 100, 100)


@pytest.fixture
def hosted(tmp_path, http, lfv):
    import_model(http, "parts", classifier_bundle(tmp_path / "c", image_size=(96, 80)))
    host(lfv, "parts", "1")
    return "parts", "1"


def refused(lfv, body: bytes, content_type: str = "image/png", project="parts", version="1"):
    with pytest.raises(lfv.exceptions.ClientError) as caught:
        lfv.detect_anomalies(ProjectName=project, ModelVersion=version, Body=body, ContentType=content_type)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


@pytest.mark.parametrize(
    "content_type", ["image/gif", "application/octet-stream", "image/tiff", "image/pngx"]
)  # text/plain, a type a web page can send cross-site, is refused before: tests/protocol/test_browser_safety.py
def test_unsupported_content_type_gets_the_service_message(lfv, hosted, content_type):
    assert refused(lfv, image_bytes(solid(96, 80, GREY)), content_type) == (
        "ValidationException",
        400,
        "content-type must be one of the following. image/jpeg, image/png",
    )


def test_content_type_with_parameters_and_case_is_accepted(lfv, hosted):
    result = lfv.detect_anomalies(
        ProjectName="parts",
        ModelVersion="1",
        Body=image_bytes(solid(96, 80, GREY)),
        ContentType="Image/PNG; q=1",
    )
    assert result["DetectAnomalyResult"]["IsAnomalous"] is False


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds almost no pixel data: decoding it would allocate the claim."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes(64))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"not an image at all", "image/png", "not a valid PNG image"),
        (image_bytes(solid(96, 80, GREY), "JPEG"), "image/png", "not a valid PNG image"),
        (image_bytes(solid(96, 80, GREY)), "image/jpeg", "not a valid JPEG image"),
        (image_bytes(solid(96, 80, GREY))[:-40], "image/png", "corrupt or truncated"),
        (image_bytes(solid(96, 80, GREY), "JPEG")[:200], "image/jpeg", "corrupt or truncated"),
        (image_bytes(solid(32, 32, GREY)), "image/png", "must be 64 to 4096"),
        (png_header_only(5000, 64), "image/png", "must be 64 to 4096"),
        (png_header_only(200_000, 200_000), "image/png", "too large"),
        (image_bytes(solid(97, 80, GREY)), "image/png", "takes images of 96x80 pixels"),
    ],
    ids=["garbage", "jpeg-as-png", "png-as-jpeg", "truncated-png", "truncated-jpeg", "too-small", "too-wide",
         "decompression-bomb", "wrong-size"],
)  # fmt: skip
def test_bad_images(lfv, hosted, body, content_type, fragment):
    code, status, message = refused(lfv, body, content_type)
    assert (code, status) == ("ValidationException", 400)
    assert fragment in message


def test_body_over_8_mb(lfv, hosted):
    code, status, message = refused(lfv, b"\x89PNG\r\n\x1a\n" + bytes(8 * 1024 * 1024))
    assert (code, status) == ("ValidationException", 400)
    assert "limit is 8388608 bytes" in message


def test_unknown_project_and_version(lfv, hosted):
    body = image_bytes(solid(96, 80, GREY))
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as project:
        lfv.detect_anomalies(ProjectName="nope", ModelVersion="1", Body=body, ContentType="image/png")
    assert project.value.response["ResourceType"] == "PROJECT"
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as version:
        lfv.detect_anomalies(ProjectName="parts", ModelVersion="7", Body=body, ContentType="image/png")
    assert (version.value.response["ResourceType"], version.value.response["ResourceId"]) == ("MODEL", "7")


def test_the_server_keeps_serving_after_bad_requests(lfv, hosted):
    for body in (b"junk", png_header_only(200_000, 200_000), image_bytes(solid(96, 80, GREY))[:-40]):
        with pytest.raises(lfv.exceptions.ValidationException):
            lfv.detect_anomalies(ProjectName="parts", ModelVersion="1", Body=body, ContentType="image/png")
    good = lfv.detect_anomalies(
        ProjectName="parts", ModelVersion="1", Body=image_bytes(solid(96, 80, GREY)), ContentType="image/png"
    )
    assert good["DetectAnomalyResult"]["IsAnomalous"] is False

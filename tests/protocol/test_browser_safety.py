"""What a web page could make a browser send (a cross-site Origin, a simple content type) cannot change
anything, on the L4V API or on /_emulator/; boto3 and the CLI, which send neither, work as before."""

from __future__ import annotations

import pytest

from tests.support.errors import assert_aws_error
from tests.support.onnx_models import image_bytes, solid

FOREIGN_ORIGINS = ["https://evil.example", "null", "http://127.0.0.1.evil.example", "http://10.0.0.5:5055"]
SIMPLE_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
CREATE = ("POST", "/2020-11-20/projects")


def project_names(lfv) -> list[str]:
    return [p["ProjectName"] for p in lfv.list_projects()["Projects"]]


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_a_foreign_origin_changes_nothing(http, lfv, origin):
    response = http.post(CREATE[1], json={"ProjectName": "p"}, headers={"Origin": origin})
    assert "web pages" in assert_aws_error(response, 403, "AccessDeniedException")["Message"]
    assert project_names(lfv) == []
    lfv.create_project(ProjectName="kept")
    for method, path in [("DELETE", "/2020-11-20/projects/kept"), ("POST", "/_emulator/reset")]:
        assert_aws_error(http.request(method, path, headers={"Origin": origin}), 403, "AccessDeniedException")
    assert project_names(lfv) == ["kept"]


def test_another_port_on_loopback_is_foreign(emulator, http, lfv):
    port = int(emulator.url.rsplit(":", 1)[1])
    response = http.post(
        CREATE[1], json={"ProjectName": "p"}, headers={"Origin": f"http://127.0.0.1:{port + 1}"}
    )
    assert_aws_error(response, 403, "AccessDeniedException")
    assert project_names(lfv) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_servers_own_loopback_origin_is_allowed(emulator, http, lfv, host):
    port = emulator.url.rsplit(":", 1)[1]
    response = http.post(CREATE[1], json={"ProjectName": "p"}, headers={"Origin": f"http://{host}:{port}"})
    assert response.status_code == 200, response.text
    assert project_names(lfv) == ["p"]


def test_reading_with_a_foreign_origin_is_allowed(http):
    # A page cannot read the answer (no CORS headers are sent), and reading changes nothing.
    response = http.get("/2020-11-20/projects", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
@pytest.mark.parametrize(
    "path",
    [
        "/2020-11-20/projects",
        "/_emulator/results",
        "/_emulator/delays",
        "/_emulator/projects/p/models",
        "/2020-11-20/projects/p/models/1/detect",
    ],
)
def test_simple_content_types_with_a_body_are_refused(http, lfv, content_type, path):
    body = b'{"ProjectName": "p", "hosting": 1}'
    response = http.post(path, content=body, headers={"Content-Type": content_type})
    assert content_type.split(";")[0] in assert_aws_error(response, 403, "AccessDeniedException")["Message"]
    assert project_names(lfv) == []
    assert http.get("/_emulator/delays").json()["hosting"] == 0


def test_a_simple_content_type_without_a_body_is_harmless(http):
    # Nothing a page could smuggle in: the operation reads no body.
    response = http.post("/_emulator/reset", headers={"Content-Type": "text/plain"})
    assert response.status_code == 200


def test_boto3_calls_keep_working(http, lfv):
    lfv.create_project(ProjectName="p")  # JSON body: application/json
    lfv.create_dataset(ProjectName="p", DatasetType="train")
    status = lfv.update_dataset_entries(
        ProjectName="p", DatasetType="train", Changes=b'{"source-ref": "s3://b/a.png"}'
    )["Status"]
    assert status == "UPDATE_IN_PROGRESS"
    answer = {"IsAnomalous": True, "Confidence": 0.75}
    http.post(
        "/_emulator/results", json={"project": "p", "version": "1", "results": [answer]}
    ).raise_for_status()
    png = image_bytes(solid(64, 64, (10, 20, 30)))
    result = lfv.detect_anomalies(ProjectName="p", ModelVersion="1", Body=png, ContentType="image/png")
    assert result["DetectAnomalyResult"]["Confidence"] == 0.75


def test_oversized_headers_are_refused(http):
    response = http.get("/2020-11-20/projects", headers={"X-Padding": "a" * 100_000})
    assert "limit is 65536" in assert_aws_error(response, 400, "ValidationException")["Message"]


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.nip.io", "lookoutvision.internal:5055"])
def test_dns_rebinding_host_names_are_refused(http, lfv, host):
    # A page whose domain now resolves to 127.0.0.1 is same-origin with us: no Origin check would help.
    for method, path in [("GET", "/2020-11-20/projects"), ("POST", "/_emulator/reset")]:
        response = http.request(method, path, headers={"Host": host})
        assert "loopback" in assert_aws_error(response, 403, "AccessDeniedException")["Message"]


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "127.0.0.2", "[::1]", "app.localhost", "0.0.0.0"])
def test_loopback_host_names_are_served(emulator, http, name):
    port = emulator.url.rsplit(":", 1)[1]
    assert http.get("/2020-11-20/projects", headers={"Host": f"{name}:{port}"}).status_code == 200

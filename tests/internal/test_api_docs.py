"""/openapi.json and /docs on a running server: one valid document for the L4V API and the emulator's
endpoints, Swagger UI with nothing fetched from elsewhere, and calls made the way Swagger UI makes them."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from server.spec import service_model
from tests.support.errors import assert_aws_error
from tests.support.live import host, import_model
from tests.support.onnx_models import classifier_bundle, image_bytes, solid

EMULATOR_ENDPOINTS = {
    ("/_emulator/health", "get"),
    ("/_emulator/reset", "post"),
    ("/_emulator/hosting", "get"),
    ("/_emulator/projects/{project}/models", "post"),
    ("/_emulator/results", "post"),
    ("/_emulator/results", "delete"),
    ("/_emulator/delays", "get"),
    ("/_emulator/delays", "post"),
}


@pytest.fixture(scope="module")
def document(emulator) -> dict:
    import httpx

    response = httpx.get(f"{emulator.url}/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    return response.json()


def test_the_served_document_is_valid_and_holds_all_22_operations(document):
    validate(document)
    operations = {
        item["operationId"]
        for path, methods in document["paths"].items()
        if not path.startswith("/_emulator/")
        for item in methods.values()
    }
    assert operations == set(service_model().operation_names) and len(operations) == 22


def test_the_emulator_endpoints_are_documented_with_their_models(document):
    served = {(path, method) for path, item in document["paths"].items() for method in item}
    assert {pair for pair in served if pair[0].startswith("/_emulator/")} == EMULATOR_ENDPOINTS
    health = document["paths"]["/_emulator/health"]["get"]["responses"]["200"]["content"]["application/json"]
    schema = document["components"]["schemas"][health["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"ready", "version", "data_dir", "in_memory", "device", "execution_providers"} <= set(
        schema["properties"]
    )
    scripted = document["paths"]["/_emulator/results"]["post"]
    assert scripted["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ScriptedResults"
    )
    # Bad input is answered as the API's ValidationException, never FastAPI's 422
    assert "422" not in scripted["responses"]
    assert scripted["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ValidationException"
    )
    upload = document["paths"]["/_emulator/projects/{project}/models"]["post"]
    assert set(upload["requestBody"]["content"]) == {"application/zip", "application/octet-stream"}
    assert {"account", "region", "imageWidth", "imageHeight", "className", "classColor", "description"} <= {
        parameter["name"] for parameter in upload["parameters"]
    }


def test_docs_load_from_this_server_only(http):
    page = http.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", page.text), "the page names another server"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert len(assets) >= 3 and all(asset.startswith("/docs/assets/") for asset in assets)
    for asset in assets:
        response = http.get(asset)
        assert response.status_code == 200 and len(response.content) > 0, asset
    assert "'/openapi.json'" in page.text
    assert '"validatorUrl": null' in page.text  # no badge fetched from Swagger's online validator


def test_docs_assets_are_the_package_files_only(http):
    assert_aws_error(http.get("/docs/assets/..%2F..%2F__init__.py"), 404, "UnknownOperationException")
    assert_aws_error(http.get("/docs/assets/nothing.js"), 404, "UnknownOperationException")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"project": 7, "version": "1", "results": [{"IsAnomalous": True, "Confidence": 0.5}]}, "project"),
        ({"project": "p", "version": "1", "results": [{"IsAnomalous": True}], "repeat": "yes"}, "repeat"),
        ({"project": "p", "results": [{"IsAnomalous": True, "Confidence": 0.5}]}, "version"),
        ({"project": "p", "version": "1", "results": "all"}, "results"),
    ],
)
def test_a_body_that_does_not_fit_the_model_is_a_validation_exception(http, body, fragment):
    response = http.post("/_emulator/results", json=body)
    assert fragment in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_delays_of_the_wrong_type_are_a_validation_exception(http):
    for value in (True, "2", None, [1]):
        response = http.post("/_emulator/delays", json={"hosting": value})
        assert "hosting" in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_detect_anomalies_as_swagger_ui_sends_it(emulator, http, lfv, tmp_path):
    """A browser on /docs: the page's own origin, the file as the raw body, its type as Content-Type."""
    import_model(http, "line", classifier_bundle(tmp_path / "b"))
    host(lfv, "line", "1")
    browser = {"Origin": emulator.url, "Accept": "application/json", "Referer": f"{emulator.url}/docs"}
    red = image_bytes(solid(96, 80, (250, 0, 0)))
    response = http.post(
        "/2020-11-20/projects/line/models/1/detect",
        content=red,
        headers={**browser, "Content-Type": "image/png"},
    )
    assert response.status_code == 200, response.text
    result = response.json()["DetectAnomalyResult"]
    assert result["IsAnomalous"] is True and result["Source"] == {"Type": "direct"}
    # A JSON operation from the page, and the same image sent as a form upload, which pages of other
    # origins could also send: refused as before.
    assert http.get("/2020-11-20/projects", headers=browser).json()["Projects"][0]["ProjectName"] == "line"
    response = http.post(
        "/2020-11-20/projects/line/models/1/detect",
        files={"file": ("red.png", red, "image/png")},
        headers=browser,
    )
    assert_aws_error(response, 403, "AccessDeniedException")

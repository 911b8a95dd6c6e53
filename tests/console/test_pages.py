"""The console over plain HTTP: routing, the same rules as the API, and hostile input."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.console.parts import plate
from tests.support.live import import_model
from tests.support.onnx_models import classifier_bundle, image_bytes, solid


def error_text(html: str) -> str:
    found = re.search(r'id="error">(.*?)</p>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


def problem(response) -> str:
    return response.url.params.get("problem", "")


def problem_of(redirect) -> str:
    """The message a post-redirect-get answer carries to the next page."""
    return parse_qs(urlsplit(redirect.headers["location"]).query).get("problem", [""])[0]


def wait_dataset(web, project: str, kind: str = "train") -> str:
    deadline = time.monotonic() + 30
    while True:
        page = web.get(f"/console/projects/{project}/datasets/{kind}").text
        status = re.search(r'id="dataset-status">([A-Z_]+)<', page).group(1)
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return page
        time.sleep(0.1)


def counts(page: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r'id="count-(\w+)">(\d+)<', page)}


def test_root_leads_to_the_console(web):
    response = web.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"
    assert web.get("/console").headers["location"] == "/console/"
    page = web.get("/console/")
    assert page.status_code == 200
    assert "Projects" in page.text and 'href="/console/static/console.css"' in page.text
    assert web.get("/console/static/console.css").headers["content-type"].startswith("text/css")


def test_api_paths_beside_the_console_stay_the_apis(web, console_server):
    response = httpx.post(
        f"{console_server.url}/", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.headers["x-amzn-ErrorType"].startswith("UnknownOperationException")


def test_service_errors_are_shown_not_500(web):
    response = web.post("/console/projects", data={"name": "../etc/passwd"}, follow_redirects=True)
    assert response.status_code == 200
    assert problem(response).startswith("ValidationException: 1 validation error detected")
    assert "../etc/passwd" not in [p for p in re.findall(r'data-project="([^"]*)"', response.text)]
    missing = web.get("/console/projects/nothing-here")
    assert missing.status_code == 404
    assert error_text(missing.text) == "ResourceNotFoundException: Project nothing-here does not exist"
    web.post("/console/projects", data={"name": "p1"})
    dataset = web.get("/console/projects/p1/datasets/train")
    assert dataset.status_code == 404 and "ResourceNotFoundException" in error_text(dataset.text)
    model = web.get("/console/projects/p1/models/9")
    assert model.status_code == 404 and "ResourceNotFoundException" in error_text(model.text)


def test_forms_from_other_pages_are_refused(web, console_server):
    for origin in ("http://evil.example", "null", ""):
        response = web.post("/console/projects", data={"name": "p2"}, headers={"Origin": origin})
        assert response.status_code == 403
    assert "p2" not in web.get("/console/").text


def test_media_serves_only_entries_of_the_project(web):
    web.post("/console/projects", data={"name": "p1"})
    manifest = "s3://lookoutvision-local/plates/manifest.json"
    web.post("/console/projects/p1/datasets", data={"type": "train", "manifest": manifest})
    wait_dataset(web, "p1")
    good = web.get(
        "/console/projects/p1/media", params={"ref": "s3://lookoutvision-local/plates/good-00.png"}
    )
    assert good.status_code == 200 and good.headers["content-type"] == "image/png"
    mask = web.get(
        "/console/projects/p1/media",
        params={"ref": "s3://lookoutvision-local/plates/scratched-07.png", "kind": "mask", "thumb": "1"},
    )
    assert mask.status_code == 200 and mask.content.startswith(b"\x89PNG")
    for ref in ("s3://lookoutvision-local/../../etc/passwd", "/etc/passwd", "plates/manifest.json", ""):
        response = web.get("/console/projects/p1/media", params={"ref": ref})
        assert response.status_code == 404
        assert "is not an entry of project p1" in error_text(response.text)


def test_upload_checks_names_types_and_sizes(web, dataset_root):
    web.post("/console/projects", data={"name": "p1"})
    web.post("/console/projects/p1/datasets", data={"type": "test"})
    wait_dataset(web, "p1", "test")
    image, _ = plate(1)
    files = [
        ("images", ("../../../evil.png", image, "image/png")),
        ("images", ("notes.png", b"just text", "image/png")),
        ("images", ("picture.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif")),
    ]
    response = web.post(
        "/console/projects/p1/datasets/test/upload",
        files=files,
        data={"label": "normal"},
        follow_redirects=True,
    )
    said = problem(response)
    assert said.startswith("1 added; refused: ")
    assert "notes.png: not a PNG or JPEG image" in said and "picture.gif" in said
    assert not (dataset_root.parent / "evil.png").exists()
    stored = list((dataset_root / "console-uploads" / "p1" / "test").glob("*.png"))
    assert [path.name for path in stored] == ["evil.png"]
    page = wait_dataset(web, "p1", "test")
    assert counts(page)["normal"] == 1
    big = web.post(
        "/console/projects/p1/datasets/test/upload",
        files=[("images", ("big.png", image + b"\0" * 9_000_000, "image/png"))],
    )
    assert "big.png: " in problem_of(big) and "an image may have at most 8388608" in problem_of(big)


def test_a_huge_form_is_refused_before_it_is_read(web, console_server):
    host, port = console_server.url.removeprefix("http://").split(":")
    head = (
        "POST /console/projects/p1/datasets/test/upload HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nOrigin: {console_server.url}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {5 * 1024**3}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode() + b"--x\r\n")
        answer = connection.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 303")
    assert "at+most+67108864+per+form" in answer


def test_relabel_goes_through_update_dataset_entries(web):
    web.post("/console/projects", data={"name": "p1"})
    manifest = "s3://lookoutvision-local/plates/manifest.json"
    web.post("/console/projects/p1/datasets", data={"type": "train", "manifest": manifest})
    before = counts(wait_dataset(web, "p1"))
    assert before == {"total": 10, "labeled": 10, "normal": 6, "anomaly": 4, "unlabeled": 0}
    ref = "s3://lookoutvision-local/plates/good-01.png"
    response = web.post("/console/projects/p1/datasets/train/label", data={"ref": ref, "label": "anomaly"})
    assert response.status_code == 303
    assert counts(wait_dataset(web, "p1"))["anomaly"] == 5
    page = web.get("/console/projects/p1/datasets/train", params={"show": "anomaly"}).text
    assert ref in page and "good-00.png" not in page
    scratched = web.get("/console/projects/p1/datasets/train", params={"class": "scratch"}).text
    assert scratched.count('class="tile"') == 4
    wrong = web.post("/console/projects/p1/datasets/train/label", data={"ref": ref, "label": "broken"})
    assert "normal or anomaly" in wrong.headers["location"].replace("+", " ")
    absent = web.post(
        "/console/projects/p1/datasets/train/label", data={"ref": "s3://x/none.png", "label": "normal"}
    )
    assert "ResourceNotFoundException" in absent.headers["location"]


def test_try_an_image_shows_the_apis_errors(web, console_server):
    web.post("/console/projects", data={"name": "p1"})
    response = web.post(
        "/console/projects/p1/models/1/try", files={"image": ("a.png", plate(0)[0], "image/png")}
    )
    assert response.status_code == 404
    api = httpx.get(f"{console_server.url}/2020-11-20/projects/p1/models/1")
    assert error_text(response.text) == f"ResourceNotFoundException: {api.json()['Message']}"


def test_the_console_and_the_api_answer_alike(web, console_server):
    """One rule, one message: the console's error is the API's own, word for word."""
    for name in ("bad/name", "x" * 300, ""):
        api = httpx.post(f"{console_server.url}/2020-11-20/projects", json={"ProjectName": name})
        said = problem(web.post("/console/projects", data={"name": name}, follow_redirects=True))
        assert said == f"{api.headers['x-amzn-ErrorType'].split(':')[0]}: {api.json()['Message']}"
    web.post("/console/projects", data={"name": "twice"})
    api = httpx.post(f"{console_server.url}/2020-11-20/projects", json={"ProjectName": "twice"})
    said = problem(web.post("/console/projects", data={"name": "twice"}, follow_redirects=True))
    assert said == f"ConflictException: {api.json()['Message']}"


def test_try_an_image_refuses_what_the_api_refuses(web, console_server, tmp_path):
    web.post("/console/projects", data={"name": "p1"})
    version = import_model(web, "p1", classifier_bundle(tmp_path / "bundle"))["ModelVersion"]
    web.post(f"/console/projects/p1/models/{version}/start", data={"min_units": "1"})
    deadline = time.monotonic() + 30
    while 'id="model-status">HOSTED<' not in web.get(f"/console/projects/p1/models/{version}").text:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    here = f"/console/projects/p1/models/{version}/try"
    cases = [
        (("notes.txt", b"just text", "text/plain"), "ValidationException: content-type must be one of"),
        (("big.png", plate(0)[0] + b"\0" * 8_400_000, "image/png"), "ValidationException: The image is 84"),
        (("broken.png", plate(0)[0][:100], "image/png"), "ValidationException: The PNG image is corrupt"),
    ]
    for upload, expected in cases:
        page = web.post(here, files={"image": upload})
        assert page.status_code == 400
        assert error_text(page.text).startswith(expected)
    fine = web.post(here, files={"image": ("red.png", image_bytes(solid(64, 64, (250, 0, 0))), "image/png")})
    assert fine.status_code == 200 and 'id="verdict">anomaly<' in fine.text
    assert '"IsAnomalous": true' in fine.text.replace("&#34;", '"')
    stopped = web.post(f"/console/projects/p1/models/{version}/stop", follow_redirects=True)
    assert stopped.url.params["notice"] == "Hosting is stopping"


def test_a_folder_is_imported_labelled_by_its_subfolders(web, dataset_root):
    for sub, count in (("", 1), ("normal", 3), ("anomaly", 2)):
        where = dataset_root / "loose" / sub
        where.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            (where / f"{sub or 'top'}-{index}.png").write_bytes(plate(index, scratch=sub == "anomaly")[0])
    (dataset_root / "loose" / "notes.txt").write_text("not an image")
    web.post("/console/projects", data={"name": "p1"})
    imported = web.post("/console/projects/p1/folders", data={"type": "test", "folder": "loose"})
    assert imported.headers["location"].startswith("/console/projects/p1/datasets/test?notice=6+image")
    assert counts(wait_dataset(web, "p1", "test")) == {
        "total": 6, "labeled": 5, "normal": 3, "anomaly": 2, "unlabeled": 1,
    }  # fmt: skip
    for folder, expected in (
        ("../", "is outside the dataset root"),
        ("/etc", "is not a folder below the dataset root"),
        ("loose/normal/top-0.png", "is not a folder"),
        ("plates/masks/../../..", "is outside the dataset root"),
    ):
        refused = web.post("/console/projects/p1/folders", data={"type": "train", "folder": folder})
        assert expected in problem_of(refused), folder


def test_projects_are_listed_created_and_deleted(web):
    for name in ("alpha", "beta"):
        created = web.post("/console/projects", data={"name": name})
        assert created.headers["location"] == f"/console/projects/{name}?notice=Project+{name}+created"
    listed = web.get("/console/").text
    assert re.findall(r'data-project="([^"]*)"', listed) == ["alpha", "beta"]
    web.post("/console/projects/beta/delete")
    assert re.findall(r'data-project="([^"]*)"', web.get("/console/").text) == ["alpha"]
    missing = web.post("/console/projects/beta/delete", follow_redirects=True)
    assert problem(missing) == "ResourceNotFoundException: Project beta does not exist"

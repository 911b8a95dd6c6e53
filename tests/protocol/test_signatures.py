"""With credentials configured, every L4V call must carry a valid SigV4 signature from one of them;
boto3's own signing passes for every kind of request (query strings, ARNs in paths, binary bodies)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest

from server.testing import EmulatorProcess, client
from tests.conftest import NO_RETRIES
from tests.support.errors import assert_aws_error
from tests.support.onnx_models import image_bytes, solid

KEYS = {"AKIDEXAMPLE": "secret-one", "210987654321": "secret-two"}


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory):
    env = {"LOOKOUTVISION_EMULATOR_CREDENTIALS": ",".join(f"{k}:{v}" for k, v in KEYS.items())}
    with EmulatorProcess(tmp_path_factory.mktemp("signed"), env=env) as emulator:
        yield emulator


def lfv_as(emulator, key: str, secret: str):
    return client(emulator.url, config=NO_RETRIES, aws_access_key_id=key, aws_secret_access_key=secret)


def test_boto3_signed_calls_pass(signed_server):
    lfv = lfv_as(signed_server, "AKIDEXAMPLE", KEYS["AKIDEXAMPLE"])
    lfv.create_project(ProjectName="signed")
    assert [p["ProjectName"] for p in lfv.list_projects(MaxResults=1)["Projects"]] == ["signed"]
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):  # an ARN, encoded twice when signed
        lfv.list_tags_for_resource(ResourceArn="arn:aws:lookoutvision:us-east-1:123456789012:model/signed/1")
    png = image_bytes(solid(64, 64, (1, 2, 3)))  # a binary body, signed as it is
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):
        lfv.detect_anomalies(ProjectName="signed", ModelVersion="1", Body=png, ContentType="image/png")
    # A 12-digit access key still picks the account: the project above is not there.
    other = lfv_as(signed_server, "210987654321", KEYS["210987654321"])
    assert other.list_projects()["Projects"] == []


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        ("AKIDEXAMPLE", "wrong", "InvalidSignatureException"),
        ("AKIDUNKNOWN", "secret-one", "UnrecognizedClientException"),
    ],
)
def test_bad_credentials_are_refused(signed_server, key, secret, code):
    lfv = lfv_as(signed_server, key, secret)
    with pytest.raises(lfv.exceptions.ClientError) as caught:
        lfv.create_project(ProjectName="never")
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    projects = lfv_as(signed_server, "AKIDEXAMPLE", KEYS["AKIDEXAMPLE"]).list_projects()["Projects"]
    assert "never" not in [p["ProjectName"] for p in projects]


def signed(url: str, body: bytes, moment: datetime) -> dict[str, str]:
    """The headers botocore's own signer gives this request at `moment`."""
    request = botocore.awsrequest.AWSRequest(
        method="POST",
        url=f"{url}/2020-11-20/projects",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials("AKIDEXAMPLE", KEYS["AKIDEXAMPLE"]), "lookoutvision", "us-east-1"
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        signer.add_auth(request)
    return dict(request.headers)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/_emulator/reset"), ("POST", "/_emulator/results"), ("GET", "/_emulator/delays")],
)
def test_control_endpoints_are_off(signed_server, method, path):
    response = httpx.request(method, f"{signed_server.url}{path}", json={})
    assert "/_emulator/" in assert_aws_error(response, 403, "AccessDeniedException")["Message"]
    assert httpx.get(f"{signed_server.url}/_emulator/health").json()["ready"] is True


def test_unsigned_tampered_and_stale_requests_are_refused(signed_server):
    url = signed_server.url
    unsigned = httpx.post(f"{url}/2020-11-20/projects", json={"ProjectName": "p"})
    assert_aws_error(unsigned, 403, "MissingAuthenticationTokenException")
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # botocore's clock is naive UTC
    body = b'{"ProjectName": "fresh"}'
    assert (
        httpx.post(f"{url}/2020-11-20/projects", content=body, headers=signed(url, body, now)).status_code
        == 200
    )
    tampered = httpx.post(f"{url}/2020-11-20/projects", content=b'{"ProjectName": "other"}',
                          headers=signed(url, body, now))  # fmt: skip
    assert_aws_error(tampered, 403, "InvalidSignatureException")
    stale_body = b'{"ProjectName": "stale"}'
    stale = signed(url, stale_body, now - timedelta(minutes=20))
    response = httpx.post(f"{url}/2020-11-20/projects", content=stale_body, headers=stale)
    assert "expired" in assert_aws_error(response, 403, "InvalidSignatureException")["Message"]

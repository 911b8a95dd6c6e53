"""With auth on, every L4V call must carry a valid SigV4 signature from one of the configured keys;
boto3's and the AWS CLI's own signing pass for every kind of request (query strings, ARNs in paths,
binary bodies), and anything else gets AWS's 403 error codes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest

from lookoutvision_emulator import EmulatorProcess, client
from server.protocol import signing
from server.protocol.http import HttpRequest
from server.spec.errors import ServiceError
from tests.conftest import NO_RETRIES
from tests.support.aws_cli import aws_cli, fake_aws_env
from tests.support.errors import assert_aws_error
from tests.support.onnx_models import image_bytes, solid

# One key from each source: the server's own AWS_* variables, the credentials file, the setting.
KEYS = {"AKIDEXAMPLE": "secret-one", "210987654321": "secret-two", "AKIDSETTING": "secret-three"}


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signed")
    keys_file = folder / "keys.txt"
    keys_file.write_text("# team keys\n\n210987654321:secret-two\n")
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": KEYS["AKIDEXAMPLE"],
        "LOOKOUTVISION_EMULATOR_CREDENTIALS": "AKIDSETTING:secret-three",
    }
    args = ["--auth", "sigv4", "--credentials-file", str(keys_file)]
    with EmulatorProcess(folder / "data", env=env, extra_args=args) as emulator:
        yield emulator


def lfv_as_url(url: str, key: str, secret: str):
    return client(url, config=NO_RETRIES, aws_access_key_id=key, aws_secret_access_key=secret)


def lfv_as(emulator, key: str, secret: str):
    return lfv_as_url(emulator.url, key, secret)


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


def test_every_key_source_signs_and_the_access_key_picks_the_account(signed_server):
    """As moto does: a 12-digit access key is the account id, any other key the default account."""
    assert "SigV4 signatures required: 3 access keys" in signed_server.output()
    arns = {}
    for key, secret in KEYS.items():
        created = lfv_as(signed_server, key, secret).create_project(ProjectName=f"account-of-{key.lower()}")
        arns[key] = created["ProjectMetadata"]["ProjectArn"]
    assert arns == {
        "AKIDEXAMPLE": "arn:aws:lookoutvision:us-east-1:123456789012:project/account-of-akidexample",
        "210987654321": "arn:aws:lookoutvision:us-east-1:210987654321:project/account-of-210987654321",
        "AKIDSETTING": "arn:aws:lookoutvision:us-east-1:123456789012:project/account-of-akidsetting",
    }


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


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        ("AKIDEXAMPLE", KEYS["AKIDEXAMPLE"], None),
        ("AKIDEXAMPLE", "wrong", "InvalidSignatureException"),
        ("AKIDUNKNOWN", "secret-one", "UnrecognizedClientException"),
    ],
)
def test_aws_cli_v1_signs_with_its_configured_key(signed_server, tmp_path, key, secret, code):
    env = fake_aws_env(tmp_path, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    name = f"cli-{tmp_path.name[-12:]}".replace("_", "-")
    endpoint = ["--endpoint-url", signed_server.url]
    result = aws_cli(["lookoutvision", "create-project", "--project-name", name, *endpoint], env)
    if code is None:
        assert result.returncode == 0, result.stderr
        listed = aws_cli(["lookoutvision", "list-projects", *endpoint], env)
        assert name in listed.stdout
    else:
        assert result.returncode != 0
        assert f"An error occurred ({code}) when calling the CreateProject operation" in result.stderr
        projects = lfv_as(signed_server, "AKIDEXAMPLE", KEYS["AKIDEXAMPLE"]).list_projects()["Projects"]
        assert name not in [p["ProjectName"] for p in projects]


class Captured(Exception):
    """Raised by the hook below to stop the request after botocore has signed it."""


def captured_boto3_request() -> HttpRequest:
    """A CreateProject exactly as boto3 signed it, stopped before it leaves the process."""
    lfv = lfv_as_url("http://127.0.0.1:9", "AKIDEXAMPLE", KEYS["AKIDEXAMPLE"])
    sent = []

    def capture(request, **_):
        sent.append(request)
        raise Captured

    lfv.meta.events.register_first("before-send.lookoutvision.CreateProject", capture)
    with pytest.raises(Captured):
        lfv.create_project(ProjectName="replayed")
    prepared = sent[0]
    path, _, query = prepared.url.partition("://")[2].partition("/")[2].partition("?")
    headers = {name.lower(): value.decode() if isinstance(value, bytes) else value
               for name, value in prepared.headers.items()}  # fmt: skip
    headers["host"] = prepared.url.split("/")[2]
    return HttpRequest(prepared.method, "/" + path, query, headers, prepared.body or b"")


def test_a_replayed_request_fails_once_past_the_15_minute_skew():
    request = captured_boto3_request()
    signed_at = datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    signed_at = signed_at.replace(tzinfo=timezone.utc).timestamp()
    signing.verify(request, KEYS, now=signed_at + 14 * 60)  # a replay inside the window passes, as in AWS
    for late in (signed_at + 15 * 60 + 1, signed_at - 15 * 60 - 1):  # the server's clock, or the client's
        with pytest.raises(ServiceError) as caught:
            signing.verify(request, KEYS, now=late)
        assert (caught.value.code, caught.value.status) == ("InvalidSignatureException", 403)


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

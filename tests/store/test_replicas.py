"""Three emulator processes on one PostgreSQL database and one moto S3 (their shared storage, and the
clients' buckets) behave as one L4V endpoint; each has its own data directory (its cache); a replica
killed with -9 leaves nothing in progress for long (its leases expire)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from lookoutvision_emulator import EmulatorProcess, client
from tests.conftest import FAKE_CREDENTIALS, NO_RETRIES
from tests.handlers.test_packaging import finished, greengrass
from tests.handlers.test_training import OUTPUT, SOURCE, make_dataset, part, trained

LEASE_SECONDS = 2  # short, so that a lost replica's work ends within seconds here


class RoundRobin:
    """A lookoutvision client whose every call goes to the next replica, as a load balancer would send it."""

    def __init__(self, urls: list[str]) -> None:
        self.clients = [client(url, config=NO_RETRIES) for url in urls]
        self._next = itertools.cycle(self.clients)

    def __getattr__(self, name: str) -> Callable:
        return lambda **kwargs: getattr(next(self._next), name)(**kwargs)


@pytest.fixture
def replicas(tmp_path, postgres, s3_url, s3):
    url = postgres.new_database()
    s3.create_bucket(Bucket="shared-files")  # images, masks and bundles of all three
    env = {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL_S3": s3_url,
        "LOOKOUTVISION_EMULATOR_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    args = ["--database-url", url, "--storage-url", "s3://shared-files/l4v", "--s3-endpoint-url", s3_url]
    processes = [EmulatorProcess(tmp_path / f"replica{i}", extra_args=args, env=env) for i in range(3)]
    with ThreadPoolExecutor(3) as pool:  # together: they race to create the schema
        list(pool.map(lambda process: process.start(), processes))
    yield processes
    for process in processes:
        process.__exit__()


def until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_any_replica_answers_any_call(replicas, s3):
    lfv = RoundRobin([process.url for process in replicas])
    s3.create_bucket(Bucket="out")
    s3.create_bucket(Bucket="edge-out")
    make_dataset(lfv, s3)  # the import runs on one replica; every other one sees it finish
    assert len(lfv.list_dataset_entries(ProjectName="parts", DatasetType="train")["DatasetEntries"]) == 36
    created = lfv.create_model(ProjectName="parts", OutputConfig=OUTPUT, Tags=[{"Key": "line", "Value": "3"}])
    arn = created["ModelMetadata"]["ModelArn"]
    assert trained(lfv)["Status"] == "TRAINED"

    lfv.start_model(ProjectName="parts", ModelVersion="1", MinInferenceUnits=1)
    until(
        lambda: (
            lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["Status"]
            == "HOSTED"
        )
    )
    # Every replica serves the hosted model (the two that did not start it load it on first use).
    for replica in lfv.clients:
        answer = replica.detect_anomalies(ProjectName="parts", ModelVersion="1", Body=part(900, True),
                                          ContentType="image/png")["DetectAnomalyResult"]  # fmt: skip
        assert 0.5 <= answer["Confidence"] <= 1
    hosted = [httpx.get(f"{process.url}/_emulator/hosting").json() for process in replicas]
    assert [len(listing["models"]) for listing in hosted] == [1, 1, 1]

    lfv.tag_resource(ResourceArn=arn, Tags=[{"Key": "cell", "Value": "7"}])
    for _ in range(3):
        assert len(lfv.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 2

    job = lfv.start_model_packaging_job(
        ProjectName="parts", ModelVersion="1", Configuration={"Greengrass": greengrass("edge-out")}
    )["JobName"]
    assert finished(lfv, "parts", job, timeout=60)["Status"] == "SUCCEEDED"

    lfv.stop_model(ProjectName="parts", ModelVersion="1")
    until(
        lambda: (
            lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["Status"]
            == "TRAINED"
        )
    )
    for replica in lfv.clients:  # the stop reached every replica: none serves it any more
        with pytest.raises(replica.exceptions.ConflictException):
            replica.detect_anomalies(ProjectName="parts", ModelVersion="1", Body=part(901, False),
                                     ContentType="image/png")  # fmt: skip

    for _ in range(3):  # pagination tokens signed by one replica are read by the others
        page = lfv.list_dataset_entries(ProjectName="parts", DatasetType="train", MaxResults=10)
        assert len(lfv.list_dataset_entries(ProjectName="parts", DatasetType="train", MaxResults=10,
                                            NextToken=page["NextToken"])["DatasetEntries"]) == 10  # fmt: skip
    lfv.delete_model(ProjectName="parts", ModelVersion="1")
    until(lambda: not lfv.list_models(ProjectName="parts")["Models"])
    lfv.delete_dataset(ProjectName="parts", DatasetType="train")
    lfv.delete_project(ProjectName="parts")
    assert lfv.list_projects()["Projects"] == []


def _slow(process: EmulatorProcess, **delays: float) -> None:
    httpx.post(f"{process.url}/_emulator/delays", json=delays).raise_for_status()


def test_a_replica_killed_during_a_training_or_an_import_leaves_nothing_in_progress(replicas, s3):
    victim, *others = replicas
    survivor = client(others[0].url, config=NO_RETRIES)
    s3.create_bucket(Bucket="out")
    make_dataset(survivor, s3)
    _slow(victim, training=600, dataset_import=600)
    doomed = client(victim.url, config=NO_RETRIES)
    doomed.create_model(ProjectName="parts", OutputConfig=OUTPUT)
    doomed.create_dataset(ProjectName="parts", DatasetType="test", DatasetSource=SOURCE)
    assert (
        survivor.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["Status"]
        == "TRAINING"
    )
    victim.stop(kill=True)
    killed = time.monotonic()

    model = trained(survivor, timeout=30)
    assert model["Status"] == "TRAINING_FAILED" and "replica" in model["StatusMessage"], model
    until(lambda: survivor.describe_dataset(ProjectName="parts", DatasetType="test")["DatasetDescription"]["Status"]
          == "CREATE_FAILED")  # fmt: skip
    assert time.monotonic() - killed < 10 * LEASE_SECONDS
    dataset = survivor.describe_dataset(ProjectName="parts", DatasetType="test")["DatasetDescription"]
    assert "replica" in dataset["StatusMessage"]
    # The survivors go on: the failed dataset can be deleted and the project trained again.
    survivor.delete_dataset(ProjectName="parts", DatasetType="test")
    survivor.create_model(ProjectName="parts", OutputConfig=OUTPUT)
    again = trained(survivor, version="2")
    assert again["Status"] == "TRAINED", again["StatusMessage"]


def test_one_client_token_sent_to_two_replicas_at_once_creates_one_model(replicas, s3):
    first, second = (client(process.url, config=NO_RETRIES) for process in replicas[:2])
    s3.create_bucket(Bucket="out")
    make_dataset(first, s3)
    for process in replicas[:2]:
        _slow(process, training=600)  # the models stay TRAINING: only their number counts here
    tokens = [f"token-{index:02d}-abcdef" for index in range(6)]
    start = threading.Barrier(2)

    def create(lfv, token: str) -> str:
        start.wait()  # both replicas get the request at the same moment
        answer = lfv.create_model(ProjectName="parts", OutputConfig=OUTPUT, ClientToken=token)
        return answer["ModelMetadata"]["ModelVersion"]

    with ThreadPoolExecutor(2) as pool:
        for token in tokens:
            versions = list(pool.map(create, [first, second], [token, token]))
            assert versions[0] == versions[1], (token, versions)
    assert len(first.list_models(ProjectName="parts")["Models"]) == len(tokens)

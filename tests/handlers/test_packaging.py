"""Model packaging jobs through boto3, writing real artifacts to moto's S3."""

from __future__ import annotations

import json
import time

import pytest
from PIL import Image

from server.inference.bundle import read_bundle
from server.inference.runtime import ModelRunner
from tests.support.live import import_model
from tests.support.onnx_models import classifier_bundle

CPU_TARGET = {"Os": "LINUX", "Arch": "X86_64"}


@pytest.fixture
def model(tmp_path, http, lfv):
    import_model(http, "parts", classifier_bundle(tmp_path / "b"))
    return "parts", "1"


def greengrass(bucket: str = "out-bucket", **changes) -> dict:
    config = {"S3OutputLocation": {"Bucket": bucket, "Prefix": "edge"}, "ComponentName": "com.example.parts",
              "TargetPlatform": CPU_TARGET, "CompilerOptions": '{"mcpu": "core-avx2"}'}  # fmt: skip
    config.update(changes)
    return {key: value for key, value in config.items() if value is not None}


def finished(lfv, project: str, job: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        description = lfv.describe_model_packaging_job(ProjectName=project, JobName=job)[
            "ModelPackagingDescription"
        ]
        if description["Status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return description
        time.sleep(0.02)


def test_a_job_writes_a_loadable_bundle_and_a_recipe_to_s3(lfv, s3, model, tmp_path):
    s3.create_bucket(Bucket="out-bucket")
    started = lfv.start_model_packaging_job(
        ProjectName="parts", ModelVersion="1", JobName="job-1", Description="first (edge) build",
        Configuration={"Greengrass": greengrass(Tags=[{"Key": "line", "Value": "3"}])},
    )  # fmt: skip
    assert started["JobName"] == "job-1"
    job = finished(lfv, "parts", "job-1")
    assert job["Status"] == "SUCCEEDED", job
    assert (job["ModelPackagingMethod"], job["ModelVersion"], job["ModelPackagingJobDescription"]) == (
        "Greengrass", "1", "first (edge) build"
    )  # fmt: skip
    assert job["ModelPackagingOutputDetails"]["Greengrass"] == {
        "ComponentVersionArn": "arn:aws:greengrass:us-east-1:123456789012:components:com.example.parts:versions:1.0.0",
        "ComponentName": "com.example.parts",
        "ComponentVersion": "1.0.0",
    }
    assert job["ModelPackagingConfiguration"]["Greengrass"]["ComponentVersion"] == "1.0.0"
    assert job["LastUpdatedTimestamp"] >= job["CreationTimestamp"]

    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="out-bucket")["Contents"])
    base = "edge/com.example.parts/1.0.0/"
    assert keys == [base + "model.json", base + "model.onnx", base + "recipe.json"]
    folder = tmp_path / "downloaded"
    folder.mkdir()
    for name in ("model.onnx", "model.json"):
        (folder / name).write_bytes(s3.get_object(Bucket="out-bucket", Key=base + name)["Body"].read())
    runner = ModelRunner(folder, read_bundle(folder))
    assert runner.predict(Image.new("RGB", (80, 64), (250, 0, 0))).is_anomalous is True
    recipe = json.loads(s3.get_object(Bucket="out-bucket", Key=base + "recipe.json")["Body"].read())
    assert (recipe["ComponentName"], recipe["ComponentVersion"]) == ("com.example.parts", "1.0.0")
    assert recipe["Manifests"][0]["Platform"] == {"os": "linux", "architecture": "amd64"}
    assert {a["Uri"] for a in recipe["Manifests"][0]["Artifacts"]} == {
        f"s3://out-bucket/{base}model.onnx", f"s3://out-bucket/{base}model.json"
    }  # fmt: skip
    assert recipe["ComponentConfiguration"]["DefaultConfiguration"]["ModelArn"].endswith(":model/parts/1")
    assert recipe["Tags"] == {"line": "3"}


def test_job_name_is_generated_and_jobs_are_listed_in_order(lfv, s3, model):
    s3.create_bucket(Bucket="out-bucket")
    names = []
    for index in range(3):
        config = greengrass(ComponentVersion=f"1.0.{index}", TargetPlatform=None, CompilerOptions=None,
                            TargetDevice="jetson_xavier")  # fmt: skip
        names.append(lfv.start_model_packaging_job(ProjectName="parts", ModelVersion="latest",
                                                   Configuration={"Greengrass": config})["JobName"])  # fmt: skip
    assert all(len(name) == 36 for name in names)  # a UUID, as the service generated
    first = lfv.list_model_packaging_jobs(ProjectName="parts", MaxResults=2)
    second = lfv.list_model_packaging_jobs(ProjectName="parts", NextToken=first["NextToken"])
    listed = [job["JobName"] for job in first["ModelPackagingJobs"] + second["ModelPackagingJobs"]]
    assert listed == names
    assert {finished(lfv, "parts", name)["Status"] for name in names} == {"SUCCEEDED"}


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"TargetDevice": "jetson_xavier"}, "exactly one of TargetDevice and TargetPlatform"),
        ({"TargetPlatform": None, "CompilerOptions": None}, "exactly one of TargetDevice and TargetPlatform"),
        ({"TargetPlatform": None, "TargetDevice": "jetson_xavier"}, "not with TargetDevice"),
        ({"TargetPlatform": {**CPU_TARGET, "Accelerator": "NVIDIA"}, "CompilerOptions": '{"gpu-code": "sm_75"}'},
         "missing: trt-ver, cuda-ver"),
        ({"CompilerOptions": "not json"}, "must be a JSON object"),
        ({"CompilerOptions": '{"unknown": 1}'}, "mcpu and mattr only"),
        ({"ComponentVersion": "1.0"}, "componentVersion"),
    ],
)  # fmt: skip
def test_configuration_is_validated(lfv, model, changes, fragment):
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        lfv.start_model_packaging_job(
            ProjectName="parts", ModelVersion="1", Configuration={"Greengrass": greengrass(**changes)}
        )
    assert fragment in caught.value.response["Error"]["Message"]
    assert lfv.list_model_packaging_jobs(ProjectName="parts")["ModelPackagingJobs"] == []


def test_nvidia_target_with_its_options(lfv, s3, model):
    s3.create_bucket(Bucket="out-bucket")
    options = json.dumps({"gpu-code": "sm_75", "trt-ver": "7.1.3", "cuda-ver": "10.2"})
    config = greengrass(TargetPlatform={"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"},
                        CompilerOptions=options)  # fmt: skip
    job = lfv.start_model_packaging_job(
        ProjectName="parts", ModelVersion="1", Configuration={"Greengrass": config}
    )
    assert finished(lfv, "parts", job["JobName"])["Status"] == "SUCCEEDED"


def test_failures_end_in_failed_with_the_reason(lfv, s3, model):
    job = lfv.start_model_packaging_job(
        ProjectName="parts", ModelVersion="1", Configuration={"Greengrass": greengrass()}
    )
    failed = finished(lfv, "parts", job["JobName"])
    assert failed["Status"] == "FAILED" and "NoSuchBucket" in failed["StatusMessage"]
    assert "ModelPackagingOutputDetails" not in failed

    s3.create_bucket(Bucket="out-bucket")
    ok = lfv.start_model_packaging_job(
        ProjectName="parts", ModelVersion="1", Configuration={"Greengrass": greengrass()}
    )
    assert finished(lfv, "parts", ok["JobName"])["Status"] == "SUCCEEDED"
    again = lfv.start_model_packaging_job(
        ProjectName="parts", ModelVersion="1", Configuration={"Greengrass": greengrass()}
    )
    taken = finished(lfv, "parts", again["JobName"])
    assert (
        taken["Status"] == "FAILED"
        and "com.example.parts version 1.0.0 already exists" in taken["StatusMessage"]
    )


def test_names_and_resources(lfv, s3, model):
    s3.create_bucket(Bucket="out-bucket")
    config = {"Greengrass": greengrass()}
    lfv.start_model_packaging_job(ProjectName="parts", ModelVersion="1", JobName="same", Configuration=config)
    with pytest.raises(lfv.exceptions.ConflictException) as duplicate:
        lfv.start_model_packaging_job(
            ProjectName="parts", ModelVersion="1", JobName="same", Configuration=config
        )
    assert duplicate.value.response["ResourceType"] == "MODEL_PACKAGE_JOB"
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as missing_model:
        lfv.start_model_packaging_job(ProjectName="parts", ModelVersion="9", Configuration=config)
    assert missing_model.value.response["ResourceType"] == "MODEL"
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as missing_job:
        lfv.describe_model_packaging_job(ProjectName="parts", JobName="nope")
    assert missing_job.value.response["ResourceType"] == "MODEL_PACKAGE_JOB"
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as missing_project:
        lfv.list_model_packaging_jobs(ProjectName="nope")
    assert missing_project.value.response["ResourceType"] == "PROJECT"
    finished(lfv, "parts", "same")
    lfv.delete_model(ProjectName="parts", ModelVersion="1")
    lfv.delete_project(ProjectName="parts")  # the project's jobs go with it
    lfv.create_project(ProjectName="parts")
    assert lfv.list_model_packaging_jobs(ProjectName="parts")["ModelPackagingJobs"] == []

"""The agent as users start it: `edge serve --models s3://...` on a packaging job's artifact in moto's S3,
`serve --demo --edge` beside the HTTP API, and start-up errors that say what is wrong."""

from __future__ import annotations

import os
import socket

import pytest

from lookoutvision_emulator import EmulatorProcess
from server.edge import edge_agent_pb2 as pb2
from tests.conftest import FAKE_CREDENTIALS
from tests.edge.conftest import AgentProcess, connect, detect, running
from tests.support.live import host, import_model
from tests.support.onnx_models import classifier_bundle, image_bytes, solid


def wait_packaged(lfv, job: str) -> dict:
    import time

    deadline = time.monotonic() + 30
    while True:
        description = lfv.describe_model_packaging_job(ProjectName="parts", JobName=job)[
            "ModelPackagingDescription"
        ]
        if description["Status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return description
        time.sleep(0.05)


def test_a_packaging_job_artifact_in_s3_runs_at_the_edge(tmp_path, short_dir, http, lfv, s3, s3_url):
    import_model(http, "parts", classifier_bundle(tmp_path / "bundle"))
    s3.create_bucket(Bucket="edge-out")
    lfv.start_model_packaging_job(
        ProjectName="parts", ModelVersion="1", JobName="to-the-line",
        Configuration={"Greengrass": {
            "S3OutputLocation": {"Bucket": "edge-out", "Prefix": "line-3/"},
            "ComponentName": "com.example.parts", "ComponentVersion": "1.0.0",
            "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"},
        }},
    )  # fmt: skip
    assert wait_packaged(lfv, "to-the-line")["Status"] == "SUCCEEDED"
    arn = lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["ModelArn"]

    socket_path = short_dir / "agent.sock"
    agent = AgentProcess(
        ["edge", "serve", "--models", "s3://edge-out/line-3", "--edge-socket", str(socket_path),
         "--s3-endpoint-url", s3_url],
        tmp_path / "agent.log", env=FAKE_CREDENTIALS,
    )  # fmt: skip
    try:
        assert agent.ready() == f"unix:{socket_path}"
        channel, stub = connect(f"unix:{socket_path}")
        with channel:
            listed = stub.ListModels(pb2.ListModelsRequest()).models
            assert [(model.model_component, model.lookout_vision_model_arn) for model in listed] == [
                ("com.example.parts", arn)
            ]
            assert running(stub, "com.example.parts") == pb2.RUNNING
            assert detect(stub, "com.example.parts", solid(64, 64, (250, 0, 0))).is_anomalous is True
            assert detect(stub, "com.example.parts", solid(64, 64, (5, 0, 0))).is_anomalous is False
            stopped = stub.StopModel(pb2.StopModelRequest(model_component="com.example.parts"))
            assert stopped.status == pb2.STOPPED
    finally:
        assert agent.stop() == 0, agent.output()
    assert "edge agent model components: com.example.parts" in agent.output()
    assert not socket_path.exists()  # removed on the way out


def test_serve_demo_edge_lists_the_demo_models_at_once(tmp_path, short_dir, s3, s3_url):
    socket_path = short_dir / "agent.sock"
    with EmulatorProcess(extra_args=["--demo", "--edge", "--edge-socket", str(socket_path)],
                         env={**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}) as emulator:  # fmt: skip
        output = emulator.output()
        assert f"lookoutvision-emulator edge agent ready on unix:{socket_path}" in output
        assert "edge agent model components: demo-1, demo-2" in output
        channel, stub = connect(f"unix:{socket_path}")
        with channel:
            listed = stub.ListModels(pb2.ListModelsRequest()).models
            assert [(model.model_component, model.status) for model in listed] == [
                ("demo-1", pb2.STOPPED), ("demo-2", pb2.STOPPED)
            ]  # fmt: skip
            assert listed[0].lookout_vision_model_arn == (
                "arn:aws:lookoutvision:us-east-1:123456789012:model/demo/1"
            )
            # A model the HTTP API imports is a component at once, named <project>-<version>.
            import httpx

            from lookoutvision_emulator import client

            with httpx.Client(base_url=emulator.url, timeout=30) as http:
                import_model(http, "parts", classifier_bundle(tmp_path / "bundle"))
            names = [model.model_component for model in stub.ListModels(pb2.ListModelsRequest()).models]
            assert names == ["demo-1", "demo-2", "parts-1"]
            # The demo's segmentation model answers as over HTTP.
            assert running(stub, "demo-2") == pb2.RUNNING
            pixels = solid(128, 96, (128, 128, 128))
            pixels[30:60, 40:90] = (240, 20, 20)
            edge = detect(stub, "demo-2", pixels)
            lfv = client(emulator.url)
            cloud = lfv.detect_anomalies(ProjectName="demo", ModelVersion="2", Body=image_bytes(pixels),
                                         ContentType="image/png")["DetectAnomalyResult"]  # fmt: skip
            assert edge.is_anomalous == cloud["IsAnomalous"]
            assert edge.confidence == pytest.approx(cloud["Confidence"], rel=1e-6)
            assert [item.name for item in edge.anomalies] == [item["Name"] for item in cloud["Anomalies"]]
            host(lfv, "parts", "1")  # the cloud API's hosting and the agent's are separate
            assert running(stub, "parts-1") == pb2.RUNNING
            # A packaging job's component is there under its ComponentName once the job succeeds.
            s3.create_bucket(Bucket="edge-out")
            lfv.start_model_packaging_job(ProjectName="parts", ModelVersion="1", JobName="job", Configuration={
                "Greengrass": {"S3OutputLocation": {"Bucket": "edge-out"}, "ComponentName": "com.example.parts",
                               "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}})  # fmt: skip
            assert wait_packaged(lfv, "job")["Status"] == "SUCCEEDED"
            packaged = stub.DescribeModel(pb2.DescribeModelRequest(model_component="com.example.parts"))
            assert packaged.model_description.lookout_vision_model_arn.endswith(":model/parts/1")
            assert running(stub, "com.example.parts") == pb2.RUNNING
            assert detect(stub, "com.example.parts", solid(64, 64, (250, 0, 0))).is_anomalous is True


def run(args: list[str], tmp_path, timeout: float = 60):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **FAKE_CREDENTIALS})  # fmt: skip


def test_start_up_errors_say_what_is_wrong(tmp_path, short_dir):
    no_source = run(["edge", "serve", "--edge-socket", str(short_dir / "a.sock")], tmp_path)
    assert no_source.returncode == 2 and "give --models" in no_source.stderr
    missing = run(["edge", "serve", "--models", str(tmp_path / "nowhere"), "--edge-socket",
                   str(short_dir / "a.sock")], tmp_path)  # fmt: skip
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
    not_a_socket = short_dir / "file"
    not_a_socket.write_text("mine")
    taken = run(
        ["serve", "--in-memory", "--port", "0", "--edge", "--edge-socket", str(not_a_socket)], tmp_path
    )
    assert taken.returncode == 1 and "is not a socket" in taken.stderr
    assert not_a_socket.read_text() == "mine"  # left alone


def test_a_socket_in_use_is_not_taken_over_and_a_stale_one_is_replaced(tmp_path, short_dir):
    path = short_dir / "agent.sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(path))
    live.listen(1)
    try:
        busy = run(["edge", "serve", "--demo", "--edge-socket", str(path)], tmp_path)
        assert busy.returncode == 1 and "another process already serves" in busy.stderr
    finally:
        live.close()
    assert path.exists()  # a socket file nobody listens on any more: stale
    agent = AgentProcess(["edge", "serve", "--demo", "--edge-socket", str(path)], tmp_path / "agent.log")
    try:
        agent.ready()
        channel, stub = connect(f"unix:{path}")
        with channel:
            assert len(stub.ListModels(pb2.ListModelsRequest()).models) == 2
    finally:
        assert agent.stop() == 0


def test_loopback_tcp_and_a_socket_path_too_long(make_agent, models_dir, short_dir):
    from server.edge.agent import EdgeAgent
    from server.edge.components import folder_catalog
    from server.edge.service import EdgeServer, EdgeStartError

    with EdgeServer(EdgeAgent(folder_catalog(models_dir)), None, "127.0.0.1:0") as server:
        (address,) = server.addresses
        assert address.startswith("127.0.0.1:") and not address.endswith(":0")
        channel, stub = connect(address)
        with channel:
            assert len(stub.ListModels(pb2.ListModelsRequest()).models) == 3
    with pytest.raises(EdgeStartError, match="longer than 107 bytes"):
        EdgeServer(EdgeAgent(folder_catalog(models_dir)), str(short_dir / ("x" * 120))).start()
    with pytest.raises(EdgeStartError, match="socket path or a TCP address"):
        EdgeServer(EdgeAgent(folder_catalog(models_dir)), None, "").start()

"""An Edge Agent on a unix socket in a short temporary folder (never the default path), and real gRPC
clients generated from server/edge/edge_agent.proto."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from server.edge import edge_agent_pb2 as pb2
from server.edge import edge_agent_pb2_grpc as pb2_grpc
from server.edge.agent import EdgeAgent, EdgeSettings
from server.edge.components import folder_catalog
from server.edge.service import EdgeServer
from tests.support.onnx_models import classifier_bundle, segmenter_bundle

RED_ARN = "arn:aws:lookoutvision:us-east-1:123456789012:model/parts/1"


def component(root: Path, name: str, version: str, make, arn: str = "") -> Path:
    """A folder as StartModelPackagingJob lays it out: <name>/<version>/ with the bundle and recipe.json."""
    folder = make(root / name / version)
    recipe = {"ComponentName": name, "ComponentVersion": version,
              "ComponentConfiguration": {"DefaultConfiguration": {"ModelArn": arn}}}  # fmt: skip
    (folder / "recipe.json").write_text(json.dumps(recipe))
    return folder


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer."""
    folder = Path(tempfile.mkdtemp(prefix="edge-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    root = tmp_path / "components"
    component(root, "com.example.red", "1.0.0", classifier_bundle, RED_ARN)
    component(root, "com.example.seg", "1.0.0", lambda folder: segmenter_bundle(folder, (96, 64)))
    broken = component(root, "com.example.broken", "1.0.0", classifier_bundle)
    (broken / "model.onnx").write_bytes(b"not an onnx graph")
    return root


def connect(address: str):
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=10)
    return channel, pb2_grpc.EdgeAgentStub(channel)


@pytest.fixture
def make_agent(short_dir: Path):
    """make_agent(models_dir, **EdgeSettings) -> (agent, stub) on short_dir/agent.sock, stopped afterwards."""
    started: list[tuple[EdgeServer, grpc.Channel]] = []

    def make(root: Path, **settings):
        agent = EdgeAgent(folder_catalog(root), EdgeSettings(**settings))
        server = EdgeServer(agent, str(short_dir / "agent.sock")).start()
        channel, stub = connect(server.addresses[0])
        started.append((server, channel))
        return agent, stub

    yield make
    for server, channel in started:
        channel.close()
        server.stop()


@pytest.fixture
def stub(make_agent, models_dir):
    return make_agent(models_dir)[1]


def running(stub, name: str, timeout: float = 30.0) -> int:
    """StartModel, then DescribeModel until it leaves STARTING, as an edge application does."""
    assert stub.StartModel(pb2.StartModelRequest(model_component=name)).status == pb2.STARTING
    deadline = time.monotonic() + timeout
    while True:
        status = stub.DescribeModel(pb2.DescribeModelRequest(model_component=name)).model_description.status
        if status != pb2.STARTING or time.monotonic() > deadline:
            return status
        time.sleep(0.01)


def bitmap(pixels) -> pb2.Bitmap:
    height, width, _ = pixels.shape
    return pb2.Bitmap(width=width, height=height, byte_data=pixels.tobytes())


def detect(stub, name: str, pixels, **extra):
    request = pb2.DetectAnomaliesRequest(model_component=name, bitmap=bitmap(pixels), **extra)
    return stub.DetectAnomalies(request).detect_anomaly_result


def refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    return caught.value


class AgentProcess:
    """`lookoutvision-emulator ARGS...` as a child process, until it prints the edge agent's ready line."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        import os
        import subprocess
        import sys

        self.log = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", *args], stdout=output, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                cwd=Path(__file__).resolve().parents[2],
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def ready(self, timeout: float = 60.0) -> str:
        """The addresses of the ready line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if line.startswith("lookoutvision-emulator edge agent ready on "):
                    return line.rsplit(" on ", 1)[1]
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"the edge agent did not start:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)

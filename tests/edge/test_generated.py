"""The committed gRPC modules are what grpcio-tools makes of server/edge/edge_agent.proto.

Run this file (`python tests/edge/test_generated.py`) to regenerate them after editing the .proto.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = "server/edge/edge_agent.proto"
GENERATED = ("edge_agent_pb2.py", "edge_agent_pb2.pyi", "edge_agent_pb2_grpc.py")


def generate(into: Path) -> None:
    """protoc with the repository as include root, so the modules import each other as server.edge.*."""
    (into / "server" / "edge").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / PROTO, into / PROTO)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=.",
         "--grpc_python_out=.", PROTO],
        cwd=into, check=True, capture_output=True,
    )  # fmt: skip


def test_the_committed_modules_match_the_proto(tmp_path):
    generate(tmp_path)
    for name in GENERATED:
        fresh = (tmp_path / "server" / "edge" / name).read_text(encoding="utf-8")
        committed = (ROOT / "server" / "edge" / name).read_text(encoding="utf-8")
        assert fresh == committed, f"server/edge/{name} is stale: run python tests/edge/test_generated.py"


def test_the_service_is_the_published_one():
    from server.edge import edge_agent_pb2

    service = edge_agent_pb2.DESCRIPTOR.services_by_name["EdgeAgent"]
    assert service.full_name == "AWS.LookoutVision.EdgeAgent"
    assert sorted(method.name for method in service.methods) == [
        "DescribeModel", "DetectAnomalies", "ListModels", "StartModel", "StopModel"
    ]  # fmt: skip
    statuses = edge_agent_pb2.DESCRIPTOR.enum_types_by_name["ModelStatus"].values_by_name
    assert {name: value.number for name, value in statuses.items()} == {
        "STOPPED": 0, "STARTING": 1, "RUNNING": 2, "FAILED": 3, "STOPPING": 4
    }  # fmt: skip
    fields = {
        message.name: {field.name: field.number for field in message.fields}
        for message in edge_agent_pb2.DESCRIPTOR.message_types_by_name.values()
    }
    assert fields["Bitmap"] == {"width": 1, "height": 2, "byte_data": 3, "shared_memory_handle": 4}
    assert fields["SharedMemoryHandle"] == {"name": 1, "size": 2, "offset": 3}
    assert fields["DetectAnomaliesRequest"] == {"model_component": 1, "bitmap": 2, "anomaly_mask_params": 3}
    assert fields["AnomalyMaskParams"] == {"shared_memory_handle": 2}
    assert fields["DetectAnomalyResult"] == {
        "is_anomalous": 1, "confidence": 2, "anomaly_mask": 3, "anomalies": 4, "anomaly_score": 5,
        "anomaly_threshold": 6,
    }  # fmt: skip
    assert fields["Anomaly"] == {"name": 1, "pixel_anomaly": 2}
    assert fields["PixelAnomaly"] == {"total_percentage_area": 1, "hex_color": 2}
    for name in ("ModelDescription", "ModelMetadata"):
        assert fields[name] == {"model_component": 1, "lookout_vision_model_arn": 2, "status": 3,
                                "status_message": 4}  # fmt: skip


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        generate(Path(scratch))
        for name in GENERATED:
            shutil.copy(Path(scratch) / "server" / "edge" / name, ROOT / "server" / "edge" / name)
    print("regenerated", ", ".join(GENERATED))

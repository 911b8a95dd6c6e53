"""Every RPC of the Edge Agent through a real gRPC client on a unix socket: list, describe, start,
detect (byte_data and shared memory), stop, and each error status of the published contract."""

from __future__ import annotations

import threading
import time
from multiprocessing import shared_memory

import grpc
import numpy as np
import pytest

from server.edge import edge_agent_pb2 as pb2
from server.inference.runtime import ModelRunner
from tests.edge.conftest import RED_ARN, bitmap, detect, refused, running
from tests.support.onnx_models import solid

RED = solid(80, 70, (230, 10, 10))  # red_classifier: score = mean red = 0.9
DARK = solid(80, 70, (20, 10, 10))


def describe(stub, name: str):
    return stub.DescribeModel(pb2.DescribeModelRequest(model_component=name)).model_description


def test_list_and_describe_show_every_component_stopped(stub):
    listed = stub.ListModels(pb2.ListModelsRequest()).models
    assert [(model.model_component, model.status) for model in listed] == [
        ("com.example.broken", pb2.STOPPED), ("com.example.red", pb2.STOPPED), ("com.example.seg", pb2.STOPPED)
    ]  # fmt: skip
    red = describe(stub, "com.example.red")
    assert red.lookout_vision_model_arn == RED_ARN
    assert red.status == pb2.STOPPED
    assert red.status_message == "The model is stopped."


def test_start_detect_stop(stub):
    assert running(stub, "com.example.red") == pb2.RUNNING
    assert describe(stub, "com.example.red").status_message == "The model is running."
    anomalous = detect(stub, "com.example.red", RED)
    assert anomalous.is_anomalous is True
    assert anomalous.anomaly_score == pytest.approx(230 / 255, abs=1e-5)
    assert anomalous.anomaly_threshold == 0.5
    assert 0.5 < anomalous.confidence <= 1.0
    assert list(anomalous.anomalies) == [] and not anomalous.HasField("anomaly_mask")  # classification
    normal = detect(stub, "com.example.red", DARK)
    assert normal.is_anomalous is False
    assert normal.confidence > 0.9
    stopped = stub.StopModel(pb2.StopModelRequest(model_component="com.example.red"))
    assert stopped.status == pb2.STOPPED
    assert describe(stub, "com.example.red").status == pb2.STOPPED
    error = refused(stub.DetectAnomalies, pb2.DetectAnomaliesRequest(model_component="com.example.red",
                                                                     bitmap=bitmap(RED)))  # fmt: skip
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert running(stub, "com.example.red") == pb2.RUNNING  # and it starts again


def test_the_result_is_the_runners(stub, models_dir):
    """The agent runs the cloud API's ModelRunner: same pixels, same numbers."""
    from PIL import Image

    from server.inference.bundle import read_bundle

    folder = models_dir / "com.example.red" / "1.0.0"
    pixels = np.random.default_rng(1).integers(0, 256, (70, 80, 3), dtype=np.uint8)
    expected = ModelRunner(folder, read_bundle(folder)).predict(Image.fromarray(pixels))
    running(stub, "com.example.red")
    result = detect(stub, "com.example.red", pixels)
    assert result.is_anomalous == expected.is_anomalous
    assert result.confidence == pytest.approx(expected.confidence, rel=1e-6)
    assert result.anomaly_score == pytest.approx(expected.score, rel=1e-6)


def test_shared_memory_bitmaps(stub):
    running(stub, "com.example.red")
    segment = shared_memory.SharedMemory(create=True, size=RED.nbytes * 2 + 100)
    try:
        segment.buf[100 : 100 + RED.nbytes] = RED.tobytes()
        segment.buf[100 + RED.nbytes : 100 + 2 * RED.nbytes] = DARK.tobytes()

        def at(offset: int, size: int = RED.nbytes, name: str = segment.name):
            handle = pb2.SharedMemoryHandle(name=name, size=size, offset=offset)
            return pb2.DetectAnomaliesRequest(
                model_component="com.example.red",
                bitmap=pb2.Bitmap(width=80, height=70, shared_memory_handle=handle),
            )

        first = stub.DetectAnomalies(at(100)).detect_anomaly_result
        assert first.is_anomalous is True
        assert first.anomaly_score == pytest.approx(230 / 255, abs=1e-5)
        assert stub.DetectAnomalies(at(100 + RED.nbytes)).detect_anomaly_result.is_anomalous is False
        # The client writes its next frame into the same segment: the agent sees the new pixels.
        segment.buf[100 : 100 + RED.nbytes] = DARK.tobytes()
        assert stub.DetectAnomalies(at(100)).detect_anomaly_result.is_anomalous is False
        assert stub.DetectAnomalies(
            at(100, name="/" + segment.name)
        ).detect_anomaly_result  # shm_open's style
        for request, words in (
            (at(100, size=RED.nbytes - 1), "bytes are needed"),
            (at(RED.nbytes + 101), "beyond the end"),
            (at(0, name="no-such-segment-here"), "no shared memory segment"),
            (at(0, name="a/b"), "not a POSIX segment name"),
        ):
            error = refused(stub.DetectAnomalies, request)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert words in error.details()
    finally:
        segment.close()
        segment.unlink()


def test_a_segmentation_model_returns_its_mask_and_anomalies(stub):
    assert running(stub, "com.example.seg") == pb2.RUNNING
    pixels = solid(96, 64, (0, 0, 0))
    pixels[:, :48] = (255, 0, 0)  # left half: class 1 (scratch, #FF0000)
    pixels[:16, 48:] = (0, 0, 255)  # a quarter of the right half: class 2 (dent, #0000FF)
    result = detect(stub, "com.example.seg", pixels)
    assert result.is_anomalous is True
    assert [(item.name, item.pixel_anomaly.hex_color) for item in result.anomalies] == [
        ("background", "#FFFFFF"), ("scratch", "#FF0000"), ("dent", "#0000FF")
    ]  # fmt: skip
    areas = [item.pixel_anomaly.total_percentage_area for item in result.anomalies]
    assert areas == pytest.approx([0.375, 0.5, 0.125])
    mask = np.frombuffer(result.anomaly_mask.byte_data, np.uint8).reshape(64, 96, 3)
    assert (result.anomaly_mask.width, result.anomaly_mask.height) == (96, 64)
    assert (mask[:, :48] == (255, 0, 0)).all()
    assert (mask[:16, 48:] == (0, 0, 255)).all()
    assert (mask[16:, 48:] == (255, 255, 255)).all()

    # The mask into the client's shared memory instead of the message.
    segment = shared_memory.SharedMemory(create=True, size=mask.nbytes + 8)
    try:
        handle = pb2.SharedMemoryHandle(name=segment.name, size=mask.nbytes, offset=8)
        shared = detect(stub, "com.example.seg", pixels,
                        anomaly_mask_params=pb2.AnomalyMaskParams(shared_memory_handle=handle))  # fmt: skip
        assert shared.anomaly_mask.WhichOneof("data") == "shared_memory_handle"
        assert shared.anomaly_mask.shared_memory_handle.offset == 8
        assert bytes(segment.buf[8 : 8 + mask.nbytes]) == mask.tobytes()
        small = pb2.SharedMemoryHandle(name=segment.name, size=100, offset=0)
        error = refused(stub.DetectAnomalies, pb2.DetectAnomaliesRequest(
            model_component="com.example.seg", bitmap=bitmap(pixels),
            anomaly_mask_params=pb2.AnomalyMaskParams(shared_memory_handle=small)))  # fmt: skip
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        segment.close()
        segment.unlink()


def test_a_model_that_cannot_load_is_failed_with_the_reason(stub):
    assert running(stub, "com.example.broken") == pb2.FAILED
    description = describe(stub, "com.example.broken")
    assert "not a loadable ONNX model" in description.status_message
    assert stub.StartModel(pb2.StartModelRequest(model_component="com.example.broken")).status == pb2.STARTING


@pytest.mark.parametrize(
    ("request_", "code", "words"),
    [
        (pb2.DetectAnomaliesRequest(model_component="nope", bitmap=bitmap(RED)), "NOT_FOUND", "no model"),
        (pb2.DetectAnomaliesRequest(model_component="", bitmap=bitmap(RED)), "INVALID_ARGUMENT", "required"),
        (pb2.DetectAnomaliesRequest(model_component="com.example.red"), "INVALID_ARGUMENT", "bitmap is required"),
        (pb2.DetectAnomaliesRequest(model_component="com.example.red", bitmap=pb2.Bitmap(width=80, height=70)),
         "INVALID_ARGUMENT", "no pixels"),
        (pb2.DetectAnomaliesRequest(model_component="com.example.red", bitmap=bitmap(solid(63, 70, (0, 0, 0)))),
         "INVALID_ARGUMENT", "64 to 4096"),
        (pb2.DetectAnomaliesRequest(model_component="com.example.red",
                                    bitmap=pb2.Bitmap(width=4097, height=64, byte_data=b"x")),
         "INVALID_ARGUMENT", "64 to 4096"),
        (pb2.DetectAnomaliesRequest(model_component="com.example.red",
                                    bitmap=pb2.Bitmap(width=80, height=70, byte_data=b"x" * 100)),
         "INVALID_ARGUMENT", "16800 bytes"),
        (pb2.DetectAnomaliesRequest(model_component="com.example.seg", bitmap=bitmap(RED)),
         "FAILED_PRECONDITION", "STOPPED"),
    ],
)  # fmt: skip
def test_detect_errors(stub, request_, code, words):
    running(stub, "com.example.red")
    error = refused(stub.DetectAnomalies, request_)
    assert error.code() == grpc.StatusCode[code]
    assert words in error.details()


def test_a_bitmap_of_another_size_than_the_model_takes(stub):
    running(stub, "com.example.seg")  # takes 96x64 images only
    error = refused(stub.DetectAnomalies, pb2.DetectAnomaliesRequest(model_component="com.example.seg",
                                                                     bitmap=bitmap(RED)))  # fmt: skip
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "takes images of 96x64" in error.details()


def test_start_stop_and_describe_errors(stub):
    for call, request_type in ((stub.StartModel, pb2.StartModelRequest), (stub.StopModel, pb2.StopModelRequest),
                               (stub.DescribeModel, pb2.DescribeModelRequest)):  # fmt: skip
        assert refused(call, request_type(model_component="nope")).code() == grpc.StatusCode.NOT_FOUND
        assert refused(call, request_type(model_component="")).code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused(call, request_type(model_component="a b")).code() == grpc.StatusCode.INVALID_ARGUMENT
    stop = refused(stub.StopModel, pb2.StopModelRequest(model_component="com.example.red"))
    assert stop.code() == grpc.StatusCode.FAILED_PRECONDITION  # STOPPED: only RUNNING stops
    running(stub, "com.example.red")
    again = refused(stub.StartModel, pb2.StartModelRequest(model_component="com.example.red"))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "RUNNING" in again.details()


def test_starting_more_models_than_allowed_is_resource_exhausted(make_agent, models_dir):
    _, stub = make_agent(models_dir, max_running=1)
    running(stub, "com.example.red")
    error = refused(stub.StartModel, pb2.StartModelRequest(model_component="com.example.seg"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stub.StopModel(pb2.StopModelRequest(model_component="com.example.red"))
    assert running(stub, "com.example.seg") == pb2.RUNNING


@pytest.fixture
def held_predictions(monkeypatch):
    """Predictions wait inside the model until `release` is set: calls in flight, on purpose."""
    entered, release = threading.Event(), threading.Event()
    predict = ModelRunner.predict

    def held(self, image):
        entered.set()
        assert release.wait(30)
        return predict(self, image)

    monkeypatch.setattr(ModelRunner, "predict", held)
    release.set()  # warm-up passes through
    return entered, release


def test_a_model_that_cannot_keep_up_is_resource_exhausted(make_agent, models_dir, held_predictions):
    entered, release = held_predictions
    _, stub = make_agent(models_dir, queue_per_unit=0)
    running(stub, "com.example.red")
    entered.clear()
    release.clear()
    results: list = []
    first = threading.Thread(target=lambda: results.append(detect(stub, "com.example.red", RED)))
    first.start()
    assert entered.wait(10)
    error = refused(stub.DetectAnomalies, pb2.DetectAnomaliesRequest(model_component="com.example.red",
                                                                     bitmap=bitmap(RED)))  # fmt: skip
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    release.set()
    first.join(10)
    assert results[0].is_anomalous is True


def test_stopping_waits_for_running_predictions(make_agent, models_dir, held_predictions):
    entered, release = held_predictions
    _, stub = make_agent(models_dir)
    running(stub, "com.example.red")
    entered.clear()
    release.clear()
    results: list = []
    first = threading.Thread(target=lambda: results.append(detect(stub, "com.example.red", RED)))
    first.start()
    assert entered.wait(10)
    stopped: list = []
    stopper = threading.Thread(
        target=lambda: stopped.append(stub.StopModel(pb2.StopModelRequest(model_component="com.example.red")))
    )
    stopper.start()
    deadline = time.monotonic() + 10
    while describe(stub, "com.example.red").status != pb2.STOPPING and time.monotonic() < deadline:
        time.sleep(0.01)
    assert describe(stub, "com.example.red").status == pb2.STOPPING
    late = refused(stub.DetectAnomalies, pb2.DetectAnomaliesRequest(model_component="com.example.red",
                                                                    bitmap=bitmap(RED)))  # fmt: skip
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stopped == []  # StopModel answers only once the prediction in flight is done
    release.set()
    first.join(10)
    stopper.join(10)
    assert results[0].is_anomalous is True
    assert stopped[0].status == pb2.STOPPED


def test_new_component_folders_show_up_and_the_highest_version_wins(make_agent, models_dir):
    from tests.edge.conftest import component
    from tests.support.onnx_models import classifier_bundle

    _, stub = make_agent(models_dir)
    component(models_dir, "com.example.red", "1.10.0", classifier_bundle, RED_ARN.replace("/1", "/3"))
    component(models_dir, "com.example.red", "1.9.0", classifier_bundle, RED_ARN.replace("/1", "/2"))
    classifier_bundle(models_dir / "plain-bundle")  # no recipe: named after its folder
    names = [model.model_component for model in stub.ListModels(pb2.ListModelsRequest()).models]
    assert names == ["com.example.broken", "com.example.red", "com.example.seg", "plain-bundle"]
    assert describe(stub, "com.example.red").lookout_vision_model_arn.endswith("model/parts/3")


def test_an_unexpected_failure_is_internal_and_the_agent_keeps_serving(stub, monkeypatch):
    running(stub, "com.example.red")

    def broken(self, image):
        raise RuntimeError("onnxruntime fell over")

    monkeypatch.setattr(ModelRunner, "predict", broken)
    error = refused(stub.DetectAnomalies, pb2.DetectAnomaliesRequest(model_component="com.example.red",
                                                                     bitmap=bitmap(RED)))  # fmt: skip
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "RuntimeError" in error.details()
    monkeypatch.undo()
    assert detect(stub, "com.example.red", RED).is_anomalous is True

"""The gRPC front door: the EdgeAgent service of edge_agent.proto on a unix socket (and, if asked, a
loopback TCP port), answering with the status codes of the published contract."""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any, TypeVar

import grpc

from server.edge import edge_agent_pb2 as pb2
from server.edge import edge_agent_pb2_grpc as pb2_grpc
from server.edge.agent import EdgeAgent, EdgeError, EdgeResult, ModelState
from server.settings import DEFAULT_EDGE_SOCKET
from server.spec.limits import IMAGE_MAX_SIDE

log = logging.getLogger(__name__)

DEFAULT_SOCKET = DEFAULT_EDGE_SOCKET
# The largest bitmap (4096 x 4096 RGB888) in byte_data, and its mask coming back, with room for the rest.
MAX_MESSAGE_BYTES = IMAGE_MAX_SIDE * IMAGE_MAX_SIDE * 3 + 1024 * 1024
WORKERS = 16  # calls served at once; more wait, and beyond MAX_CALLS gRPC answers RESOURCE_EXHAUSTED
MAX_CALLS = 256
_SUN_PATH_MAX = 107  # bytes in a unix socket path (108 with the terminating NUL)

Answer = TypeVar("Answer")


class EdgeStartError(Exception):
    """The agent cannot listen where it was asked to; the message says why."""


class EdgeAgentService(pb2_grpc.EdgeAgentServicer):
    def __init__(self, agent: EdgeAgent) -> None:
        self.agent = agent

    def DetectAnomalies(self, request: Any, context: Any) -> Any:
        if not request.HasField("bitmap"):
            return _call(context, lambda: _refuse("INVALID_ARGUMENT", "bitmap is required"))
        mask_handle = (
            request.anomaly_mask_params.shared_memory_handle
            if request.HasField("anomaly_mask_params")
            and request.anomaly_mask_params.HasField("shared_memory_handle")
            else None
        )
        result = _call(
            context, lambda: self.agent.detect(request.model_component, request.bitmap, mask_handle)
        )
        return pb2.DetectAnomaliesResponse(detect_anomaly_result=_result(result))

    def StartModel(self, request: Any, context: Any) -> Any:
        status = _call(context, lambda: self.agent.start(request.model_component))
        return pb2.StartModelResponse(status=pb2.ModelStatus.Value(status))

    def StopModel(self, request: Any, context: Any) -> Any:
        status = _call(context, lambda: self.agent.stop(request.model_component))
        return pb2.StopModelResponse(status=pb2.ModelStatus.Value(status))

    def ListModels(self, request: Any, context: Any) -> Any:
        states = _call(context, self.agent.list)
        return pb2.ListModelsResponse(models=[pb2.ModelMetadata(**_fields(state)) for state in states])

    def DescribeModel(self, request: Any, context: Any) -> Any:
        state = _call(context, lambda: self.agent.describe(request.model_component))
        return pb2.DescribeModelResponse(model_description=pb2.ModelDescription(**_fields(state)))


def _refuse(code: str, message: str) -> Any:
    raise EdgeError(code, message)


def _call(context: Any, work: Callable[[], Answer]) -> Answer:
    """The work's answer, or the call ended with the error's status (INTERNAL for the unexpected)."""
    try:
        return work()
    except EdgeError as error:
        context.abort(grpc.StatusCode[error.code], error.message)
    except Exception as error:
        log.exception("edge agent: unexpected error")
        context.abort(grpc.StatusCode.INTERNAL, f"An internal error occurred: {type(error).__name__}")
    raise AssertionError("context.abort returns only by raising")


def _fields(state: ModelState) -> dict[str, Any]:
    return {
        "model_component": state.name,
        "lookout_vision_model_arn": state.model_arn,
        "status": pb2.ModelStatus.Value(state.status),
        "status_message": state.message,
    }


def _result(result: EdgeResult) -> Any:
    message = pb2.DetectAnomalyResult(
        is_anomalous=result.is_anomalous,
        confidence=result.confidence,
        anomaly_score=result.score,
        anomaly_threshold=result.threshold,
        anomalies=[
            pb2.Anomaly(
                name=area.name,
                pixel_anomaly=pb2.PixelAnomaly(total_percentage_area=area.share, hex_color=area.color),
            )
            for area in result.anomalies
        ],
    )
    if result.mask is not None:
        message.anomaly_mask.CopyFrom(
            pb2.Bitmap(width=result.width, height=result.height, byte_data=result.mask)
        )
    elif result.mask_segment is not None:
        where = result.mask_segment
        handle = pb2.SharedMemoryHandle(name=where.name, size=where.size, offset=where.offset)
        message.anomaly_mask.CopyFrom(
            pb2.Bitmap(width=result.width, height=result.height, shared_memory_handle=handle)
        )
    return message


class EdgeServer:
    """The agent's gRPC server: `start()` binds and serves in background threads, `stop()` ends it."""

    def __init__(self, agent: EdgeAgent, socket_path: str | None = DEFAULT_SOCKET, tcp: str = "") -> None:
        self.agent = agent
        self.socket_path = socket_path
        self.tcp = tcp
        self.addresses: list[str] = []  # what clients dial: unix:PATH, HOST:PORT
        self._server: Any = None

    def start(self) -> EdgeServer:
        if not self.socket_path and not self.tcp:
            raise EdgeStartError("give a socket path or a TCP address to listen on")
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="edge"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),  # a second agent on the same TCP port must fail, not share it
            ],
            maximum_concurrent_rpcs=MAX_CALLS,
        )
        pb2_grpc.add_EdgeAgentServicer_to_server(EdgeAgentService(self.agent), server)
        if self.socket_path:
            path = _claim_socket_path(self.socket_path)
            _bind(server, f"unix:{path}", path)
            self.socket_path = path
            self.addresses.append(f"unix:{path}")
        if self.tcp:
            host, _, port = self.tcp.rpartition(":")
            if not host or not port.isdigit():
                raise EdgeStartError(f"edge TCP address {self.tcp!r}: expected HOST:PORT")
            bound = _bind(server, self.tcp, self.tcp)
            self.addresses.append(f"{host}:{bound}")
        server.start()
        self._server = server
        return self

    def stop(self, grace: float = 5.0) -> None:
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self.agent.close()
        if self.socket_path:
            try:
                if stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                    os.unlink(self.socket_path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> EdgeServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _bind(server: Any, address: str, shown: str) -> int:
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise EdgeStartError(f"cannot listen on {shown}: {error}") from None
    if port == 0:
        raise EdgeStartError(f"cannot listen on {shown}")
    return int(port)


def _claim_socket_path(path_text: str) -> str:
    """An absolute socket path that is free: a stale socket file is removed; a live agent's, a file that
    is no socket, or a path too long for a unix socket stop start-up with a clear reason."""
    path = Path(path_text).expanduser().absolute()
    text = str(path)
    if len(os.fsencode(text)) > _SUN_PATH_MAX:
        raise EdgeStartError(
            f"the socket path {text} is longer than {_SUN_PATH_MAX} bytes; choose a shorter one"
        )
    if not path.parent.is_dir():
        raise EdgeStartError(f"cannot create the socket {text}: {path.parent} is not a folder")
    try:
        mode = os.lstat(text).st_mode
    except FileNotFoundError:
        return text
    if not stat.S_ISSOCK(mode):
        raise EdgeStartError(f"{text} exists and is not a socket; remove it or choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(text)
    except OSError as error:
        if error.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise EdgeStartError(f"cannot check the socket {text}: {error}") from None
        os.unlink(text)  # left by an agent that is gone
        return text
    finally:
        probe.close()
    raise EdgeStartError(f"another process already serves {text}; stop it or choose another --edge-socket")

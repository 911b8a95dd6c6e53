"""StartModel, StopModel, DetectAnomalies."""

from __future__ import annotations

from typing import Any

from server.backend.assembly import Backend
from server.backend.hosting import ScriptedAnswer
from server.backend.scope import Scope
from server.handlers.registry import operation
from server.protocol.context import RequestContext


@operation("StartModel")
def start_model(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = backend.hosting.start(
        Scope.of(context),
        params["ProjectName"],
        params["ModelVersion"],
        params["MinInferenceUnits"],
        params.get("MaxInferenceUnits"),
    )
    return {"Status": status}


@operation("StopModel")
def stop_model(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Status": backend.hosting.stop(Scope.of(context), params["ProjectName"], params["ModelVersion"])}


@operation("DetectAnomalies")
def detect_anomalies(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    answer = backend.hosting.detect(
        Scope.of(context),
        params["ProjectName"],
        params["ModelVersion"],
        params["ContentType"],
        params["Body"],
    )
    if isinstance(answer, ScriptedAnswer):
        return {"DetectAnomalyResult": answer.document}
    result: dict[str, Any] = {
        "Source": {"Type": "direct"},
        "IsAnomalous": answer.is_anomalous,
        "Confidence": answer.confidence,
    }
    if answer.anomalies is not None:
        result["Anomalies"] = [
            {"Name": area.name, "PixelAnomaly": {"TotalPercentageArea": area.share, "Color": area.color}}
            for area in answer.anomalies
        ]
        result["AnomalyMask"] = answer.mask_png
    return {"DetectAnomalyResult": result}

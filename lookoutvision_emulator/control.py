"""Drive a running emulator's own endpoints (/_emulator/...): reset, scripted results, delays, imports."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from lookoutvision_emulator.clients import client

DELAY_KINDS = ("hosting", "stopping", "training", "dataset_import", "packaging")


class EmulatorError(RuntimeError):
    """An /_emulator/ call was refused; the message is the server's."""


class RunningEmulator:
    """A handle on an emulator at `url`: what the `lfv_server` pytest fixture gives you."""

    def __init__(self, url: str, region: str = "us-east-1") -> None:
        self.url = url.rstrip("/")
        self.region = region

    def client(self, **kwargs: Any):
        """A boto3 lookoutvision client for this emulator (fake credentials, our service model)."""
        kwargs.setdefault("region_name", self.region)
        return client(self.url, **kwargs)

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/health")

    def reset(self) -> None:
        """Forget every resource, scripted result and delay change."""
        self._call("POST", "/_emulator/reset")

    def set_results(
        self,
        project: str,
        version: str,
        results: list[dict[str, Any]],
        repeat: bool = False,
        account: str | None = None,
        region: str | None = None,
    ) -> None:
        """What DetectAnomalies answers for `project`/`version` (`*` for any version), one result per call.

        Each result is a DetectAnomalyResult (`{"IsAnomalous": True, "Confidence": 0.97}`, with
        `Anomalies` and `AnomalyMask` (base64 or bytes) for segmentation), or an error
        (`{"Error": {"Code": "ThrottlingException", "Message": "slow down"}}`). When the list runs out,
        the last result repeats if `repeat`, otherwise the real model answers again.
        """
        body = {
            "project": project,
            "version": version,
            "results": [_jsonable(result) for result in results],
            "repeat": repeat,
            "account": account,
            "region": region or self.region,
        }
        self._call("POST", "/_emulator/results", body)

    def set_result(self, project: str, version: str, result: dict[str, Any], **kwargs: Any) -> None:
        """One fixed answer for every call."""
        self.set_results(project, version, [result], repeat=True, **kwargs)

    def set_error(self, project: str, version: str, code: str, message: str, **fields: Any) -> None:
        """Every DetectAnomalies call fails with this modeled error."""
        self.set_results(
            project, version, [{"Error": {"Code": code, "Message": message, **fields}}], repeat=True
        )

    def clear_results(self) -> None:
        self._call("DELETE", "/_emulator/results")

    def set_delays(self, **seconds: float) -> dict[str, float]:
        """How long models stay STARTING_HOSTING (`hosting`), STOPPING_HOSTING (`stopping`), TRAINING,
        datasets CREATE_IN_PROGRESS (`dataset_import`) and packaging jobs RUNNING (`packaging`)."""
        unknown = set(seconds) - set(DELAY_KINDS)
        if unknown:
            raise ValueError(f"unknown delays {sorted(unknown)}; known: {', '.join(DELAY_KINDS)}")
        return self._call("POST", "/_emulator/delays", seconds)

    def import_model(self, project: str, source: str | Path | bytes, **query: str) -> dict[str, Any]:
        """Import a bundle folder, an anomalib export folder, or bare ONNX bytes as the next version."""
        if isinstance(source, bytes):
            content, kind = source, "application/octet-stream"
        else:
            content, kind = _zip(Path(source)), "application/zip"
        path = f"/_emulator/projects/{urllib.parse.quote(project, safe='')}/models"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self._call("POST", path, raw=content, content_type=kind)

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                detail = json.loads(detail)["Message"]
            raise EmulatorError(f"{method} {path}: {error.code} {detail}") from None
        return json.loads(text) if text else None


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    mask = result.get("AnomalyMask")
    if isinstance(mask, (bytes, bytearray)):
        import base64

        return {**result, "AnomalyMask": base64.b64encode(mask).decode("ascii")}
    return result


def _zip(folder: Path) -> bytes:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.getvalue()

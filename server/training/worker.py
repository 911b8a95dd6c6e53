"""The training process: runs the trainer and reports its phases and result through a pipe."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


def run(job: dict[str, Any], connection: Any) -> None:
    try:
        from server.training.trainer import Job, Sample, train

        samples = {
            part: [Sample(item["path"], item["label"], item["source_ref"], item.get("mask"), item.get("colors", {}))
                   for item in job[part]]
            for part in ("train", "test")
        }  # fmt: skip
        result = train(
            Job(samples["train"], samples["test"], tuple(job["image_size"]), job["output"]),
            progress=lambda phase: connection.send(("progress", phase)),
        )
        import resource

        answer = asdict(result)
        answer["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        connection.send(("done", answer))
    except Exception as error:  # reported to the server, which fails the model with it
        connection.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        connection.close()

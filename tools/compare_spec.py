"""Compare our service model with a botocore release's lookoutvision model, ignoring documentation prose.

    pip download --no-deps botocore==1.40.60 -d /tmp/bc && unzip -q /tmp/bc/*.whl -d /tmp/bc
    python tools/compare_spec.py /tmp/bc/botocore/data/lookoutvision/2020-11-20

Prints every difference (operations, shapes, members, locations, constraints) and exits 1 if any.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

OURS = Path(__file__).resolve().parents[1] / "server" / "spec" / "lookoutvision" / "2020-11-20"


def load(folder: Path, name: str) -> Any:
    plain, packed = folder / name, folder / f"{name}.gz"
    if plain.exists():
        return json.loads(plain.read_text(encoding="utf-8"))
    return json.loads(gzip.decompress(packed.read_bytes()))


def facts(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: facts(item) for key, item in value.items() if key != "documentation"}
    if isinstance(value, list):
        return [facts(item) for item in value]
    return value


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(ours) | set(theirs)):
            where = f"{path}.{key}" if path else key
            if key not in ours:
                found.append(f"missing here: {where}")
            elif key not in theirs:
                found.append(f"extra here: {where}")
            else:
                found += differences(ours[key], theirs[key], where)
        return found
    return [] if ours == theirs else [f"differs: {path}: ours {ours!r}, theirs {theirs!r}"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    theirs_dir = Path(argv[1])
    found = []
    for name in ("service-2.json", "paginators-1.json"):
        found += [
            f"{name}: {line}" for line in differences(facts(load(OURS, name)), facts(load(theirs_dir, name)))
        ]
    for line in found:
        print(line)
    print(f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""The one rule for values that become parts of a path in the data directory.

Account, region, project name and model version name folders (models/<account>/<region>/<project>/
<version>/), so each is checked here against a pattern that admits no separator, no `..` and no
absolute path; and every write or removal first checks that its target resolves inside the data
directory, so that a value that slipped past a check (or a planted symlink) cannot reach anything else.
"""

from __future__ import annotations

import re
from pathlib import Path

ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # the same as a SigV4 scope's region (protocol/context)
PROJECT = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_\-]{0,254}")  # ProjectName in the service model
DIGEST = re.compile(r"[0-9a-f]{64}")  # a blob's SHA-256


class UnsafePath(ValueError):
    """A value that must not become (part of) a path here."""


def check_scope(account: str, region: str) -> None:
    if not isinstance(account, str) or not ACCOUNT.fullmatch(account):
        raise UnsafePath(f"account must be 12 digits, not {account!r}")
    if not isinstance(region, str) or not REGION.fullmatch(region):
        raise UnsafePath(f"region must be lower-case letters, digits and '-', not {region!r}")


def check_parts(account: str, region: str, project: str, version: int) -> None:
    check_scope(account, region)
    if not isinstance(project, str) or not PROJECT.fullmatch(project):
        raise UnsafePath(f"project name {project!r} cannot name a folder")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UnsafePath(f"model version {version!r} cannot name a folder")


def inside(root: Path, path: Path) -> Path:
    """`path`, once it is known to resolve (symlinks followed) to `root` itself or below it."""
    base = root.resolve()
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafePath(f"{path} is outside the data directory")
    return path

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class HasAccountAndRegion(Protocol):
    account: str
    region: str


@dataclass(frozen=True)
class Scope:
    """Every resource lives in one (account, region) and is invisible from any other."""

    account: str
    region: str

    @classmethod
    def of(cls, context: HasAccountAndRegion) -> Scope:
        return cls(context.account, context.region)

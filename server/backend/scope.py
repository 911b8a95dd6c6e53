from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from server.spec.errors import validation_error
from server.store.paths import UnsafePath, check_scope


class HasAccountAndRegion(Protocol):
    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...


@dataclass(frozen=True)
class Scope:
    """Every resource lives in one (account, region) and is invisible from any other."""

    account: str
    region: str

    def __post_init__(self) -> None:
        # Account and region become folder names; the emulator's own endpoints take them from a query
        # or a body, not from a SigV4 scope, so they are checked here, where every scope is made.
        try:
            check_scope(self.account, self.region)
        except UnsafePath as error:
            raise validation_error(str(error)) from None

    @classmethod
    def of(cls, context: HasAccountAndRegion) -> Scope:
        return cls(context.account, context.region)

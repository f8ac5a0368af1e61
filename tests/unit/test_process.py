"""start_store: how every service reports an index store it cannot open."""

from __future__ import annotations

from typing import Any, cast

import pytest

from ferry.errors import FailedPrecondition, Unavailable
from ferry.process import start_store
from ferry.store import Store


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def start(self) -> None:
        raise self.error


def _store(error: Exception) -> Store:
    return cast(Store, cast(Any, _Failing(error)))


async def test_a_driver_error_is_unavailable_naming_the_setting_without_the_password() -> None:
    url = "postgresql://ferry:s3cret@db.example:5432/ferry"
    with pytest.raises(Unavailable) as err:
        await start_store(_store(OSError("connection refused")), url)
    assert err.value.message.startswith("store_url: cannot open the index store ")
    assert "postgresql://ferry:***@db.example:5432/ferry" in err.value.message
    assert "connection refused" in err.value.message
    assert "s3cret" not in err.value.message


async def test_a_ferry_error_passes_through_as_it_is() -> None:
    refused = FailedPrecondition("the store's schema is newer than this Ferry")
    with pytest.raises(FailedPrecondition) as err:
        await start_store(_store(refused), "sqlite:///x.db")
    assert err.value is refused

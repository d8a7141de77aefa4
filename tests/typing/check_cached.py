"""Checked by mypy (tests/unit/test_typing.py): @cached keeps signatures for type checkers.

Lines marked ``# E:`` must be errors; the test asserts mypy reports exactly those.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from backendperf import CacheInfo, cached


@cached(ttl=60, maxsize=10)
def get_user(user_id: int, *, fresh: bool = False) -> dict[str, int]:
    return {"id": user_id}


@cached
async def fetch(url: str) -> bytes:
    return url.encode()


class Repo:
    @cached(maxsize=32)
    def find(self, name: str) -> list[str]:
        return [name]

    @staticmethod
    @cached
    def parse(text: str) -> int:
        return len(text)


assert_type(get_user(1), dict[str, int])
assert_type(get_user(user_id=1, fresh=True), dict[str, int])
assert_type(get_user.cache_info(), CacheInfo)
assert_type(get_user.invalidate(1), bool)
assert_type(Repo().find("x"), list[str])
assert_type(Repo().find.invalidate("x"), bool)
assert_type(Repo.parse("abc"), int)
Repo.find.cache_clear()


async def use_fetch() -> bytes:
    assert_type(await fetch.ainvalidate("u"), bool)
    await fetch.acache_clear()
    return await fetch("u")


assert_type(get_user.cache_parameters(), dict[str, Any])


get_user("1")  # E: arg-type
get_user(1, extra=2)  # E: call-arg
Repo().find(1)  # E: arg-type
get_user.invalidate("x")  # E: arg-type

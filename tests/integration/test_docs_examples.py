"""The Python examples in the docs run as written (```python blocks; ```py blocks are shown only,
because they need infrastructure this machine lacks: TLS certificates, Sentinel)."""

from __future__ import annotations

import pathlib
import re

import pytest
import redis

DOCS = pathlib.Path(__file__).parents[2] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.redis
def test_redis_page_examples_run(redis_url: str, redis_prefix: str) -> None:
    """Every python block of docs/redis.md runs, in order, against the real Redis."""
    namespace = redis_prefix.rstrip(":")
    text = (DOCS / "redis.md").read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 5
    scope: dict[str, object] = {"__name__": "docs_redis"}
    try:
        for block in blocks:
            code = block.replace('"myapp"', repr(namespace))
            code = code.replace("redis://127.0.0.1:6379/0", redis_url)
            exec(compile(code, "docs/redis.md", "exec", dont_inherit=True), scope)
    finally:
        from backendperf.cache import default_codec

        for name in ("docs_redis.Plan", "docs_redis.Invoice"):  # leave the codec as found
            entry = default_codec._by_name.pop(name, None)
            if entry is not None:
                default_codec._by_type.pop(entry.cls, None)
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=namespace + ":*"))
        if keys:
            client.delete(*keys)

"""The in-process LRU: bounded by entries and by bytes."""

from __future__ import annotations

from cache_service.caches.memory import MemoryCache


async def test_returns_only_the_keys_it_holds() -> None:
    cache = MemoryCache(max_entries=10, max_bytes=10_000)
    await cache.set_many({"a": "1"})
    assert await cache.get_many(["a", "b"]) == {"a": "1"}


async def test_evicts_the_least_recently_used_entry_past_max_entries() -> None:
    cache = MemoryCache(max_entries=2, max_bytes=10_000)
    await cache.set_many({"a": "1", "b": "2"})
    await cache.get_many(["a"])  # "a" is now more recent than "b"
    await cache.set_many({"c": "3"})
    assert await cache.get_many(["a", "b", "c"]) == {"a": "1", "c": "3"}


async def test_evicts_until_the_byte_bound_holds() -> None:
    cache = MemoryCache(max_entries=100, max_bytes=20)
    await cache.set_many({"k1": "x" * 10, "k2": "y" * 10})  # 12 bytes each, with their keys
    assert await cache.get_many(["k1", "k2"]) == {"k2": "y" * 10}


async def test_never_holds_a_value_larger_than_the_byte_bound() -> None:
    cache = MemoryCache(max_entries=100, max_bytes=8)
    await cache.set_many({"k": "x" * 100})
    assert await cache.get_many(["k"]) == {}


async def test_zero_entries_disables_the_cache() -> None:
    cache = MemoryCache(max_entries=0, max_bytes=1000)
    await cache.set_many({"k": "v"})
    assert await cache.get_many(["k"]) == {}


async def test_rewriting_a_key_does_not_double_count_its_bytes() -> None:
    cache = MemoryCache(max_entries=10, max_bytes=25)
    await cache.set_many({"k": "v" * 10})
    await cache.set_many({"k": "v" * 10})
    await cache.set_many({"j": "w" * 10})  # 11 + 11 bytes fit; counted twice, "k" would go
    assert await cache.get_many(["k", "j"]) == {"k": "v" * 10, "j": "w" * 10}

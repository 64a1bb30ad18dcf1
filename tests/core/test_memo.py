"""The per-process memos every write-path cache is built on (``common.memo``)."""

from __future__ import annotations

import threading

from rat_jupyter.common.memo import MISSING, ContentKeys, IdentityMemo, Lru


def test_lru_keeps_the_most_recently_used_within_its_bound() -> None:
    lru: Lru[int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3)
    assert lru.get("b") is MISSING and lru.get("a") == 1 and lru.get("c") == 3
    lru.put("c", None)  # None is a value, not a miss
    assert lru.get("c") is None and len(lru) == 2
    lru.pop("c")
    lru.pop("absent")
    assert lru.get("c", "default") == "default" and list(lru) == ["a"]
    lru.clear()
    assert len(lru) == 0


def test_weighted_lru_bounds_the_total_weight_and_refuses_what_cannot_fit() -> None:
    lru: Lru[tuple[int, ...]] = Lru(5, weight=len)
    lru.put("three", (1, 2, 3))
    lru.put("two", (1, 2))
    assert list(lru) == ["three", "two"]
    lru.put("one", (1,))  # 6 > 5: the least recently used goes
    assert list(lru) == ["two", "one"]
    lru.put("six", tuple(range(6)))  # heavier than the whole bound: not kept, nothing evicted for it
    assert lru.get("six") is MISSING and list(lru) == ["two", "one"]
    lru.put("two", (1, 2, 3, 4))  # replacing a value reweighs it
    assert list(lru) == ["one", "two"]
    lru.put("again", (1,))
    assert list(lru) == ["two", "again"]


def test_identity_memo_hits_only_for_the_same_objects() -> None:
    memo = IdentityMemo(8)
    schema = object()
    built: list[int] = []

    def build() -> int:
        built.append(1)
        return len(built)

    assert memo.get(("k", id(schema)), (schema,), build) == 1
    assert memo.get(("k", id(schema)), (schema,), build) == 1 and memo.built == 1
    other = object()
    assert memo.get(("k", id(schema)), (other,), build) == 2  # same key, another object: built anew
    assert memo.built == 2


def test_lru_is_safe_across_threads() -> None:
    lru: Lru[int] = Lru(64)

    def work(n: int) -> None:
        for i in range(2000):
            lru.put((n, i % 100), i)
            lru.get((n, (i * 7) % 100))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lru) == 64


def test_put_says_what_left_and_keep_leaves_a_preferred_value_in_place() -> None:
    lru: Lru[int] = Lru(4, weight=lambda v: v)
    assert lru.put("a", 1) is MISSING  # nothing held before
    assert lru.put("a", 2) == 1  # the replaced value
    newer = lambda held, new: held > new  # noqa: E731 - the rule of a "newest version" cache
    assert lru.put("a", 1, keep=newer) == 1 and lru.get("a") == 2  # the older one was not stored
    assert lru.put("a", 3, keep=newer) == 2 and lru.get("a") == 3
    assert lru.put("b", 9) == 9 and lru.get("b") is MISSING  # too heavy: not stored


def test_keep_decides_atomically_when_threads_put_versions_of_one_key() -> None:
    # Each thread puts ascending versions; without the check and the store under one lock, a thread could
    # read version n as held, be preempted, and store its older version over a newer one.
    lru: Lru[int] = Lru(8)
    newer = lambda held, new: held > new  # noqa: E731

    def work(start: int) -> None:
        for v in range(start, 4000, 4):
            lru.put("k", v, keep=newer)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lru.get("k") == 3999


def test_a_value_is_weighed_when_put_and_leaves_with_that_weight() -> None:
    """A value that grows in place (a cached table a commit updates) keeps the weight it was put with until it
    is put again: the units in use never drift, whatever happened to the value meanwhile."""
    lru: Lru[list[int]] = Lru(10, weight=len)
    grows, other = [1, 2], [1, 2, 3]
    lru.put("grows", grows)
    lru.put("other", other)
    assert lru.used == 5
    grows.extend(range(4))  # six now, still weighed two
    assert lru.used == 5
    lru.put("grows", grows)  # weighed again: 6 + 3 fits in 10
    assert lru.used == 9 and list(lru) == ["other", "grows"]
    grows.extend(range(10))
    lru.pop("grows")  # leaves with the six it was put with
    assert lru.used == 3
    lru.put("grows", grows)  # sixteen: heavier than the bound, not kept
    assert lru.used == 3 and list(lru) == ["other"]


def test_content_keys_are_worked_out_once_per_object_and_leave_with_it() -> None:
    import gc

    class Schema:  # a frozen model that is costly to hash: equal by its fields
        def __init__(self, *fields: str) -> None:
            self.fields = fields

    worked: list[tuple[str, ...]] = []
    keys = ContentKeys(lambda s: worked.append(s.fields) or s.fields)
    first, again = Schema("id", "v"), Schema("id", "v")  # a metadata file parsed twice: equal, not the same
    key = keys.of(first)
    assert keys.of(first) is key and len(worked) == 1  # worked out once for the object
    assert keys.of(again) == key and hash(keys.of(again)) == hash(key) and len(worked) == 2
    assert keys.of(Schema("id", "w")) != key
    memo: dict[object, str] = {key: "built for first"}
    assert memo[keys.of(again)] == "built for first"  # the equal schema finds it
    del first
    gc.collect()
    assert len(keys) == 1  # only `again` is alive: the others' entries left with them

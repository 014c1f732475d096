"""Immutable policies and the in-flight limiter."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

import aerodf
from aerodf.limiter import Limiter
from aerodf.policy import resolve


def test_policies_are_immutable_and_replace_copies():
    p = aerodf.BatchPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.total_timeout = 5  # type: ignore[misc]
    q = p.replace(total_timeout=5, replica="master")
    assert q.total_timeout == 5 and q.replica is aerodf.Replica.MASTER
    assert p.total_timeout == 1000 and p.replica is aerodf.Replica.SEQUENCE


def test_defaults_follow_the_server_clients():
    assert aerodf.ReadPolicy().max_retries == 2
    assert aerodf.BatchPolicy().max_retries == 2
    assert aerodf.WritePolicy().max_retries == 0
    assert aerodf.QueryPolicy().max_retries == 5 and aerodf.QueryPolicy().total_timeout == 0


def test_writes_retry_only_when_idempotent():
    with pytest.raises(aerodf.ConfigError, match="idempotent"):
        aerodf.WritePolicy(max_retries=2)
    assert aerodf.WritePolicy(max_retries=2, idempotent=True).max_retries == 2


def test_validation():
    with pytest.raises(aerodf.ConfigError):
        aerodf.ReadPolicy(total_timeout=-1)
    with pytest.raises(aerodf.ConfigError):
        aerodf.ReadPolicy().replace(no_such_field=1)
    with pytest.raises(aerodf.ConfigError):
        aerodf.WritePolicy(exists="sometimes")


def test_socket_timeout_clipped_to_total():
    p = aerodf.ReadPolicy(socket_timeout=30000, total_timeout=500)
    assert p.attempt_socket_timeout() == 500
    assert p.attempt_socket_timeout(120) == 120
    assert aerodf.ReadPolicy(socket_timeout=100, total_timeout=500).attempt_socket_timeout() == 100


def test_resolve_starts_from_the_default():
    default = aerodf.BatchPolicy(total_timeout=700)
    assert resolve(default, None, {}) is default
    assert resolve(default, None, {"max_retries": 0}).total_timeout == 700
    with pytest.raises(aerodf.ConfigError):
        resolve(default, aerodf.WritePolicy(), {})


def test_concurrent_overrides_do_not_see_each_other():
    default = aerodf.BatchPolicy()
    seen = {}

    def call(i):
        p = resolve(default, None, {"total_timeout": 100 + i})
        time.sleep(0.001)
        seen[i] = p.total_timeout

    threads = [threading.Thread(target=call, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {i: 100 + i for i in range(50)}
    assert default.total_timeout == 1000


def test_limiter_bounds_and_metrics():
    lim = Limiter(3)
    peak = []
    active = [0]
    lock = threading.Lock()

    def work():
        with lim.slot():
            with lock:
                active[0] += 1
                peak.append(active[0])
            time.sleep(0.01)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = lim.stats()
    assert max(peak) <= 3 and st.peak == 3 and st.in_flight == 0 and st.total_waits > 0


def test_limiter_queue_timeout_raises_backpressure():
    lim = Limiter(1, queue_timeout=0.05)
    lim.acquire()
    t0 = time.perf_counter()
    with pytest.raises(aerodf.BackpressureError):
        lim.acquire()
    assert time.perf_counter() - t0 < 1
    lim.release()
    assert lim.stats().total_rejections == 1
    with lim.slot():
        pass


def test_limiter_off_is_a_no_op():
    lim = Limiter(0)
    with lim.slot(), lim.slot():
        pass
    assert lim.stats().peak == 0


def test_gc_pause_is_refcounted_and_restores_the_callers_setting():
    import gc

    from aerodf import gcpause

    assert gc.isenabled()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer read is still running
    assert gc.isenabled()
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()  # a caller who disabled GC keeps it disabled
    finally:
        gc.enable()
    with gcpause.paused(False):
        assert gc.isenabled()


def test_limiter_bounds_coroutines_and_threads_together():
    import asyncio

    lim = Limiter(4)
    active = [0]
    peak = [0]
    lock = threading.Lock()

    def enter():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])

    def leave():
        with lock:
            active[0] -= 1

    def thread_work():
        for _ in range(5):
            with lim.slot():
                enter()
                time.sleep(0.002)
                leave()

    async def coro_work():
        for _ in range(5):
            async with lim.aslot():
                enter()
                await asyncio.sleep(0.002)
                leave()

    async def main():
        await asyncio.gather(*(coro_work() for _ in range(50)))

    threads = [threading.Thread(target=thread_work) for _ in range(10)]
    for t in threads:
        t.start()
    asyncio.run(asyncio.wait_for(main(), 30))
    for t in threads:
        t.join(10)
    st = lim.stats()
    assert peak[0] <= 4 and st.peak == 4 and st.in_flight == 0 and st.waiting == 0 and st.total_waits > 0


def test_async_queue_timeout_raises_backpressure_without_blocking_the_loop():
    import asyncio

    lim = Limiter(1, queue_timeout=0.05)

    async def main():
        await lim.acquire_async()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.create_task(ticker())
        with pytest.raises(aerodf.BackpressureError):
            await lim.acquire_async()
        t.cancel()
        lim.release()
        async with lim.aslot():
            pass
        return ticks

    ticks = asyncio.run(main())
    assert ticks >= 3  # the loop kept running while the coroutine waited
    assert lim.stats().total_rejections == 1 and lim.stats().in_flight == 0

"""A heartbeat starved of CPU stretches its margins (engine/heartbeat.py).

At a load average of 25 on two cores, live workers' heartbeats woke seconds late, their
liveness keys expired, other workers stole their tasks again and again, and a healthy
input was dead-lettered after eight "attempts" (a soak found it). A late wake-up is
simulated here by a heartbeat call that takes a second: the time to live written next
must cover it.
"""

from __future__ import annotations

import threading
import time

from engine.heartbeat import Heartbeat, alive_ttl_ms, stretch_ms

CLAIM_MS = 200


class SlowOnceSession:
    """Records the times to live written; its first call takes ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.ttls: list[int] = []
        self.more = threading.Event()

    def heartbeat(self, entry_ids: list[str], ttl_ms: int, state: str) -> list[bool]:
        self.ttls.append(ttl_ms)
        if len(self.ttls) == 1:
            time.sleep(self.delay_s)
        if len(self.ttls) >= 4:
            self.more.set()
        return [True] * len(entry_ids)

    def farewell(self) -> None:
        pass

    def waiting(self) -> bool:
        return False


def test_a_late_beat_stretches_the_time_to_live() -> None:
    session = SlowOnceSession(delay_s=1.0)
    beat = Heartbeat(session, CLAIM_MS)
    beat.start()
    try:
        assert session.more.wait(30)
    finally:
        beat.stop()
    base = alive_ttl_ms(CLAIM_MS)
    assert session.ttls[1] >= base + stretch_ms(0.9)  # the slow call made the next beat late
    assert session.ttls[1] > session.ttls[0]
    assert beat.starved_s >= 0.9


def test_the_stretch_is_zero_when_quiet_and_capped() -> None:
    assert stretch_ms(0.0) == 0 and stretch_ms(-1.0) == 0
    assert stretch_ms(0.5) == 2000
    assert stretch_ms(10_000.0) == 60_000

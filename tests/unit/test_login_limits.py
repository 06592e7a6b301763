"""web/login_limits.py: attempts counted before the password check, per address and per name,
and a name locked by failures elsewhere still open to its person (docs/web.md)."""

from __future__ import annotations

from web.login_limits import Attempt, LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock) -> LoginLimiter:
    return LoginLimiter(3, 300.0, clock=clock)


def test_attempts_are_counted_when_they_start_so_parallel_ones_get_no_more() -> None:
    clock = Clock()
    limits = limiter(clock)
    started = [limits.begin("alice", "10.0.0.1") for _ in range(10)]  # none has finished
    assert [isinstance(a, Attempt) for a in started] == [True] * 3 + [False] * 7
    assert all(wait == 300.0 for wait in started[3:])


def test_a_success_is_taken_off_the_count_and_the_window_slides() -> None:
    clock = Clock()
    limits = limiter(clock)
    first = limits.begin("alice", "10.0.0.1")
    assert isinstance(first, Attempt)
    limits.succeeded(first)
    for _ in range(3):
        assert isinstance(limits.begin("alice", "10.0.0.1"), Attempt)
    assert limits.begin("ALICE ", "10.0.0.1") == 300.0  # names compare as the desk does
    clock.now += 299.0
    assert limits.begin("alice", "10.0.0.1") == 1.0
    clock.now += 1.0
    assert isinstance(limits.begin("alice", "10.0.0.1"), Attempt)


def test_an_address_is_limited_whatever_the_names() -> None:
    clock = Clock()
    limits = limiter(clock)
    for name in ("a", "b", "c"):
        assert isinstance(limits.begin(name, "10.0.0.1"), Attempt)
    assert not isinstance(limits.begin("d", "10.0.0.1"), Attempt)
    assert isinstance(limits.begin("d", "10.0.0.2"), Attempt)


def test_a_locked_name_lets_in_fresh_addresses_once_and_the_ones_its_person_used() -> None:
    clock = Clock()
    limits = limiter(clock)
    home = limits.begin("alice", "192.0.2.1")
    assert isinstance(home, Attempt)
    limits.succeeded(home)
    assert isinstance(limits.begin("alice", "192.0.2.1"), Attempt)  # a typo at home
    for n in range(3):
        assert isinstance(limits.begin("alice", f"203.0.113.{n}"), Attempt)
    assert not isinstance(limits.begin("alice", "203.0.113.0"), Attempt)  # failed for her: held
    assert isinstance(limits.begin("alice", "203.0.113.9"), Attempt)  # fresh: one try
    assert not isinstance(limits.begin("alice", "203.0.113.9"), Attempt)
    assert isinstance(limits.begin("alice", "192.0.2.1"), Attempt)  # home, under its own limit
    assert isinstance(limits.begin("bob", "203.0.113.0"), Attempt)  # other names are not locked


def test_memory_is_bounded() -> None:
    clock = Clock()
    limits = LoginLimiter(3, 300.0, max_keys=50, clock=clock)
    for n in range(1000):
        attempt = limits.begin(f"name{n}", f"10.0.{n // 256}.{n % 256}")
        assert isinstance(attempt, Attempt)
        limits.succeeded(attempt)
    assert len(limits._failures) <= 50 and len(limits._signed_in_from) <= 50

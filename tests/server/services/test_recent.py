"""Polled answers reused for a short while: expiry, size bound, discard by writers, and ttl 0 keeping nothing."""

from __future__ import annotations

import pytest

from server.services.recent import RecentAnswers


def _answers(ttl_s: float, size: int = 4096) -> tuple[RecentAnswers, list[float]]:
    now = [0.0]
    return RecentAnswers(ttl_s, size, clock=lambda: now[0]), now


def test_an_answer_is_reused_until_its_ttl_then_read_again() -> None:
    answers, now = _answers(0.5)
    answers.put("job", b"first")
    now[0] = 0.49
    assert answers.get("job") == b"first"
    now[0] = 0.5
    assert answers.get("job") is None


def test_a_writer_discards_what_it_changed() -> None:
    answers, _ = _answers(10)
    answers.put("a", b"1")
    answers.put("b", b"2")
    answers.discard("a")
    answers.discard("never-stored")
    assert answers.get("a") is None and answers.get("b") == b"2"


def test_the_oldest_answers_leave_first_beyond_the_size() -> None:
    answers, _ = _answers(10, size=2)
    for key in "abc":
        answers.put(key, key.encode())
    assert [answers.get(k) for k in "abc"] == [None, b"b", b"c"]


def test_ttl_zero_keeps_nothing_and_a_negative_ttl_is_refused() -> None:
    answers, _ = _answers(0)
    answers.put("job", b"x")
    assert answers.get("job") is None
    with pytest.raises(ValueError, match="ttl_s must be >= 0"):
        RecentAnswers(-1)

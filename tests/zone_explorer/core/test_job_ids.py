"""The one rule for job ids typed by people: the full id, or the first characters of exactly one id."""

from __future__ import annotations

import pytest

from zone_explorer.core.errors import FieldError, NotFound
from zone_explorer.core.job_ids import CANDIDATES_SHOWN, check_id_prefix, pick_job_id


def test_a_unique_prefix_names_its_job() -> None:
    assert pick_job_id("ab", ["ab12"], 1) == "ab12"


def test_an_exact_id_wins_over_the_longer_ids_it_starts() -> None:
    assert pick_job_id("ab12", ["ab12ff", "ab12"], 2) == "ab12"


def test_no_match_names_the_field() -> None:
    with pytest.raises(NotFound) as err:
        pick_job_id("zz", [], 0, field="--job")
    assert (err.value.field, err.value.message) == ("--job", "no job id starts with 'zz'")


def test_an_ambiguous_prefix_lists_a_bounded_number_of_candidates() -> None:
    ids = [f"ab{i:02d}" for i in range(CANDIDATES_SHOWN + 1)]
    with pytest.raises(FieldError) as err:
        pick_job_id("ab", ids, 25)
    assert err.value.field == "job_id"
    shown = ", ".join(ids[:CANDIDATES_SHOWN])
    assert err.value.message == f"'ab' is the start of 25 job ids: {shown} and 15 more; type more of it"


@pytest.mark.parametrize("typed", ["", "a b", "a%", "x" * 65, "ab/cd"])
def test_a_malformed_prefix_is_refused_before_any_lookup(typed: str) -> None:
    with pytest.raises(FieldError) as err:
        check_id_prefix(typed, "JOB_ID")
    assert err.value.field == "JOB_ID" and "1 to 64 of A-Z a-z 0-9 _ -" in err.value.message


def test_a_well_formed_prefix_passes() -> None:
    assert check_id_prefix("c0_ffee-1") == "c0_ffee-1"

"""The parity runner on every shared fixture it supports."""

import pytest

import parity
from conftest import reference_path


@pytest.mark.parametrize("fixture", sorted(parity.RUNNERS))
def test_fixture_within_tolerance(fixture):
    json_path = reference_path("parity", f"{fixture}.json")
    results = parity.check_fixture(json_path)
    assert results, f"{fixture} has no outputs"
    failures = [(name, error) for name, error, passed in results if not passed]
    assert not failures, f"{fixture}: outputs out of tolerance: {failures}"


def test_unknown_fixture_is_reported(tmp_path):
    unknown = tmp_path / "fx99_unknown.json"
    unknown.write_text("{}")
    assert parity.main([str(unknown)]) == 1

"""Where a file's bytes go: never to the key its committed record points at."""

from __future__ import annotations

from taipan.packages import objects
from taipan.storage.base import ObjectInfo

PLAIN = "ch/linux-64/foo-1.0-0.conda"


def test_a_new_file_goes_to_the_plain_key() -> None:
    assert objects.next_key("ch", "linux-64", "foo-1.0-0.conda", None) == PLAIN


def test_a_replacement_never_goes_where_the_record_points() -> None:
    versioned = objects.next_key("ch", "linux-64", "foo-1.0-0.conda", PLAIN)
    assert versioned != PLAIN
    assert versioned.startswith("ch/linux-64/.versions/")
    assert versioned.endswith("/foo-1.0-0.conda")
    assert objects.next_key("ch", "linux-64", "foo-1.0-0.conda", versioned) == PLAIN  # and back
    assert objects.parse_key(versioned) == objects.parse_key(PLAIN) == ("ch", "linux-64", "foo-1.0-0.conda")
    assert objects.stored_value("ch", "linux-64", "foo-1.0-0.conda", PLAIN) is None
    assert objects.object_key("ch", "linux-64", "foo-1.0-0.conda", None) == PLAIN
    assert objects.object_key("ch", "linux-64", "foo-1.0-0.conda", versioned) == versioned


def test_keys_that_are_no_package_object() -> None:
    assert objects.parse_key(".staging/abc") is None
    assert objects.parse_key("ch/linux-64/.versions/short/foo-1.0-0.conda") is None
    assert objects.parse_key("ch/linux-64/x/y/foo-1.0-0.conda") is None


def test_rebuild_picks_the_recorded_object_else_the_newest() -> None:
    old = ObjectInfo(PLAIN, 10, 1_000)
    new = ObjectInfo(f"ch/linux-64/.versions/{'a' * 32}/foo-1.0-0.conda", 20, 2_000)
    assert objects.pick([old, new], PLAIN) == old
    assert objects.pick([old, new], None) == new
    assert objects.pick([ObjectInfo(new.key, 20, 1_000), old], None) == old  # a tie: the plain key

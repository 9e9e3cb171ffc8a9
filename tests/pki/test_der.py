"""The DER pieces padlock writes by hand encode as X.690 says, and read back what they wrote."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from padlock.pki import der


def test_der_integer_encoding() -> None:
    # DER INTEGERs are minimal and positive: 128 needs a leading zero byte, 127 does not.
    assert der.integer(0) == b"\x02\x01\x00"
    assert der.integer(127) == b"\x02\x01\x7f"
    assert der.integer(128) == b"\x02\x02\x00\x80"
    assert der.integer(1 << 14) == b"\x02\x02\x40\x00"
    with pytest.raises(ValueError):
        der.integer(-1)


def test_der_long_length() -> None:
    assert der.length(0x7F) == b"\x7f"
    assert der.length(0x80) == b"\x81\x80"
    assert der.length(0x1234) == b"\x82\x12\x34"
    assert der.tlv(der.OCTET_STRING, b"x" * 200)[:3] == b"\x04\x81\xc8"


def test_der_oid_encoding() -> None:
    # The scrypt OID, as RFC 7914 section 7 spells its DER.
    assert der.oid("1.3.6.1.4.1.11591.4.11") == bytes.fromhex("06092b06010401da47040b")
    assert der.oid("2.5.29.17") == bytes.fromhex("0603551d11")


def test_der_time_switches_to_generalized_time_in_2050() -> None:
    # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    assert der.time(dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)) == (
        b"\x17\x0d491231235959Z"
    )
    assert der.time(dt.datetime(2050, 1, 1, tzinfo=dt.UTC)) == b"\x18\x0f20500101000000Z"
    assert der.time(dt.datetime(1950, 1, 1, tzinfo=dt.UTC)) == b"\x17\x0d500101000000Z"
    # Another zone is written in UTC; fractions of a second are not written.
    cet = dt.timezone(dt.timedelta(hours=1))
    assert der.time(dt.datetime(2026, 1, 1, 0, 30, 0, 999, tzinfo=cet)) == (
        b"\x17\x0d251231233000Z"
    )


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_der_children_read_back_what_sequence_wrote(parts: list[bytes]) -> None:
    elements = [der.tlv(der.OCTET_STRING, p) for p in parts]
    assert der.children(der.sequence(*elements)) == elements


@pytest.mark.parametrize(
    "junk",
    [b"", b"\x30", b"\x30\x05\x04\x01", b"\x30\x85\x00\x00\x00\x00\x01", b"\x30\x80"],
)
def test_der_element_refuses_what_is_cut_short_or_indefinite(junk: bytes) -> None:
    with pytest.raises(ValueError):
        der.children(junk)

import pytest

from veche.services.streams import InvalidToken, Stream, StreamToken


def test_round_trip():
    token = StreamToken(events=5, to_device=2, receipts=3, typing=4, presence=1, account_data=7, device_lists=9)
    assert StreamToken.parse(token.serialize()) == token


def test_short_token_fills_missing_streams_with_zero():
    assert StreamToken.parse("s12") == StreamToken(events=12)


@pytest.mark.parametrize("text", ["", "x1_2", "s", "s1_a", "s-1", "s1_2_3_4_5_6_7_8", "s1__2"])
def test_invalid_tokens(text):
    with pytest.raises(InvalidToken):
        StreamToken.parse(text)


def test_advance_and_compare():
    base = StreamToken(events=3)
    moved = base.advance(Stream.RECEIPTS, 1)
    assert moved.is_after(base)
    assert not base.is_after(moved)
    assert moved.get(Stream.EVENTS) == 3


def test_is_after_looks_at_every_stream():
    for stream in Stream:
        ahead = StreamToken().advance(stream, 1)
        assert ahead.is_after(StreamToken())
        assert not StreamToken().is_after(ahead)


def test_advance_moves_one_stream():
    token = StreamToken(events=3, typing=2)
    assert token.advance(Stream.EVENTS, 3) == token
    assert token.advance(Stream.EVENTS, 5) == StreamToken(events=5, typing=2)
    assert token.advance(Stream.TYPING, 1) == StreamToken(events=3, typing=1)

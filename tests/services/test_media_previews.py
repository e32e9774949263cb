"""The pure parts of URL previews: which addresses may be fetched, and Open Graph parsing."""

from __future__ import annotations

import ipaddress

from veche.services.media.opengraph import parse_open_graph
from veche.services.media.ssrf import is_allowed_address


def test_only_global_unicast_addresses_are_allowed():
    for blocked in (
        "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "::",
    ):
        assert not is_allowed_address(ipaddress.ip_address(blocked), ()), blocked
    for allowed in ("93.184.216.34", "2606:4700::6810:85e5", "::ffff:93.184.216.34"):
        assert is_allowed_address(ipaddress.ip_address(allowed), ()), allowed


def test_operators_can_allow_internal_networks():
    allowed = (ipaddress.ip_network("10.1.0.0/16"),)
    assert is_allowed_address(ipaddress.ip_address("10.1.2.3"), allowed)
    assert not is_allowed_address(ipaddress.ip_address("10.2.0.1"), allowed)


def test_open_graph_tags_win_over_fallbacks_and_image_urls_are_absolute():
    html = """<title>T</title><meta name="description" content="D">
    <meta property="og:title" content="OG"><meta property="og:image" content="../i.png">"""
    assert parse_open_graph(html, "https://example.org/a/b/page") == {
        "og:title": "OG",
        "og:description": "D",
        "og:image": "https://example.org/a/i.png",
    }


def test_text_is_clipped_and_scripts_ignored():
    html = "<script>document.title='x'</script><title>" + "word " * 500 + "</title>"
    og = parse_open_graph(html, "https://example.org/")
    assert len(og["og:title"]) <= 500 and og["og:title"].endswith("…")
    assert parse_open_graph("<p>nothing here", "https://example.org/") == {}

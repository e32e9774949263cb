"""TLS contexts: the server side of listeners with `tls: true`, and the client side of
outgoing federation (server-server-api.md, "TLS").

Outgoing federation checks certificates against the system's authorities plus the CA
files the operator lists. Turning checks off is possible only through the setting named
`federation_insecure_skip_tls_verification_for_tests`, meant for test networks with
self-signed certificates.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)


class TlsSetupError(Exception):
    """A certificate, key or CA file cannot be loaded; str(error) names it."""


def server_ssl_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as e:
        raise TlsSetupError(
            f"cannot load the TLS certificate {cert_file} with key {key_file}: {e}"
        ) from None
    return context


def federation_client_ssl_context(
    *, ca_files: Sequence[Path] = (), verify: bool = True
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    for ca_file in ca_files:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as e:
            raise TlsSetupError(f"cannot load the CA file {ca_file}: {e}") from None
    if not verify:
        logger.warning(
            "Federation TLS certificates are NOT verified "
            "(federation_insecure_skip_tls_verification_for_tests is on)"
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

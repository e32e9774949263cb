"""Synapse for the interop tests: the benchmark's installer and cached venv, reused.

The first run installs `matrix-synapse` from PyPI into ~/.cache/veche-bench/synapse-venv
(minutes); later runs find it there. Tests skip only when PyPI cannot be reached.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.servers import DEFAULT_WORKDIR, SynapseInstallError, install_synapse

# pip's words for "the index is not there", as opposed to a broken package or environment.
_UNREACHABLE = re.compile(
    r"Could not find a version|No matching distribution|Failed to establish a new connection"
    r"|Temporary failure in name resolution|Network is unreachable|ConnectTimeout|ReadTimeout"
    r"|Max retries exceeded",
)


def synapse_python() -> Path:
    """The Python of a venv holding Synapse, installing it if need be (or skip the test)."""
    try:
        return install_synapse(DEFAULT_WORKDIR)
    except SynapseInstallError as error:
        if _UNREACHABLE.search(str(error)):
            pytest.skip(f"cannot install Synapse, PyPI is unreachable: {str(error)[-400:]}")
        raise


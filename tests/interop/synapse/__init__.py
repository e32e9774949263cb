"""A real Synapse beside Veche on loopback, both with TLS and `127.0.0.1:<port>` names.

- `install`    Synapse from PyPI into the benchmark's cached venv (bench.servers).
- `config`     SynapseLayout and write_config: Synapse's settings for federating here.
- `process`    SynapseProcess (start with readiness checks, stop) and LogMarks.
- `link`       Link: a TCP forwarder in front of a federation port, to partition servers.
- `client`     MatrixClient: plain client-server calls and /sync waiting, for both servers.
- `fixtures`   the pytest fixtures `synapse`, `veche_fed` and `network`.
- `e2ee_cross.mjs` an encrypted conversation across the two servers with matrix-js-sdk.
"""

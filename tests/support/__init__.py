"""Helpers shared by the tests; `tests/conftest.py` holds only fixtures.

- `polling`: `eventually`, the one way a test waits for something to become true.
- `data`: the context database (accounts, tickets, outbox, audit) and the people and
  ticket texts the tests use.
- `temporal`: starting, querying and deciding workflows; replay of finished runs.
- `cli`: `csops` as a subprocess, the way a user runs it.
- `net`: free TCP ports and waiting for a listener.
- `processes`: the dev server on its SQLite file and `csops worker` as real
  subprocesses, killed and restarted by the test.
- `smtp`: the SMTP server's handler that keeps every message (Message-IDs counted).
- `openai_server`: a scripted, OpenAI-compatible HTTP server.
- `renewal`: the test's own SQL over a seeded book, and renewal packages built from it.
- `layers`: the import-layer checker behind `test_layers.py`.

Tests import them as `from support.data import ...`: pytest puts tests/ on sys.path.
"""

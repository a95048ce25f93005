"""pytest fixtures for the end-to-end suite: build the real binary once, start real servers per test.

- `congvu_bin` (session): `cargo build -p congvu` into $CARGO_TARGET_DIR (default /var/tmp/congvu-target) and
  returns the debug binary. Set CONGVU_BIN to test a binary built elsewhere (e.g. a release build).
- `make_server` (function): a factory `make_server(mailboxes=..., env=..., domain=...)` that runs `congvu init` in a
  fresh temporary directory (for `domain`, default example.gov.vn), adds the mailboxes, starts `congvu serve` on
  free loopback ports and waits until they accept.
  On teardown every server it made gets SIGTERM and must exit 0; its stderr is shown when that fails.
- `server` (function): `make_server()` with the two default mailboxes in `MAILBOXES`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import Server

REPO = Path(__file__).resolve().parents[2]

# local part -> full name (R-ACC-3 style addresses).
MAILBOXES = {"annv": "Nguyễn Văn An", "binhtt": "Trần Thị Bình"}


@pytest.fixture(scope="session")
def congvu_bin() -> Path:
    override = os.environ.get("CONGVU_BIN")
    if override:
        path = Path(override)
        assert path.is_file(), f"CONGVU_BIN={override} is not a file"
        return path
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/congvu-target")
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    r = subprocess.run(
        ["cargo", "build", "-q", "-p", "congvu"], cwd=REPO, env=env, capture_output=True, text=True, timeout=3000
    )
    assert r.returncode == 0, f"cargo build -p congvu failed:\n{r.stderr[-10000:]}"
    path = Path(target) / "debug" / "congvu"
    assert path.is_file(), f"{path} missing after cargo build"
    return path


@pytest.fixture
def make_server(congvu_bin, tmp_path_factory):
    made: list[Server] = []

    def make(
        mailboxes: dict | None = None, env: dict | None = None, start: bool = True, domain: str | None = None
    ) -> Server:
        srv = Server(binary=congvu_bin, dir=tmp_path_factory.mktemp("congvu"), extra_env=dict(env or {}))
        if domain:
            srv.domain = domain
        made.append(srv)
        srv.init()
        for local, name in (MAILBOXES if mailboxes is None else mailboxes).items():
            srv.add_mailbox(local, name)
        if start:
            srv.start()
        return srv

    make.servers = made
    yield make

    failures = []
    for srv in made:
        try:
            srv.stop()
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n\n".join(failures)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed test, attach the stderr of every server it started to the report."""
    outcome = yield
    rep = outcome.get_result()
    factory = getattr(item, "funcargs", {}).get("make_server")
    if rep.failed and factory is not None:
        for i, srv in enumerate(getattr(factory, "servers", [])):
            rep.sections.append((f"congvu serve #{i} stderr ({srv.dir})", srv.stderr()))


@pytest.fixture
def server(make_server) -> Server:
    return make_server()

"""A real PostgreSQL server for the tests of the Postgres path: Debian's `postgresql`
package (`make test` installs it when missing), a fresh cluster in a temporary
folder, listening on a free local port, stopped and removed at the end."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from support.net import free_port

SUPERUSER = "csops"


def _binary(name: str) -> str:
    """Debian keeps initdb and pg_ctl under /usr/lib/postgresql/<version>/bin, off PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make test does)")
    return path


def _version(path: str) -> float:
    return float(Path(path).parts[-3])


class PostgresServer:
    """`start()` makes and starts the cluster; `new_database(template=)` a database of
    its own for one test; `stop()` ends the server and removes its folder."""

    def __init__(self) -> None:
        # Not pytest's tmp_path: its parents are private to root, and PostgreSQL refuses
        # to run as root, so the cluster belongs to the postgres user when we are root.
        self.folder = Path(tempfile.mkdtemp(prefix="csops-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            account = pwd.getpwnam(self.user)
            os.chown(self.folder, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self.user, cwd=self.folder)

    def start(self) -> None:
        self._run(
            _binary("initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
            "--no-sync", "--encoding=UTF8", "--no-locale",
        )  # fmt: skip
        # fsync off: a test cluster that lives for one run needs no crash safety. More
        # connections than the default 100: engines that tests' helpers make keep their
        # pools open until the run ends.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=400"
        )
        self._run(
            _binary("pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.folder / "server.log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, template: str = "template1") -> str:
        """A new empty database (or a copy of `template`); returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        admin.dispose()
        return self.url(name)

"""A throwaway PostgreSQL server on a free loopback port, for Helm's SQL storage driver.

Owns: initdb/pg_ctl of one data directory. PostgreSQL refuses to run as root, so when we are root the
server runs as the ``postgres`` user (via ``runuser``) in a directory that user can reach.
Must not: touch any PostgreSQL cluster it did not create.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server would not start."""


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in PG_BIN_CANDIDATES:
        path = Path(candidate) / name
        if path.exists():
            return str(path)
    raise PostgresUnavailable(
        f"PostgreSQL server binary '{name}' not found; install it with `apt-get install -y postgresql` "
        "(scripts/install-system-deps does this)"
    )


def _as_db_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _reachable_by_postgres(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    return all(not (parent.exists() and not parent.stat().st_mode & 1) for parent in [path, *path.parents])


def choose_data_dir(sandbox_dir: Path) -> Path:
    """``sandbox_dir/postgres`` when the postgres user can reach it, else a fresh dir under /tmp."""
    preferred = sandbox_dir / "postgres"
    if _reachable_by_postgres(sandbox_dir):
        return preferred
    return Path(tempfile.mkdtemp(prefix="extctl-pg-"))


def init(data_dir: Path) -> None:
    """Create the cluster once (trust auth on loopback only; it is a throwaway test database)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)
    if (data_dir / "data" / "PG_VERSION").exists():
        return
    (data_dir / "socket").mkdir(exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (data_dir, data_dir / "socket"):
            os.chown(path, user.pw_uid, user.pw_gid)
    result = subprocess.run(
        _as_db_user([_pg_tool("initdb"), "-D", str(data_dir / "data"), "-U", "postgres", "--auth=trust",
                     "--no-sync", "-E", "UTF8"]),
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(f"initdb failed: {result.stderr.strip()}")


def start(data_dir: Path, port: int) -> None:
    log = data_dir / "postgres.log"
    if os.geteuid() == 0 and not log.exists():
        log.touch()
        user = pwd.getpwnam("postgres")
        os.chown(log, user.pw_uid, user.pw_gid)
    options = f"-p {port} -k {data_dir / 'socket'} -c listen_addresses=127.0.0.1 -c fsync=off"
    result = subprocess.run(
        _as_db_user([_pg_tool("pg_ctl"), "-D", str(data_dir / "data"), "-l", str(log), "-o", options,
                     "-w", "-t", "60", "start"]),
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PostgresUnavailable(f"pg_ctl start failed: {result.stderr.strip()} {tail}")


def is_running(data_dir: Path) -> bool:
    if not (data_dir / "data" / "PG_VERSION").exists():
        return False
    result = subprocess.run(
        _as_db_user([_pg_tool("pg_ctl"), "-D", str(data_dir / "data"), "status"]),
        capture_output=True, text=True, check=False,
    )
    return result.returncode == 0


def stop(data_dir: Path) -> None:
    if not is_running(data_dir):
        return
    subprocess.run(
        _as_db_user([_pg_tool("pg_ctl"), "-D", str(data_dir / "data"), "-m", "fast", "-w", "stop"]),
        capture_output=True, text=True, check=False,
    )


def connection_string(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable"

"""End-to-end harness: the real binaries as separate processes, a fresh database per test.

Each test gets its own Postgres database, migrated and seeded by `livemsg-admin`, a
`livemsg-service` and a `livemsg-gateway` process started with the repository's config
directory and LIVEMSG__... environment overrides (the same settings a deployment uses), on
port 0: each process logs the address it bound, as JSON, and the harness reads it from there.
Postgres must be reachable; nothing here skips when it is not.
"""

import base64
import collections
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import grpc
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The same variables as scripts/test: binaries from $CARGO_TARGET_DIR, Postgres at
# $DATABASE_URL, Redis at $REDIS_URL.
TARGET_DIR = pathlib.Path(
    os.environ.get("CARGO_TARGET_DIR", pathlib.Path.home() / ".cache" / "livemsg-target"))
BIN_DIR = pathlib.Path(os.environ.get("LIVEMSG_BIN_DIR", TARGET_DIR / "debug"))
_DATABASE = urllib.parse.urlsplit(
    os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
PG_HOST = _DATABASE.hostname or "127.0.0.1"
PG_PORT = str(_DATABASE.port or 5432)
PG_USER = _DATABASE.username or "postgres"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
BINARIES = ("livemsg-service", "livemsg-gateway", "livemsg-edge", "livemsg-admin")


def _newest_source():
    """When the sources the binaries are built from last changed."""
    newest = (ROOT / "Cargo.lock").stat().st_mtime
    for folder in ("crates", "proto", "migrations", ".sqlx"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "tests" not in path.relative_to(ROOT).parts[2:3]:
                newest = max(newest, path.stat().st_mtime)
    return newest


def _fresh_binaries():
    """Builds the binaries when they are missing or older than the sources (as scripts/test
    does first); refuses stale ones from a directory it does not build into."""
    newest = _newest_source()
    stale = [name for name in BINARIES
             if not (BIN_DIR / name).exists() or (BIN_DIR / name).stat().st_mtime < newest]
    if not stale:
        return
    if BIN_DIR.resolve() != (TARGET_DIR / "debug").resolve():
        raise RuntimeError(f"{', '.join(stale)} in {BIN_DIR} are missing or older than the "
                           "sources: build them, or unset LIVEMSG_BIN_DIR")
    subprocess.run(["cargo", "build", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET_DIR)))


_fresh_binaries()
# One token per role, as a deployment has them.
GATEWAY_TOKEN = uuid.uuid4().hex
TIER_TOKEN = uuid.uuid4().hex
EDGE_SECRET = uuid.uuid4().hex


def _binary(name):
    path = BIN_DIR / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: build the workspace first (scripts/test does)")
    return str(path)


def _psql(sql, port=None):
    subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(port or PG_PORT), "-U", PG_USER, "-d", "postgres",
         "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True, capture_output=True,
    )


def _grpc_stubs():
    """Generates the Python gRPC stubs of proto/ once per session."""
    out = pathlib.Path(tempfile.mkdtemp(prefix="livemsg-stubs-"))
    protos = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto")]
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "proto"),
         f"--python_out={out}", f"--grpc_python_out={out}", *protos],
        check=True,
    )
    sys.path.insert(0, str(out))


_grpc_stubs()


class Process:
    """A livemsg binary running with its stderr captured to a file."""

    def __init__(self, name, env, log_dir, label=None):
        self.name = name
        self.log_path = log_dir / f"{label or name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [_binary(name)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log,
        )
        # Exit codes the test caused on purpose (a kill), besides a clean 0.
        self.expected_exits = ()

    def wait_for_address(self, field="listen.addr", timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if field in event:
                    return event[field]
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not report its address:\n{self.log_path.read_text()}")

    def stop(self):
        """SIGTERM, then the exit code (0 after a graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.log.close()
        return self.proc.returncode

    def lines(self):
        return self.log_path.read_text().splitlines()


class _BearerToken(grpc.UnaryUnaryClientInterceptor):
    """Adds the internal token to every gRPC call, as a connection tier must."""

    Details = collections.namedtuple(
        "Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"))

    def __init__(self, token):
        self.metadata = [("authorization", f"Bearer {token}")]

    def intercept_unary_unary(self, continuation, details, request):
        merged = self.Details(details.method, details.timeout,
                              list(details.metadata or []) + self.metadata,
                              details.credentials, details.wait_for_ready, details.compression)
        return continuation(merged, request)


class Stack:
    def __init__(self, database, env, endpoint, grpc_addr, account, service, gateway):
        self.database = database
        self.env = env
        self.endpoint = endpoint
        self.grpc_addr = grpc_addr
        self.account_id = account["AccountId"]
        self.access_key_id = account["AccessKeyId"]
        self.access_key_secret = account["AccessKeySecret"]
        self.service = service
        self.gateway = gateway

    def admin(self, *args):
        out = subprocess.run(
            [_binary("livemsg-admin"), *args], env=self.env, cwd=ROOT,
            check=True, capture_output=True, text=True,
        )
        return json.loads(out.stdout)

    def psql(self, sql):
        """Runs `sql` on the stack's database; returns the rows, tab-separated, one a line."""
        out = subprocess.run(
            ["psql", "-h", PG_HOST, "-p", str(self.pg_port or PG_PORT), "-U", PG_USER,
             "-d", self.database, "-v", "ON_ERROR_STOP=1", "-qAtF", "\t", "-c", sql],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    # gRPC, as the connection tier calls it.
    def membership(self):
        from livemsg.membership.v1 import membership_pb2_grpc

        channel = grpc.intercept_channel(
            grpc.insecure_channel(self.grpc_addr), _BearerToken(TIER_TOKEN))
        return membership_pb2_grpc.MembershipServiceStub(channel)

    def join(self, app_id, group_id, users, info=lambda u: f"info-{u}"):
        from livemsg.membership.v1 import membership_pb2 as pb

        stub = self.membership()
        users = list(users)
        for start in range(0, len(users), 1000):
            items = [
                pb.MembershipItem(operation=pb.OPERATION_JOIN, group_id=group_id,
                                  user_id=u, user_info=info(u))
                for u in users[start:start + 1000]
            ]
            results = stub.BatchUpdateMembership(
                pb.BatchUpdateMembershipRequest(app_id=app_id, items=items)).results
            assert all(r.error_code == "" for r in results), results
        return results[-1] if users else None

    def logon(self, app_id, user_id, session_id=""):
        from livemsg.membership.v1 import membership_pb2 as pb

        self.membership().Logon(
            pb.LogonRequest(app_id=app_id, user_id=user_id, session_id=session_id))

    def logoff(self, app_id, user_id, session_id="", reason=0):
        from livemsg.membership.v1 import membership_pb2 as pb

        return list(self.membership().Logoff(pb.LogoffRequest(
            app_id=app_id, user_id=user_id, session_id=session_id, reason=reason)).groups_left)

    def leave(self, app_id, group_id, users):
        from livemsg.membership.v1 import membership_pb2 as pb

        stub = self.membership()
        users = list(users)
        result = None
        for start in range(0, len(users), 1000):
            items = [
                pb.MembershipItem(operation=pb.OPERATION_LEAVE, group_id=group_id, user_id=u)
                for u in users[start:start + 1000]
            ]
            result = stub.BatchUpdateMembership(
                pb.BatchUpdateMembershipRequest(app_id=app_id, items=items)).results[-1]
        return result


@pytest.fixture
def make_stack(tmp_path):
    """Starts a stack; keyword arguments become LIVEMSG__... environment overrides."""
    started = []

    def start(pg_port=None, edge=False, **overrides):
        """`pg_port`: a Postgres of the test's own (see `OwnPostgres`) instead of the suite's;
        `edge`: start a client edge too (`stack.edge`, `stack.edge_endpoint`)."""
        database = f"livemsg_e2e_{uuid.uuid4().hex[:12]}"
        _psql(f'CREATE DATABASE "{database}"', pg_port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEMSG")}
        env.update({
            "LIVEMSG_CONFIG_DIR": str(ROOT / "config"),
            "LIVEMSG_ENV": "local",
            "LIVEMSG__LOG__FORMAT": "json",
            "LIVEMSG__LOG__FILTER": "info",
            "LIVEMSG__DATABASE__HOST": PG_HOST,
            "LIVEMSG__DATABASE__PORT": str(pg_port or PG_PORT),
            "LIVEMSG__DATABASE__USERNAME": PG_USER,
            "LIVEMSG__DATABASE__DATABASE_NAME": database,
            "LIVEMSG__SERVICE__LISTEN": "127.0.0.1:0",
            "LIVEMSG__GATEWAY__LISTEN": "127.0.0.1:0",
            "LIVEMSG__RATELIMIT__REDIS_URL": REDIS_URL,
            "LIVEMSG__RATELIMIT__KEY_PREFIX": f"e2e:{uuid.uuid4().hex}",
            "LIVEMSG__GATEWAY__NONCE_KEY_PREFIX": f"e2e-nonce:{uuid.uuid4().hex}",
            "LIVEMSG__GATEWAY__AUTH_CACHE_TTL_MS": "300",
            "LIVEMSG__SERVICE__METRICS_LISTEN": "127.0.0.1:0",
            "LIVEMSG__GATEWAY__METRICS_LISTEN": "127.0.0.1:0",
            "LIVEMSG__INTERNAL__GATEWAY_TOKEN": GATEWAY_TOKEN,
            "LIVEMSG__INTERNAL__TIER_TOKEN": TIER_TOKEN,
            "LIVEMSG__SECRETS__ACTIVE_KEY": "e2e",
            "LIVEMSG__SECRETS__KEYS__E2E": base64.b64encode(os.urandom(32)).decode(),
        })
        env.update({f"LIVEMSG__{k.upper()}": str(v) for k, v in overrides.items()})
        admin = lambda *a: json.loads(subprocess.run(
            [_binary("livemsg-admin"), *a], env=env, cwd=ROOT,
            check=True, capture_output=True, text=True).stdout)
        admin("migrate")
        account = admin("create-account", "--name", "e2e")
        service = Process("livemsg-service", env, tmp_path)
        started.append(((database, pg_port), service))
        grpc_addr = service.wait_for_address()
        # The gateway gets its own token, never the secrets key or another role's token.
        gateway_env = {k: v for k, v in env.items()
                       if not k.startswith("LIVEMSG__SECRETS__") and k != "LIVEMSG__INTERNAL__TIER_TOKEN"}
        gateway_env["LIVEMSG__GATEWAY__SERVICE_URL"] = f"http://{grpc_addr}"
        gateway = Process("livemsg-gateway", gateway_env, tmp_path)
        started.append((None, gateway))
        endpoint = gateway.wait_for_address()
        stack = Stack(database, env, endpoint, grpc_addr, account, service, gateway)
        stack.pg_port = pg_port
        edge_prefix = f"e2e-edge:{uuid.uuid4().hex}"

        def another_edge(label="livemsg-edge", **edge_overrides):
            """A client edge for this stack (stopped with the stack): its process and address."""
            edge_env = {k: v for k, v in env.items()
                        if not k.startswith("LIVEMSG__SECRETS__")
                        and k != "LIVEMSG__INTERNAL__GATEWAY_TOKEN"}
            edge_env.update({
                "LIVEMSG__EDGE__LISTEN": "127.0.0.1:0",
                "LIVEMSG__EDGE__METRICS_LISTEN": "127.0.0.1:0",
                "LIVEMSG__EDGE__SERVICE_URL": f"http://{grpc_addr}",
                "LIVEMSG__EDGE__REDIS_URL": REDIS_URL,
                "LIVEMSG__EDGE__KEY_PREFIX": edge_prefix,
                "LIVEMSG__EDGE__SESSION_SECRET": EDGE_SECRET,
            })
            edge_env.update({f"LIVEMSG__{k.upper()}": str(v) for k, v in edge_overrides.items()})
            process = Process("livemsg-edge", edge_env, tmp_path, label=label)
            started.append((None, process))
            return process, process.wait_for_address()

        stack.another_edge = another_edge
        if edge:
            stack.edge, stack.edge_endpoint = another_edge()

        def another_service(label, **overrides):
            """Another livemsg-service on the same database (stopped with the stack)."""
            process_env = dict(env)
            process_env.update({f"LIVEMSG__{k.upper()}": str(v) for k, v in overrides.items()})
            process = Process("livemsg-service", process_env, tmp_path, label=label)
            started.append((None, process))
            process.wait_for_address()
            return process

        stack.another_service = another_service
        return stack

    yield start

    for database, process in reversed(started):
        code = process.stop()
        assert code in (0, *process.expected_exits), \
            f"{process.name} exited with {code}:\n{process.log_path.read_text()}"
        if database:
            name, port = database
            try:
                _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', port)
            except subprocess.CalledProcessError:
                if port is None:
                    raise  # the suite's own Postgres must be there; a test's own may be gone


@pytest.fixture
def stack(make_stack):
    return make_stack()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnPostgres:
    """A Postgres server of the test's own (initdb in a temporary directory, trust auth, a free
    port), so a test may restart it without disturbing anyone else."""

    def __init__(self, base):
        self.bin = next(pathlib.Path("/usr/lib/postgresql").glob("*/bin"))
        self.dir = base / "pgdata"
        self.dir.mkdir()
        self.port = free_port()
        self.run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if self.run_as:
            subprocess.run(["chown", "-R", "postgres", str(base)], check=True)
        subprocess.run(
            [*self.run_as, str(self.bin / "initdb"), "-D", str(self.dir), "-U", PG_USER,
             "--auth=trust", "-E", "UTF8"],
            check=True, capture_output=True,
        )
        self.start()

    def ctl(self, *args):
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.dir), "-w", "-l",
             str(self.dir / "server.log"), *args],
            check=True, capture_output=True,
        )

    def start(self):
        self.ctl("-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}", "start")

    def restart(self):
        """A fast restart: open connections are cut, as in a failover or a crash."""
        self.ctl("-m", "fast", "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}",
                 "restart")

    def stop(self):
        self.ctl("-m", "immediate", "stop")


@pytest.fixture
def own_postgres():
    import shutil
    # Under /tmp itself, not pytest's root-only directory: the server runs as `postgres`.
    base = pathlib.Path(tempfile.mkdtemp(prefix="livemsg-own-postgres-"))
    server = OwnPostgres(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


class OwnRedis:
    """A redis-server of the test's own on a free port, keeping nothing on disk."""

    def __init__(self):
        self.port = free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        import socket
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def own_redis():
    server = OwnRedis()
    yield server
    server.stop()

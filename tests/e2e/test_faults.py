"""Faults survived by the real processes: Postgres restarted under join churn, Redis stopped and
started under signed traffic, the service killed behind a running gateway, half-open clients,
a gateway stopped under load, and processes stopped the moment they start. Each test brings its own Postgres or Redis where it disturbs
one, so nothing else in the suite is touched."""

import signal
import socket
import subprocess
import threading
import time

import grpc
from alibabacloud_live20161101 import models as live
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from conftest import ROOT, _binary
from test_sdk import create_app_and_group, tea_client


def wait_for(condition, timeout=30, interval=0.1, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"{what} did not hold within {timeout} s")


def test_a_postgres_restart_loses_no_acknowledged_join_and_service_resumes(
        make_stack, own_postgres):
    from livemsg.membership.v1 import membership_pb2 as pb

    stack = make_stack(pg_port=own_postgres.port, database__acquire_timeout_ms=2000)
    client = tea_client(stack)
    app_id = create_app_and_group(client, "churn")
    acknowledged, failures = [], []
    restarted = threading.Event()
    after_restart = []
    stop = threading.Event()

    def churn(worker):
        membership = stack.membership()
        i = 0
        while not stop.is_set():
            user = f"w{worker}u{i}"
            i += 1
            try:
                membership.JoinGroup(pb.JoinGroupRequest(
                    app_id=app_id, group_id="churn", user_id=user, user_info="i"), timeout=10)
                acknowledged.append(user)
                if restarted.is_set():
                    after_restart.append(user)
            except grpc.RpcError as err:
                failures.append(err.code())

    workers = [threading.Thread(target=churn, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    wait_for(lambda: len(acknowledged) > 50, what="joins before the restart")
    own_postgres.restart()
    restarted.set()
    # The platform serves again on its own: joins are acknowledged after the restart.
    wait_for(lambda: len(after_restart) > 50, what="joins after the restart")
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    # Failures during the restart are answered as unavailable (retry), not as server errors.
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}, failures
    # Every acknowledged join is there: ask in tens, as the SDK allows.
    members = set()
    for start in range(0, len(acknowledged), 10):
        chunk = acknowledged[start:start + 10]
        users = client.check_live_message_users_in_group(live.CheckLiveMessageUsersInGroupRequest(
            app_id=app_id, group_id="churn", user_ids=chunk)).body.users
        members |= {u.user_id for u in users if u.online}
    assert members == set(acknowledged)
    described = client.describe_live_message_group(
        live.DescribeLiveMessageGroupRequest(app_id=app_id, group_id="churn")).body
    # No acknowledged join is lost; a join that failed may have committed all the same.
    assert described.online_user_counts >= len(acknowledged)


def test_redis_stopped_and_started_under_signed_traffic_gives_no_server_error(
        make_stack, own_redis):
    stack = make_stack(ratelimit__redis_url=own_redis.url, ratelimit__timeout_ms=200)
    app_id = create_app_and_group(tea_client(stack))
    outcomes = []
    stop = threading.Event()

    def traffic():
        client = tea_client(stack)
        while not stop.is_set():
            try:
                client.describe_live_message_app(live.DescribeLiveMessageAppRequest(app_id=app_id))
                outcomes.append(200)
            except (ClientException, ServerException) as err:
                outcomes.append(err.status_code)
            time.sleep(0.05)

    threads = [threading.Thread(target=traffic) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(outcomes) > 20, what="traffic through Redis")
    own_redis.stop()
    seen = len(outcomes)
    wait_for(lambda: len(outcomes) > seen + 40, what="traffic while Redis is away")
    own_redis.start()
    seen = len(outcomes)
    wait_for(lambda: len(outcomes) > seen + 40, what="traffic after Redis is back")
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert outcomes == [200] * len(outcomes), sorted(set(outcomes))
    assert any("redis unavailable" in line for line in stack.gateway.lines())


def test_a_killed_service_answers_unavailable_and_serving_resumes_when_it_is_back(make_stack):
    stack = make_stack(gateway__service_connect_timeout_ms=500)
    client = tea_client(stack)
    app_id = create_app_and_group(client)
    stack.service.proc.send_signal(signal.SIGKILL)
    stack.service.proc.wait()
    stack.service.expected_exits = (-signal.SIGKILL,)
    try:
        client.describe_live_message_app(live.DescribeLiveMessageAppRequest(app_id=app_id))
        raise AssertionError("a call went through with no service")
    except ServerException as err:
        assert err.status_code == 503
        assert err.code == "ServiceUnavailable"
    # The service comes back on its address; the same gateway serves again, not restarted.
    stack.another_service("service-again", service__listen=stack.grpc_addr)
    described = []

    def served():
        try:
            described.append(client.describe_live_message_app(
                live.DescribeLiveMessageAppRequest(app_id=app_id)).body.app_id)
            return True
        except ServerException as err:
            assert err.status_code == 503, err
            return False

    wait_for(served, what="the gateway serving again")
    assert described == [app_id]


def test_half_open_and_slow_clients_are_cut_off_while_others_are_served(make_stack):
    stack = make_stack(gateway__header_timeout_ms=500, gateway__body_timeout_ms=500)
    host, port = stack.endpoint.split(":")
    half_open = []
    for _ in range(200):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-")
        half_open.append(s)
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nAction=")
    # Others are served meanwhile.
    client = tea_client(stack)
    assert create_app_and_group(client)
    # And every stalled client is cut off by the gateway (a read returns end of stream).
    for s in half_open + [slow]:
        s.settimeout(10)
        received = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            received += chunk
        s.close()
    assert received.startswith(b"HTTP/1.1 400"), received
    assert b"must arrive within 500 ms" in received


def test_sigterm_under_load_fails_no_request(make_stack):
    import signal
    import threading
    import urllib.error
    import urllib.request

    # A drain window wide enough for the balancer below to notice it on a busy machine.
    stack = make_stack(gateway__shutdown_delay_ms=3000, ratelimit__per_second=1000000)
    app_id = create_app_and_group(tea_client(stack))
    stop = threading.Event()
    results = {"ok": 0, "after_sigterm": 0, "failed": []}
    lock = threading.Lock()
    terminated = threading.Event()

    def load():
        client = tea_client(stack)
        while not stop.is_set():
            try:
                client.describe_live_message_app(live.DescribeLiveMessageAppRequest(app_id=app_id))
                with lock:
                    results["ok"] += 1
                    if terminated.is_set():
                        results["after_sigterm"] += 1
            except Exception as err:  # any failure is what this test is looking for
                with lock:
                    results["failed"].append(repr(err))

    def balancer():
        """Stops sending once /readyz says so, as a load balancer would."""
        while True:
            try:
                urllib.request.urlopen(f"http://{stack.endpoint}/readyz", timeout=2)
            except (urllib.error.HTTPError, urllib.error.URLError):
                stop.set()
                return
            time.sleep(0.05)

    workers = [threading.Thread(target=load) for _ in range(8)]
    for worker in workers:
        worker.start()
    watcher = threading.Thread(target=balancer)
    watcher.start()
    deadline = time.monotonic() + 30
    while results["ok"] < 50:  # under load first
        assert time.monotonic() < deadline, "no load"
        time.sleep(0.05)
    stack.gateway.proc.send_signal(signal.SIGTERM)
    terminated.set()
    watcher.join(timeout=10)
    for worker in workers:
        worker.join(timeout=10)
    assert stack.gateway.proc.wait(timeout=30) == 0
    assert results["failed"] == []
    assert results["after_sigterm"] > 0, "requests kept being served while draining"
    assert any("draining" in line for line in stack.gateway.lines())


def _stopped_as_it_starts(name, env):
    """Starts `name` and sends SIGTERM the moment it announces its address: its exit code."""
    proc = subprocess.Popen([_binary(name)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if '"listen.addr"' in line:
            proc.send_signal(signal.SIGTERM)
            break
    proc.stderr.read()
    return proc.wait(timeout=30)


def test_a_process_stopped_as_it_announces_its_address_stops_cleanly(make_stack):
    # A supervisor may stop a process the moment it has started (a rollout undone, a probe that
    # gave up): the stop is a clean one, not death by the signal.
    stack = make_stack()
    gateway_env = {k: v for k, v in stack.env.items() if not k.startswith("LIVEMSG__SECRETS__")}
    gateway_env["LIVEMSG__GATEWAY__SERVICE_URL"] = f"http://{stack.grpc_addr}"
    for _ in range(3):
        assert _stopped_as_it_starts("livemsg-service", stack.env) == 0
        assert _stopped_as_it_starts("livemsg-gateway", gateway_env) == 0

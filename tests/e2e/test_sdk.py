"""The official Alibaba Cloud Python SDKs against livemsg, endpoint pointed at the gateway.

Three clients, as our users have them:
- `alibabacloud_live20161101` with its default ACS3-HMAC-SHA256 signing ("v3");
- the same client with `signature_algorithm='v2'` (RPC HMAC-SHA1, "tea-v1");
- the legacy `aliyunsdkcore` + `aliyunsdklive` (HMAC-SHA1, "legacy").
"""

import json
import subprocess
import time
import uuid

import pytest
from alibabacloud_live20161101 import models as live
from alibabacloud_live20161101.client import Client
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException
from aliyunsdkcore.client import AcsClient
from conftest import BIN_DIR, PG_HOST, PG_PORT, PG_USER, ROOT
from aliyunsdklive.request.v20161101 import (
    CreateLiveMessageAppRequest,
    CreateLiveMessageGroupRequest,
    DescribeLiveMessageGroupRequest,
    ListLiveMessageGroupUsersRequest,
)

LIST_KEYS = {"RequestId", "GroupId", "NextPageToken", "Hasmore", "UserList"}


def tea_client(stack, algorithm=None, secret=None, key_id=None):
    config = Config(
        access_key_id=key_id or stack.access_key_id,
        access_key_secret=secret or stack.access_key_secret,
        endpoint=stack.endpoint,
        protocol="http",
    )
    if algorithm:
        config.signature_algorithm = algorithm
    return Client(config)


class Legacy:
    """The legacy SDK, with every request sent over plain HTTP to the gateway."""

    def __init__(self, stack, secret=None, key_id=None):
        self.endpoint = stack.endpoint
        self.client = AcsClient(
            key_id or stack.access_key_id, secret or stack.access_key_secret, "cn-shanghai"
        )

    def call(self, request, **params):
        request.set_endpoint(self.endpoint)
        request.set_protocol_type("http")
        for name, value in params.items():
            getattr(request, f"set_{name}")(value)
        return json.loads(self.client.do_action_with_exception(request))


def create_app_and_group(client, group_id="room1"):
    app = client.create_live_message_app(
        live.CreateLiveMessageAppRequest(app_name="demo", data_center="cn-shanghai")
    ).body
    assert app.app_id and app.app_key and app.app_sign
    assert app.data_center == "cn-shanghai"
    group = client.create_live_message_group(
        live.CreateLiveMessageGroupRequest(
            app_id=app.app_id, group_id=group_id, group_name="Room", creator_id="host1",
            administrators=["adm1", "adm2"],
        )
    ).body
    assert group.group_id == group_id
    assert group.already_exists is False
    return app.app_id


def list_all(client, app_id, group_id, sort_type, page_size=10):
    users, token, pages = [], None, 0
    while True:
        body = client.list_live_message_group_users(
            live.ListLiveMessageGroupUsersRequest(
                app_id=app_id, group_id=group_id, page_size=page_size,
                sort_type=sort_type, next_page_token=token,
            )
        ).body
        pages += 1
        assert set(body.to_map()) == LIST_KEYS, body.to_map()
        users += [(u.user_id, u.user_info) for u in body.user_list]
        assert body.hasmore == (body.next_page_token != 0)
        if body.next_page_token == 0:
            return users, pages
        token = body.next_page_token


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3", "tea-v1"])
def test_current_sdk_creates_describes_and_pages_through_users(stack, algorithm):
    client = tea_client(stack, algorithm)
    app_id = create_app_and_group(client)
    again = client.create_live_message_group(
        live.CreateLiveMessageGroupRequest(app_id=app_id, group_id="room1")
    ).body
    assert again.already_exists is True

    names = [f"user{i:02d}" for i in range(23)]
    stack.join(app_id, "room1", names)

    described = client.describe_live_message_group(
        live.DescribeLiveMessageGroupRequest(app_id=app_id, group_id="room1")
    ).body
    assert described.online_user_counts == 23
    assert described.super_large_group is False
    assert described.admin_list == ["adm1", "adm2"]
    assert described.creator_id == "host1"
    assert described.group_name == "Room"
    assert described.delete is False
    assert described.request_id

    ascending, pages = list_all(client, app_id, "room1", 1)
    assert [u for u, _ in ascending] == names
    assert all(info == f"info-{u}" for u, info in ascending)
    assert pages == 3
    descending, _ = list_all(client, app_id, "room1", 2, page_size=50)
    assert [u for u, _ in descending] == list(reversed(names))

    app = client.describe_live_message_app(
        live.DescribeLiveMessageAppRequest(app_id=app_id)
    ).body
    assert app.app_id == app_id and app.app_name == "demo" and app.msg_life_cycle == 0


def test_legacy_sdk_creates_describes_and_pages_through_users(stack):
    legacy = Legacy(stack)
    app = legacy.call(
        CreateLiveMessageAppRequest.CreateLiveMessageAppRequest(), AppName="legacy"
    )
    assert set(app) == {"RequestId", "AppId", "AppKey", "AppSign", "DataCenter"}
    app_id = app["AppId"]
    # The legacy SDK sends lists as Administrators.1, Administrators.2.
    created = legacy.call(
        CreateLiveMessageGroupRequest.CreateLiveMessageGroupRequest(),
        AppId=app_id, GroupId="hall", Administrators=["a1", "a2"],
    )
    assert created["GroupId"] == "hall" and created["AlreadyExists"] is False
    stack.join(app_id, "hall", [f"v{i}" for i in range(12)])

    described = legacy.call(
        DescribeLiveMessageGroupRequest.DescribeLiveMessageGroupRequest(),
        AppId=app_id, GroupId="hall",
    )
    assert described["AdminList"] == ["a1", "a2"]
    assert described["OnlineUserCounts"] == 12

    page = legacy.call(
        ListLiveMessageGroupUsersRequest.ListLiveMessageGroupUsersRequest(),
        AppId=app_id, GroupId="hall", PageSize=10, SortType=2,
    )
    assert set(page) == LIST_KEYS
    assert [u["UserId"] for u in page["UserList"]] == [f"v{i}" for i in range(11, 1, -1)]
    assert page["Hasmore"] is True
    rest = legacy.call(
        ListLiveMessageGroupUsersRequest.ListLiveMessageGroupUsersRequest(),
        AppId=app_id, GroupId="hall", PageSize=10, SortType=2,
        NextPageToken=page["NextPageToken"],
    )
    assert [u["UserId"] for u in rest["UserList"]] == ["v1", "v0"]
    assert rest["NextPageToken"] == 0 and rest["Hasmore"] is False


def expect_client_error(call, status, code):
    with pytest.raises(ClientException) as raised:
        call()
    assert raised.value.status_code == status, raised.value
    assert raised.value.code == code, raised.value
    assert raised.value.request_id
    return raised.value


def eventually_refused(call, status, code, timeout=10):
    """Waits (bounded) until `call` is refused with `status` and `code`: a change made by an
    administrator reaches the gateway within its cache time (300 ms in these tests)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return expect_client_error(call, status, code)
        except (AssertionError, pytest.fail.Exception):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_errors_reach_the_current_sdk_with_their_codes_and_statuses(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client)
    list_users = lambda **kw: client.list_live_message_group_users(
        live.ListLiveMessageGroupUsersRequest(**{"app_id": app_id, "group_id": "room1", **kw})
    )

    err = expect_client_error(lambda: list_users(sort_type=1), 400, "MissingPageSize")
    assert "PageSize is mandatory" in err.message
    err = expect_client_error(lambda: list_users(page_size=9, sort_type=1), 400, "InputInvalid")
    assert "PageSize must be between 10 and 50" in err.message
    expect_client_error(lambda: list_users(page_size=10, sort_type=3), 400, "InputInvalid")
    expect_client_error(
        lambda: client.describe_live_message_group(
            live.DescribeLiveMessageGroupRequest(app_id=app_id, group_id="nope")),
        404, "ResourceNotExist",
    )
    expect_client_error(
        lambda: client.describe_live_message_group(
            live.DescribeLiveMessageGroupRequest(
                app_id=app_id, group_id="room1", data_center="ap-southeast-1")),
        404, "ResourceNotExist",
    )
    expect_client_error(
        lambda: client.create_live_message_group(
            live.CreateLiveMessageGroupRequest(app_id=app_id, group_id="has space")),
        400, "InputInvalid",
    )
    expect_client_error(
        lambda: client.ban_live_message_group(
            live.BanLiveMessageGroupRequest(app_id=app_id, group_id="nosuchroom")),
        404, "ResourceNotExist",
    )
    expect_client_error(
        lambda: tea_client(stack, secret="wrong").describe_live_message_app(
            live.DescribeLiveMessageAppRequest(app_id=app_id)),
        400, "SignatureDoesNotMatch",
    )
    expect_client_error(
        lambda: tea_client(stack, key_id="LTAInobodyhasthiskey0000").describe_live_message_app(
            live.DescribeLiveMessageAppRequest(app_id=app_id)),
        404, "InvalidAccessKeyId.NotFound",
    )

    # Another account's key does not see the app at all.
    other = stack.admin("create-account", "--name", "other")
    expect_client_error(
        lambda: tea_client(stack, key_id=other["AccessKeyId"], secret=other["AccessKeySecret"])
        .describe_live_message_group(
            live.DescribeLiveMessageGroupRequest(app_id=app_id, group_id="room1")),
        404, "ResourceNotExist",
    )

    # A disabled key is refused (once the gateway's cached copy expires: 300 ms here).
    stack.admin("disable-access-key", "--access-key-id", stack.access_key_id)
    eventually_refused(
        lambda: client.describe_live_message_app(
            live.DescribeLiveMessageAppRequest(app_id=app_id)),
        400, "InvalidAccessKeyId.Inactive",
    )


def test_legacy_sdk_sees_errors_and_recognises_a_wrong_secret(stack):
    app_id = create_app_and_group(tea_client(stack))
    legacy = Legacy(stack)
    with pytest.raises(LegacyServerException) as raised:
        legacy.call(
            ListLiveMessageGroupUsersRequest.ListLiveMessageGroupUsersRequest(),
            AppId=app_id, GroupId="room1", SortType=1,
        )
    assert raised.value.get_error_code() == "MissingPageSize"
    assert raised.value.get_http_status() == 400

    # Our string to sign equals the SDK's own, so the SDK can tell the user the secret is
    # wrong rather than that the request was built wrongly.
    with pytest.raises(LegacyServerException) as raised:
        Legacy(stack, secret="not-the-secret").call(
            DescribeLiveMessageGroupRequest.DescribeLiveMessageGroupRequest(),
            AppId=app_id, GroupId="room1",
        )
    assert raised.value.get_error_code() == "InvalidAccessKeySecret"


def test_a_group_past_two_thousand_users_is_super_until_it_closes(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client, "arena")
    stack.join(app_id, "arena", [f"fan{i}" for i in range(2000)])
    users, _ = list_all(client, app_id, "arena", 1, page_size=50)
    assert len(users) == 2000

    upgrade = stack.join(app_id, "arena", ["fan2000"])
    assert upgrade.member_count == 2001
    err = expect_client_error(
        lambda: client.list_live_message_group_users(
            live.ListLiveMessageGroupUsersRequest(
                app_id=app_id, group_id="arena", page_size=10, sort_type=1)),
        420, "SuperLargeGroup",
    )
    assert err.message
    described = client.describe_live_message_group(
        live.DescribeLiveMessageGroupRequest(app_id=app_id, group_id="arena")
    ).body
    assert described.super_large_group is True
    assert described.online_user_counts == 2001

    # Below the threshold again, it stays super until every user has left.
    stack.leave(app_id, "arena", [f"fan{i}" for i in range(1000)])
    expect_client_error(
        lambda: client.list_live_message_group_users(
            live.ListLiveMessageGroupUsersRequest(
                app_id=app_id, group_id="arena", page_size=10, sort_type=1)),
        420, "SuperLargeGroup",
    )
    last = stack.leave(app_id, "arena", [f"fan{i}" for i in range(1000, 2001)])
    assert last.member_count == 0
    stack.join(app_id, "arena", ["first"])
    users, _ = list_all(client, app_id, "arena", 2)
    assert users == [("first", "info-first")]


def test_the_threshold_is_a_setting(make_stack):
    stack = make_stack(groups__super_group_threshold=10)
    client = tea_client(stack)
    app_id = create_app_and_group(client)
    stack.join(app_id, "room1", [f"u{i}" for i in range(11)])
    expect_client_error(
        lambda: client.list_live_message_group_users(
            live.ListLiveMessageGroupUsersRequest(
                app_id=app_id, group_id="room1", page_size=10, sort_type=1)),
        420, "SuperLargeGroup",
    )


def test_a_database_failure_is_a_server_error_without_details(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client)
    stack.psql("DROP TABLE group_members")
    with pytest.raises(ServerException) as raised:
        client.list_live_message_group_users(
            live.ListLiveMessageGroupUsersRequest(
                app_id=app_id, group_id="room1", page_size=10, sort_type=1))
    assert raised.value.status_code == 500
    assert raised.value.code == "ServerError"
    assert "group_members" not in raised.value.message
    # The cause is in the service's log, once.
    assert sum("store failure" in line for line in stack.service.lines()) == 1


def test_logs_never_carry_the_secret(stack):
    client = tea_client(stack)
    create_app_and_group(client)
    for process in (stack.service, stack.gateway):
        text = process.log_path.read_text()
        assert text, f"{process.name} logged nothing"
        assert stack.access_key_secret not in text


def test_calls_past_the_account_limit_are_throttled_with_a_retry_time(make_stack):
    stack = make_stack(ratelimit__per_second=3, ratelimit__window_ms=60000)
    client = tea_client(stack)
    app_id = create_app_and_group(client)  # two calls, two different actions
    describe = lambda: client.describe_live_message_app(
        live.DescribeLiveMessageAppRequest(app_id=app_id))
    for _ in range(3):
        describe()
    # The current SDK reads x-acs-retry-after and raises its throttling exception.
    with pytest.raises(ThrottlingException) as raised:
        describe()
    assert 0 < raised.value.retry_after <= 60000
    # Each action has its own budget: DescribeLiveMessageGroup has not been called yet.
    legacy = Legacy(stack)
    for _ in range(3):
        legacy.call(
            DescribeLiveMessageGroupRequest.DescribeLiveMessageGroupRequest(),
            AppId=app_id, GroupId="room1",
        )
    # The legacy SDK sees Alibaba's code and status.
    with pytest.raises(LegacyServerException) as raised:
        legacy.call(
            DescribeLiveMessageGroupRequest.DescribeLiveMessageGroupRequest(),
            AppId=app_id, GroupId="room1",
        )
    assert raised.value.get_error_code() == "Throttling.User"
    assert raised.value.get_http_status() == 400


def test_a_ram_user_limited_to_one_app_is_refused_on_another(stack, tmp_path):
    root = tea_client(stack)
    app_a = create_app_and_group(root, "room1")
    app_b = create_app_and_group(root, "room1")
    account = stack.account_id

    # The flow the README shows, with livemsg-admin.
    stack.admin("create-ram-user", "--account-id", account, "--user-name", "reader")
    document = tmp_path / "policy.json"
    document.write_text(json.dumps({
        "Version": "1",
        "Statement": [{
            "Effect": "Allow",
            "Action": "live:ListLiveMessageGroupUsers",
            "Resource": f"acs:live::{account}:rtc/{app_a}",
        }],
    }))
    stack.admin("create-policy", "--account-id", account, "--policy-name", "list-one-app",
                "--document", f"@{document}")
    stack.admin("attach-policy", "--account-id", account, "--user-name", "reader",
                "--policy-name", "list-one-app")
    key = stack.admin("create-access-key", "--account-id", account, "--user-name", "reader")
    reader = tea_client(stack, key_id=key["AccessKeyId"], secret=key["AccessKeySecret"])

    ok = reader.list_live_message_group_users(live.ListLiveMessageGroupUsersRequest(
        app_id=app_a, group_id="room1", page_size=10, sort_type=1)).body
    assert ok.group_id == "room1"

    err = expect_client_error(
        lambda: reader.list_live_message_group_users(live.ListLiveMessageGroupUsersRequest(
            app_id=app_b, group_id="room1", page_size=10, sort_type=1)),
        403, "NoAuth",
    )
    detail = err.access_denied_detail
    assert detail["AuthAction"] == "live:ListLiveMessageGroupUsers"
    assert detail["NoPermissionType"] == "ImplicitDeny"
    assert detail["AuthPrincipalDisplayName"] == "reader"

    # The legacy SDK sees the same refusal.
    with pytest.raises(LegacyServerException) as raised:
        Legacy(stack, key_id=key["AccessKeyId"], secret=key["AccessKeySecret"]).call(
            ListLiveMessageGroupUsersRequest.ListLiveMessageGroupUsersRequest(),
            AppId=app_b, GroupId="room1", PageSize=10, SortType=1,
        )
    assert raised.value.get_error_code() == "NoAuth"
    assert raised.value.get_http_status() == 403

    # A malformed policy is refused at creation, pointing at the fault.
    bad = subprocess.run(
        [str(BIN_DIR / "livemsg-admin"), "create-policy", "--account-id", account,
         "--policy-name", "bad", "--document",
         '{"Version":"1","Statement":[{"Effect":"Allow","Action":"List","Resource":"*"}]}'],
        env=stack.env, cwd=ROOT, capture_output=True, text=True,
    )
    assert bad.returncode != 0
    assert "Statement[0].Action" in bad.stderr

    # Detaching the policy takes effect within the gateway's cache time.
    stack.admin("detach-policy", "--account-id", account, "--user-name", "reader",
                "--policy-name", "list-one-app")
    eventually_refused(
        lambda: reader.list_live_message_group_users(live.ListLiveMessageGroupUsersRequest(
            app_id=app_a, group_id="room1", page_size=10, sort_type=1)),
        403, "NoAuth",
    )


def test_secrets_are_stored_encrypted(stack):
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", stack.database, "-Atc",
         "SELECT coalesce(secret, ''), encode(secret_ciphertext, 'escape') FROM access_keys"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert stack.access_key_secret not in out
    assert out.strip()


def _utc(offset_seconds):
    import datetime

    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_clock_skew_and_replayed_nonces_are_refused_through_the_sdks(stack, monkeypatch):
    from aliyunsdkcore.utils import parameter_helper
    from alibabacloud_tea_openapi.utils import Utils

    client = tea_client(stack)
    app_id = create_app_and_group(client)
    describe = lambda c=client: c.describe_live_message_app(
        live.DescribeLiveMessageAppRequest(app_id=app_id))

    # A client clock 14 minutes slow still works; 16 minutes slow or fast does not.
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: _utc(-14 * 60)))
    assert describe().body.app_id == app_id
    for skew in (-16 * 60, 16 * 60):
        monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda s=skew: _utc(s)))
        expect_client_error(describe, 400, "InvalidTimeStamp.Expired")
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: "26/11/2026 12:00"))
    expect_client_error(describe, 400, "InvalidTimeStamp.Format")
    monkeypatch.undo()

    # The same nonce twice: the second request is a replay, under either signing scheme.
    for algorithm in (None, "v2"):
        fixed = uuid.uuid4().hex
        monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda n=fixed: n))
        c = tea_client(stack, algorithm)
        assert describe(c).body.app_id == app_id
        expect_client_error(lambda: describe(c), 400, "SignatureNonceUsed")
        monkeypatch.undo()

    # The legacy SDK with a skewed clock.
    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: _utc(-3600))
    with pytest.raises(LegacyServerException) as raised:
        Legacy(stack).call(
            DescribeLiveMessageGroupRequest.DescribeLiveMessageGroupRequest(),
            AppId=app_id, GroupId="room1",
        )
    assert raised.value.get_error_code() == "InvalidTimeStamp.Expired"


def test_unsupported_signature_algorithms_are_named(stack):
    client = tea_client(stack, algorithm="ACS3-HMAC-SM3")
    err = expect_client_error(
        lambda: client.create_live_message_app(live.CreateLiveMessageAppRequest(app_name="demo")),
        400, "InvalidSignatureMethod",
    )
    assert "ACS3-HMAC-SM3" in err.message


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


def test_the_largest_group_info_fits_and_one_byte_more_is_refused(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client)
    # 32 KB of URL-safe text travels in the query string as it is. (Non-ASCII text triples
    # when percent-encoded; past about 21 KB of it the request line exceeds the 64 KB an HTTP
    # server parses: see the README.)
    largest = "info-" * (32 * 1024 // 5) + "x" * (32 * 1024 % 5)
    assert len(largest.encode()) == 32 * 1024
    created = client.create_live_message_group(live.CreateLiveMessageGroupRequest(
        app_id=app_id, group_id="big", group_info=largest)).body
    assert created.already_exists is False
    described = client.describe_live_message_group(
        live.DescribeLiveMessageGroupRequest(app_id=app_id, group_id="big")).body
    assert described.group_info == largest
    err = expect_client_error(
        lambda: client.create_live_message_group(live.CreateLiveMessageGroupRequest(
            app_id=app_id, group_id="bigger", group_info=largest + "c")),
        400, "InputInvalid",
    )
    assert "GroupInfo" in err.message


def test_which_users_are_in_a_group_also_for_a_super_group(make_stack):
    from aliyunsdklive.request.v20161101 import CheckLiveMessageUsersInGroupRequest as Check

    stack = make_stack(groups__super_group_threshold=10)
    client = tea_client(stack)
    app_id = create_app_and_group(client, "room")
    create = live.CreateLiveMessageGroupRequest(app_id=app_id, group_id="arena")
    client.create_live_message_group(create)
    stack.join(app_id, "room", ["a", "b"])
    stack.join(app_id, "arena", [f"fan{i}" for i in range(11)])  # a super group now

    def check(group_id, users):
        body = client.check_live_message_users_in_group(
            live.CheckLiveMessageUsersInGroupRequest(
                app_id=app_id, group_id=group_id, user_ids=users)).body
        return [(u.user_id, u.online) for u in body.users]

    assert check("room", ["b", "zed", "a"]) == [("b", True), ("zed", False), ("a", True)]
    assert check("arena", ["fan3", "nobody"]) == [("fan3", True), ("nobody", False)]
    # The legacy SDK sends the list as UserIds.1, UserIds.2.
    legacy = Legacy(stack).call(Check.CheckLiveMessageUsersInGroupRequest(),
                                AppId=app_id, GroupId="room", UserIds=["a", "q"])
    assert [(u["UserId"], u["Online"]) for u in legacy["Users"]] == [("a", True), ("q", False)]

    expect_client_error(lambda: check("room", [f"u{i}" for i in range(11)]), 400, "InputInvalid")
    expect_client_error(lambda: check("room", ["bad id"]), 400, "InputInvalid")
    expect_client_error(lambda: check("nope", ["a"]), 404, "ResourceNotExist")
    expect_client_error(
        lambda: client.check_live_message_users_in_group(
            live.CheckLiveMessageUsersInGroupRequest(app_id=app_id, group_id="room")),
        400, "MissingUserIds",
    )


def test_logon_and_logoff_drive_online_status_and_logoff_leaves_every_group(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client, "room")
    client.create_live_message_group(live.CreateLiveMessageGroupRequest(app_id=app_id, group_id="hall"))

    def online(users):
        body = client.check_live_message_users_online(
            live.CheckLiveMessageUsersOnlineRequest(app_id=app_id, user_ids=users)).body
        return [(u.user_id, u.online) for u in body.user_list]

    assert online(["viewer"]) == [("viewer", False)]
    stack.logon(app_id, "viewer")
    stack.join(app_id, "room", ["viewer", "friend"])
    stack.join(app_id, "hall", ["viewer"])
    assert online(["viewer", "friend"]) == [("viewer", True), ("friend", False)]

    assert stack.logoff(app_id, "viewer") == ["room", "hall"]
    assert online(["viewer"]) == [("viewer", False)]
    in_room = client.check_live_message_users_in_group(live.CheckLiveMessageUsersInGroupRequest(
        app_id=app_id, group_id="room", user_ids=["viewer", "friend"])).body
    assert [(u.user_id, u.online) for u in in_room.users] == [("viewer", False), ("friend", True)]
    expect_client_error(
        lambda: client.check_live_message_users_online(
            live.CheckLiveMessageUsersOnlineRequest(app_id="nosuchapp", user_ids=["a"])),
        404, "ResourceNotExist",
    )


def test_the_event_callback_url_can_be_set_checked_and_cleared(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client)
    modify = lambda url: client.modify_live_message_app_callback(
        live.ModifyLiveMessageAppCallbackRequest(app_id=app_id, event_callback_url=url)).body

    body = modify("https://hooks.example.com/livemsg")
    assert body.app_id == app_id and body.app_sign
    assert body.event_callback_url == "https://hooks.example.com/livemsg"
    assert body.event_callback_need_authentication is True
    app = client.describe_live_message_app(live.DescribeLiveMessageAppRequest(app_id=app_id)).body
    assert app.event_callback_url == "https://hooks.example.com/livemsg"

    for bad in ("http://10.0.0.7/cb", "https://hooks.example.com:8443/cb", "ftp://hooks.example.com"):
        err = expect_client_error(lambda: modify(bad), 400, "InputInvalid")
        assert "EventCallbackUrl" in err.message
    assert modify("").event_callback_url is None  # cleared: not returned
    app = client.describe_live_message_app(live.DescribeLiveMessageAppRequest(app_id=app_id)).body
    assert app.event_callback_url == ""

    other = stack.admin("create-account", "--name", "other")
    intruder = tea_client(stack, key_id=other["AccessKeyId"], secret=other["AccessKeySecret"])
    expect_client_error(
        lambda: intruder.modify_live_message_app_callback(live.ModifyLiveMessageAppCallbackRequest(
            app_id=app_id, event_callback_url="https://evil.example.com/cb")),
        404, "ResourceNotExist",
    )

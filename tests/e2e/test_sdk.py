"""The official Alibaba Cloud Python SDKs against livemsg, endpoint pointed at the gateway.

Three clients, as our users have them:
- `alibabacloud_live20161101` with its default ACS3-HMAC-SHA256 signing ("v3");
- the same client with `signature_algorithm='v2'` (RPC HMAC-SHA1, "tea-v1");
- the legacy `aliyunsdkcore` + `aliyunsdklive` (HMAC-SHA1, "legacy").
"""

import json
import time

import pytest
from alibabacloud_live20161101 import models as live
from alibabacloud_live20161101.client import Client
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
)
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException
from aliyunsdkcore.client import AcsClient
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

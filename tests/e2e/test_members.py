"""Members and presence through the official SDKs: the largest user info, which users are in a
group (a super group too), logon and logoff, and the app's event callback URL."""

from alibabacloud_live20161101 import models as live
from test_sdk import Legacy, create_app_and_group, expect_client_error, tea_client


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

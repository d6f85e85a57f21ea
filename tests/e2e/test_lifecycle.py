"""Apps and groups over their whole life, through the official SDKs against the real processes:
list, modify, disable, audit, delete, recover, page, user info; quotas; a disabled app.
"""

import threading
import time

import pytest
from alibabacloud_live20161101 import models as live
from aliyunsdklive.request.v20161101 import (
    CreateLiveMessageGroupRequest,
    DeleteLiveMessageGroupRequest,
    DescribeLiveMessageGroupRequest,
    ListLiveMessageAppsRequest,
    ListLiveMessageGroupByPageRequest,
    ListLiveMessageGroupsRequest,
    ModifyLiveMessageAppAuditRequest,
    ModifyLiveMessageAppDisableRequest,
    ModifyLiveMessageGroupRequest,
    ModifyLiveMessageUserInfoRequest,
    RecoverLiveMessageDeletedGroupRequest,
)
from test_callbacks import FAST, Receiver, wait_until
from test_sdk import Legacy, create_app_and_group, expect_client_error, tea_client


class Tea:
    """The current SDK, with the same call shape as `Legacy`: action name and wire parameters
    in, the wire body (as a dict with the API's own field names) out."""

    def __init__(self, client):
        self.client = client

    def __call__(self, action, **params):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
        request = getattr(live, f"{action}Request")()
        request.from_map(params)
        return getattr(self.client, snake)(request).body.to_map()


class LegacyCalls:
    REQUESTS = {
        r.__name__.removesuffix("Request"): r
        for r in (
            CreateLiveMessageGroupRequest.CreateLiveMessageGroupRequest,
            DeleteLiveMessageGroupRequest.DeleteLiveMessageGroupRequest,
            DescribeLiveMessageGroupRequest.DescribeLiveMessageGroupRequest,
            ListLiveMessageAppsRequest.ListLiveMessageAppsRequest,
            ListLiveMessageGroupByPageRequest.ListLiveMessageGroupByPageRequest,
            ListLiveMessageGroupsRequest.ListLiveMessageGroupsRequest,
            ModifyLiveMessageAppAuditRequest.ModifyLiveMessageAppAuditRequest,
            ModifyLiveMessageAppDisableRequest.ModifyLiveMessageAppDisableRequest,
            ModifyLiveMessageGroupRequest.ModifyLiveMessageGroupRequest,
            ModifyLiveMessageUserInfoRequest.ModifyLiveMessageUserInfoRequest,
            RecoverLiveMessageDeletedGroupRequest.RecoverLiveMessageDeletedGroupRequest,
        )
    }

    def __init__(self, stack):
        self.legacy = Legacy(stack)

    def __call__(self, action, **params):
        return self.legacy.call(self.REQUESTS[action](), **params)


def sdk(stack, name):
    if name == "legacy":
        return LegacyCalls(stack)
    return Tea(tea_client(stack, algorithm="v2" if name == "tea-v1" else None))


@pytest.mark.parametrize("name", ["v3", "tea-v1", "legacy"])
def test_every_lifecycle_operation_through_each_sdk(stack, name):
    call = sdk(stack, name)
    app_id = create_app_and_group(tea_client(stack), group_id="g1")
    for group in ("g2", "g3"):
        call("CreateLiveMessageGroup", AppId=app_id, GroupId=group)
    stack.join(app_id, "g1", ["a", "b"])
    stack.join(app_id, "g2", ["a"])

    assert set(call("ModifyLiveMessageGroup", AppId=app_id, GroupId="g1", ModifyAdmin=True,
                    AdminList=["x", "y"], ModifyInfo=True, GroupInfo='{"notice":"hi"}')) \
        == {"RequestId"}
    group = call("DescribeLiveMessageGroup", AppId=app_id, GroupId="g1")
    assert (group["AdminList"], group["GroupInfo"]) == (["x", "y"], '{"notice":"hi"}')
    # ModifyAdmin with no list clears the administrators (the legacy SDK sends none at all).
    call("ModifyLiveMessageGroup", AppId=app_id, GroupId="g1", ModifyAdmin=True, AdminList=[])
    assert call("DescribeLiveMessageGroup", AppId=app_id, GroupId="g1")["AdminList"] == []

    info = call("ModifyLiveMessageUserInfo", AppId=app_id, UserId="a", UserMetaInfo="vip")
    assert info["SuccessList"] == [{"GroupId": "g1", "Success": True},
                                   {"GroupId": "g2", "Success": True}]
    assert info["FailList"] == []

    deleted = call("DeleteLiveMessageGroup", AppId=app_id, GroupId="g1", OperatorId="op1")
    assert (set(deleted), deleted["GroupId"]) == ({"RequestId", "GroupId"}, "g1")
    group = call("DescribeLiveMessageGroup", AppId=app_id, GroupId="g1")
    assert (group["Delete"], group["Deletor"]) == (True, "op1")
    assert group["Deletatime"] > 0

    groups = call("ListLiveMessageGroups", AppId=app_id, SortType=2)
    assert groups["Hasmore"] is False and "NextpageToken" not in groups
    assert [g["GroupId"] for g in groups["GroupList"]] == ["g3", "g2", "g1"]
    assert groups["GroupList"][2]["Delete"] is True
    assert groups["GroupList"][2]["Createtime"] > 1_600_000_000
    live_only = call("ListLiveMessageGroups", AppId=app_id, SortType=1, GroupStatus=1)
    assert [g["GroupId"] for g in live_only["GroupList"]] == ["g2", "g3"]

    page = call("ListLiveMessageGroupByPage", AppId=app_id, SortType=1, PageNumber=2, PageSize=2)
    assert (page["TotalCount"], page["PageNumber"], page["PageSize"]) == (3, 2, 2)
    assert [g["GroupId"] for g in page["GroupList"]] == ["g3"]
    deleted = call("ListLiveMessageGroupByPage", AppId=app_id, SortType=1, GroupStatus=2)
    assert (deleted["TotalCount"], deleted["PageSize"]) == (1, 20)

    assert call("RecoverLiveMessageDeletedGroup", AppId=app_id, GroupId="g1")["GroupId"] == "g1"
    group = call("DescribeLiveMessageGroup", AppId=app_id, GroupId="g1")
    assert (group["Delete"], group["OnlineUserCounts"]) == (False, 0)

    apps = call("ListLiveMessageApps", SortType=1)
    assert apps["HasMore"] is False and "NextPageToken" not in apps
    assert [a["AppId"] for a in apps["AppList"]] == [app_id]
    assert apps["AppList"][0]["Disable"] == "false"
    audit = call("ModifyLiveMessageAppAudit", AppId=app_id, AuditType=2,
                 AuditUrl="https://audit.example.com/check")
    assert (audit["AuditType"], audit["AuditUrl"], audit["AuditNeedAuthentication"]) \
        == (2, "https://audit.example.com/check", True)
    disabled = call("ModifyLiveMessageAppDisable", AppId=app_id, Disable=True)
    assert (disabled["AppId"], disabled["Disable"]) == (app_id, True)
    assert call("ListLiveMessageApps", SortType=1)["AppList"][0]["Disable"] == "true"
    assert call("ModifyLiveMessageAppDisable", AppId=app_id, Disable=False)["Disable"] is False


def test_paging_through_a_thousand_groups_in_both_orders_while_groups_come_and_go(stack):
    client = tea_client(stack)
    call = Tea(client)
    app_id = create_app_and_group(client, group_id="first")
    stack.psql(f"""
        INSERT INTO groups (app_id, group_id) SELECT '{app_id}', 'g' || i FROM generate_series(1, 999) i;
        UPDATE apps SET live_groups = live_groups + 999 WHERE app_id = '{app_id}'""")
    initial = {"first"} | {f"g{i}" for i in range(1, 1000)}
    victims = {f"g{i}" for i in range(3, 1000, 37)}
    stop = threading.Event()
    churned = {"created": 0, "deleted": set()}

    def churn():
        # Another client of the account creates and deletes groups throughout.
        other = Tea(tea_client(stack))
        n = 0
        pending = sorted(victims)
        while not stop.is_set():
            n += 1
            other("CreateLiveMessageGroup", AppId=app_id, GroupId=f"new{n}")
            churned["created"] += 1
            if pending:
                victim = pending.pop()
                other("DeleteLiveMessageGroup", AppId=app_id, GroupId=victim)
                churned["deleted"].add(victim)
            time.sleep(0.02)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for sort_type in (1, 2):
            for status in (0, 1):
                seen, token, pages = [], None, 0
                while True:
                    params = {"AppId": app_id, "SortType": sort_type, "GroupStatus": status}
                    if token is not None:
                        params["NextPageToken"] = int(token)
                    page = call("ListLiveMessageGroups", **params)
                    pages += 1
                    assert len(page["GroupList"]) <= 100
                    seen += [g["GroupId"] for g in page["GroupList"]]
                    if not page["Hasmore"]:
                        assert "NextpageToken" not in page
                        break
                    token = page["NextpageToken"]
                    assert isinstance(token, str)
                assert pages >= 10
                assert len(seen) == len(set(seen)), "a group seen twice"
                # Present throughout: every initial group, except (for live groups) those
                # deleted at some point of the run.
                gone = churned["deleted"] if status == 1 else set()
                missing = (initial - gone) - set(seen)
                assert not missing, f"missed {sorted(missing)[:5]} (sort {sort_type}, status {status})"
                order = [s for s in seen if s in initial]
                numbers = [0 if s == "first" else int(s[1:]) for s in order]
                assert numbers == sorted(numbers, reverse=sort_type == 2)
    finally:
        stop.set()
        worker.join()
    assert churned["created"] > 0 and churned["deleted"]


def test_delete_then_recover_with_members_events_and_callbacks(make_stack):
    stack = make_stack(**FAST)
    receiver = Receiver().start()
    try:
        client = tea_client(stack)
        app = client.create_live_message_app(live.CreateLiveMessageAppRequest(
            app_name="cb", data_center="cn-shanghai", event_callback_url=receiver.url)).body
        receiver.app_key = app.app_key
        call = Tea(client)
        call("CreateLiveMessageGroup", AppId=app.app_id, GroupId="room")
        stack.join(app.app_id, "room", ["u1", "u2", "u3"])
        receiver.wait_for(3)

        call("DeleteLiveMessageGroup", AppId=app.app_id, GroupId="room", OperatorId="mod")
        events = receiver.wait_for(8)
        tail = [(uid, e["e"], e.get("n")) for uid, _, e in events[3:]]
        # Each member's leave is an ordinary leave (e=4); then livemsg's closed (12) and
        # deleted (15).
        assert tail == [("u1", 4, 2), ("u2", 4, 1), ("u3", 4, 0), ("", 12, 0), ("", 15, 0)]
        expect_client_error(
            lambda: client.list_live_message_group_users(live.ListLiveMessageGroupUsersRequest(
                app_id=app.app_id, group_id="room", page_size=10, sort_type=1)),
            404, "ResourceNotExist")
        import grpc
        from livemsg.membership.v1 import membership_pb2 as pb
        results = stack.membership().BatchUpdateMembership(pb.BatchUpdateMembershipRequest(
            app_id=app.app_id, items=[pb.MembershipItem(operation=pb.OPERATION_JOIN,
                                                        group_id="room", user_id="late")])).results
        assert results[0].error_code == "ResourceNotExist"
        with pytest.raises(grpc.RpcError) as refused:
            stack.membership().JoinGroup(pb.JoinGroupRequest(
                app_id=app.app_id, group_id="room", user_id="late"))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND

        call("RecoverLiveMessageDeletedGroup", AppId=app.app_id, GroupId="room")
        assert receiver.wait_for(9)[8][2]["e"] == 16
        users = call("ListLiveMessageGroupUsers", AppId=app.app_id, GroupId="room",
                     PageSize=10, SortType=1)
        assert users["UserList"] == []
        stack.join(app.app_id, "room", ["u4"])
        assert [e["e"] for _, _, e in receiver.wait_for(11)[9:]] == [13, 3]
    finally:
        receiver.stop()


def test_quotas_hold_and_deleted_groups_do_not_count(make_stack):
    stack = make_stack(quotas__groups_per_app=2, quotas__apps_per_account=2)
    client = tea_client(stack)
    call = Tea(client)
    app_id = create_app_and_group(client, group_id="a")
    call("CreateLiveMessageGroup", AppId=app_id, GroupId="b")
    expect_client_error(
        lambda: client.create_live_message_group(
            live.CreateLiveMessageGroupRequest(app_id=app_id, group_id="c")),
        400, "InputInvalid")
    call("DeleteLiveMessageGroup", AppId=app_id, GroupId="b")
    call("CreateLiveMessageGroup", AppId=app_id, GroupId="c")
    expect_client_error(
        lambda: client.recover_live_message_deleted_group(
            live.RecoverLiveMessageDeletedGroupRequest(app_id=app_id, group_id="b")),
        400, "ErrorTooManyGroups")
    call("DeleteLiveMessageGroup", AppId=app_id, GroupId="c")
    call("RecoverLiveMessageDeletedGroup", AppId=app_id, GroupId="b")

    client.create_live_message_app(live.CreateLiveMessageAppRequest(app_name="second"))
    expect_client_error(
        lambda: client.create_live_message_app(live.CreateLiveMessageAppRequest(app_name="third")),
        400, "InputInvalid")


def test_a_disabled_app_refuses_logons_joins_and_changes_drops_its_users_and_stays_readable(stack):
    import grpc
    from livemsg.membership.v1 import membership_pb2 as pb

    client = tea_client(stack)
    call = Tea(client)
    app_id = create_app_and_group(client, group_id="room")
    stack.logon(app_id, "viewer", "s1")
    stack.join(app_id, "room", ["viewer", "other"])

    call("ModifyLiveMessageAppDisable", AppId=app_id, Disable=True)

    def online():
        return call("CheckLiveMessageUsersOnline", AppId=app_id, UserIds=["viewer"])["UserList"]

    wait_until(lambda: online() == [{"UserId": "viewer", "Online": False}], timeout=10,
               what="the viewer logged off")
    wait_until(lambda: call("DescribeLiveMessageGroup", AppId=app_id,
                            GroupId="room")["OnlineUserCounts"] == 0,
               timeout=10, what="the group emptied")
    with pytest.raises(grpc.RpcError) as refused:
        stack.logon(app_id, "viewer", "s2")
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == "App is disabled."
    results = stack.membership().BatchUpdateMembership(pb.BatchUpdateMembershipRequest(
        app_id=app_id, items=[pb.MembershipItem(operation=pb.OPERATION_JOIN, group_id="room",
                                                user_id="late")])).results
    assert results[0].error_code == "NoAuth"
    for action, params in [
        ("CreateLiveMessageGroup", {"GroupId": "new"}),
        ("ModifyLiveMessageGroup", {"GroupId": "room", "ModifyInfo": True, "GroupInfo": "x"}),
        ("DeleteLiveMessageGroup", {"GroupId": "room"}),
        ("ModifyLiveMessageUserInfo", {"UserId": "viewer", "UserMetaInfo": "x"}),
    ]:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
        request = getattr(live, f"{action}Request")()
        request.from_map({"AppId": app_id, **params})
        expect_client_error(lambda: getattr(client, snake)(request), 403, "NoAuth")
    # Readable throughout.
    assert call("DescribeLiveMessageApp", AppId=app_id)["Disable"] is True
    assert [g["GroupId"] for g in call("ListLiveMessageGroups", AppId=app_id, SortType=1)["GroupList"]] \
        == ["room"]

    call("ModifyLiveMessageAppDisable", AppId=app_id, Disable=False)
    stack.logon(app_id, "viewer", "s3")
    stack.join(app_id, "room", ["viewer"])
    call("CreateLiveMessageGroup", AppId=app_id, GroupId="new")

"""Moderation through the official SDKs and the real processes: the seven operations with every
client, mutes enforced on what users say, kicks as leaves.
"""

import pytest
from aliyunsdklive.request.v20161101 import (
    AddLiveMessageGroupBandRequest,
    BanLiveMessageGroupRequest,
    DescribeLiveMessageGroupBandRequest,
    KickLiveMessageGroupUserRequest,
    ModifyLiveMessageGroupBandRequest,
    RemoveLiveMessageGroupBandRequest,
    UnbanLiveMessageGroupRequest,
)
from test_lifecycle import LegacyCalls, sdk
from test_messages import messaging
from test_sdk import create_app_and_group, tea_client

LegacyCalls.REQUESTS.update({
    r.__name__.removesuffix("Request"): r
    for r in (
        AddLiveMessageGroupBandRequest.AddLiveMessageGroupBandRequest,
        BanLiveMessageGroupRequest.BanLiveMessageGroupRequest,
        DescribeLiveMessageGroupBandRequest.DescribeLiveMessageGroupBandRequest,
        KickLiveMessageGroupUserRequest.KickLiveMessageGroupUserRequest,
        ModifyLiveMessageGroupBandRequest.ModifyLiveMessageGroupBandRequest,
        RemoveLiveMessageGroupBandRequest.RemoveLiveMessageGroupBandRequest,
        UnbanLiveMessageGroupRequest.UnbanLiveMessageGroupRequest,
    )
})


def say(stack, app_id, user, body="hi"):
    from livemsg.messaging.v1 import messaging_pb2 as pb

    return messaging(stack.grpc_addr).SendGroupMessage(pb.ClientGroupMessage(
        app_id=app_id, group_id="room1", sender_id=user, body=body))


@pytest.mark.parametrize("name", ["v3", "tea-v1", "legacy"])
def test_every_moderation_operation_through_each_sdk(stack, name):
    call = sdk(stack, name)
    app_id = create_app_and_group(tea_client(stack))  # room1, creator host1, admins adm1, adm2
    stack.join(app_id, "room1", ["host1", "adm1", "vip", "troll", "fan"])

    def band():
        state = call("DescribeLiveMessageGroupBand", AppId=app_id, GroupId="room1")
        return state["IsbannedAll"], state["BannedUserList"], state["UnbannedUserList"]

    assert band() == (False, [], [])
    call("AddLiveMessageGroupBand", AppId=app_id, GroupId="room1", BannedUsers=["troll"])
    assert say(stack, app_id, "troll").refused_code == 442
    assert say(stack, app_id, "fan").refused_code == 0

    call("BanLiveMessageGroup", AppId=app_id, GroupId="room1", ExceptUsers=["vip"])
    assert band() == (True, ["troll"], ["vip"])
    assert say(stack, app_id, "fan").refused_code == 442
    assert say(stack, app_id, "vip").refused_code == 0
    assert say(stack, app_id, "adm1").refused_code == 0, "administrators are never muted"
    assert say(stack, app_id, "host1").refused_code == 0, "nor is the creator"

    call("UnbanLiveMessageGroup", AppId=app_id, GroupId="room1")
    assert band() == (False, ["troll"], []), "individual mutes survive an unban"
    call("RemoveLiveMessageGroupBand", AppId=app_id, GroupId="room1", UnbannedUsers=["troll"])
    assert say(stack, app_id, "troll").refused_code == 0

    call("ModifyLiveMessageGroupBand", AppId=app_id, GroupId="room1", BannedAll=True,
         BannnedUsers=["fan"], ExceptUsers=["troll"])
    assert band() == (True, ["fan"], ["troll"])

    assert set(call("KickLiveMessageGroupUser", AppId=app_id, GroupId="room1",
                    KickoffUser="troll")) == {"RequestId"}
    group = call("DescribeLiveMessageGroup", AppId=app_id, GroupId="room1")
    assert group["OnlineUserCounts"] == 4
    assert say(stack, app_id, "troll").refused_code == 425, "kicked: no longer a member"
    stack.join(app_id, "room1", ["troll"])  # a kick is not a ban
    assert say(stack, app_id, "troll").refused_code == 0, "exempt while all are muted"

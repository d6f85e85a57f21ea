"""Messages through the official SDKs and the real processes: the five operations with every
client, 15 KB bodies of non-ASCII text, idempotent MsgTid, history paging while messages keep
coming, recall, bad input, and a watcher that loses its service instance mid-stream.
"""

import signal
import threading
import time

import grpc
import pytest
from aliyunsdklive.request.v20161101 import (
    DeleteLiveMessageGroupMessageRequest,
    DeleteLiveMessageUserMessageRequest,
    ListLiveMessageGroupMessagesRequest,
    SendLiveMessageGroupRequest,
    SendLiveMessageUserRequest,
)
from conftest import TIER_TOKEN, _BearerToken
from test_lifecycle import LegacyCalls, Tea, sdk
from test_sdk import create_app_and_group, expect_client_error, tea_client

LegacyCalls.REQUESTS.update({
    r.__name__.removesuffix("Request"): r
    for r in (
        DeleteLiveMessageGroupMessageRequest.DeleteLiveMessageGroupMessageRequest,
        DeleteLiveMessageUserMessageRequest.DeleteLiveMessageUserMessageRequest,
        ListLiveMessageGroupMessagesRequest.ListLiveMessageGroupMessagesRequest,
        SendLiveMessageGroupRequest.SendLiveMessageGroupRequest,
        SendLiveMessageUserRequest.SendLiveMessageUserRequest,
    )
})

# 5,120 three-byte characters: 15,360 bytes, the most a body may hold; percent-encoded in the
# query string it is 46,080 bytes, within the 64 KB request line the gateway reads.
BIG = "弹" * 5120


def messaging(addr):
    from livemsg.messaging.v1 import messaging_pb2_grpc

    channel = grpc.intercept_channel(grpc.insecure_channel(addr), _BearerToken(TIER_TOKEN))
    return messaging_pb2_grpc.MessagingServiceStub(channel)


def history(call, app_id, group="room", sort=1, size=50, **extra):
    seen, token = [], 0
    while True:
        params = dict(AppId=app_id, GroupId=group, PageSize=size, SortType=sort, **extra)
        if token:
            params["NextPageToken"] = token
        page = call("ListLiveMessageGroupMessages", **params)
        seen += page["MessageList"]
        if not page["Hasmore"]:
            assert page["NextPageToken"] == 0
            return seen
        token = page["NextPageToken"]


@pytest.mark.parametrize("name", ["v3", "tea-v1", "legacy"])
def test_every_message_operation_through_each_sdk(stack, name):
    call = sdk(stack, name)
    app_id = create_app_and_group(tea_client(stack), group_id="room")
    stack.join(app_id, "room", ["viewer"])
    stack.logon(app_id, "bob", "s1")

    sent = call("SendLiveMessageGroup", AppId=app_id, GroupId="room", SenderId="host",
                SenderMetaInfo='{"vip":true}', Body=BIG, MsgType=10001, MsgTid="big1",
                StaticsIncrease=3, Weight=1000000)
    assert sent["MsgTid"] == "big1"
    again = call("SendLiveMessageGroup", AppId=app_id, GroupId="room", SenderId="host", Body="x",
                 MsgTid="big1")
    assert again["MsgTid"] == "big1"
    made = call("SendLiveMessageGroup", AppId=app_id, GroupId="room", SenderId="host",
                Body="not kept", NoStorage=True)["MsgTid"]
    assert len(made) == 32
    call("SendLiveMessageGroup", AppId=app_id, GroupId="room", SenderId="host", Body="kept")

    messages = history(call, app_id)
    assert [m["Body"] for m in messages] == [BIG, "kept"]
    assert messages[0]["Sender"] == {"UserId": "host", "UserInfo": '{"vip":true}'}
    assert (messages[0]["SeqNumber"], messages[0]["TotalMessages"], messages[0]["MsgType"]) \
        == (1, 3, 10001)
    assert messages[1]["SeqNumber"] == 3
    described = call("DescribeLiveMessageGroup", AppId=app_id, GroupId="room")
    assert described["MsgAmount"] == {"10001": 3, "0": 2}

    deleted = call("DeleteLiveMessageGroupMessage", AppId=app_id, GroupId="room",
                   MessageId="big1", DeleterId="mod", DeleterInfo="spam")
    assert (deleted["GroupId"], deleted["MessageId"]) == ("room", "big1")
    assert [m["Body"] for m in history(call, app_id)] == ["kept"]

    user = call("SendLiveMessageUser", AppId=app_id, ReceiverId="bob", SenderId="alice",
                SenderInfo="a", Body="psst", Storage=True, MsgTid="c2c1")
    assert user["MsgTid"] == "c2c1"
    assert set(call("DeleteLiveMessageUserMessage", AppId=app_id, ReceiverId="bob",
                    MessageId="c2c1", DeleterId="alice")) == {"RequestId"}


def test_history_pages_see_every_earlier_message_once_while_sends_continue(make_stack):
    stack = make_stack(ratelimit__per_second=100000)
    client = tea_client(stack)
    call = Tea(client)
    app_id = create_app_and_group(client, group_id="room")
    stack.join(app_id, "room", ["viewer"])
    before = [call("SendLiveMessageGroup", AppId=app_id, GroupId="room", SenderId="h",
                   Body=f"b{i}")["MsgTid"] for i in range(120)]
    stop = threading.Event()
    during = []

    def keep_sending():
        other = Tea(tea_client(stack))
        n = 0
        while not stop.is_set():
            n += 1
            during.append(other("SendLiveMessageGroup", AppId=app_id, GroupId="room",
                                SenderId="h", Body=f"d{n}")["MsgTid"])
            time.sleep(0.01)

    worker = threading.Thread(target=keep_sending)
    worker.start()
    try:
        for sort in (1, 2):
            seen = history(call, app_id, sort=sort, size=10)
            tids = [m["MsgTid"] for m in seen]
            assert len(tids) == len(set(tids)), "a message seen twice"
            earlier = [t for t in tids if t in set(before)]
            assert earlier == (before if sort == 1 else before[::-1])
            seqs = [m["SeqNumber"] for m in seen]
            assert seqs == sorted(seqs, reverse=sort == 2)
    finally:
        stop.set()
        worker.join()
    assert during, "messages kept coming during the traversals"


def test_a_watcher_resumes_on_another_instance_after_its_own_is_killed(make_stack):
    stack = make_stack(ratelimit__per_second=100000)
    from livemsg.messaging.v1 import messaging_pb2 as pb

    client = tea_client(stack)
    call = Tea(client)
    app_id = create_app_and_group(client, group_id="room")
    stack.join(app_id, "room", ["viewer"])
    doomed = stack.another_service("doomed")
    doomed.expected_exits = (-signal.SIGKILL,)
    doomed_addr = doomed.wait_for_address()
    total = 400
    received = []
    sent = threading.Event()

    def send_all():
        for i in range(total):
            call("SendLiveMessageGroup", AppId=app_id, GroupId="room", SenderId="h",
                 Body=f"m{i}")
        sent.set()

    sender = threading.Thread(target=send_all)
    sender.start()
    token = [("authorization", f"Bearer {TIER_TOKEN}")]
    stream = messaging(doomed_addr).WatchGroupMessages(
        pb.WatchGroupMessagesRequest(app_id=app_id, group_id="room", from_seq=1),
        metadata=token)
    try:
        for message in stream:
            received.append(message.seq)
            if len(received) == 100:
                doomed.proc.kill()  # mid-stream, without a goodbye
    except grpc.RpcError as err:
        assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                              grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), err
    assert len(received) >= 100
    # Resume on the first instance from the last seq seen plus one.
    resumed = messaging(stack.grpc_addr).WatchGroupMessages(
        pb.WatchGroupMessagesRequest(app_id=app_id, group_id="room", from_seq=received[-1] + 1),
        timeout=60, metadata=token)
    for message in resumed:
        received.append(message.seq)
        if message.seq == total:
            break
    sender.join()
    assert received == list(range(1, total + 1)), "every message once, in order"


def test_bad_message_input_is_refused_with_the_parameter_named(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client, group_id="room")
    stack.join(app_id, "room", ["viewer"])
    from alibabacloud_live20161101 import models as live

    for request, param in [
        (live.SendLiveMessageGroupRequest(app_id=app_id, group_id="room", sender_id="h",
                                          body="x" * (15 * 1024 + 1)), "Body"),
        (live.SendLiveMessageGroupRequest(app_id=app_id, group_id="room", sender_id="h",
                                          msg_type=-1), "MsgType"),
        (live.SendLiveMessageGroupRequest(app_id=app_id, group_id="room", sender_id="h",
                                          msg_tid="no spaces"), "MsgTid"),
        (live.SendLiveMessageGroupRequest(app_id=app_id, group_id="room", sender_id="h",
                                          sender_meta_info="i" * 513), "SenderMetaInfo"),
    ]:
        expect_client_error(lambda: client.send_live_message_group(request), 400, "InputInvalid")
    expect_client_error(
        lambda: client.list_live_message_group_messages(live.ListLiveMessageGroupMessagesRequest(
            app_id=app_id, group_id="room", page_size=51, sort_type=1)),
        400, "InputInvalid")
    expect_client_error(
        lambda: client.send_live_message_user(live.SendLiveMessageUserRequest(
            app_id=app_id, receiver_id="nobody", sender_id="h", body="x")),
        404, "ResourceNotExist")
    expect_client_error(
        lambda: client.delete_live_message_user_message(live.DeleteLiveMessageUserMessageRequest(
            app_id=app_id, receiver_id="bob", message_id="m1")),
        400, "InputInvalid")

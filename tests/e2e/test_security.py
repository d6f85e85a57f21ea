"""Request security and limits through the official SDKs: the per-account rate limit, RAM
users and policies, secrets at rest, clock skew and replayed nonces, signature algorithms."""

import json
import subprocess
import uuid

import pytest
from alibabacloud_live20161101 import models as live
from alibabacloud_tea_openapi.exceptions import ThrottlingException
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException
from aliyunsdklive.request.v20161101 import (
    DescribeLiveMessageGroupRequest,
    ListLiveMessageGroupUsersRequest,
)
from conftest import BIN_DIR, PG_HOST, PG_PORT, PG_USER, ROOT
from test_sdk import Legacy, create_app_and_group, eventually_refused, expect_client_error, tea_client


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

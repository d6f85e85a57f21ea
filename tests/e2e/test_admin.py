"""The operator's command, `livemsg-admin`, against a real database: init-secrets, bootstrap,
reencrypt-secrets, create-tier-token, generate-secrets-key; and no log of any process or command
ever carries a secret."""

import base64
import json
import os
import stat
import subprocess
import tomllib

import grpc
from alibabacloud_live20161101 import models as live
from conftest import ROOT, _BearerToken, _binary, _psql
from test_sdk import create_app_and_group, tea_client


def run_admin(env, *args):
    """Runs livemsg-admin; (its JSON answer, what it wrote to stderr)."""
    out = subprocess.run([_binary("livemsg-admin"), *args], env=env, cwd=ROOT,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout), out.stderr


def test_init_secrets_writes_the_service_and_gateway_files_once(tmp_path, stack):
    service, gateway = tmp_path / "service.toml", tmp_path / "gateway.toml"
    answer, _ = run_admin(stack.env, "init-secrets", "--out", str(service),
                          "--gateway-out", str(gateway))
    assert answer["Written"] is True
    for path in (service, gateway):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    written = tomllib.loads(service.read_text())
    key = base64.b64decode(written["secrets"]["keys"][written["secrets"]["active_key"]])
    assert len(key) == 32
    tokens = written["internal"]
    assert {"gateway_token", "tier_token", "admin_token"} <= set(tokens)
    assert all(len(tokens[t]) >= 32 for t in ("gateway_token", "tier_token", "admin_token"))
    assert len({tokens["gateway_token"], tokens["tier_token"], tokens["admin_token"]}) == 3
    # The gateway's file holds its token and nothing else.
    assert tomllib.loads(gateway.read_text()) == {
        "internal": {"gateway_token": tokens["gateway_token"]}}
    before = service.read_text()
    again, _ = run_admin(stack.env, "init-secrets", "--out", str(service))
    assert again["Written"] is False and service.read_text() == before

    fresh, _ = run_admin(stack.env, "generate-secrets-key")
    assert len(base64.b64decode(fresh["Key"])) == 32


def test_bootstrap_creates_a_first_account_once(stack):
    database = f"{stack.database}_boot"
    _psql(f'CREATE DATABASE "{database}"', stack.pg_port)
    env = dict(stack.env, LIVEMSG__DATABASE__DATABASE_NAME=database)
    run_admin(env, "migrate")
    first, _ = run_admin(env, "bootstrap", "--name", "first")
    assert first["Bootstrapped"] is True
    assert first["AccessKeyId"].startswith("LTAI") and len(first["AccessKeySecret"]) == 30
    second, _ = run_admin(env, "bootstrap", "--name", "second")
    assert second == {"Bootstrapped": False, "Reason": "an account exists already"}
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', stack.pg_port)


def test_reencrypt_secrets_moves_every_secret_to_the_new_key(stack):
    client = tea_client(stack)
    app_id = create_app_and_group(client)
    old = stack.env["LIVEMSG__SECRETS__KEYS__E2E"]
    new, _ = run_admin(stack.env, "generate-secrets-key")
    rotating = dict(stack.env, LIVEMSG__SECRETS__ACTIVE_KEY="next",
                    LIVEMSG__SECRETS__KEYS__NEXT=new["Key"])
    answer, _ = run_admin(rotating, "reencrypt-secrets")
    # The account's key and the app's AppKey.
    assert answer == {"Reencrypted": 2, "ActiveKey": "next"}
    again, _ = run_admin(rotating, "reencrypt-secrets")
    assert again["Reencrypted"] == 0
    # A service holding only the new key opens them: the key resolves to its secret, and the
    # app answers with its AppKey.
    only_new = {k: v for k, v in rotating.items() if k != "LIVEMSG__SECRETS__KEYS__E2E"}
    assert old not in only_new.values()
    service = stack.another_service("service-new-key", **{
        k.removeprefix("LIVEMSG__").lower(): v for k, v in only_new.items()
        if k.startswith("LIVEMSG__SECRETS__")})
    from livemsg.auth.v1 import auth_pb2, auth_pb2_grpc
    address = service.wait_for_address()
    channel = grpc.intercept_channel(grpc.insecure_channel(address),
                                     _BearerToken(stack.env["LIVEMSG__INTERNAL__GATEWAY_TOKEN"]))
    resolved = auth_pb2_grpc.AuthServiceStub(channel).ResolveAccessKey(
        auth_pb2.ResolveAccessKeyRequest(access_key_id=stack.access_key_id))
    assert resolved.access_key_secret == stack.access_key_secret
    from livemsg.api.v1 import apps_pb2, apps_pb2_grpc
    from livemsg.common.v1 import common_pb2
    caller = common_pb2.Caller(account_id=int(stack.account_id), proof=resolved.caller_proof)
    described = apps_pb2_grpc.AppServiceStub(channel).DescribeApp(apps_pb2.DescribeAppRequest(
        app=common_pb2.AppRef(caller=caller, app_id=app_id))).app
    assert described.app_id == app_id and len(described.app_key) == 32


def test_a_tier_token_acts_for_its_account_only(stack):
    from livemsg.membership.v1 import membership_pb2 as pb
    from livemsg.membership.v1 import membership_pb2_grpc

    client = tea_client(stack)
    app_id = create_app_and_group(client)
    token, _ = run_admin(stack.env, "create-tier-token", "--account-id", stack.account_id)
    assert token["TierToken"].startswith(f"lmt1.{stack.account_id}.")
    channel = grpc.intercept_channel(grpc.insecure_channel(stack.grpc_addr),
                                     _BearerToken(token["TierToken"]))
    membership = membership_pb2_grpc.MembershipServiceStub(channel)
    joined = membership.JoinGroup(pb.JoinGroupRequest(
        app_id=app_id, group_id="room1", user_id="viewer", user_info=""))
    assert joined.changed and joined.member_count == 1
    other, _ = run_admin(stack.env, "create-account", "--name", "other")
    foreign, _ = run_admin(stack.env, "create-tier-token", "--account-id", other["AccountId"])
    channel = grpc.intercept_channel(grpc.insecure_channel(stack.grpc_addr),
                                     _BearerToken(foreign["TierToken"]))
    try:
        membership_pb2_grpc.MembershipServiceStub(channel).JoinGroup(pb.JoinGroupRequest(
            app_id=app_id, group_id="room1", user_id="intruder", user_info=""))
        raise AssertionError("another account's tier token joined")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
    try:
        run_admin(stack.env, "create-tier-token", "--account-id", "1000000000000001")
        raise AssertionError("a token for an account that does not exist")
    except subprocess.CalledProcessError as err:
        assert "does not exist" in err.stderr


def test_no_log_carries_a_secret_whatever_runs(make_stack, tmp_path):
    stack = make_stack(log__filter="debug", database__password="pg-password-never-logged")
    client = tea_client(stack)
    app = client.create_live_message_app(live.CreateLiveMessageAppRequest(app_name="logs")).body
    client.create_live_message_group(live.CreateLiveMessageGroupRequest(
        app_id=app.app_id, group_id="room"))
    stack.join(app.app_id, "room", ["viewer"])
    logs = []
    ram, err = run_admin(stack.env, "create-ram-user", "--account-id", stack.account_id,
                         "--user-name", "reader")
    logs.append(err)
    key, err = run_admin(stack.env, "create-access-key", "--account-id", stack.account_id,
                         "--user-name", "reader")
    logs.append(err)
    for args in (["disable-access-key", "--access-key-id", key["AccessKeyId"]],
                 ["enable-access-key", "--access-key-id", key["AccessKeyId"]],
                 ["reencrypt-secrets"], ["bootstrap"], ["migrate"],
                 ["create-tier-token", "--account-id", stack.account_id],
                 ["init-secrets", "--out", str(tmp_path / "s.toml")],
                 ["create-account", "--name", "more"]):
        answer, err = run_admin(stack.env, *args)
        logs.append(err)
        if "TierToken" in answer:
            tier_token = answer["TierToken"]
        if "AccessKeySecret" in answer:
            more_secret = answer["AccessKeySecret"]
    generated = tomllib.loads((tmp_path / "s.toml").read_text())
    secrets = {
        "the root AccessKey secret": stack.access_key_secret,
        "a RAM user's AccessKey secret": key["AccessKeySecret"],
        "a new account's AccessKey secret": more_secret,
        "the AppKey": app.app_key,
        "the gateway token": stack.env["LIVEMSG__INTERNAL__GATEWAY_TOKEN"],
        "the tier token": stack.env["LIVEMSG__INTERNAL__TIER_TOKEN"],
        "an account tier token": tier_token,
        "the secrets key": stack.env["LIVEMSG__SECRETS__KEYS__E2E"],
        "the database password": "pg-password-never-logged",
        "a generated secrets key": next(iter(generated["secrets"]["keys"].values())),
        "a generated admin token": generated["internal"]["admin_token"],
    }
    logs += [stack.service.log_path.read_text(), stack.gateway.log_path.read_text()]
    assert all(logs[-2:]), "the processes logged"
    for name, secret in secrets.items():
        for text in logs:
            assert secret not in text, f"{name} appears in a log"

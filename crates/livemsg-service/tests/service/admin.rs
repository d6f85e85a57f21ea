//! The admin API: accounts, RAM users, keys and policies, behind its own token.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_admin_api_manages_ram_users_keys_and_policies(pool: PgPool) {
    use livemsg_proto::admin::v1::admin_service_client::AdminServiceClient;
    use livemsg_proto::admin::v1::*;
    let h = start(pool, 2_000).await;
    // The admin API takes its own token: the gateway's is not enough.
    let refused = AdminServiceClient::new(h.channel.clone())
        .create_account(CreateAccountRequest { name: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let mut admin = AdminServiceClient::with_interceptor(
        h.plain.clone(),
        BearerToken::new(ADMIN_TOKEN).unwrap(),
    );
    let mut auth = AuthServiceClient::new(h.channel.clone());

    let account = admin
        .create_account(CreateAccountRequest { name: "t2".into() })
        .await
        .unwrap()
        .into_inner();
    let root = auth
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: account.access_key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(root.access_key_secret, account.access_key_secret);
    assert_eq!(root.user_name, "");

    let id = account.account_id;
    admin
        .create_ram_user(CreateRamUserRequest {
            account_id: id,
            user_name: "ops".into(),
        })
        .await
        .unwrap();
    let bad = admin
        .create_policy(CreatePolicyRequest {
            account_id: id,
            policy_name: "bad".into(),
            document:
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"x"}]}"#
                    .into(),
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&bad), "InputInvalid");
    assert!(
        bad.message().contains("Statement[0].Resource"),
        "{}",
        bad.message()
    );

    let document =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"live:*","Resource":"*"}]}"#;
    admin
        .create_policy(CreatePolicyRequest {
            account_id: id,
            policy_name: "all".into(),
            document: document.into(),
        })
        .await
        .unwrap();
    admin
        .attach_policy(AttachPolicyRequest {
            account_id: id,
            user_name: "ops".into(),
            policy_name: "all".into(),
        })
        .await
        .unwrap();
    let key = admin
        .create_access_key(CreateAccessKeyRequest {
            account_id: id,
            user_name: "ops".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let resolved = auth
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: key.access_key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.user_name, "ops");
    assert_eq!(resolved.policies, vec![document.to_owned()]);

    let missing = admin
        .attach_policy(AttachPolicyRequest {
            account_id: id,
            user_name: "nobody".into(),
            policy_name: "all".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&missing), "ResourceNotExist");

    admin
        .set_access_key_enabled(SetAccessKeyEnabledRequest {
            access_key_id: key.access_key_id.clone(),
            enabled: false,
        })
        .await
        .unwrap();
    admin
        .delete_access_key(DeleteAccessKeyRequest {
            access_key_id: key.access_key_id.clone(),
        })
        .await
        .unwrap();
    let gone = auth
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: key.access_key_id,
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&gone), "InvalidAccessKeyId.NotFound");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn without_an_admin_token_the_admin_api_is_closed(pool: PgPool) {
    use livemsg_proto::admin::v1::admin_service_client::AdminServiceClient;
    use livemsg_proto::admin::v1::CreateAccountRequest;
    let settings = test_settings();
    let app = Application::build_with_pool(&settings, pool).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = AdminServiceClient::with_interceptor(channel, BearerToken::new(TOKEN).unwrap())
        .create_account(CreateAccountRequest { name: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().contains("internal.admin_token"));
}

//! Accounts, AccessKeys, RAM users and policies; secrets sealed at rest.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn access_keys_resolve_to_their_account_and_can_be_disabled(pool: PgPool) {
    let store = Store::new(pool, THRESHOLD, Keyring::generate());
    let account = store.create_account("acme").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    let resolved = store.resolve_access_key(&key.access_key_id).await.unwrap();
    assert_eq!(resolved.key, key);
    assert!(resolved.key.enabled);
    assert_eq!(resolved.key.user_name, None);
    assert!(resolved.policies.is_empty());
    assert!(!format!("{resolved:?}").contains(&key.secret));

    store
        .set_access_key_enabled(&key.access_key_id, false)
        .await
        .unwrap();
    assert!(
        !store
            .resolve_access_key(&key.access_key_id)
            .await
            .unwrap()
            .key
            .enabled
    );
    assert!(matches!(
        store.resolve_access_key("LTAInope").await,
        Err(StoreError::AccessKeyNotFound)
    ));
    assert!(matches!(
        store.create_access_key(42, None).await,
        Err(StoreError::AccountNotFound)
    ));
    store.delete_access_key(&key.access_key_id).await.unwrap();
    assert!(matches!(
        store.resolve_access_key(&key.access_key_id).await,
        Err(StoreError::AccessKeyNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn secrets_are_encrypted_at_rest_and_survive_key_rotation(pool: PgPool) {
    let old = Keyring::new_key_base64();
    let new = Keyring::new_key_base64();
    let before = Keyring::new("old", [("old", old.as_str())]).unwrap();
    let store = Store::new(pool.clone(), THRESHOLD, before);
    let account = store.create_account("acme").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    // A key written before encryption existed, in plaintext.
    sqlx::query("INSERT INTO access_keys (access_key_id, account_id, secret) VALUES ('LTAIlegacy', $1, 'plainsecret')")
        .bind(account.account_id)
        .execute(&pool)
        .await
        .unwrap();

    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secret_ciphertext FROM access_keys WHERE access_key_id = $1")
            .bind(&key.access_key_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!stored
        .windows(key.secret.len())
        .any(|w| w == key.secret.as_bytes()));

    // Rotate: both keys configured, the new one active; re-encrypt; drop the old one.
    let both = Keyring::new("new", [("old", old.as_str()), ("new", new.as_str())]).unwrap();
    let rotating = Store::new(pool.clone(), THRESHOLD, both);
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 2);
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 0);
    let after = Store::new(
        pool.clone(),
        THRESHOLD,
        Keyring::new("new", [("new", new.as_str())]).unwrap(),
    );
    assert_eq!(
        after
            .resolve_access_key(&key.access_key_id)
            .await
            .unwrap()
            .key
            .secret,
        key.secret
    );
    assert_eq!(
        after
            .resolve_access_key("LTAIlegacy")
            .await
            .unwrap()
            .key
            .secret,
        "plainsecret"
    );
    let plaintext: i64 =
        sqlx::query_scalar("SELECT count(*) FROM access_keys WHERE secret IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(plaintext, 0);
    // Without the key that sealed a secret, it cannot be read.
    let stranger = Store::new(pool, THRESHOLD, Keyring::generate());
    assert!(matches!(
        stranger.resolve_access_key(&key.access_key_id).await,
        Err(StoreError::SecretKeyMissing)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn ram_user_keys_carry_the_policies_attached_to_the_user(pool: PgPool) {
    let store = Store::new(pool, THRESHOLD, Keyring::generate());
    let account = store.create_account("acme").await.unwrap();
    let other = store.create_account("other").await.unwrap();
    let id = account.account_id;
    store.create_ram_user(id, "ops").await.unwrap();
    assert!(matches!(
        store.create_ram_user(id, "ops").await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.create_ram_user(id, "bad name").await,
        Err(StoreError::InvalidName(_))
    ));
    let doc =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"live:List*","Resource":"*"}]}"#;
    store.create_policy(id, "list-only", doc).await.unwrap();
    let err = store
        .create_policy(
            id,
            "broken",
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"nope","Resource":"*"}]}"#,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Statement[0].Action"), "{err}");

    let key = store.create_access_key(id, Some("ops")).await.unwrap();
    assert_eq!(key.user_name.as_deref(), Some("ops"));
    assert!(store
        .resolve_access_key(&key.access_key_id)
        .await
        .unwrap()
        .policies
        .is_empty());

    store.attach_policy(id, "ops", "list-only").await.unwrap();
    store.attach_policy(id, "ops", "list-only").await.unwrap();
    let resolved = store.resolve_access_key(&key.access_key_id).await.unwrap();
    assert_eq!(resolved.policies, vec![doc.to_owned()]);
    assert_eq!(resolved.key.user_name.as_deref(), Some("ops"));

    // Another account can neither see the user nor attach its own policies to it.
    assert!(matches!(
        store.create_access_key(other.account_id, Some("ops")).await,
        Err(StoreError::RamUserNotFound)
    ));
    store
        .create_policy(other.account_id, "theirs", doc)
        .await
        .unwrap();
    assert!(matches!(
        store.attach_policy(id, "ops", "theirs").await,
        Err(StoreError::PolicyNotFound)
    ));

    store.detach_policy(id, "ops", "list-only").await.unwrap();
    assert!(store
        .resolve_access_key(&key.access_key_id)
        .await
        .unwrap()
        .policies
        .is_empty());
    assert!(matches!(
        store.detach_policy(id, "ops", "list-only").await,
        Err(StoreError::PolicyNotFound)
    ));
}

//! Apps: found only by their account in their data center.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn an_app_exists_only_for_its_account_and_data_center(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let other = f.store.create_account("other").await.unwrap();
    let found = f
        .store
        .find_app(&scope_of(f.account_id, &f.app_id, DataCenter::CnShanghai))
        .await
        .unwrap();
    assert_eq!(found.data_center, "cn-shanghai");
    assert_eq!(found.app_key.len(), 32);
    assert!(matches!(
        f.store
            .find_app(&scope_of(
                other.account_id,
                &f.app_id,
                DataCenter::CnShanghai
            ))
            .await,
        Err(StoreError::AppNotFound)
    ));
    assert!(matches!(
        f.store
            .find_app(&scope_of(f.account_id, &f.app_id, DataCenter::ApSoutheast1))
            .await,
        Err(StoreError::AppNotFound)
    ));
    // Nor can the other account create or read groups in it.
    assert!(matches!(
        f.store
            .create_group(
                &scope_of(other.account_id, &f.app_id, DataCenter::CnShanghai),
                new_group("g1")
            )
            .await,
        Err(StoreError::AppNotFound)
    ));
}

/// An AppKey mints client tokens and signs callbacks: it is sealed at rest like an AccessKey
/// secret, opens only with a configured key, is carried over by a rotation, and an app stored
/// before sealing (plain) is sealed by `reencrypt-secrets`.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn app_keys_are_sealed_at_rest_and_carried_over_by_a_rotation(pool: PgPool) {
    let old = Keyring::new_key_base64();
    let new = Keyring::new_key_base64();
    let store = Store::new(
        pool.clone(),
        THRESHOLD,
        Keyring::new("old", [("old", old.as_str())]).unwrap(),
    );
    let account = store.create_account("t").await.unwrap().account_id;
    let app = store
        .create_app(new_app(account, DataCenter::CnShanghai))
        .await
        .unwrap();
    assert_eq!(app.app_key.len(), 32);
    let (plain, sealed): (Option<String>, Vec<u8>) =
        sqlx::query_as("SELECT app_key, app_key_ciphertext FROM apps WHERE app_id = $1")
            .bind(&app.app_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(plain, None);
    assert!(!sealed
        .windows(app.app_key.len())
        .any(|w| w == app.app_key.as_bytes()));
    let app_id = AppId::parse(&app.app_id).unwrap();
    let scope = scope_of(account, &app_id, DataCenter::CnShanghai);
    assert_eq!(store.find_app(&scope).await.unwrap().app_key, app.app_key);

    // An app from before sealing keeps its plain key until re-encryption.
    sqlx::query(
        "INSERT INTO apps (app_id, account_id, app_name, app_key, app_sign, data_center)
         VALUES ('legacy1', $1, 'old', 'plainappkey0123456789abcdefghijk', 's', 'cn-shanghai')",
    )
    .bind(account)
    .execute(&pool)
    .await
    .unwrap();
    let legacy = scope_of(
        account,
        &AppId::parse("legacy1").unwrap(),
        DataCenter::CnShanghai,
    );
    assert_eq!(
        store.find_app(&legacy).await.unwrap().app_key,
        "plainappkey0123456789abcdefghijk"
    );

    // Rotate: both keys, the new one active; re-encrypt the two apps; drop the old key.
    let both = Keyring::new("new", [("old", old.as_str()), ("new", new.as_str())]).unwrap();
    let rotating = Store::new(pool.clone(), THRESHOLD, both);
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 2);
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 0);
    let after = Store::new(
        pool.clone(),
        THRESHOLD,
        Keyring::new("new", [("new", new.as_str())]).unwrap(),
    );
    assert_eq!(after.find_app(&scope).await.unwrap().app_key, app.app_key);
    assert_eq!(
        after.find_app(&legacy).await.unwrap().app_key,
        "plainappkey0123456789abcdefghijk"
    );
    let plain_left: i64 = sqlx::query_scalar("SELECT count(*) FROM apps WHERE app_key IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(plain_left, 0);
    // Without the key it was sealed under, an AppKey does not open.
    let stranger = Store::new(pool, THRESHOLD, Keyring::generate());
    assert!(matches!(
        stranger.find_app(&scope).await,
        Err(StoreError::SecretKeyMissing)
    ));
}

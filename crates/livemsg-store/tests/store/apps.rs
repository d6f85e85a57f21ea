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

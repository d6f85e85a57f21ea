//! Groups: created once, described with their state.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn creating_a_group_twice_reports_that_it_exists(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let first = f
        .store
        .create_group(
            &scope_of(f.account_id, &f.app_id, DataCenter::CnShanghai),
            new_group("g1"),
        )
        .await
        .unwrap();
    assert!(!first.already_exists);
    let second = f
        .store
        .create_group(
            &scope_of(f.account_id, &f.app_id, DataCenter::CnShanghai),
            new_group("g1"),
        )
        .await
        .unwrap();
    assert!(second.already_exists);
    assert!(!second.already_deleted);

    let group = f
        .store
        .describe_group(
            &scope_of(f.account_id, &f.app_id, DataCenter::CnShanghai),
            &GroupId::parse("g1").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(group.group_name, "name");
    assert_eq!(group.creator_id, "creator");
    assert_eq!(group.admin_list, vec!["admin1".to_owned()]);
    assert_eq!(group.state.0, GroupState::Normal);
    assert!(matches!(
        f.store
            .describe_group(
                &scope_of(f.account_id, &f.app_id, DataCenter::CnShanghai),
                &GroupId::parse("nope").unwrap()
            )
            .await,
        Err(StoreError::GroupNotFound)
    ));
}

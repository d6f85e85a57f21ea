//! A group's row under churn: every membership change rewrites it, and the rewrite stays a HOT
//! update (the new version on the same page, nothing added to the table's indexes), also when
//! the change empties the group (closed) or reopens it.

use std::time::Duration;

use livemsg_store::GroupOps;

use crate::helpers::*;

/// The groups table's updates and HOT updates, as Postgres counts them. `pool` has one
/// connection, which made every change: after a second, a statement makes it report its counts
/// before it answers.
async fn updates(pool: &PgPool) -> (i64, i64) {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    sqlx::query("SELECT 1").execute(pool).await.unwrap();
    sqlx::query_as(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'groups'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn emptying_and_reopening_groups_are_hot_updates(admin: PgPool) {
    const GROUPS: usize = 2000;
    let pool = one_connection_pool(&admin).await;
    let f = fixture(pool.clone(), THRESHOLD).await;
    sqlx::query(
        "INSERT INTO groups (app_id, group_id)
         SELECT $1, 'g' || i FROM generate_series(1, $2) i",
    )
    .bind(f.app_id.as_str())
    .bind(GROUPS as i32)
    .execute(&pool)
    .await
    .unwrap();
    let ids: Vec<GroupId> = (1..=GROUPS)
        .map(|i| GroupId::parse(&format!("g{i}")).unwrap())
        .collect();

    // One user joins and leaves every group, a few groups per transaction as the writers batch
    // them: each leave closes a group, each later join reopens it.
    let (before, hot_before) = updates(&pool).await;
    for round in 0..4 {
        let ops = if round % 2 == 0 {
            [join("u")]
        } else {
            [MembershipOp::Leave { user_id: uid("u") }]
        };
        for stride in 0..50 {
            let batch: Vec<GroupOps> = ids
                .iter()
                .skip(stride)
                .step_by(50)
                .map(|group_id| GroupOps {
                    app_id: &f.app_id,
                    group_id,
                    ops: &ops[..],
                })
                .collect();
            for result in f.store.apply_to_groups(&batch).await.unwrap() {
                assert!(result.unwrap()[0].changed);
            }
        }
    }
    let closed: i64 = sqlx::query_scalar("SELECT count(*) FROM groups WHERE state = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        closed, GROUPS as i64,
        "every group closed by its last leave"
    );

    // 8,000 rewrites, 6,000 of them moving a group between normal and closed.
    let (after, hot_after) = updates(&pool).await;
    let (all, hot) = (after - before, hot_after - hot_before);
    assert_eq!(all, 4 * GROUPS as i64);
    assert!(
        hot * 10 >= all * 9,
        "{hot} of {all} updates of the groups' rows were HOT"
    );
}

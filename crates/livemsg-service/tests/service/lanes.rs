//! Group commit by lanes: a group's single changes always go to the same writer, so those that
//! wait behind a busy group commit together, while other lanes' groups go on.

use crate::helpers::*;

/// With four writers, 98 joins that wait behind a group whose row is held all go to that
/// group's writer and commit in one transaction once it is free (with a shared queue, the idle
/// writers would each take some and wait for the lock in turn); a group in another lane joins
/// meanwhile.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_busy_groups_changes_gather_in_its_lane_while_other_lanes_go_on(pool: PgPool) {
    use livemsg_domain::{AppId, GroupId, UserId, UserInfo};
    use livemsg_service::workers::batcher::Batcher;
    use livemsg_store::MembershipOp;

    let h = start(pool.clone(), 2_000).await;
    h.create_group("hot").await;
    let store = Store::new(pool.clone(), 2_000, Keyring::generate());
    let batcher = Batcher::start(store, 4, 128);
    let app = AppId::parse(&h.app_id).unwrap();
    let hot = GroupId::parse("hot").unwrap();
    let other = (0..100)
        .map(|i| GroupId::parse(&format!("other{i}")).unwrap())
        .find(|g| batcher.lane(&app, g) != batcher.lane(&app, &hot))
        .expect("another lane");
    h.create_group(other.as_str()).await;
    let join = |group: &GroupId, user: String| {
        let (batcher, app, group) = (batcher.clone(), app.clone(), group.clone());
        tokio::spawn(async move {
            let op = MembershipOp::Join {
                user_id: UserId::parse(&user).unwrap(),
                user_info: UserInfo::parse("info").unwrap(),
            };
            batcher.apply(app, group, op).await
        })
    };

    let holder = hold_group(&pool, "hot").await;
    let first = join(&hot, "u0".into());
    wait_for_lock_waiters(&pool, 1).await;
    let rest: Vec<_> = (1..99).map(|i| join(&hot, format!("u{i}"))).collect();
    wait_until(|| async { batcher.waiting() == 98 }).await;

    // Another lane's group is not held up by the busy one.
    let elsewhere =
        tokio::time::timeout(std::time::Duration::from_secs(10), join(&other, "x".into()))
            .await
            .expect("a group in another lane joins while the hot group waits")
            .unwrap()
            .unwrap();
    assert_eq!(elsewhere.member_count, 1);
    assert_eq!(batcher.waiting(), 98, "the hot group's joins still wait");

    holder.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().member_count, 1);
    let mut counts = Vec::new();
    for task in rest {
        counts.push(task.await.unwrap().unwrap().member_count);
    }
    counts.sort_unstable();
    assert_eq!(counts, (2..=99).collect::<Vec<_>>());
    let transactions = member_transactions(&pool, "hot").await;
    assert_eq!(
        transactions, 2,
        "the first join alone, then the 98 that waited"
    );
}

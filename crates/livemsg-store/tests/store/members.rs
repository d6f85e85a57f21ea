//! Pages of the join-ordered user list, under churn.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn pages_follow_join_order_both_ways_and_end_with_token_zero(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g1").await;
    let users: Vec<String> = (0..25).map(|i| format!("user{i:02}")).collect();
    f.seed(&g, users.clone()).await;

    let first = f.page(&g, SortType::Ascending, 0, 10).await.unwrap();
    assert_eq!(first.users.len(), 10);
    assert_ne!(first.next_page_token(), 0);
    assert_eq!(f.traverse(&g, SortType::Ascending).await, users);
    let mut reversed = users.clone();
    reversed.reverse();
    assert_eq!(f.traverse(&g, SortType::Descending).await, reversed);

    // A page that ends exactly at the last user says there is no more.
    let all = f.page(&g, SortType::Ascending, 0, 25).await.unwrap();
    assert_eq!(all.users.len(), 25);
    assert_eq!(all.next_page_token(), 0);

    // An empty group lists nothing.
    let empty = f.group("g2").await;
    let page = f.page(&empty, SortType::Descending, 0, 10).await.unwrap();
    assert!(page.users.is_empty());
    assert_eq!(page.next_page_token(), 0);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn pagination_under_churn_returns_every_steady_member_exactly_once(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("busy").await;
    // Steady members stay throughout; transient ones come and go between (and during) pages.
    let mut seed = Vec::new();
    for i in 0..150 {
        seed.push(format!("steady{i}"));
        seed.push(format!("temp{i}"));
    }
    f.seed(&g, seed).await;
    let steady: HashSet<String> = (0..150).map(|i| format!("steady{i}")).collect();

    for sort in [SortType::Ascending, SortType::Descending] {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let churn = {
            let store = f.store.clone();
            let (app, group) = (f.app_id.clone(), g.clone());
            tokio::spawn(async move {
                let mut round = 0u32;
                loop {
                    if stop_rx.try_recv().is_ok() {
                        return round;
                    }
                    let i = round % 150;
                    let ops = vec![
                        MembershipOp::Leave {
                            user_id: uid(format!("temp{i}")),
                        },
                        join(format!("new{round}")),
                        join(format!("temp{i}")),
                    ];
                    store.apply_to_group(&app, &group, &ops).await.unwrap();
                    round += 1;
                }
            })
        };
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut token = 0;
        loop {
            let page = f.page(&g, sort, token, 10).await.unwrap();
            for (user, _) in &page.users {
                *seen.entry(user.clone()).or_default() += 1;
            }
            token = page.next_page_token();
            if token == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        stop_tx.send(()).unwrap();
        let rounds = churn.await.unwrap();
        assert!(rounds > 0, "the churn ran during the traversal");
        for user in &steady {
            assert_eq!(seen.get(user), Some(&1), "{user} in {sort:?}");
        }
        // A transient member may show up twice (it left and rejoined at a new position);
        // only members present throughout are promised exactly one appearance.
    }
}

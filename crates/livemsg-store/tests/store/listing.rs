//! Listing apps and groups: keyset pages that visit every item once under concurrent change,
//! and page numbers with a total read from counters.

use livemsg_domain::{GroupStatus, NumberedPage};
use livemsg_store::GROUPS_PAGE;

use crate::helpers::*;

/// Inserts `n` groups `{prefix}{i}` straight into the table (with the counters the store keeps),
/// every `deleted_every`-th one deleted.
async fn bulk_groups(f: &Fixture, prefix: &str, n: i64, deleted_every: i64) {
    sqlx::query(
        "WITH made AS (
             INSERT INTO groups (app_id, group_id, deleted, deleted_at)
             SELECT $1, $2 || i, i % $4 = 0, CASE WHEN i % $4 = 0 THEN now() END
             FROM generate_series(1, $3) i
             RETURNING deleted
         )
         UPDATE apps SET
             live_groups = live_groups + (SELECT count(*) FROM made WHERE NOT deleted),
             deleted_groups = deleted_groups + (SELECT count(*) FROM made WHERE deleted)
         WHERE app_id = $1",
    )
    .bind(f.app_id.as_str())
    .bind(prefix)
    .bind(n)
    .bind(deleted_every)
    .execute(f.store.pool())
    .await
    .unwrap();
}

/// Every group id of a listing, following cursors from the first page to the last; `between`
/// runs after each page.
async fn traverse_groups<F, Fut>(
    f: &Fixture,
    sort: SortType,
    status: GroupStatus,
    mut between: F,
) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    let mut from = None;
    loop {
        let page = f
            .store
            .list_groups(&f.scope(), sort, status, from)
            .await
            .unwrap();
        assert!(page.groups.len() as i64 <= GROUPS_PAGE);
        seen.extend(page.groups.into_iter().map(|g| g.group_id));
        match page.next {
            Some(next) => from = Some(next),
            None => return seen,
        }
        between().await;
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn cursor_pages_list_groups_in_creation_order_by_status(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    bulk_groups(&f, "g", 250, 5).await;
    let all = traverse_groups(&f, SortType::Ascending, GroupStatus::All, || async {}).await;
    let expected: Vec<String> = (1..=250).map(|i| format!("g{i}")).collect();
    assert_eq!(all, expected);
    let newest_first =
        traverse_groups(&f, SortType::Descending, GroupStatus::All, || async {}).await;
    assert_eq!(
        newest_first,
        expected.iter().rev().cloned().collect::<Vec<_>>()
    );
    let live = traverse_groups(&f, SortType::Ascending, GroupStatus::Live, || async {}).await;
    assert_eq!(live.len(), 200);
    assert!(live.iter().all(|g| g[1..].parse::<i64>().unwrap() % 5 != 0));
    let deleted =
        traverse_groups(&f, SortType::Descending, GroupStatus::Deleted, || async {}).await;
    assert_eq!(deleted.first().map(String::as_str), Some("g250"));
    assert_eq!(deleted.len(), 50);

    // The items carry what the listings show.
    f.group("shown").await;
    let page = f
        .store
        .list_groups(&f.scope(), SortType::Descending, GroupStatus::All, None)
        .await
        .unwrap();
    let shown = &page.groups[0];
    assert_eq!(
        (
            shown.group_id.as_str(),
            shown.group_name.as_str(),
            shown.creator_id.as_str()
        ),
        ("shown", "name", "creator")
    );
    assert_eq!(shown.admin_list, ["admin1"]);
    assert!(!shown.deleted);

    // An app of another account lists nothing: it is not found.
    let stranger = scope_of(f.account_id + 1, &f.app_id, DataCenter::CnShanghai);
    assert!(matches!(
        f.store
            .list_groups(&stranger, SortType::Ascending, GroupStatus::All, None)
            .await,
        Err(StoreError::AppNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_traversal_sees_each_group_present_throughout_exactly_once_under_churn(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    bulk_groups(&f, "g", 1_000, i64::MAX).await;
    for sort in [SortType::Ascending, SortType::Descending] {
        for status in [GroupStatus::All, GroupStatus::Live] {
            // Between pages: two groups created, and one of the first thousand deleted.
            let mut round = 0;
            let tag = format!("{}{}", sort.as_i32(), status.as_i64());
            let seen = traverse_groups(&f, sort, status, || {
                round += 1;
                let (store, scope, tag) = (f.store.clone(), f.scope(), tag.clone());
                let victim =
                    GroupId::parse(&format!("g{}", 7 * round + 100 * status.as_i64())).unwrap();
                async move {
                    for k in 0..2 {
                        store
                            .create_group(&scope, new_group(&format!("new{tag}x{round}x{k}")))
                            .await
                            .unwrap();
                    }
                    store.delete_group(&scope, &victim, None).await.unwrap();
                }
            })
            .await;
            let unique: HashSet<&String> = seen.iter().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "no group twice ({sort:?}, {status:?})"
            );
            let deleted: HashSet<String> =
                sqlx::query_scalar("SELECT group_id FROM groups WHERE app_id = $1 AND deleted")
                    .bind(f.app_id.as_str())
                    .fetch_all(f.store.pool())
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
            for i in 1..=1_000 {
                let id = format!("g{i}");
                if status == GroupStatus::Live && deleted.contains(&id) {
                    continue; // not present throughout
                }
                assert!(unique.contains(&id), "{id} missed ({sort:?}, {status:?})");
            }
        }
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn numbered_pages_come_with_the_total_of_their_filter(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    bulk_groups(&f, "g", 95, 10).await; // 9 deleted, 86 live
    let page = |number: i64, size: i64, sort: SortType, status: GroupStatus| {
        let (store, scope) = (f.store.clone(), f.scope());
        async move {
            let page = NumberedPage::new(Some(number), Some(size)).unwrap();
            let listed = store
                .list_groups_by_page(&scope, sort, status, page)
                .await
                .unwrap();
            let ids: Vec<String> = listed.groups.into_iter().map(|g| g.group_id).collect();
            (listed.total, ids)
        }
    };
    let (total, ids) = page(1, 20, SortType::Ascending, GroupStatus::All).await;
    assert_eq!(total, 95);
    assert_eq!(ids, (1..=20).map(|i| format!("g{i}")).collect::<Vec<_>>());
    let (total, ids) = page(5, 20, SortType::Ascending, GroupStatus::All).await;
    assert_eq!((total, ids.len()), (95, 15));
    assert_eq!(ids.last().map(String::as_str), Some("g95"));
    let (total, ids) = page(2, 3, SortType::Descending, GroupStatus::Deleted).await;
    assert_eq!(
        (total, ids),
        (
            9,
            vec!["g60".to_owned(), "g50".to_owned(), "g40".to_owned()]
        )
    );
    let (total, ids) = page(1, 50, SortType::Descending, GroupStatus::Live).await;
    assert_eq!((total, ids.len()), (86, 50));
    assert_eq!(ids[0], "g95");
    // Past the end: no groups, the real total.
    let (total, ids) = page(10_000, 50, SortType::Ascending, GroupStatus::All).await;
    assert_eq!((total, ids.len()), (95, 0));
    // The totals follow deletes and recoveries.
    let g1 = GroupId::parse("g1").unwrap();
    f.store.delete_group(&f.scope(), &g1, None).await.unwrap();
    assert_eq!(
        page(1, 1, SortType::Ascending, GroupStatus::Deleted).await,
        (10, vec!["g1".to_owned()])
    );
    assert_eq!(
        page(1, 1, SortType::Ascending, GroupStatus::Live).await.0,
        85
    );
    f.store.recover_group(&f.scope(), &g1).await.unwrap();
    assert_eq!(
        page(1, 1, SortType::Ascending, GroupStatus::Live).await.0,
        86
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn apps_are_listed_per_data_center_in_creation_order(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let mut shanghai = vec![f.app_id.to_string()];
    for _ in 0..59 {
        let app = f
            .store
            .create_app(new_app(f.account_id, DataCenter::CnShanghai))
            .await
            .unwrap();
        shanghai.push(app.app_id);
    }
    let singapore = f
        .store
        .create_app(new_app(f.account_id, DataCenter::ApSoutheast1))
        .await
        .unwrap();
    let list = |sort: SortType, from: Option<i64>| {
        f.store.list_apps(f.account_id, "cn-shanghai", sort, from)
    };
    let first = list(SortType::Ascending, None).await.unwrap();
    assert_eq!(first.apps.len(), 50);
    let second = list(SortType::Ascending, first.next).await.unwrap();
    assert_eq!(second.next, None);
    let ids: Vec<String> = first
        .apps
        .iter()
        .chain(&second.apps)
        .map(|a| a.app_id.clone())
        .collect();
    assert_eq!(ids, shanghai);
    assert!(
        !first.apps[0].app_key.is_empty(),
        "the AppKey is listed, opened"
    );
    let newest = list(SortType::Descending, None).await.unwrap();
    assert_eq!(newest.apps[0].app_id, *shanghai.last().unwrap());
    let other = f
        .store
        .list_apps(f.account_id, "ap-southeast-1", SortType::Ascending, None)
        .await
        .unwrap();
    assert_eq!(other.apps.len(), 1);
    assert_eq!(other.apps[0].app_id, singapore.app_id);
    let stranger = f
        .store
        .list_apps(f.account_id + 1, "cn-shanghai", SortType::Ascending, None)
        .await
        .unwrap();
    assert!(stranger.apps.is_empty() && stranger.next.is_none());
}

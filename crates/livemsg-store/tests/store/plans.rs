//! The query plans of the group listings: a page's cost does not depend on how many groups
//! there are (`EXPLAIN ANALYZE` on a table shared by many apps).

use livemsg_domain::GroupStatus;
use livemsg_store::{groups_by_page_sql, list_groups_sql, GROUPS_PAGE};
use serde_json::Value;

use crate::helpers::*;

/// The plan tree of an `EXPLAIN (ANALYZE, FORMAT JSON)` of `sql` with `binds`.
async fn explain(pool: &PgPool, sql: &str, binds: Binds<'_>) -> Value {
    let text = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
    let mut query = sqlx::query_scalar::<_, Value>(&text);
    for bind in binds {
        query = match bind {
            Bind::Text(t) => query.bind(*t),
            Bind::Int(i) => query.bind(*i),
        };
    }
    let plan = query.fetch_one(pool).await.unwrap();
    plan[0]["Plan"].clone()
}

enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}
type Binds<'a> = &'a [Bind<'a>];

/// Every node of a plan tree.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut all = vec![plan];
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            all.extend(nodes(child));
        }
    }
    all
}

/// The scans of `table` in a plan: (node type, index name, rows returned, rows filtered out).
fn scans<'a>(plan: &'a Value, table: &str) -> Vec<(&'a str, &'a str, i64, i64)> {
    nodes(plan)
        .into_iter()
        .filter(|n| n["Relation Name"] == table)
        .map(|n| {
            (
                n["Node Type"].as_str().unwrap(),
                n["Index Name"].as_str().unwrap_or(""),
                n["Actual Rows"].as_i64().unwrap() * n["Actual Loops"].as_i64().unwrap(),
                n["Rows Removed by Filter"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_page_reads_one_page_of_the_index_whatever_the_number_of_groups(pool: PgPool) {
    const OTHER_APPS: i64 = 29;
    let f = fixture(pool.clone(), THRESHOLD).await;
    // The app's groups interleaved with other apps' in creation order, as on a shared table.
    let mut apps = vec![f.app_id.to_string()];
    for _ in 0..OTHER_APPS {
        let other = f
            .store
            .create_app(new_app(f.account_id, DataCenter::CnShanghai))
            .await
            .unwrap();
        apps.push(other.app_id);
    }
    sqlx::query(
        "INSERT INTO groups (app_id, group_id, deleted, deleted_at)
         SELECT a.app_id, 'g' || i, i % 3 = 0, CASE WHEN i % 3 = 0 THEN now() END
         FROM generate_series(1, 4000) i CROSS JOIN unnest($1::text[]) WITH ORDINALITY a(app_id, n)
         ORDER BY i, n",
    )
    .bind(&apps)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE apps a SET
             live_groups = (SELECT count(*) FROM groups g WHERE g.app_id = a.app_id AND NOT deleted),
             deleted_groups = (SELECT count(*) FROM groups g WHERE g.app_id = a.app_id AND deleted)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("VACUUM ANALYZE groups")
        .execute(&pool)
        .await
        .unwrap();
    let middle: i64 =
        sqlx::query_scalar("SELECT group_pk FROM groups WHERE app_id = $1 AND group_id = 'g2000'")
            .bind(f.app_id.as_str())
            .fetch_one(&pool)
            .await
            .unwrap();
    let scope = f.scope();
    for sort in [SortType::Ascending, SortType::Descending] {
        for status in [GroupStatus::All, GroupStatus::Live, GroupStatus::Deleted] {
            let plan = explain(
                &pool,
                &list_groups_sql(sort, status),
                &[
                    Bind::Text(scope.app.as_str()),
                    Bind::Int(scope.account.get()),
                    Bind::Text(scope.data_center.as_str()),
                    Bind::Int(middle),
                    Bind::Int(GROUPS_PAGE + 1),
                ],
            )
            .await;
            let groups = scans(&plan, "groups");
            assert_eq!(groups.len(), 1, "{plan:#}");
            let (node, index, rows, removed) = groups[0];
            // A seek to the cursor on an index in group_pk order (the app's own, or the primary
            // key when the planner finds the app's share of the table large), then one page
            // and one row more of the app's groups.
            assert!(node.starts_with("Index"), "{node} ({sort:?}, {status:?})");
            assert!(
                ["groups_list_idx", "groups_status_list_idx", "groups_pkey"].contains(&index),
                "{index}"
            );
            assert_eq!(rows, GROUPS_PAGE + 1, "{sort:?}, {status:?}");
            // Entries of other apps (or of another status) skipped on the way: at most the
            // interleaving, whatever the size of the table.
            let interleaving = (OTHER_APPS + 1) * if status == GroupStatus::All { 1 } else { 3 };
            assert!(
                removed <= interleaving * (GROUPS_PAGE + 1),
                "{removed} rows read in vain ({sort:?}, {status:?}): {plan:#}"
            );
            assert!(
                nodes(&plan).iter().all(|n| n["Node Type"] != "Sort"),
                "{plan:#}"
            );
        }
    }
    // A numbered page skips its predecessors in the index alone, and reads only its own rows
    // from the table.
    for status in [GroupStatus::All, GroupStatus::Live] {
        let plan = explain(
            &pool,
            &groups_by_page_sql(SortType::Descending, status),
            &[
                Bind::Text(scope.app.as_str()),
                Bind::Int(30 * 50),
                Bind::Int(50),
            ],
        )
        .await;
        let groups = scans(&plan, "groups");
        let skipping = groups
            .iter()
            .find(|s| s.0 == "Index Only Scan")
            .unwrap_or_else(|| panic!("{plan:#}"));
        assert_eq!(skipping.2, 31 * 50, "{status:?}");
        assert!(groups.iter().all(|s| s.0 != "Seq Scan"), "{plan:#}");
        let heap_fetches = nodes(&plan)
            .iter()
            .filter(|n| n["Node Type"] == "Index Only Scan")
            .map(|n| n["Heap Fetches"].as_i64().unwrap())
            .sum::<i64>();
        assert_eq!(heap_fetches, 0, "{plan:#}");
        assert!(
            nodes(&plan).iter().all(|n| n["Node Type"] != "Sort"),
            "{plan:#}"
        );
    }
}

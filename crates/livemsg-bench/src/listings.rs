//! Scenario 7: the group listings of one app at 1,000 and at 100,000 groups, full stack.
//!
//! `ListLiveMessageGroupByPage` page 1 (its `TotalCount` is read from the app's counters) and
//! `ListLiveMessageGroups` from random cursors (keyset pages) should cost the same at both
//! sizes; a deep numbered page (page 1,000 of 50, skipping 49,950 index entries) shows what a
//! page number costs.

use rand::Rng;

use crate::{load, signed_call, Bench, SeededIds};

/// Concurrency of the listing scenarios.
const CONCURRENCY: usize = 8;

impl Bench {
    pub(crate) async fn listings(&mut self) -> anyhow::Result<()> {
        let ids = self.ids();
        let app = signed_call(
            &self.http,
            &self.endpoint,
            &ids,
            "CreateLiveMessageApp",
            &[("AppName", "listings")],
        )
        .await?;
        let app_id = app["AppId"].as_str().unwrap_or_default().to_owned();
        let ids = SeededIds { app_id, ..ids };
        let mut small = Vec::new();
        for (size, label) in [(1_000, "10^3"), (100_000, "10^5")] {
            self.grow_app_groups(&ids.app_id, size).await?;
            let first = self.push(
                format!("7. groups by page, page 1 of 20, at {label} groups, full stack"),
                CONCURRENCY,
                self.by_page(&ids, 1, size).await,
            );
            let tokens = self.cursors(&ids).await?;
            let cursor = self.push(
                format!("7. groups by cursor, random page of 100, at {label} groups, full stack"),
                CONCURRENCY,
                self.by_cursor(&ids, tokens).await,
            );
            if small.is_empty() {
                small = vec![first, cursor];
            } else {
                for (line, base) in [first, cursor].into_iter().zip(small.iter().copied()) {
                    let (p50, base_p50) = (
                        self.lines[line].stats.ms(0.5),
                        self.lines[base].stats.ms(0.5),
                    );
                    self.lines[line].versus = Some((
                        p50 / base_p50,
                        format!("p50 at 10^3: {base_p50:.2} ms (goal: <= 150%)"),
                    ));
                }
                let deep = self.by_page(&ids, 1_000, size).await;
                self.push(
                    format!("7. groups by page, page 1,000 of 50, at {label} groups, full stack"),
                    CONCURRENCY,
                    deep,
                );
            }
        }
        Ok(())
    }

    /// Adds groups to `app_id` until it has `groups`, with the counters the store keeps.
    async fn grow_app_groups(&self, app_id: &str, groups: i64) -> anyhow::Result<()> {
        sqlx::query(
            "WITH made AS (
                 INSERT INTO groups (app_id, group_id, group_info)
                 SELECT $1, 'g' || i, 'info of group ' || i
                 FROM generate_series((SELECT live_groups FROM apps WHERE app_id = $1) + 1, $2) i
                 RETURNING 1
             )
             UPDATE apps SET live_groups = live_groups + (SELECT count(*) FROM made)
             WHERE app_id = $1",
        )
        .bind(app_id)
        .bind(groups)
        .execute(&self.seeded.pool)
        .await?;
        sqlx::query("VACUUM ANALYZE groups")
            .execute(&self.seeded.pool)
            .await?;
        Ok(())
    }

    /// Every cursor of the app's ascending listing (one traversal).
    async fn cursors(&self, ids: &SeededIds) -> anyhow::Result<Vec<String>> {
        let mut tokens = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("AppId", ids.app_id.as_str()), ("SortType", "1")];
            if let Some(token) = &token {
                query.push(("NextPageToken", token));
            }
            let page = signed_call(
                &self.http,
                &self.endpoint,
                ids,
                "ListLiveMessageGroups",
                &query,
            )
            .await?;
            match page["NextpageToken"].as_str() {
                Some(next) => {
                    tokens.push(next.to_owned());
                    token = Some(next.to_owned());
                }
                None => return Ok(tokens),
            }
        }
    }

    async fn by_page(&self, ids: &SeededIds, page: i64, total: i64) -> load::Stats {
        let (http, endpoint, ids) = (self.http.clone(), self.endpoint.clone(), ids.clone());
        let size = if page == 1 { "20" } else { "50" };
        load::run(CONCURRENCY, self.warmup(), self.seconds(), move |_, _| {
            let (http, endpoint, ids) = (http.clone(), endpoint.clone(), ids.clone());
            async move {
                let page = page.to_string();
                let body = signed_call(
                    &http,
                    &endpoint,
                    &ids,
                    "ListLiveMessageGroupByPage",
                    &[
                        ("AppId", &ids.app_id),
                        ("SortType", "2"),
                        ("PageNumber", &page),
                        ("PageSize", size),
                    ],
                )
                .await?;
                anyhow::ensure!(
                    body["TotalCount"] == total,
                    "TotalCount {}",
                    body["TotalCount"]
                );
                anyhow::ensure!(
                    body["GroupList"].as_array().is_some_and(|l| !l.is_empty()),
                    "an empty page"
                );
                Ok(())
            }
        })
        .await
    }

    async fn by_cursor(&self, ids: &SeededIds, tokens: Vec<String>) -> load::Stats {
        let (http, endpoint, ids) = (self.http.clone(), self.endpoint.clone(), ids.clone());
        let tokens = std::sync::Arc::new(tokens);
        load::run(CONCURRENCY, self.warmup(), self.seconds(), move |_, _| {
            let (http, endpoint, ids, tokens) =
                (http.clone(), endpoint.clone(), ids.clone(), tokens.clone());
            async move {
                let token = &tokens[rand::rng().random_range(0..tokens.len())];
                let body = signed_call(
                    &http,
                    &endpoint,
                    &ids,
                    "ListLiveMessageGroups",
                    &[
                        ("AppId", &ids.app_id),
                        ("SortType", "1"),
                        ("NextPageToken", token),
                    ],
                )
                .await?;
                anyhow::ensure!(
                    body["GroupList"].as_array().is_some_and(|l| !l.is_empty()),
                    "an empty page"
                );
                Ok(())
            }
        })
        .await
    }
}

//! Scenarios 1, 2 and 5: pages of a group's members (`ListLiveMessageGroupUsers`) through the
//! signed HTTP stack, through gRPC only, and the store's own statement straight to Postgres.

use super::*;

/// A signed `ListLiveMessageGroupUsers`, as the official SDK sends it (ACS3-HMAC-SHA256).
pub(crate) async fn signed_list(
    http: &reqwest::Client,
    endpoint: &str,
    seeded: &SeededIds,
    group: &str,
    sort: i32,
    token: i64,
) -> anyhow::Result<()> {
    let (sort, token) = (sort.to_string(), token.to_string());
    let mut query: Vec<(&str, &str)> = vec![
        ("AppId", &seeded.app_id),
        ("DataCenter", "cn-shanghai"),
        ("GroupId", group),
        ("PageSize", "50"),
        ("SortType", &sort),
    ];
    if token != "0" {
        query.push(("NextPageToken", &token));
    }
    signed_call(http, endpoint, seeded, "ListLiveMessageGroupUsers", &query).await?;
    Ok(())
}

/// The gRPC request for one page of 50.
pub(crate) fn list_request(
    ids: &SeededIds,
    group: String,
    sort: i32,
    token: i64,
) -> ListGroupUsersRequest {
    ListGroupUsersRequest {
        app: Some(AppRef {
            caller: Some(Caller {
                account_id: ids.account_id,
                proof: ids.caller_proof.clone(),
            }),
            app_id: ids.app_id.clone(),
            data_center: "cn-shanghai".into(),
        }),
        group_id: group,
        page_size: 50,
        sort_type: sort.into(),
        page_token: token,
    }
}

pub(crate) fn random_page(groups: usize) -> (String, i32, i64) {
    let mut rng = rand::rng();
    let group = format!("list{}", rng.random_range(1..=groups));
    let sort = rng.random_range(1..=2);
    let token = rng.random_range(1..=LIST_MEMBERS);
    (group, sort, token)
}

impl Bench {
    pub(crate) async fn full_stack_list(
        &self,
        groups: usize,
        concurrency: usize,
        warmup: Duration,
        seconds: Duration,
    ) -> Stats {
        let (http, endpoint, ids) = (self.http.clone(), self.endpoint.clone(), self.ids());
        load::run(concurrency, warmup, seconds, move |_, _| {
            let (http, endpoint, ids) = (http.clone(), endpoint.clone(), ids.clone());
            async move {
                let (group, sort, token) = random_page(groups);
                signed_list(&http, &endpoint, &ids, &group, sort, token).await
            }
        })
        .await
    }

    pub(crate) async fn grpc_list(&self, groups: usize, concurrency: usize) -> Stats {
        let (channel, ids) = (self.grpc.clone(), self.ids());
        load::run(concurrency, self.warmup(), self.seconds(), move |_, _| {
            let (mut api, ids) = (MemberServiceClient::new(channel.clone()), ids.clone());
            async move {
                let (group, sort, token) = random_page(groups);
                let page = api
                    .list_group_users(list_request(&ids, group, sort, token))
                    .await?
                    .into_inner();
                anyhow::ensure!(!page.users.is_empty(), "an empty page");
                Ok(())
            }
        })
        .await
    }

    pub(crate) async fn sql_list(
        &self,
        groups: usize,
        concurrency: usize,
    ) -> anyhow::Result<Stats> {
        let pool = livemsg_store::pool_options()
            .max_connections(concurrency as u32)
            .connect_with(self.seeded.pool.connect_options().as_ref().clone())
            .await?;
        let ids = self.ids();
        let stats = load::run(concurrency, self.warmup(), self.seconds(), move |_, _| {
            let (pool, ids) = (pool.clone(), ids.clone());
            async move {
                let (group, sort, token) = random_page(groups);
                let sql = if sort == 1 {
                    livemsg_store::LIST_ASCENDING
                } else {
                    livemsg_store::LIST_DESCENDING
                };
                let rows = sqlx::query(sql)
                    .bind(&ids.app_id)
                    .bind(ids.account_id)
                    .bind("cn-shanghai")
                    .bind(&group)
                    .bind(token)
                    .bind(51_i64)
                    .fetch_all(&pool)
                    .await?;
                anyhow::ensure!(!rows.is_empty(), "an empty page");
                Ok(())
            }
        })
        .await;
        Ok(stats)
    }

    /// Scenario 5: list latency at one table size, full stack, low concurrency.
    pub(crate) async fn scale_step(&mut self, rows_label: &str) -> anyhow::Result<usize> {
        let rows = self.seeded.member_rows().await?;
        eprintln!("scale: {rows} membership rows");
        let stats = self
            .full_stack_list(self.seeded.list_groups, 4, self.warmup(), self.seconds())
            .await;
        Ok(self.push(
            format!("5. list at {rows_label} rows ({rows}), full stack"),
            4,
            stats,
        ))
    }
}

//! Scenario 3: join/leave churn over 10,000 groups and joins into one hot group, through gRPC,
//! against single-row `INSERT`/`DELETE` into a copy of the membership table.

use super::*;

/// The group (1-based) of churn operation `i` of `worker`: a join and its leave (i and i + 1)
/// name the same group; successive pairs spread over all `groups`.
pub(crate) fn churn_group(worker: usize, i: u64, groups: usize) -> usize {
    (worker * 7_919 + (i as usize / 2) * 104_729) % groups + 1
}

impl Bench {
    pub(crate) async fn churn(&mut self) -> anyhow::Result<()> {
        const GROUPS: usize = 10_000;
        const CONCURRENCY: usize = 64;
        self.seeded.empty_groups("churn", GROUPS).await?;
        self.seeded.empty_groups("hot", 1).await?;
        // Over many groups: each worker alternates joining a new user to a random group and
        // removing the user it added last.
        let (channel, app_id) = (self.grpc.clone(), self.seeded.app_id.clone());
        let perf = self.profile("3a")?;
        let stats = load::run(
            CONCURRENCY,
            self.warmup(),
            self.seconds(),
            move |worker, i| {
                let (mut membership, app_id) = (
                    MembershipServiceClient::new(channel.clone()),
                    app_id.clone(),
                );
                async move {
                    let group = format!("churn{}", churn_group(worker, i, GROUPS));
                    let user_id = format!("w{worker}n{}", i / 2);
                    if i % 2 == 0 {
                        membership
                            .join_group(JoinGroupRequest {
                                app_id,
                                group_id: group,
                                user_id,
                                user_info: "info".into(),
                            })
                            .await?;
                    } else {
                        membership
                            .leave_group(LeaveGroupRequest {
                                app_id,
                                group_id: group,
                                user_id,
                            })
                            .await?;
                    }
                    Ok(())
                }
            },
        )
        .await;
        Perf::finish_opt(perf)?;
        let many = self.push(
            "3a. join/leave over 10,000 groups, gRPC",
            CONCURRENCY,
            stats,
        );

        // One hot group, across the super-group threshold.
        let (channel, app_id) = (self.grpc.clone(), self.seeded.app_id.clone());
        let perf = self.profile("3b")?;
        let stats = load::run(
            CONCURRENCY,
            self.warmup(),
            self.seconds(),
            move |worker, i| {
                let (mut membership, app_id) = (
                    MembershipServiceClient::new(channel.clone()),
                    app_id.clone(),
                );
                async move {
                    membership
                        .join_group(JoinGroupRequest {
                            app_id,
                            group_id: "hot1".into(),
                            user_id: format!("w{worker}n{i}"),
                            user_info: "info".into(),
                        })
                        .await?;
                    Ok(())
                }
            },
        )
        .await;
        Perf::finish_opt(perf)?;
        let hot = self.push(
            "3b. joins into one hot group (normal -> super), gRPC",
            CONCURRENCY,
            stats,
        );
        let count: i64 =
            sqlx::query_scalar("SELECT member_count FROM groups WHERE group_id = 'hot1'")
                .fetch_one(&self.seeded.pool)
                .await?;
        self.notes.push(format!(
            "3b: the hot group ended with {count} members (super past 2,000)."
        ));

        // The floor: single-row INSERT and DELETE, autocommit, same table shape and indexes,
        // same durability (synchronous_commit on).
        sqlx::query("CREATE TABLE bench_members (LIKE group_members INCLUDING ALL)")
            .execute(&self.seeded.pool)
            .await?;
        let pool = livemsg_store::pool_options()
            .max_connections(CONCURRENCY as u32)
            .connect_with(self.seeded.pool.connect_options().as_ref().clone())
            .await?;
        let position = Arc::new(AtomicI64::new(1));
        let (p, pos) = (pool.clone(), position.clone());
        let stats = load::run(CONCURRENCY, self.warmup(), self.seconds(), move |worker, i| {
            let (pool, position) = (p.clone(), pos.clone());
            async move {
                let group = churn_group(worker, i, GROUPS) as i64;
                let user_id = format!("w{worker}n{}", i / 2);
                if i % 2 == 0 {
                    sqlx::query("INSERT INTO bench_members (group_pk, user_id, position, user_info) VALUES ($1, $2, $3, 'info')")
                        .bind(group)
                        .bind(&user_id)
                        .bind(position.fetch_add(1, Ordering::Relaxed))
                        .execute(&pool)
                        .await?;
                } else {
                    sqlx::query("DELETE FROM bench_members WHERE group_pk = $1 AND user_id = $2")
                        .bind(group)
                        .bind(&user_id)
                        .execute(&pool)
                        .await?;
                }
                Ok(())
            }
        })
        .await;
        let floor = self.push(
            "3. baseline: single-row INSERT/DELETE, Postgres",
            CONCURRENCY,
            stats,
        );
        let (p, pos) = (pool.clone(), position.clone());
        let stats = load::run(CONCURRENCY, self.warmup(), self.seconds(), move |worker, i| {
            let (pool, position) = (p.clone(), pos.clone());
            async move {
                sqlx::query("INSERT INTO bench_members (group_pk, user_id, position, user_info) VALUES (-1, $1, $2, 'info')")
                    .bind(format!("hot-w{worker}n{i}"))
                    .bind(position.fetch_add(1, Ordering::Relaxed))
                    .execute(&pool)
                    .await?;
                Ok(())
            }
        })
        .await;
        let hot_floor = self.push(
            "3. baseline: single-row INSERT into one group, Postgres",
            CONCURRENCY,
            stats,
        );
        self.compare(many, floor, "goal >= 100%");
        self.compare(hot, hot_floor, "goal >= 100%");
        pool.close().await;
        Ok(())
    }
}

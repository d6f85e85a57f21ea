//! The system under test: a fresh database, seeded, and the release binaries of the service and
//! the gateway as separate processes, configured as a deployment configures them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use livemsg_domain::{AppName, DataCenter};
use livemsg_store::{Keyring, NewApp, Store};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;

/// The benchmark's database and identities.
#[derive(Debug)]
pub(crate) struct Seeded {
    pub admin_url: String,
    pub database: String,
    pub pool: PgPool,
    pub account_id: i64,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub app_id: String,
    /// The app's key, from which a backend computes its users' login tokens.
    pub app_key: String,
    pub keyring_key: String,
    /// The root of every Redis key of this run (`bench:<uuid>`): the gateway's nonces and
    /// windows, the edge's sessions, the limiter scenario's windows. Dropped with the database.
    pub redis_prefix: String,
    /// Groups seeded for listing, `list1` ..= `listN`, each with `LIST_MEMBERS` members.
    pub list_groups: usize,
}

/// Members of every listed group.
pub(crate) const LIST_MEMBERS: i64 = 2_000;

/// Creates and migrates a fresh database and the benchmark's account, key and app.
pub(crate) async fn create(database_url: &str) -> anyhow::Result<Seeded> {
    let options: PgConnectOptions = database_url.parse().context("DATABASE_URL")?;
    let database = format!(
        "livemsg_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut admin = options.clone().database("postgres").connect().await?;
    sqlx::query(&format!("CREATE DATABASE \"{database}\""))
        .execute(&mut admin)
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(80)
        .connect_with(options.clone().database(&database))
        .await?;
    livemsg_store::MIGRATOR.run(&pool).await?;
    let keyring_key = Keyring::new_key_base64();
    let keyring = Keyring::new("bench", [("bench", keyring_key.as_str())])?;
    let store = Store::new(
        pool.clone(),
        livemsg_domain::DEFAULT_SUPER_GROUP_THRESHOLD,
        keyring,
    );
    let account = store.create_account("bench").await?;
    let key = store.create_access_key(account.account_id, None).await?;
    let app = store
        .create_app(NewApp {
            account: livemsg_domain::AccountId::new(account.account_id)
                .context("the new account's id")?,
            app_name: Some(AppName::parse("bench")?),
            data_center: DataCenter::CnShanghai,
            audit_type: 0,
            audit_url: String::new(),
            event_callback_url: String::new(),
            msg_life_cycle: 0,
        })
        .await?;
    Ok(Seeded {
        admin_url: database_url.to_owned(),
        database,
        pool,
        account_id: account.account_id,
        access_key_id: key.access_key_id,
        access_key_secret: key.secret,
        app_id: app.app_id,
        app_key: app.app_key,
        keyring_key,
        redis_prefix: format!("bench:{}", uuid::Uuid::new_v4().simple()),
        list_groups: 0,
    })
}

impl Seeded {
    /// Membership rows in the table.
    pub(crate) async fn member_rows(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM group_members")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Adds listed groups until there are `groups`, each with `LIST_MEMBERS` members in join
    /// order, as joins would have left them (positions 1..=2000, counts, next positions).
    ///
    /// Bulk loading: the member indexes are dropped and rebuilt around the insert and foreign
    /// key triggers are off for it (the rows are consistent by construction); the table and
    /// its indexes end exactly as the migrations define them, vacuumed and analyzed.
    pub(crate) async fn grow_list_groups(&mut self, groups: usize) -> anyhow::Result<()> {
        if groups <= self.list_groups {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        sqlx::query(
            "INSERT INTO groups (app_id, group_id, member_count, next_position, total_joins)
             SELECT $1, 'list' || i, $4, $4 + 1, $4 FROM generate_series($2::int, $3::int) i",
        )
        .bind(&self.app_id)
        .bind(self.list_groups as i32 + 1)
        .bind(groups as i32)
        .bind(LIST_MEMBERS)
        .execute(&mut *conn)
        .await?;
        // Remember the definitions, drop, load, rebuild.
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname, indexdef FROM pg_indexes
             WHERE tablename = 'group_members' AND indexname <> 'group_members_pkey'",
        )
        .fetch_all(&mut *conn)
        .await?;
        for (name, _) in &indexes {
            sqlx::query(&format!("DROP INDEX {name}"))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("ALTER TABLE group_members DROP CONSTRAINT group_members_pkey")
            .execute(&mut *conn)
            .await?;
        sqlx::query("SET session_replication_role = replica")
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO group_members (group_pk, user_id, position, user_info)
             SELECT g.group_pk, 'user' || i, i, 'info-' || i
             FROM groups g CROSS JOIN generate_series(1, $3::bigint) i
             WHERE g.app_id = $1 AND g.group_id LIKE 'list%'
               AND substr(g.group_id, 5)::int > $2",
        )
        .bind(&self.app_id)
        .bind(self.list_groups as i32)
        .bind(LIST_MEMBERS)
        .execute(&mut *conn)
        .await?;
        sqlx::query("SET session_replication_role = DEFAULT")
            .execute(&mut *conn)
            .await?;
        sqlx::query("SET maintenance_work_mem = '1GB'")
            .execute(&mut *conn)
            .await?;
        sqlx::query("ALTER TABLE group_members ADD PRIMARY KEY (group_pk, user_id)")
            .execute(&mut *conn)
            .await?;
        for (_, definition) in &indexes {
            sqlx::query(definition).execute(&mut *conn).await?;
        }
        sqlx::query("VACUUM ANALYZE group_members")
            .execute(&mut *conn)
            .await?;
        sqlx::query("VACUUM ANALYZE groups")
            .execute(&mut *conn)
            .await?;
        self.list_groups = groups;
        Ok(())
    }

    /// Creates `count` empty groups named `{prefix}{i}`.
    pub(crate) async fn empty_groups(&self, prefix: &str, count: usize) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO groups (app_id, group_id) SELECT $1, $2 || i FROM generate_series(1, $3) i",
        )
        .bind(&self.app_id)
        .bind(prefix)
        .bind(count as i32)
        .execute(&self.pool)
        .await?;
        // As the seeding does: plans are made with the table's real size, not the size it had
        // before (autovacuum would get there too, but not within a scenario's seconds).
        sqlx::query("ANALYZE groups").execute(&self.pool).await?;
        Ok(())
    }

    /// Drops the run's database and deletes the run's keys from the Redis at `redis_url`
    /// (nonces and windows would otherwise stay until they expire, hours later for some, and
    /// Redis's expiry cycle keeps sampling them).
    pub(crate) async fn drop(self, redis_url: &str) -> anyhow::Result<()> {
        self.pool.close().await;
        let options: PgConnectOptions = self.admin_url.parse()?;
        let mut admin = options.database("postgres").connect().await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.database
        ))
        .execute(&mut admin)
        .await?;
        forget_redis_keys(redis_url, &self.redis_prefix).await?;
        Ok(())
    }
}

/// Deletes every key under `prefix:` from the Redis at `redis_url`.
async fn forget_redis_keys(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let client = redis::Client::open(redis_url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = {
        let mut scan = connection.clone();
        let found =
            redis::AsyncCommands::scan_match::<_, String>(&mut scan, format!("{prefix}:*")).await?;
        found
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?
    };
    for chunk in keys.chunks(1_000) {
        redis::cmd("UNLINK")
            .arg(chunk)
            .query_async::<()>(&mut connection)
            .await?;
    }
    Ok(())
}

/// A running livemsg binary.
#[derive(Debug)]
pub(crate) struct Process {
    pub name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `name` from `bin_dir` with `env` over the repository's configuration.
    pub(crate) fn start(
        name: &'static str,
        bin_dir: &Path,
        env: &[(String, String)],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::start_program(name, &bin_dir.join(name), &[], env, log_dir)
    }

    /// Starts `program` with `args` and `env`, its stderr in `{log_dir}/{name}.log`.
    pub(crate) fn start_program(
        name: &'static str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = log_dir.join(format!("{name}.log"));
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {name}: {}", program.display()))?;
        Ok(Process { name, child, log })
    }

    /// The pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the JSON log line with `field` (an address) and returns its value.
    pub(crate) fn address(&mut self, field: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            for line in text.lines() {
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
                    if let Some(addr) = value.get(field).and_then(|v| v.as_str()) {
                        return Ok(addr.to_owned());
                    }
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited with {status}:\n{text}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("{} did not report {field}", self.name)
    }

    /// Resident memory (VmRSS) in MiB.
    pub(crate) fn rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    /// SIGTERM, then wait.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    /// A process the harness did not stop (it failed on the way) is killed, not left behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The environment both processes run with: production settings, local addresses, the
/// benchmark's database, Redis and secrets, then the caller's own `LIVEMSG__` variables.
pub(crate) fn environment(
    seeded: &Seeded,
    repo: &Path,
    redis_url: &str,
    token: &str,
    extra_config: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let options: PgConnectOptions = seeded.admin_url.parse()?;
    let pairs = [
        (
            "LIVEMSG_CONFIG_DIR",
            repo.join("config").display().to_string(),
        ),
        ("LIVEMSG_ENV", "production".to_owned()),
        ("LIVEMSG_EXTRA_CONFIG", extra_config.display().to_string()),
        ("LIVEMSG__LOG__FORMAT", "json".to_owned()),
        ("LIVEMSG__DATABASE__HOST", options.get_host().to_owned()),
        ("LIVEMSG__DATABASE__PORT", options.get_port().to_string()),
        (
            "LIVEMSG__DATABASE__USERNAME",
            options.get_username().to_owned(),
        ),
        ("LIVEMSG__DATABASE__DATABASE_NAME", seeded.database.clone()),
        ("LIVEMSG__SERVICE__LISTEN", "127.0.0.1:0".to_owned()),
        ("LIVEMSG__SERVICE__METRICS_LISTEN", "127.0.0.1:0".to_owned()),
        ("LIVEMSG__SERVICE__SHUTDOWN_DELAY_MS", "0".to_owned()),
        ("LIVEMSG__GATEWAY__LISTEN", "127.0.0.1:0".to_owned()),
        ("LIVEMSG__GATEWAY__METRICS_LISTEN", "127.0.0.1:0".to_owned()),
        ("LIVEMSG__GATEWAY__SHUTDOWN_DELAY_MS", "0".to_owned()),
        ("LIVEMSG__RATELIMIT__REDIS_URL", redis_url.to_owned()),
        (
            "LIVEMSG__RATELIMIT__KEY_PREFIX",
            format!("{}:rl", seeded.redis_prefix),
        ),
        (
            "LIVEMSG__GATEWAY__NONCE_KEY_PREFIX",
            format!("{}:nonce", seeded.redis_prefix),
        ),
        ("LIVEMSG__INTERNAL__GATEWAY_TOKEN", token.to_owned()),
        ("LIVEMSG__INTERNAL__TIER_TOKEN", token.to_owned()),
        ("LIVEMSG__SECRETS__ACTIVE_KEY", "bench".to_owned()),
        ("LIVEMSG__SECRETS__KEYS__BENCH", seeded.keyring_key.clone()),
    ];
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        // PATH and HOME, and any LIVEMSG__ setting of the caller's, which overrides the
        // benchmark's own (for experiments: LIVEMSG__LOG__FILTER=warn scripts/bench ...).
        .chain(
            std::env::vars()
                .filter(|(k, _)| k == "PATH" || k == "HOME" || k.starts_with("LIVEMSG__"))
                .collect::<Vec<_>>(),
        )
        .collect())
}

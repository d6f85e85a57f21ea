//! The limiters against a real Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`), a unique
//! key prefix per test. A test fails, never skips, when Redis is unreachable.

use std::sync::Arc;
use std::time::Duration;

use livemsg_ratelimit::redis::Verdict;
use livemsg_ratelimit::{
    Decision, InProcessLimiter, Key, Limit, Limiter, Mode, RateLimitSettings, RateLimiter,
    RedisLimiter,
};
use secrecy::SecretString;

fn redis_url() -> SecretString {
    SecretString::from(
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
    )
}

fn prefix() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
}

fn redis_limiter() -> RedisLimiter {
    RedisLimiter::new(&redis_url(), &prefix(), Duration::from_secs(2)).unwrap()
}

const ACCOUNT: i64 = 1_000_000_000_000_001;

fn key(action: &str) -> Key<'_> {
    Key {
        account_id: ACCOUNT,
        action,
    }
}

/// A limit whose window is long enough that timing cannot matter to the counts.
fn per_minute(max: u32) -> Limit {
    Limit {
        max,
        window: Duration::from_secs(60),
    }
}

// ---- the suite both limiters pass ----

async fn admits_exactly_the_limit_of_concurrent_calls<L: Limiter + Send + Sync + 'static>(
    limiters: Vec<Arc<L>>,
) {
    let mut tasks = Vec::new();
    for i in 0..400 {
        let limiter = limiters[i % limiters.len()].clone();
        tasks.push(tokio::spawn(async move {
            limiter
                .check(&key("ListLiveMessageGroupUsers"), per_minute(50))
                .await
                .unwrap()
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Decision::Allowed => admitted += 1,
            Decision::Limited { retry_after } => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
            }
        }
    }
    assert_eq!(admitted, 50);
}

async fn accounts_and_actions_have_budgets_of_their_own<L: Limiter>(limiter: L) {
    let limit = per_minute(3);
    let other_account = Key {
        account_id: ACCOUNT + 1,
        action: "ListLiveMessageGroupUsers",
    };
    for _ in 0..3 {
        assert!(limiter
            .check(&key("ListLiveMessageGroupUsers"), limit)
            .await
            .unwrap()
            .is_allowed());
    }
    assert!(!limiter
        .check(&key("ListLiveMessageGroupUsers"), limit)
        .await
        .unwrap()
        .is_allowed());
    assert!(limiter
        .check(&key("DescribeLiveMessageGroup"), limit)
        .await
        .unwrap()
        .is_allowed());
    assert!(limiter
        .check(&other_account, limit)
        .await
        .unwrap()
        .is_allowed());
}

async fn a_place_frees_when_the_oldest_call_leaves_the_window<L: Limiter>(limiter: L) {
    let limit = Limit {
        max: 2,
        window: Duration::from_millis(300),
    };
    let k = key("DescribeLiveMessageGroup");
    assert!(limiter.check(&k, limit).await.unwrap().is_allowed());
    assert!(limiter.check(&k, limit).await.unwrap().is_allowed());
    let Decision::Limited { retry_after } = limiter.check(&k, limit).await.unwrap() else {
        panic!("the third call in the window must be refused");
    };
    assert!(retry_after <= Duration::from_millis(300));
    // Compared with the limiter's clock (Redis's, for the Redis limiter): a margin for the two.
    tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
    assert!(limiter.check(&k, limit).await.unwrap().is_allowed());
}

#[tokio::test]
async fn redis_admits_exactly_the_limit_across_two_instances() {
    let prefix = prefix();
    let make =
        || Arc::new(RedisLimiter::new(&redis_url(), &prefix, Duration::from_secs(2)).unwrap());
    admits_exactly_the_limit_of_concurrent_calls(vec![make(), make()]).await;
}

#[tokio::test]
async fn in_process_admits_exactly_the_limit() {
    admits_exactly_the_limit_of_concurrent_calls(vec![Arc::new(InProcessLimiter::default())]).await;
}

#[tokio::test]
async fn redis_budgets_are_per_account_and_action() {
    accounts_and_actions_have_budgets_of_their_own(redis_limiter()).await;
}

#[tokio::test]
async fn in_process_budgets_are_per_account_and_action() {
    accounts_and_actions_have_budgets_of_their_own(InProcessLimiter::default()).await;
}

#[tokio::test]
async fn redis_frees_a_place_after_the_window() {
    a_place_frees_when_the_oldest_call_leaves_the_window(redis_limiter()).await;
}

#[tokio::test]
async fn in_process_frees_a_place_after_the_window() {
    a_place_frees_when_the_oldest_call_leaves_the_window(InProcessLimiter::default()).await;
}

// ---- Redis only ----

#[tokio::test]
async fn a_three_second_overload_never_admits_more_than_the_limit_in_any_second() {
    let limiter = Arc::new(redis_limiter());
    let limit = Limit {
        max: 50,
        window: Duration::from_secs(1),
    };
    // 10x the limit: 25 callers, each calling every 50 ms, for 3 seconds.
    let mut tasks = Vec::new();
    for _ in 0..25 {
        let limiter = limiter.clone();
        tasks.push(tokio::spawn(async move {
            let mut admitted = Vec::new();
            let mut tried = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            let end = tokio::time::Instant::now() + Duration::from_secs(3);
            while tokio::time::Instant::now() < end {
                tick.tick().await;
                tried += 1;
                let Verdict {
                    decision,
                    server_time_us,
                } = limiter
                    .check_with_time(&key("ListLiveMessageGroupUsers"), limit)
                    .await
                    .unwrap();
                if decision.is_allowed() {
                    admitted.push(server_time_us);
                }
            }
            (tried, admitted)
        }));
    }
    let mut admitted = Vec::new();
    let mut attempts = 0;
    for task in tasks {
        let (tried, allowed) = task.await.unwrap();
        attempts += tried;
        admitted.extend(allowed);
    }
    admitted.sort_unstable();
    // Measured with Redis's own clock: every rolling second holds at most 50.
    for (i, start) in admitted.iter().enumerate() {
        let inside = admitted[i..]
            .iter()
            .take_while(|&&t| t < start + 1_000_000)
            .count();
        assert!(inside <= 50, "{inside} admitted in the second from {start}");
    }
    // The overload was real (calls were refused), and the account was served, not starved:
    // at least a full second's worth got through. (How close to 150 it gets depends on how
    // busy the machine is; what must hold is the bound above.)
    assert!(attempts > admitted.len(), "{attempts} calls, none refused");
    assert!(admitted.len() >= 50, "only {} admitted", admitted.len());
}

#[tokio::test]
async fn keys_carry_the_account_as_a_cluster_hash_tag() {
    let limiter = RedisLimiter::new(&redis_url(), "p", Duration::from_secs(1)).unwrap();
    assert_eq!(
        limiter.key(&Key {
            account_id: 42,
            action: "ListLiveMessageGroupUsers"
        }),
        "p:{42}:ListLiveMessageGroupUsers"
    );
}

// ---- falling back while Redis is away ----

use livemsg_ratelimit::testing::{free_port, OwnRedis};

#[tokio::test]
async fn losing_redis_falls_back_in_process_and_recovers_by_itself() {
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let settings = RateLimitSettings {
        redis_url: SecretString::from(format!("redis://127.0.0.1:{port}")),
        key_prefix: prefix(),
        per_second: 40,
        window_ms: 60_000,
        // Generous: a freshly started redis-server on a busy machine must not look absent.
        timeout_ms: 1_000,
        retry_redis_after_ms: 200,
        gateway_instances: 2,
        ..Default::default()
    };
    let limiter = RateLimiter::new(settings).unwrap();
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += limiter.check(ACCOUNT, "A").await.is_allowed() as u32;
    }
    assert_eq!(admitted, 10);
    assert_eq!(limiter.mode(), Mode::Redis);

    redis.stop();
    // Every check still decides; with two instances each admits half the limit (20).
    let mut admitted = 0;
    for _ in 0..100 {
        admitted += limiter.check(ACCOUNT, "A").await.is_allowed() as u32;
    }
    assert_eq!(limiter.mode(), Mode::Fallback);
    assert_eq!(limiter.fallbacks(), 1, "the change of mode is counted once");
    assert_eq!(admitted, 20);

    let _redis = OwnRedis::start(port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = false;
    for _ in 0..50 {
        limiter.check(ACCOUNT, "B").await;
        if limiter.mode() == Mode::Redis {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the limiter returns to Redis once it answers");
    assert_eq!(limiter.fallbacks(), 1);
}

#[tokio::test]
async fn a_limiter_whose_redis_refuses_connections_decides_in_process() {
    // Nothing listens on this port.
    let settings = RateLimitSettings {
        redis_url: SecretString::from(format!("redis://127.0.0.1:{}", free_port())),
        key_prefix: prefix(),
        per_second: 5,
        timeout_ms: 50,
        ..Default::default()
    };
    let limiter = RateLimiter::new(settings).unwrap();
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += limiter.check(ACCOUNT, "A").await.is_allowed() as u32;
    }
    assert_eq!(admitted, 5);
    assert_eq!(limiter.mode(), Mode::Fallback);
    assert_eq!(limiter.fallbacks(), 1, "the change of mode is counted once");
}

#[tokio::test]
async fn a_limiter_whose_redis_never_answers_decides_in_process_after_the_timeout() {
    // A server that accepts connections and never answers anything.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let settings = RateLimitSettings {
        redis_url: SecretString::from(format!("redis://127.0.0.1:{port}")),
        key_prefix: prefix(),
        per_second: 5,
        timeout_ms: 200,
        retry_redis_after_ms: 60_000,
        ..Default::default()
    };
    let limiter = RateLimiter::new(settings).unwrap();
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += limiter.check(ACCOUNT, "A").await.is_allowed() as u32;
    }
    assert_eq!(admitted, 5);
    assert_eq!(limiter.mode(), Mode::Fallback);
    assert_eq!(limiter.fallbacks(), 1, "the change of mode is counted once");
}

#[test]
fn the_in_process_limiter_forgets_idle_keys() {
    let limiter = InProcessLimiter::default();
    let limit = Limit {
        max: 1,
        window: Duration::from_millis(1),
    };
    // 4,095 accounts call once each...
    for account_id in 0..4_095 {
        limiter.check_now(
            &Key {
                account_id,
                action: "A",
            },
            limit,
        );
    }
    assert_eq!(limiter.keys(), 4_095);
    // ...their windows pass; the next sweep (every 4,096 checks) drops them all.
    std::thread::sleep(Duration::from_millis(5));
    limiter.check_now(
        &Key {
            account_id: -1,
            action: "A",
        },
        limit,
    );
    assert_eq!(limiter.keys(), 1);
}

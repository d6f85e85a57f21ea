//! The pool's checks: a connection in steady use is handed out without a round trip of its
//! own, and one that sat idle is checked, so a connection the server dropped meanwhile is
//! replaced instead of failing the next statement.

use std::time::Duration;

use crate::helpers::*;

async fn backend_pid(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

async fn terminate(admin: &PgPool, pid: i32) {
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    assert!(done);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn an_idle_connection_the_server_dropped_is_replaced_before_use(admin: PgPool) {
    let pool = one_connection_pool(&admin).await;
    let first = backend_pid(&pool).await.unwrap();
    terminate(&admin, first).await;
    tokio::time::sleep(livemsg_store::PING_IDLE_AFTER + Duration::from_millis(200)).await;
    let second = backend_pid(&pool).await.expect("a fresh connection");
    assert_ne!(first, second);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_connection_in_steady_use_is_not_checked_before_each_statement(admin: PgPool) {
    let pool = one_connection_pool(&admin).await;
    // Let the connection settle back into the pool (its return is checked in the background).
    let pid = backend_pid(&pool).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Dropped by the server while idle for less than the check's threshold: the next statement
    // goes out unchecked and meets the closed connection, which the pool then discards.
    terminate(&admin, pid).await;
    assert!(backend_pid(&pool).await.is_err());
    let replaced = backend_pid(&pool)
        .await
        .expect("the pool took a new connection");
    assert_ne!(replaced, pid);
}

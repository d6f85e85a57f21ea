//! The public listener's limits: half-sent heads, slow bodies, too many connections and
//! HTTP/2 cost a bounded amount, are cut off, and do not stop others being served.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A gateway with short listener limits, over `s`'s service.
async fn limited(s: &Stack, max_connections: usize) -> String {
    let mut settings = test_gateway_settings().await;
    settings.gateway.header_timeout_ms = 300;
    settings.gateway.body_timeout_ms = 300;
    settings.gateway.max_connections = max_connections;
    gateway_with(s.service.clone(), settings).await
}

/// Waits (at most 10 s) for the server to close `stream`, and returns what it sent before.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received));
    match read.await {
        Ok(Ok(_)) | Ok(Err(_)) => received,
        Err(_) => panic!("the server kept the connection open"),
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn half_sent_heads_are_cut_off_while_others_are_served(pool: PgPool) {
    let mut s = start(pool, 2_000).await;
    s.gateway = limited(&s, 1_000).await;
    // 400 clients send half a request head and stop.
    let mut stalled = Vec::new();
    for _ in 0..400 {
        let mut stream = TcpStream::connect(&s.gateway).await.unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-")
            .await
            .unwrap();
        stalled.push(stream);
    }
    // Meanwhile, a real call is served.
    let app_id = s.create_app().await;
    assert!(!app_id.is_empty());
    // And every stalled one is closed by the server.
    for stream in &mut stalled {
        closed_by_server(stream).await;
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_body_that_does_not_arrive_in_time_is_refused_and_the_connection_closed(pool: PgPool) {
    let mut s = start(pool, 2_000).await;
    s.gateway = limited(&s, 1_000).await;
    let mut stream = TcpStream::connect(&s.gateway).await.unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 262144\r\n\r\nAction=CreateLiveMessageApp&",
        )
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&closed_by_server(&mut stream).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("The request body must arrive within 300 ms."),
        "{answer}"
    );
    assert!(answer.contains("\"Code\":\"InputInvalid\""), "{answer}");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn connections_past_the_cap_are_closed_until_one_frees_up(pool: PgPool) {
    let mut s = start(pool, 2_000).await;
    s.gateway = limited(&s, 8).await;
    // Eight idle connections fill the cap (each has sent a complete, fast request first, so
    // the listener counts them for sure).
    let mut open = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(&s.gateway).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        open.push(stream);
    }
    let mut ninth = TcpStream::connect(&s.gateway).await.unwrap();
    let _ = ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        closed_by_server(&mut ninth).await.is_empty(),
        "refused without an answer"
    );
    // The idle ones are closed after the header timeout; then calls are served again.
    for stream in &mut open {
        closed_by_server(stream).await;
    }
    let app_id = s.create_app().await;
    assert!(!app_id.is_empty());
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn http2_is_not_spoken_on_the_public_port(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let mut stream = TcpStream::connect(&s.gateway).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_by_server(&mut stream).await;
    assert!(
        !answer.starts_with(b"\x00\x00"),
        "no HTTP/2 frames in answer to a prior-knowledge preface"
    );
}

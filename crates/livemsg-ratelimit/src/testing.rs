//! A redis-server of a test's own, for tests that stop and start Redis on purpose (behind the
//! `testing` feature: only test builds use it).

use std::time::Duration;

/// A redis-server of a test's own, on its own port, so stopping it disturbs no one else. It
/// keeps nothing on disk: started again, it is empty.
#[derive(Debug)]
pub struct OwnRedis {
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts redis-server on `port` and waits until it accepts connections.
    pub fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed to run this test");
        let redis = OwnRedis { child: Some(child) };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} did not start");
    }

    /// Stops it (a kill: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

//! A real server in a child process on a loopback port 0 with a temporary data directory,
//! and a small blocking HTTP client for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const ADMIN: &str = "test-admin-token-0123456789";

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    i64::try_from(d.as_millis()).expect("fits")
}

/// RFC 3339 in UTC, with milliseconds unless they are zero (as the server writes times).
pub fn rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    if milli == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

pub struct TestServer {
    child: Child,
    pub base: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// Starts the server binary on `data`; returns the child and its base URL.
pub fn start(data: &Path, admin_token: Option<&str>) -> Result<(Child, String), String> {
    start_with_env(data, admin_token, &[])
}

/// [`start`] with extra environment variables (the server reads its flags from them too).
pub fn start_with_env(
    data: &Path,
    admin_token: Option<&str>,
    env: &[(&str, &str)],
) -> Result<(Child, String), String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist-under-test"));
    cmd.args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("HOIST_WORKERS", "2")
        .env("HOIST_LOG", "warn")
        .env_remove("HOIST_ADMIN_TOKEN")
        // The tests' stores are created as by default, whatever the shell exports.
        .env_remove("HOIST_COMPRESSION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = admin_token {
        cmd.env("HOIST_ADMIN_TOKEN", t);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    match line.trim().strip_prefix("hoist listening on ") {
        Some(url) => Ok((child, url.to_string())),
        None => {
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            Err(format!("server did not start: {line:?} {err}"))
        }
    }
}

impl TestServer {
    pub fn spawn() -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut s = TestServer::spawn_at(&data);
        s._dir = Some(dir);
        s
    }

    pub fn spawn_at(data: &Path) -> TestServer {
        TestServer::try_spawn_at(data).expect("start server")
    }

    /// A server on a fresh data directory, with extra environment (flags).
    #[allow(dead_code)]
    pub fn spawn_with_env(env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut s = TestServer::try_spawn_at_with_env(&data, env).expect("start server");
        s._dir = Some(dir);
        s
    }

    /// Starts the server on `data`, or says why it did not start.
    pub fn try_spawn_at(data: &Path) -> Result<TestServer, String> {
        TestServer::try_spawn_at_with_env(data, &[])
    }

    /// [`TestServer::try_spawn_at`] with extra environment (flags).
    pub fn try_spawn_at_with_env(data: &Path, env: &[(&str, &str)]) -> Result<TestServer, String> {
        let (child, base) = start_with_env(data, Some(ADMIN), env)?;
        Ok(TestServer {
            child,
            base,
            data: data.to_path_buf(),
            _dir: None,
        })
    }

    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Takes the temporary directory the data lives in, so that it outlives this server
    /// (a test that stops the server and starts another on the same data).
    #[allow(dead_code)]
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self._dir.take()
    }

    /// SIGKILL, no chance to flush anything.
    #[allow(dead_code)]
    pub fn kill9(mut self) -> Option<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._dir.take()
    }

    /// Sends `sig` to the server process (no external `kill` binary needed).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid fits in i32");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).expect("signal the server");
    }

    /// SIGTERM and wait for a clean exit (at most 30 s, then SIGKILL and a panic).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any request; returns status and body (JSON or `Value::String` of the raw text).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> (u16, Value) {
        let mut req = ureq::request(method, &self.url(path)).timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let res = match body {
            Some((ct, bytes)) => req.set("Content-Type", ct).send_bytes(bytes),
            None => req.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// A GET's status, Content-Type and body as the server wrote it, byte for byte.
    pub fn get_raw(&self, path: &str, token: &str) -> (u16, String, Vec<u8>) {
        let res = ureq::get(&self.url(path))
            .timeout(Duration::from_secs(30))
            .set("Authorization", &format!("Bearer {token}"))
            .call();
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        let status = resp.status();
        let ct = resp.header("Content-Type").unwrap_or("").to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).expect("a body");
        (status, ct, bytes)
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let b = body.to_string();
        self.call(
            "POST",
            path,
            Some(token),
            Some(("application/json", b.as_bytes())),
        )
    }

    pub fn patch(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let b = body.to_string();
        self.call(
            "PATCH",
            path,
            Some(token),
            Some(("application/json", b.as_bytes())),
        )
    }

    pub fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("DELETE", path, Some(token), None)
    }

    /// Creates a user and returns (id, token).
    pub fn user(&self, name: &str, admin: bool) -> (u64, String) {
        let (s, v) = self.post(
            "/v1/users",
            ADMIN,
            &serde_json::json!({"name": name, "admin": admin}),
        );
        assert_eq!(s, 201, "{v}");
        (
            v["id"].as_u64().expect("id"),
            v["token"].as_str().expect("token").to_string(),
        )
    }

    /// Creates a `deal` board with the given columns; returns (board id, column ids).
    pub fn board(&self, columns: &[&str]) -> (u64, Vec<u64>) {
        let cols: Vec<Value> = columns
            .iter()
            .map(|c| serde_json::json!({"name": c}))
            .collect();
        let (s, v) = self.post(
            "/v1/boards",
            ADMIN,
            &serde_json::json!({"module": "deal", "name": "Sales", "columns": cols}),
        );
        assert_eq!(s, 201, "{v}");
        let ids = v["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c["id"].as_u64().expect("col id"))
            .collect();
        (v["id"].as_u64().expect("board id"), ids)
    }

    pub fn item(&self, board: u64, title: &str) -> u64 {
        let (s, v) = self.post(
            "/v1/items",
            ADMIN,
            &serde_json::json!({"board": board, "title": title}),
        );
        assert_eq!(s, 201, "{v}");
        v["id"].as_u64().expect("item id")
    }

    /// Every item id of a column, top first, walking pages of `limit`.
    pub fn walk(&self, board: u64, col: u64, limit: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => {
                    format!("/v1/boards/{board}/columns/{col}/items?limit={limit}&cursor={c}")
                }
                None => format!("/v1/boards/{board}/columns/{col}/items?limit={limit}"),
            };
            let (s, v) = self.get(&path, ADMIN);
            assert_eq!(s, 200, "{v}");
            for it in v["items"].as_array().expect("items") {
                out.push(it["id"].as_u64().expect("id"));
            }
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

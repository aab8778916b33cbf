//! A recording HTTP proxy on loopback, between a built binary and moto (or the GuardDuty
//! stand-in): every AWS request the process makes, by operation, with when it started and
//! when its answer came back. What a request counter inside the process cannot show for a
//! binary run under the Lambda runtime API: the sequence, and which calls overlap.
//!
//! Plain HTTP/1.1 only (the SDK speaks it to an `http://` endpoint): each request is read whole
//! (Content-Length), sent upstream on a fresh connection with `Connection: close`, and the
//! whole answer returned with its own Content-Length, so the client's connection stays alive.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `service:Operation` (`iam:PutUserPolicy`, `guardduty:GetFindings`).
    pub operation: String,
    /// Milliseconds since the recorder started: request received, answer returned.
    pub start_ms: f64,
    pub end_ms: f64,
}

impl Call {
    /// Whether `self` and `other` were in flight at the same time.
    pub fn overlaps(&self, other: &Call) -> bool {
        self.start_ms < other.end_ms && other.start_ms < self.end_ms
    }
}

/// The calls of every proxy started from it, in the order they started.
#[derive(Debug, Clone)]
pub struct Recorder {
    epoch: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
    latency: Duration,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            epoch: Instant::now(),
            calls: Arc::default(),
            latency: Duration::ZERO,
        }
    }
}

impl Recorder {
    /// Every answer held back `latency`, like a network round trip: calls sent together
    /// overlap by at least that much, however loaded the machine, and calls that wait for
    /// each other never do.
    pub fn with_latency(latency: Duration) -> Self {
        Recorder {
            latency,
            ..Recorder::default()
        }
    }

    /// The calls grouped into round trips: each group is the calls in flight together (their
    /// intervals connected), by first start; operations sorted within a group.
    pub fn round_trips(calls: &[Call]) -> Vec<Vec<String>> {
        let mut groups: Vec<(f64, Vec<String>)> = Vec::new();
        for c in calls {
            match groups.last_mut() {
                Some((end, ops)) if c.start_ms < *end => {
                    *end = end.max(c.end_ms);
                    ops.push(c.operation.clone());
                }
                _ => groups.push((c.end_ms, vec![c.operation.clone()])),
            }
        }
        groups
            .into_iter()
            .map(|(_, mut ops)| {
                ops.sort();
                ops
            })
            .collect()
    }

    /// A proxy to `upstream` (`http://127.0.0.1:PORT`); its endpoint URL.
    pub fn proxy(&self, upstream: &str) -> String {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("a loopback http://IP:PORT upstream");
        assert!(upstream.ip().is_loopback(), "loopback only");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let recorder = self.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let recorder = recorder.clone();
                std::thread::spawn(move || recorder.serve(client, upstream));
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    /// Every call so far, by start.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        calls.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        calls
    }

    /// Forget what was recorded (between a cold and a warm invocation).
    pub fn clear(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.clear();
        }
    }

    fn now_ms(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() * 1000.0
    }

    fn serve(&self, client: TcpStream, upstream: SocketAddr) {
        let Ok(mut writer) = client.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(client);
        while let Some((head, body)) = read_message(&mut reader) {
            let start_ms = self.now_ms();
            let operation = operation(&head, &body);
            std::thread::sleep(self.latency);
            let Some(answer) = forward(upstream, &head, &body) else {
                return;
            };
            if writer.write_all(&answer).is_err() {
                return;
            }
            let end_ms = self.now_ms();
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(Call {
                    operation,
                    start_ms,
                    end_ms,
                });
            }
        }
    }
}

/// One HTTP message's head lines (first line included) and body (by Content-Length, or
/// chunked), or `None` at the end of the connection.
fn read_message(reader: &mut impl BufRead) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let header = |name: &str| header(&head, name);
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    } else if head.first().is_some_and(|l| l.starts_with("HTTP/")) {
        // An answer without a length ends with the connection (we asked for `close`).
        reader.read_to_end(&mut body).ok()?;
    }
    Some((head, body))
}

/// The value of the header `name` in a message's `head` (its first line skipped).
fn header(head: &[String], name: &str) -> Option<String> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// `head` without the hop-by-hop headers, `extra` added, the body's own length.
fn rewrite(head: &[String], body: &[u8], extra: &str) -> Vec<u8> {
    let mut out = String::new();
    for (i, line) in head.iter().enumerate() {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if i > 0
            && matches!(
                name.as_str(),
                "connection" | "content-length" | "transfer-encoding" | "expect" | "keep-alive"
            )
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n{extra}\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn forward(upstream: SocketAddr, head: &[String], body: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).ok()?;
    server
        .write_all(&rewrite(head, body, "Connection: close\r\n"))
        .ok()?;
    let (answer_head, answer_body) = read_message(&mut BufReader::new(server))?;
    Some(rewrite(&answer_head, &answer_body, ""))
}

/// `service:Operation` from a signed AWS request: the service from the SigV4 credential scope,
/// the operation from `X-Amz-Target` (JSON protocols), `Action=` (query protocols) or, for
/// GuardDuty's REST API, its method and path.
fn operation(head: &[String], body: &[u8]) -> String {
    let header = |name: &str| header(head, name);
    let service = header("authorization")
        .and_then(|a| {
            let scope = a
                .split("Credential=")
                .nth(1)?
                .split(',')
                .next()?
                .to_string();
            scope.split('/').nth(3).map(str::to_string)
        })
        .unwrap_or_else(|| "?".into());
    if let Some(target) = header("x-amz-target") {
        let op = target.rsplit('.').next().unwrap_or(&target).to_string();
        return format!("{service}:{op}");
    }
    let text = String::from_utf8_lossy(body);
    if let Some(action) = text.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return format!("{service}:{action}");
    }
    let first = head.first().map(String::as_str).unwrap_or("");
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    let op = match (service.as_str(), method, path) {
        ("guardduty", "GET", "/detector") => "ListDetectors".to_string(),
        ("guardduty", "POST", p) if p.ends_with("/findings/get") => "GetFindings".to_string(),
        (_, m, p) => format!("{m} {p}"),
    };
    format!("{service}:{op}")
}

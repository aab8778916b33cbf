//! A GuardDuty stand-in on loopback: just enough of GuardDuty's REST-JSON API (ListDetectors,
//! GetFindings, ListFindings) for the real SDK client to read findings from it. moto has no
//! GuardDuty findings API, so this is the HTTP boundary for the `AwsGuardDuty` adapter's
//! end-to-end tests.
//!
//! It serves the finding objects it holds exactly as given: GuardDuty's API returns the same
//! camelCase finding that EventBridge delivers as `detail` (see [`finding_from_event`]). One
//! difference the SDK makes visible: it reads only `value` and `type` of
//! `service.additionalInfo`, as GuardDuty's API models it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

/// The detector id in every fixture's `service.detectorId` and `arn`.
pub const FIXTURE_DETECTOR: &str = "12abc34d567e8fa901bc2d34e56789f0";

/// GuardDuty's largest `maxResults` for ListFindings (and its default).
const MAX_RESULTS: usize = 50;

/// The `detail` of an EventBridge GuardDuty event: the finding object GuardDuty's API returns.
pub fn finding_from_event(event_json: &str) -> Value {
    let event: Value = serde_json::from_str(event_json).expect("the event is JSON");
    match event.get("detail") {
        Some(detail) if detail.is_object() => detail.clone(),
        _ => panic!("the event has no `detail` object"),
    }
}

/// The finding object of a fixture in `tests/fixtures/guardduty/`.
pub fn fixture_finding(name: &str) -> Value {
    let path = crate::fixture_path(name);
    let raw = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    finding_from_event(&raw)
}

/// A canned failure for the next requests, whatever they ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 `TooManyRequestsException`, as GuardDuty throttles.
    Throttle,
    /// 503 `ServiceUnavailableException`.
    Unavailable,
}

#[derive(Debug, Default)]
struct State {
    detectors: Vec<String>,
    /// In insertion order: ListFindings pages over them in this order.
    findings: Vec<Value>,
    faults: VecDeque<Fault>,
    requests: Vec<String>,
    /// The JSON body of each request served, with its `METHOD path`.
    bodies: Vec<(String, Value)>,
}

/// The server. Stops (and joins its threads) when dropped.
pub struct GuardDutyStandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl GuardDutyStandIn {
    /// Serve these finding objects from detector [`FIXTURE_DETECTOR`] on 127.0.0.1 (a free
    /// port).
    pub fn start(findings: Vec<Value>) -> GuardDutyStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            detectors: vec![FIXTURE_DETECTOR.to_string()],
            findings,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (state, stop, connections) = (state.clone(), stop.clone(), connections.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, stop) = (state.clone(), stop.clone());
                    let handle = std::thread::spawn(move || serve(stream, &state, &stop));
                    lock(&connections).push(handle);
                }
            })
        };
        GuardDutyStandIn {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
            connections,
        }
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url` or `AWS_ENDPOINT_URL_GUARDDUTY`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn detector_id(&self) -> String {
        lock(&self.state)
            .detectors
            .first()
            .cloned()
            .unwrap_or_default()
    }

    /// The detectors ListDetectors returns (none: GuardDuty is not enabled).
    pub fn set_detectors(&self, ids: &[&str]) {
        lock(&self.state).detectors = ids.iter().map(|s| s.to_string()).collect();
    }

    /// Add a finding, or replace the one with the same id.
    pub fn insert(&self, finding: Value) {
        let mut state = lock(&self.state);
        let id = finding["id"].clone();
        match state.findings.iter_mut().find(|f| f["id"] == id) {
            Some(held) => *held = finding,
            None => state.findings.push(finding),
        }
    }

    /// Archive or unarchive a held finding (`service.archived`); false if it is not held.
    pub fn set_archived(&self, id: &str, archived: bool) -> bool {
        let mut state = lock(&self.state);
        match state.findings.iter_mut().find(|f| f["id"] == id) {
            Some(f) => {
                f["service"]["archived"] = Value::Bool(archived);
                true
            }
            None => false,
        }
    }

    /// Forget a finding; false if it was not held.
    pub fn remove(&self, id: &str) -> bool {
        let mut state = lock(&self.state);
        let before = state.findings.len();
        state.findings.retain(|f| f["id"] != id);
        state.findings.len() != before
    }

    /// Answer the next `n` requests with `fault`, after any already queued.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        lock(&self.state)
            .faults
            .extend(std::iter::repeat_n(fault, n));
    }

    /// Every request served so far, as `METHOD path` (no query), failed ones included.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// Every request served so far with its JSON body (`{}` when it had none).
    pub fn request_bodies(&self) -> Vec<(String, Value)> {
        lock(&self.state).bodies.clone()
    }
}

impl Drop for GuardDutyStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let handles: Vec<_> = lock(&self.connections).drain(..).collect();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

/// A poisoned lock only means another test thread panicked; the state is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Request {
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    body: Value,
    error_type: Option<&'static str>,
}

impl Response {
    fn ok(body: Value) -> Response {
        Response {
            status: 200,
            body,
            error_type: None,
        }
    }

    fn error(status: u16, code: &'static str, message: &str) -> Response {
        Response {
            status,
            body: json!({ "message": message, "__type": code }),
            error_type: Some(code),
        }
    }
}

/// One connection: requests until the client closes it (keep-alive) or the server stops.
fn serve(stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    // A short read timeout lets an idle keep-alive connection notice the stop flag.
    if stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .is_err()
    {
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        match read_request(&mut reader, stop) {
            Ok(Some(request)) => {
                let response = handle(state, &request);
                if write_response(&mut writer, &response).is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Read a line, waiting out read timeouts until data, EOF, or stop.
fn read_line(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> std::io::Result<String> {
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(_) => return Ok(line),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The next request, `None` at a clean end of the connection.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    stop: &AtomicBool,
) -> std::io::Result<Option<Request>> {
    let request_line = read_line(reader, stop)?;
    if request_line.is_empty() {
        return Ok(None);
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let mut content_length = 0usize;
    loop {
        let header = read_line(reader, stop)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; content_length];
    let mut filled = 0;
    while filled < content_length {
        match reader.read(&mut body[filled..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) && !stop.load(Ordering::SeqCst) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Request {
        method,
        path,
        query,
        body,
    }))
}

fn write_response(writer: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    let body = response.body.to_string();
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-amzn-requestid: 00000000-0000-4000-8000-000000000000\r\n",
        response.status,
        body.len()
    );
    if let Some(code) = response.error_type {
        head.push_str(&format!("x-amzn-errortype: {code}\r\n"));
    }
    head.push_str("\r\n");
    // One write: headers and body in separate segments meet the client's delayed ACK (Nagle),
    // which costs ~40 ms a response on loopback and would be measured as deadbolt's.
    let mut whole = head.into_bytes();
    whole.extend_from_slice(body.as_bytes());
    writer.write_all(&whole)?;
    writer.flush()
}

fn handle(state: &Mutex<State>, request: &Request) -> Response {
    let mut state = lock(state);
    state
        .requests
        .push(format!("{} {}", request.method, request.path));
    match state.faults.pop_front() {
        Some(Fault::Throttle) => {
            return Response::error(429, "TooManyRequestsException", "Rate exceeded")
        }
        Some(Fault::Unavailable) => {
            return Response::error(503, "ServiceUnavailableException", "Service unavailable")
        }
        None => {}
    }
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(_) => {
                return Response::error(400, "BadRequestException", "The request body is not JSON")
            }
        }
    };
    let line = format!("{} {}", request.method, request.path);
    state.bodies.push((line, body.clone()));
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["detector"]) => Response::ok(json!({ "detectorIds": state.detectors })),
        ("POST", ["detector", id, "findings", "get"]) => {
            if let Some(refused) = check_detector(&state, id) {
                return refused;
            }
            let ids: Vec<&str> = body["findingIds"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if ids.is_empty() || ids.len() > MAX_RESULTS {
                return Response::error(
                    400,
                    "BadRequestException",
                    "The request is rejected because findingIds must have 1 to 50 entries.",
                );
            }
            let findings: Vec<&Value> = ids
                .iter()
                .filter_map(|id| state.findings.iter().find(|f| f["id"] == *id))
                .collect();
            Response::ok(json!({ "findings": findings }))
        }
        ("POST", ["detector", id, "findings"]) => {
            if let Some(refused) = check_detector(&state, id) {
                return refused;
            }
            list_findings(&state, &body)
        }
        // Security Hub's BatchUpdateFindings (also REST-JSON; reached through
        // AWS_ENDPOINT_URL_SECURITYHUB): a GuardDuty finding's copy this stand-in holds is
        // processed, any other identifier unprocessed with FindingNotFound, as Security Hub
        // answers.
        ("PATCH", ["findings", "batchupdate"]) => {
            let mut processed = Vec::new();
            let mut unprocessed = Vec::new();
            for id in body["FindingIdentifiers"].as_array().into_iter().flatten() {
                let known = state.findings.iter().any(|f| f["arn"] == id["Id"])
                    && id["ProductArn"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("::product/aws/guardduty"));
                if known {
                    processed.push(id.clone());
                } else {
                    unprocessed.push(json!({
                        "FindingIdentifier": id,
                        "ErrorCode": "FindingNotFound",
                        "ErrorMessage": "Finding not found",
                    }));
                }
            }
            Response::ok(json!({
                "ProcessedFindings": processed,
                "UnprocessedFindings": unprocessed,
            }))
        }
        _ => Response::error(
            404,
            "UnknownOperationException",
            &format!(
                "the GuardDuty stand-in does not serve {} {}?{}",
                request.method, request.path, request.query
            ),
        ),
    }
}

/// GuardDuty's answer to another account's (or no) detector id.
fn check_detector(state: &State, id: &str) -> Option<Response> {
    if state.detectors.iter().any(|d| d == id) {
        return None;
    }
    Some(Response::error(
        400,
        "BadRequestException",
        "The request is rejected because the input detectorId is not owned by the current account.",
    ))
}

/// ListFindings: the held findings' ids, `maxResults` per page, the next page's start index as
/// `nextToken`. Of `findingCriteria`, GuardDuty's `updatedAt` `greaterThanOrEqual` (epoch
/// milliseconds) and `accountId` `equals` are applied; any other criterion is refused, so a
/// test never passes on a filter the stand-in silently ignored.
fn list_findings(state: &State, body: &Value) -> Response {
    let criterion = body
        .pointer("/findingCriteria/criterion")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut since_ms: Option<i64> = None;
    let mut accounts: Option<Vec<String>> = None;
    for (field, condition) in &criterion {
        match (field.as_str(), condition) {
            ("updatedAt", c) if c.get("greaterThanOrEqual").is_some() => {
                since_ms = c["greaterThanOrEqual"].as_i64();
            }
            ("accountId", c) if c.get("equals").is_some() => {
                accounts = c["equals"].as_array().map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                });
            }
            _ => {
                return Response::error(
                    400,
                    "BadRequestException",
                    &format!(
                        "the GuardDuty stand-in does not apply criterion {field}: {condition}"
                    ),
                )
            }
        }
    }
    let selected: Vec<&Value> = state
        .findings
        .iter()
        .filter(|f| {
            let updated = f["updatedAt"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis());
            since_ms.is_none_or(|since| updated.is_some_and(|u| u >= since))
        })
        .filter(|f| {
            accounts.as_ref().is_none_or(|a| {
                f["accountId"]
                    .as_str()
                    .is_some_and(|id| a.iter().any(|x| x == id))
            })
        })
        .collect();
    page(&selected, body)
}

/// One page of `findings`' ids.
fn page(findings: &[&Value], body: &Value) -> Response {
    let max = match body.get("maxResults") {
        None | Some(Value::Null) => MAX_RESULTS,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=50) => n as usize,
            _ => {
                return Response::error(
                    400,
                    "BadRequestException",
                    "The request is rejected because maxResults must be between 1 and 50.",
                )
            }
        },
    };
    let start = match body.get("nextToken").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(token) => match token.parse::<usize>() {
            Ok(n) if n <= findings.len() => n,
            _ => {
                return Response::error(
                    400,
                    "BadRequestException",
                    "The request is rejected because the nextToken is invalid.",
                )
            }
        },
    };
    let end = (start + max).min(findings.len());
    let ids: Vec<&Value> = findings[start..end].iter().map(|f| &f["id"]).collect();
    if end < findings.len() {
        Response::ok(json!({ "findingIds": ids, "nextToken": end.to_string() }))
    } else {
        Response::ok(json!({ "findingIds": ids }))
    }
}

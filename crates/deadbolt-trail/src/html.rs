//! The investigation as one self-contained HTML page, in the spirit of Detective's profile
//! pages: the finding and the decision, the role chain as a graph, every session's calls on a
//! timeline, the call volume against the baseline, what is new (with the finding's location on
//! a world outline), and what was left behind.
//!
//! Nothing is fetched and nothing runs: inline CSS and inline SVG only, no script, and a
//! `Content-Security-Policy` that forbids everything else. Every value comes from CloudTrail or
//! the finding, much of it attacker-controlled (user agents, session and policy names), so the
//! page is written with `maud`, which escapes every interpolated value; there is no string
//! concatenation of markup. The charts are our own code over maud's SVG elements: no chart
//! crate draws without JavaScript in a way that fits one small, static file.

use deadbolt_core::text::bounded as clip;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::activity::SessionActivity;
use crate::behaviour::{AsnStatus, NewBehaviour};
use crate::chain::{Hop, Origin};
use crate::record::{format_rfc3339_ms, parse_rfc3339_ms};
use crate::report::{describe_hop, session_label, InvestigationReport, Style};

/// What the page allows: nothing but its own inline styles and data: images.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// The world's land, equirectangular (x = lon + 180, y = 90 - lat), generated from Natural
/// Earth's public-domain 1:110m land by `scripts/world-outline.py`.
const WORLD_LAND: &str = include_str!("../assets/world-land-110m.txt");

/// The decision the page reports beside the investigation, when the caller has one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionPanel {
    pub outcome: String,
    pub reason: String,
    pub message: String,
    /// `iam:PutUserPolicy user/mallory`, one per write that was done.
    pub written: Vec<String>,
    /// The exact command that undoes it.
    pub undo: Option<String>,
    /// Where the ledger says this stands, when known.
    pub ledger: Option<String>,
}

impl DecisionPanel {
    /// From a decision record as deadbolt writes it (`deadbolt replay --json`, the
    /// responder's `decision_record` log field). Lenient: it is context the page reports.
    pub fn from_record_json(record: &serde_json::Value) -> Option<DecisionPanel> {
        let text = |field: &str| {
            record
                .get(field)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let outcome = text("outcome")?;
        let mut undo = None;
        let written = record
            .get("actions")
            .and_then(|a| a.as_array())
            .map(|actions| {
                actions
                    .iter()
                    .filter(|a| a.get("status").and_then(|s| s.as_str()) == Some("done"))
                    .filter_map(|a| {
                        let api = a.get("api")?.as_str()?;
                        let target = a.get("target")?.as_str()?;
                        if api.contains(":Get") || api.contains(":List") {
                            return None;
                        }
                        if let Some((kind @ ("user" | "role" | "group"), name)) =
                            target.split_once('/')
                        {
                            undo.get_or_insert_with(|| {
                                format!("deadbolt unblock --{kind} {name} --reason '...'")
                            });
                        }
                        Some(format!("{api} {target}"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(DecisionPanel {
            outcome,
            reason: text("reason").unwrap_or_default(),
            message: text("message").unwrap_or_default(),
            written,
            undo,
            ledger: None,
        })
    }
}

/// The page for `report`, with `decision` when the caller has one.
pub fn render(report: &InvestigationReport, decision: Option<&DecisionPanel>) -> String {
    let subject = &report.subject;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CONTENT_SECURITY_POLICY);
                meta name="referrer" content="no-referrer";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "deadbolt investigation: " (subject.finding_type) " " (subject.finding_id) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "Investigation of GuardDuty finding " code { (subject.finding_id) } }
                    p.subtitle {
                        code { (subject.finding_type) } " on key " code { (subject.access_key_id) }
                        " in account " (subject.account_id) ", first seen " (subject.first_seen)
                        ", last seen " (subject.last_seen) "."
                        @if let Some(w) = &report.window { " Window: " (w.start) " to " (w.end) "." }
                    }
                }
                (decision_panel(decision))
                (attribution_panel(report))
                (timeline_panel(report))
                (volume_panel(report))
                (new_behaviour_panel(report))
                (left_behind_panel(report))
                (missing_panel(report))
                footer { "Written by deadbolt from CloudTrail and the finding; this file fetches nothing and runs nothing." }
            }
        }
    };
    page.into_string()
}

fn decision_panel(decision: Option<&DecisionPanel>) -> Markup {
    html! {
        section #decision .panel {
            h2 { "Decision" }
            @match decision {
                None => p.note { "No decision record was given with this report (deadbolt report … --decision RECORD.json takes one from deadbolt replay --json or the responder's log)." },
                Some(d) => {
                    dl {
                        dt { "Outcome" } dd.outcome { (d.outcome) " (" (d.reason) ")" }
                        dt { "Written" } dd {
                            @if d.written.is_empty() { "nothing" }
                            @for w in &d.written { code.written { (w) } " " }
                        }
                        @if let Some(undo) = &d.undo { dt { "Undo" } dd { code.undo { (undo) } } }
                        @if let Some(ledger) = &d.ledger { dt { "Ledger" } dd { (ledger) } }
                    }
                    p.message { (d.message) }
                }
            }
        }
    }
}

/// One box of the chain graph.
struct Node {
    kind: &'static str,
    title: String,
    detail: String,
}

/// One arrow between consecutive boxes.
struct Edge {
    label: String,
    time: String,
    gap: Option<String>,
}

fn hop_node(kind: &'static str, hop: &Hop) -> Node {
    Node {
        kind,
        title: match (&hop.role_name, &hop.session_name) {
            (Some(role), Some(session)) => format!("{role} / {session}"),
            (Some(role), None) => role.clone(),
            (None, Some(session)) => session.clone(),
            (None, None) => hop.issued_access_key_id.clone(),
        },
        detail: format!("key {}", hop.issued_access_key_id),
    }
}

fn hop_edge(hop: &Hop) -> Edge {
    Edge {
        label: hop.event_name.clone(),
        time: hop.event_time.clone(),
        gap: None,
    }
}

fn chain_graph(report: &InvestigationReport) -> (Vec<Node>, Vec<Edge>) {
    let mut nodes = vec![Node {
        kind: "origin",
        title: report.origin_summary.clone(),
        detail: match &report.origin {
            Origin::Unknown => "not in the evidence".to_string(),
            _ => "origin".to_string(),
        },
    }];
    let mut edges = Vec::new();
    let gap_text = (!report.gaps.is_empty()).then(|| report.gaps.join("; "));
    for (i, hop) in report.chain.iter().enumerate() {
        let mut edge = hop_edge(hop);
        // A chain that does not reach its origin is drawn with its first link dashed.
        if i == 0 && !report.chain_complete {
            edge.gap = gap_text.clone().or(Some("the chain is incomplete".into()));
        }
        edges.push(edge);
        nodes.push(hop_node("hop", hop));
    }
    let key = &report.subject.access_key_id;
    if !report.chain.iter().any(|h| &h.issued_access_key_id == key) {
        edges.push(Edge {
            label: "issuer not found".into(),
            time: String::new(),
            gap: gap_text.or(Some(format!("no event in the evidence issued {key}"))),
        });
        nodes.push(Node {
            kind: "finding",
            title: format!("key {key}"),
            detail: "the finding's key".into(),
        });
    } else if let Some(last) = nodes.last_mut() {
        last.kind = "finding";
        last.detail = format!("{}: the finding's key", last.detail);
    }
    for hop in &report.derived_sessions {
        edges.push(hop_edge(hop));
        nodes.push(hop_node("derived", hop));
    }
    (nodes, edges)
}

fn attribution_panel(report: &InvestigationReport) -> Markup {
    let (nodes, edges) = chain_graph(report);
    const W: f64 = 230.0;
    const GAP: f64 = 90.0;
    const H: f64 = 70.0;
    let width = nodes.len() as f64 * (W + GAP) - GAP + 20.0;
    html! {
        section #attribution .panel {
            h2 { "Attribution" }
            p { strong { (report.origin_summary) } " — "
                @if report.chain_complete { "every link of the chain is in the logs." }
                @else { "the chain is incomplete (dashed)." } }
            div.scroll {
                svg.chain role="img" aria-label="role chain" viewBox={"0 0 " (width) " 130"} width=(width) height="130" {
                    defs { marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto" { path d="M0 0L10 5L0 10z" {} } }
                    @for (i, node) in nodes.iter().enumerate() {
                        @let x = 10.0 + i as f64 * (W + GAP);
                        g.node data-kind=(node.kind) data-index=(i) {
                            title { (node.title) " — " (node.detail) }
                            rect x=(x) y="40" width=(W) height=(H) rx="8" {}
                            text x=(x + 10.0) y="68" { (clip(&node.title, 30)) }
                            text.detail x=(x + 10.0) y="90" { (clip(&node.detail, 34)) }
                        }
                    }
                    @for (i, edge) in edges.iter().enumerate() {
                        @let x1 = 10.0 + i as f64 * (W + GAP) + W;
                        @let x2 = x1 + GAP;
                        g.edge.gap[edge.gap.is_some()] data-from=(i) data-to=(i + 1) {
                            title { (edge.label) " " (edge.time) @if let Some(g) = &edge.gap { " — gap: " (g) } }
                            line x1=(x1) y1="75" x2=(x2 - 2.0) y2="75" marker-end="url(#arrow)" {}
                            text x=(x1 + 4.0) y="30" { (clip(&edge.label, 13)) }
                            text.detail x=(x1 + 4.0) y="18" { (clip(edge.time.get(11..19).unwrap_or(""), 13)) }
                        }
                    }
                }
            }
            ol.hops {
                @for hop in &report.chain { li { (describe_hop(hop, Style::Text)) } }
            }
            @if !report.derived_sessions.is_empty() {
                p { "Then, from these sessions (role chaining onwards):" }
                ul.hops { @for hop in &report.derived_sessions { li { (describe_hop(hop, Style::Text)) } } }
            }
            @if !report.gaps.is_empty() {
                ul.gaps { @for g in &report.gaps { li { (g) } } }
            }
        }
    }
}

fn timeline_panel(report: &InvestigationReport) -> Markup {
    let Some(window) = &report.window else {
        return html! { section #timeline .panel { h2 { "Timeline" } p.note { "No window: the finding's timestamps were unusable." } } };
    };
    const LEFT: f64 = 260.0;
    const PLOT: f64 = 900.0;
    const ROW: f64 = 34.0;
    let span = (window.end_ms - window.start_ms).max(1) as f64;
    let x_of = |ms: i64| LEFT + (ms - window.start_ms) as f64 / span * PLOT;
    let rows = report.activity.len().max(1) as f64;
    let height = 40.0 + rows * ROW + 30.0;
    let finding_ms = parse_rfc3339_ms(&report.subject.first_seen).ok();
    let ticks: Vec<i64> = (0..=4)
        .map(|i| window.start_ms + (span * i as f64 / 4.0) as i64)
        .collect();
    html! {
        section #timeline .panel {
            h2 { "Timeline" }
            p { "Every call of every session in the window, one row per session; failed calls in red, the finding's first sighting as a line." }
            div.scroll {
                svg.timeline role="img" aria-label="timeline" viewBox={"0 0 " (LEFT + PLOT + 20.0) " " (height)} width=(LEFT + PLOT + 20.0) height=(height) {
                    @for (row, session) in report.activity.iter().enumerate() {
                        @let y = 40.0 + row as f64 * ROW;
                        g.session data-calls=(session.calls.len()) {
                            text x="4" y=(y + 14.0) { (clip(&plain_session_label(session), 38)) }
                            line.row x1=(LEFT) y1=(y + 10.0) x2=(LEFT + PLOT) y2=(y + 10.0) {}
                            @for call in &session.calls {
                                circle.call.failed[call.error_code.is_some()] cx=(format!("{:.1}", x_of(call.at_ms))) cy=(y + 10.0) r="4" {
                                    title { (call.event_name) " " (format_rfc3339_ms(call.at_ms)) @if let Some(code) = &call.error_code { " — " (code) } }
                                }
                            }
                        }
                    }
                    @if let Some(ms) = finding_ms {
                        line.finding-time x1=(x_of(ms)) y1="30" x2=(x_of(ms)) y2=(height - 25.0) {
                        }
                        text.detail x=(x_of(ms) + 3.0) y="26" { "finding " (report.subject.first_seen.get(11..19).unwrap_or("")) }
                    }
                    @for t in &ticks {
                        text.axis x=(x_of(*t) - 25.0) y=(height - 6.0) { (format_rfc3339_ms(*t).get(11..16).unwrap_or("")) }
                    }
                }
            }
            @if report.truncated.timeline { p.note { "Some sessions had more calls than the timeline draws; the first are shown." } }
        }
    }
}

fn plain_session_label(session: &SessionActivity) -> String {
    session_label(session, Style::Text)
}

fn volume_panel(report: &InvestigationReport) -> Markup {
    let (Some(new), Some(window), Some(baseline)) = (
        &report.new_behaviour,
        &report.window,
        &report.baseline_window,
    ) else {
        return html! { section #volume .panel { h2 { "Call volume" } p.note { "Not assessed: no baseline was searched." } } };
    };
    let volume = &new.call_volume;
    const LEFT: f64 = 50.0;
    const PLOT_W: f64 = 1000.0;
    const PLOT_H: f64 = 160.0;
    const TOP: f64 = 10.0;
    let hour = 3_600_000i64;
    let start = baseline.start_ms.div_euclid(hour) * hour;
    let end = window.end_ms;
    let span = (end - start).max(1) as f64;
    let x_of = |ms: i64| LEFT + (ms - start) as f64 / span * PLOT_W;
    let bar_w = (hour as f64 / span * PLOT_W).max(1.0);
    let max_calls = volume
        .hourly
        .iter()
        .map(|h| h.calls)
        .max()
        .unwrap_or(1)
        .max(1);
    // Logarithmic: a burst of hundreds next to a baseline of a few calls a day.
    let y_of = |calls: f64| {
        TOP + PLOT_H - ((1.0 + calls).log10() / (1.0 + max_calls as f64).log10()) * PLOT_H
    };
    let baseline_rate = if volume.baseline_hours > 0.0 {
        volume.baseline_calls as f64 / volume.baseline_hours
    } else {
        0.0
    };
    html! {
        section #volume .panel {
            h2 { "Call volume" }
            p.statement { (volume.statement) }
            div.scroll {
                svg.volume role="img" aria-label="calls per hour" viewBox={"0 0 " (LEFT + PLOT_W + 10.0) " " (TOP + PLOT_H + 30.0)} width=(LEFT + PLOT_W + 10.0) height=(TOP + PLOT_H + 30.0) {
                    rect.window-shade x=(x_of(window.start_ms)) y=(TOP) width=((x_of(window.end_ms) - x_of(window.start_ms)).max(2.0)) height=(PLOT_H) {
                        title { "the finding's window: " (window.start) " to " (window.end) }
                    }
                    line.axis-line x1=(LEFT) y1=(TOP + PLOT_H) x2=(LEFT + PLOT_W) y2=(TOP + PLOT_H) {}
                    @for h in &volume.hourly {
                        @let in_window = h.hour_start_ms + hour > window.start_ms && h.hour_start_ms <= window.end_ms;
                        rect.bar.in-window[in_window] x=(format!("{:.2}", x_of(h.hour_start_ms))) y=(format!("{:.1}", y_of(h.calls as f64))) width=(format!("{bar_w:.2}")) height=(format!("{:.1}", TOP + PLOT_H - y_of(h.calls as f64))) data-calls=(h.calls) {
                            title { (h.calls) " calls in the hour from " (format_rfc3339_ms(h.hour_start_ms)) }
                        }
                    }
                    line.baseline-rate x1=(LEFT) y1=(format!("{:.1}", y_of(baseline_rate))) x2=(LEFT + PLOT_W) y2=(format!("{:.1}", y_of(baseline_rate))) data-rate=(format!("{baseline_rate:.4}")) {
                        title { "baseline: " (format!("{baseline_rate:.3}")) " calls per hour" }
                    }
                    text.axis x="2" y=(TOP + 10.0) { (max_calls) "/h" }
                    text.axis x="2" y=(TOP + PLOT_H) { "0" }
                    text.axis x=(LEFT) y=(TOP + PLOT_H + 20.0) { (baseline.start.get(..10).unwrap_or("")) }
                    text.axis x=(LEFT + PLOT_W - 80.0) y=(TOP + PLOT_H + 20.0) { (window.end.get(..10).unwrap_or("")) }
                }
            }
            p.note { "Calls per hour (logarithmic), the baseline period then the window (shaded); the line is the baseline's average rate." }
        }
    }
}

fn new_behaviour_panel(report: &InvestigationReport) -> Markup {
    html! {
        section #new-behaviour .panel {
            h2 { "New behaviour" }
            @match &report.new_behaviour {
                None => p.note { "Not assessed: no baseline was searched (see What is missing)." },
                Some(new) => {
                    @if !new.baseline_complete { p.note { "The baseline answer was partial: some of what is listed as new may have happened before." } }
                    (new_lists(new))
                }
            }
            (world_map(report))
        }
    }
}

fn new_lists(new: &NewBehaviour) -> Markup {
    html! {
        div.lists {
            div { h3 { "APIs" } ul.new-apis { @for api in &new.new_api_calls { li { code { (api.event_source) " " (api.event_name) } " — " (api.calls) " call(s)" @if api.failures > 0 { ", " (api.failures) " failed" } } } @if new.new_api_calls.is_empty() { li.none { "none" } } } }
            div { h3 { "User agents" } ul.new-user-agents { @for ua in &new.new_user_agents { li { code { (ua) } } } @if new.new_user_agents.is_empty() { li.none { "none" } } } }
            div { h3 { "Networks" } ul.new-networks {
                @for ip in &new.new_source_ips { li { code { (ip) } } }
                @if new.new_source_ips.is_empty() { li.none { "no new IP addresses" } }
                @if let Some(asn) = &new.autonomous_system { li.asn { (asn.statement) } }
            } }
            div { h3 { "Regions" } ul.new-regions { @for r in &new.new_regions { li { code { (r) } } } @if new.new_regions.is_empty() { li.none { "none" } } } }
        }
    }
}

fn world_map(report: &InvestigationReport) -> Markup {
    let location = report.subject.location.as_ref();
    let seen = report
        .new_behaviour
        .as_ref()
        .and_then(|n| n.autonomous_system.as_ref())
        .is_some_and(|a| a.status == AsnStatus::SeenInBaseline);
    html! {
        figure.map {
            svg.world role="img" aria-label="where the finding's caller was" viewBox="0 0 360 180" width="720" height="360" {
                rect.sea x="0" y="0" width="360" height="180" {}
                path.land fill-rule="evenodd" d=(WORLD_LAND.trim()) {}
                @if let Some(l) = location {
                    circle.location.new[!seen].seen[seen] cx=(format!("{:.2}", l.lon + 180.0)) cy=(format!("{:.2}", 90.0 - l.lat)) r="3" {
                        title { (l.city.as_deref().unwrap_or("?")) ", " (l.country.as_deref().unwrap_or("?")) " (" (l.lat) ", " (l.lon) ")" }
                    }
                }
            }
            figcaption {
                @match location {
                    None => "The finding carries no geolocation for its caller.",
                    Some(l) => {
                        "The finding's caller, per GuardDuty: " (l.city.as_deref().unwrap_or("unknown city")) ", " (l.country.as_deref().unwrap_or("unknown country"))
                        @if seen { " — its IP address was used in the baseline too (seen before)." } @else { " — new: not seen in the baseline." }
                    }
                }
            }
        }
    }
}

fn left_behind_panel(report: &InvestigationReport) -> Markup {
    html! {
        section #left-behind .panel {
            h2 { "Left behind" }
            @if report.persistence.is_empty() {
                p.note { "No IAM persistence calls by these sessions in the window." }
            } @else {
                table.persistence {
                    thead { tr { th { "When" } th { "Call" } th { "On" } th { "Result" } th { "Follow-up / undo" } } }
                    tbody {
                        @for c in &report.persistence {
                            tr.succeeded[c.succeeded].failed[!c.succeeded] {
                                td { (c.first_event_time) }
                                td { code { (c.event_name) } }
                                td { (crate::report::describe_entity(c).trim_start_matches(" on ")) }
                                td { @if c.succeeded { "succeeded" } @else { "failed (" (c.error_codes.join(", ")) ")" } }
                                td { (c.follow_up) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn missing_panel(report: &InvestigationReport) -> Markup {
    html! {
        section #missing .panel {
            h2 { "What is missing" }
            @if report.missing.is_empty() { p.note { "Nothing: every question was answered in full." } }
            ul { @for m in &report.missing { li { (m) } } }
        }
    }
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:16px 24px;background:#f6f7f9;color:#1d2430}
header h1{font-size:20px;margin:0 0 4px}.subtitle{margin:0 0 12px;color:#444}
.panel{background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:12px 16px;margin:0 0 14px}
.panel h2{font-size:16px;margin:0 0 8px}h3{font-size:13px;margin:4px 0}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#eef1f5;padding:1px 4px;border-radius:3px;word-break:break-all}
.note{color:#666}.scroll{overflow-x:auto}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0}dt{font-weight:600}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}svg text.detail,svg text.axis{fill:#666;font-size:11px}
.chain .node rect{fill:#eaf1fb;stroke:#3b6fb6}.chain .node[data-kind=origin] rect{fill:#f3eefc;stroke:#6b4bb6}
.chain .node[data-kind=finding] rect{fill:#fdeceb;stroke:#c0392b;stroke-width:2}.chain .node[data-kind=derived] rect{fill:#fff6e5;stroke:#c98a12}
.chain .edge line{stroke:#555;stroke-width:1.5}.chain .edge.gap line{stroke-dasharray:6 4;stroke:#c0392b}#arrow path{fill:#555}
.timeline .row{stroke:#e2e5ea}.timeline .call{fill:#3b6fb6;fill-opacity:.8}.timeline .call.failed{fill:#c0392b}
.finding-time{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 3}
.volume .bar{fill:#9fb4d3}.volume .bar.in-window{fill:#c0392b}.window-shade{fill:#fbe3e0}.baseline-rate{stroke:#1d2430;stroke-dasharray:5 3}.axis-line{stroke:#999}
.lists{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:8px}.lists ul{margin:0;padding-left:18px}
.map{margin:8px 0 0}.world .sea{fill:#eef3f8}.world .land{fill:#cfd6df}
.location{stroke:#fff;stroke-width:.8}.location.new{fill:#c0392b}.location.seen{fill:#3b6fb6}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e2e5ea;padding:4px 6px;text-align:left;vertical-align:top}tr.failed td{color:#7a2a20}
footer{color:#888;font-size:12px;margin-top:8px}
"#;

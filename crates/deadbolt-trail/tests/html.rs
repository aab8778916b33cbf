//! The HTML investigation report, parsed back with a real HTML parser: the panels, the role
//! chain's nodes and edges, the timeline's calls, the call volume's bars and window shading,
//! the world map's point; a hostile fixture renders as text; a 1,000-event window stays small.

use std::path::PathBuf;

use deadbolt_trail::html::{render, DecisionPanel, CONTENT_SECURITY_POLICY};
use deadbolt_trail::{
    investigate, Budget, FileSource, InvestigationOptions, InvestigationReport, Subject,
};
use scraper::{Html, Selector};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn subject() -> Subject {
    let raw = std::fs::read_to_string(repo().join("tests/fixtures/scenario/finding.json")).unwrap();
    let event = deadbolt_core::parse_event(&raw).unwrap();
    Subject::from_finding(&event.detail).unwrap()
}

async fn report_from(dir: &str) -> InvestigationReport {
    investigate(
        &FileSource::new(repo().join(dir)),
        &subject(),
        &InvestigationOptions::default(),
        Budget::new(1000, 100_000, None),
    )
    .await
}

fn select<'a>(page: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap_or_else(|e| panic!("{css}: {e:?}"));
    page.select(&selector).collect()
}

fn text(e: &scraper::ElementRef<'_>) -> String {
    e.text().collect::<Vec<_>>().join("")
}

#[tokio::test]
async fn the_seed_scenario_is_drawn_panel_by_panel() {
    let report = report_from("tests/fixtures/cloudtrail").await;
    let decision = DecisionPanel::from_record_json(&serde_json::json!({
        "outcome": "contained", "reason": "deny_all_attached", "message": "DenyAll on role AWSReservedSSO_…",
        "actions": [
            {"api": "iam:GetRolePolicy", "target": "role/AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5", "status": "done"},
            {"api": "iam:PutRolePolicy", "target": "role/AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5", "status": "done"}
        ]
    }))
    .unwrap();
    let html = render(&report, Some(&decision));
    let page = Html::parse_document(&html);

    // Self-contained: the policy forbids everything but inline styles; nothing to run or fetch.
    let csp = select(&page, r#"meta[http-equiv="Content-Security-Policy"]"#);
    assert_eq!(csp.len(), 1);
    assert_eq!(
        csp[0].value().attr("content"),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'"));
    assert!(select(&page, "script, link, iframe, object, embed, img[src^=http]").is_empty());
    for attr in ["src", "href"] {
        for e in select(&page, &format!("[{attr}]")) {
            let v = e.value().attr(attr).unwrap();
            assert!(v.starts_with('#') || v.starts_with("data:"), "{attr}={v}");
        }
    }

    // The panels.
    for id in [
        "decision",
        "attribution",
        "timeline",
        "volume",
        "new-behaviour",
        "left-behind",
        "missing",
    ] {
        assert_eq!(select(&page, &format!("section#{id}")).len(), 1, "{id}");
    }
    let written: Vec<String> = select(&page, "#decision code.written")
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        written,
        ["iam:PutRolePolicy role/AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5"]
    );
    assert_eq!(
        select(&page, "#decision code.undo").iter().map(text).collect::<Vec<_>>(),
        ["deadbolt unblock --role AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5 --reason '...'"]
    );

    // The chain: sara → the Identity Center role (the finding's key) → DemoRole1, left to right.
    let nodes = select(&page, "svg.chain g.node");
    let kinds: Vec<&str> = nodes
        .iter()
        .map(|n| n.value().attr("data-kind").unwrap())
        .collect();
    assert_eq!(kinds, ["origin", "finding", "derived"]);
    assert!(
        text(&nodes[0]).contains("Identity Center user sara"),
        "{}",
        text(&nodes[0])
    );
    assert!(text(&nodes[1]).contains("AWSReservedSSO_AdministratorAccess"));
    assert!(text(&nodes[2]).contains("DemoRole1"));
    let edges = select(&page, "svg.chain g.edge");
    assert_eq!(edges.len(), nodes.len() - 1);
    assert!(text(&edges[0]).contains("AssumeRoleWithSAML"));
    assert!(text(&edges[1]).contains("AssumeRole"));
    assert!(
        select(&page, "svg.chain g.edge.gap").is_empty(),
        "the chain is complete"
    );

    // The timeline: one row per session, every call in the window, the failed ones marked.
    let rows = select(&page, "svg.timeline g.session");
    assert_eq!(rows.len(), report.activity.len());
    let calls: u64 = report.activity.iter().map(|s| s.total_calls()).sum();
    let failures: u64 = report
        .activity
        .iter()
        .flat_map(|s| &s.actions)
        .map(|a| a.failures)
        .sum();
    assert_eq!(
        select(&page, "svg.timeline circle.call").len() as u64,
        calls
    );
    assert_eq!(
        select(&page, "svg.timeline circle.call.failed").len() as u64,
        failures
    );
    assert!(failures >= 1, "the failed AttachRolePolicy");
    let titles: Vec<String> = select(&page, "svg.timeline circle.call title")
        .iter()
        .map(text)
        .collect();
    for name in ["StopLogging", "RunInstances", "AttachRolePolicy"] {
        assert!(
            titles.iter().any(|t| t.starts_with(name)),
            "{name} not on the timeline: {titles:?}"
        );
    }
    assert_eq!(select(&page, "svg.timeline line.finding-time").len(), 1);

    // The call volume: the window shaded, bars summing to the calls counted, the baseline rate.
    let volume = &report.new_behaviour.as_ref().unwrap().call_volume;
    assert_eq!(select(&page, "svg.volume rect.window-shade").len(), 1);
    let bars: u64 = select(&page, "svg.volume rect.bar")
        .iter()
        .map(|b| {
            b.value()
                .attr("data-calls")
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(bars, volume.window_calls + volume.baseline_calls);
    assert!(!select(&page, "svg.volume rect.bar.in-window").is_empty());
    let rate: f64 = select(&page, "svg.volume line.baseline-rate")[0]
        .value()
        .attr("data-rate")
        .unwrap()
        .parse()
        .unwrap();
    assert!((rate - volume.baseline_calls as f64 / volume.baseline_hours).abs() < 1e-3);
    assert_eq!(
        text(&select(&page, "#volume p.statement")[0]),
        volume.statement
    );

    // What is new, and where the caller was (Ashburn, from the finding's geoLocation).
    let apis: Vec<String> = select(&page, "ul.new-apis li").iter().map(text).collect();
    assert!(apis.iter().any(|a| a.contains("StopLogging")), "{apis:?}");
    let point = select(&page, "svg.world circle.location");
    assert_eq!(point.len(), 1);
    let cx: f64 = point[0].value().attr("cx").unwrap().parse().unwrap();
    let cy: f64 = point[0].value().attr("cy").unwrap().parse().unwrap();
    assert!((cx - (180.0 - 77.4875)).abs() < 0.01 && (cy - (90.0 - 39.0437)).abs() < 0.01);
    assert!(text(&point[0]).contains("Ashburn"));
    let land = select(&page, "svg.world path.land");
    assert!(
        land[0].value().attr("d").unwrap().len() > 10_000,
        "the world outline"
    );

    // Left behind: the failed and the successful AttachRolePolicy, each with its follow-up.
    let rows: Vec<String> = select(&page, "table.persistence tbody tr")
        .iter()
        .map(text)
        .collect();
    assert_eq!(rows.len(), report.persistence.len());
    assert!(
        rows.iter()
            .any(|r| r.contains("AttachRolePolicy") && r.contains("failed (AccessDenied)")),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.contains("AttachRolePolicy")
            && r.contains("succeeded")
            && r.contains("detach")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn attacker_controlled_strings_render_as_text() {
    let report = report_from("tests/fixtures/cloudtrail-hostile").await;
    let html = render(&report, None);
    let page = Html::parse_document(&html);
    assert!(select(&page, "script").is_empty(), "no script element");
    // The structure survives: the chain graph still has its three boxes and one svg each.
    assert_eq!(select(&page, "svg.chain g.node").len(), 3);
    assert_eq!(select(&page, "svg").len(), 4);
    let all = text(&page.root_element());
    assert!(
        all.contains(r#""><script>alert(1)</script>"#),
        "the user agent, as text"
    );
    assert!(
        all.contains("sara</svg><script>alert(2)</script>"),
        "the session name, as text"
    );
    assert!(!html.contains("<script>"), "never raw markup");
    // Without a decision record the panel says how to give one.
    assert!(text(&select(&page, "#decision")[0]).contains("--decision RECORD.json"));
}

#[tokio::test]
async fn a_thousand_event_window_stays_under_a_megabyte() {
    let mut report = report_from("tests/fixtures/cloudtrail").await;
    let session = report.activity.last_mut().unwrap();
    let start = report.window.as_ref().unwrap().start_ms;
    session.calls = (0..1000)
        .map(|i| deadbolt_trail::activity::CallPoint {
            at_ms: start + i * 3_000,
            event_source: "ec2.amazonaws.com".into(),
            event_name: format!("DescribeInstances{i}"),
            error_code: (i % 10 == 0).then(|| "UnauthorizedOperation".to_string()),
        })
        .collect();
    let html = render(&report, None);
    let page = Html::parse_document(&html);
    assert!(select(&page, "svg.timeline circle.call").len() >= 1000);
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
}

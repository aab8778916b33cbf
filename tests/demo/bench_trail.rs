//! Throughput and memory of the files evidence source plus the analysis: generates N CloudTrail
//! records as S3 delivers them (gzipped `{"Records":[…]}` files of 1,000 records), then times
//! every record parsed, one filtered pass, and a whole `investigate()` for a finding whose
//! sessions are buried among them, and reports records/s and the process's peak RSS. Run for two sizes to show memory does
//! not grow with the input: `deadbolt-bench-trail 100000` and `deadbolt-bench-trail 1000000`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use deadbolt_trail::{
    investigate, Budget, EventFilter, EvidenceSource, FileSource, InvestigationOptions, Subject,
    Window,
};
use flate2::write::GzEncoder;

const PER_FILE: usize = 1000;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("deadbolt-bench-trail-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let t = Instant::now();
    let bytes = generate(&dir, n);
    eprintln!(
        "generated {n} records ({:.0} MB of JSON) in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let source = FileSource::new(&dir);
    let window = Window::new(1_795_100_000_000, 1_795_300_000_000).expect("window");

    let t = Instant::now();
    let mut matched = 0u64;
    let mut budget = Budget::new(u32::MAX, u64::MAX, None);
    let coverage = rt
        .block_on(source.events(
            &EventFilter::CallerAccessKey("ASIARDEMO1SARAEXAMP2".into()),
            window,
            &mut budget,
            &mut |_| matched += 1,
        ))
        .expect("scan");
    let pass = t.elapsed().as_secs_f64();

    // Every record parsed into a `Record`, no text pre-test: the worst case (a query like
    // access-denied that cannot be narrowed by text).
    let t = Instant::now();
    let mut parsed = 0u64;
    source.scan(|_| parsed += 1).expect("full scan");
    let full = t.elapsed().as_secs_f64();
    assert_eq!(parsed as usize, n);

    let raw = std::fs::read_to_string(
        deadbolt_e2e::repo_root().join("tests/fixtures/scenario/finding.json"),
    )
    .expect("finding");
    let event = deadbolt_core::parse_event(&raw).expect("finding parses");
    let subject = Subject::from_finding(&event.detail).expect("subject");
    let t = Instant::now();
    let report = rt.block_on(investigate(
        &source,
        &subject,
        &InvestigationOptions::default(),
        Budget::new(1000, 1_000_000, None),
    ));
    let whole = t.elapsed().as_secs_f64();
    let questions: usize = report.sources.iter().map(|s| s.questions.len()).sum();

    println!("| records | every record parsed | one filtered pass (by access key) | investigate() ({questions} passes) | peak RSS |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| {n} | {:.2} s, {:.0} records/s | {:.2} s, {:.0} records/s ({} matched) | {:.2} s, {:.0} records/s read | {:.1} MiB |",
        full,
        n as f64 / full,
        pass,
        n as f64 / pass,
        coverage.records,
        whole,
        (n * questions) as f64 / whole,
        peak_rss_kib() as f64 / 1024.0
    );
    assert!(
        report.origin_summary.contains("sara"),
        "{}",
        report.origin_summary
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Background records shaped like the scenario's, with unique ids, keys and times, plus the
/// scenario's own records once, in S3's file layout.
fn generate(dir: &Path, n: usize) -> usize {
    let fixtures = deadbolt_e2e::repo_root().join("tests/fixtures/cloudtrail/scenario-window.json");
    let scenario: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures).expect("scenario")).expect("json");
    let records = scenario["Records"].as_array().expect("Records").clone();
    let template = serde_json::to_string(&records[0]).expect("template"); // bob's ListBuckets
    let mut written = 0;
    let mut i = 0;
    let mut file_no = 0;
    while i < n {
        let path = dir.join(format!(
            "123456789012_CloudTrail_us-east-1_{file_no:07}.json.gz"
        ));
        let file = std::fs::File::create(path).expect("file");
        let mut gz = GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
        gz.write_all(b"{\"Records\":[").expect("write");
        let mut first = true;
        for _ in 0..PER_FILE.min(n - i) {
            let record = if i < records.len() {
                serde_json::to_string(&records[i]).expect("record")
            } else {
                let second = i % 3600;
                template
                    .replace("AKIARBOBEXAMPLEKEY01", &format!("AKIABG{:014}", i % 5000))
                    .replace(
                        "2026-11-20T13:50:02Z",
                        &format!(
                            "2026-11-20T1{}:{:02}:{:02}Z",
                            3 + (i / 3600) % 3,
                            second / 60,
                            second % 60
                        ),
                    )
                    .replace("\"eventID\":\"", &format!("\"eventID\":\"{i:012}-"))
            };
            if !first {
                gz.write_all(b",").expect("write");
            }
            first = false;
            written += record.len();
            gz.write_all(record.as_bytes()).expect("write");
            i += 1;
        }
        gz.write_all(b"]}").expect("write");
        gz.finish().expect("gzip");
        file_no += 1;
    }
    written
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

//! Streaming reader for CloudTrail log files as S3 delivers them: one JSON object
//! `{"Records":[ ... ]}` per file, usually gzipped (`.json.gz`).
//!
//! A day of a busy account is gigabytes, so records are handed to a callback one at a time and
//! at most one record is held in memory, never a file's whole `Records` array. Bad input is
//! the normal case in incident response (partial downloads, hand-edited exports), so a bad
//! record or file is skipped and counted in [`ReadStats`], never a panic or an aborted run.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::record::Record;

/// How many unreadable files are described in [`ReadStats::problems`]; the count is always
/// exact, the descriptions are capped so a folder of junk cannot grow memory without bound.
pub const MAX_REPORTED_PROBLEMS: usize = 100;

/// What a read saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Log files opened (`.json` / `.json.gz`), readable or not.
    pub files: u64,
    /// Records delivered to the callback.
    pub records: u64,
    /// Array elements that were valid JSON but not a usable record (missing `userIdentity`,
    /// wrong types, ...).
    pub skipped_records: u64,
    /// Files that could not be read to their end (not JSON, truncated, not UTF-8, bad gzip),
    /// and folders that could not be listed. Records before the point of failure were still
    /// delivered.
    pub unreadable_files: u64,
    /// Why each unreadable file failed (at most [`MAX_REPORTED_PROBLEMS`]).
    pub problems: Vec<FileProblem>,
}

/// One file that could not be read completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub path: PathBuf,
    pub reason: String,
}

impl ReadStats {
    fn merge(&mut self, other: ReadStats) {
        self.files += other.files;
        self.records += other.records;
        self.skipped_records += other.skipped_records;
        self.unreadable_files += other.unreadable_files;
        let room = MAX_REPORTED_PROBLEMS.saturating_sub(self.problems.len());
        self.problems.extend(other.problems.into_iter().take(room));
    }

    fn note_unreadable(&mut self, path: &Path, reason: String) {
        self.unreadable_files += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(FileProblem {
                path: path.to_path_buf(),
                reason,
            });
        }
    }
}

/// Only the starting path can fail the whole read: everything below it is skipped and counted.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error(
        "cannot read CloudTrail logs at {path}: {source} (check the path exists and is readable)"
    )]
    Inaccessible {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a CloudTrail log file: expected a folder, or a file ending in .json or .json.gz")]
    NotALogFile { path: PathBuf },
}

/// Reads every CloudTrail log file at `path` (a `.json` / `.json.gz` file, or a folder walked
/// recursively in path order) and calls `on_record` once per usable record.
pub fn read_path(path: &Path, on_record: impl FnMut(Record)) -> Result<ReadStats, ReadError> {
    read_path_matching(path, &|_| true, on_record)
}

/// Like [`read_path`], but a record whose raw JSON text fails `candidate` is not parsed at all
/// (and not counted): a cheap text test in front of the full parse. `candidate` must never
/// reject a record the caller wants; see `EventFilter::could_match`.
pub fn read_path_matching(
    path: &Path,
    candidate: &dyn Fn(&str) -> bool,
    mut on_record: impl FnMut(Record),
) -> Result<ReadStats, ReadError> {
    let metadata = std::fs::metadata(path).map_err(|source| ReadError::Inaccessible {
        path: path.to_path_buf(),
        source,
    })?;
    let mut stats = ReadStats::default();
    if metadata.is_dir() {
        let mut files = Vec::new();
        collect_log_files(path, &mut files, &mut stats);
        // Sorted so runs are reproducible; S3 keys sort by account/region/date already.
        files.sort();
        for file in files {
            stats.merge(read_file(&file, candidate, &mut on_record));
        }
    } else if is_log_file_name(path) {
        stats.merge(read_file(path, candidate, &mut on_record));
    } else {
        return Err(ReadError::NotALogFile {
            path: path.to_path_buf(),
        });
    }
    Ok(stats)
}

fn is_log_file_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".json") || name.ends_with(".json.gz")
}

fn collect_log_files(folder: &Path, files: &mut Vec<PathBuf>, stats: &mut ReadStats) {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) => {
            stats.note_unreadable(folder, format!("cannot list folder: {error}"));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                stats.note_unreadable(folder, format!("cannot list folder: {error}"));
                continue;
            }
        };
        let path = entry.path();
        // file_type() does not follow symlinks, so a link loop cannot recurse forever.
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect_log_files(&path, files, stats),
            Ok(_) if is_log_file_name(&path) => files.push(path),
            Ok(_) => {}
            Err(error) => stats.note_unreadable(&path, format!("cannot stat: {error}")),
        }
    }
}

/// Reads one log file; never fails, problems are recorded in the returned stats.
fn read_file(
    path: &Path,
    candidate: &dyn Fn(&str) -> bool,
    on_record: &mut impl FnMut(Record),
) -> ReadStats {
    let mut stats = ReadStats {
        files: 1,
        ..ReadStats::default()
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) => {
            stats.note_unreadable(path, format!("cannot open: {error}"));
            return stats;
        }
    };
    let gzipped = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    let outcome = if gzipped {
        // Multi-member: concatenated gzip streams are valid gzip and some tools write them.
        let decoder = MultiGzDecoder::new(BufReader::new(file));
        read_log_object(decoder, candidate, on_record)
    } else {
        read_log_object(file, candidate, on_record)
    };
    stats.records = outcome.records;
    stats.skipped_records = outcome.skipped_records;
    if let Some(error) = outcome.error {
        stats.note_unreadable(path, error.to_string());
    }
    stats
}

/// Log files up to this size (decompressed) are read into memory and parsed from the slice,
/// which is several times faster than serde_json's reader path. CloudTrail delivers files of
/// a few megabytes, so this holds one file at a time; anything larger is streamed instead.
pub const IN_MEMORY_FILE_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads one log document (already decompressed, or a decoder over it) the fastest safe way:
/// in memory and parsed from the slice up to [`IN_MEMORY_FILE_LIMIT`], streamed beyond it.
/// Files on disk and S3 objects both come through here.
pub fn read_log_object(
    reader: impl Read,
    candidate: &dyn Fn(&str) -> bool,
    on_record: &mut impl FnMut(Record),
) -> StreamOutcome {
    let mut reader = BufReader::new(reader);
    let mut head = Vec::new();
    if let Err(error) = (&mut reader)
        .take(IN_MEMORY_FILE_LIMIT + 1)
        .read_to_end(&mut head)
    {
        // Keep what decompressed cleanly; the parser reports where the document broke off.
        let mut outcome = read_matching_slice(&head, candidate, on_record);
        if outcome.error.is_none() {
            outcome.error = Some(StreamError::Io(error.to_string()));
        }
        return outcome;
    }
    if head.len() as u64 <= IN_MEMORY_FILE_LIMIT {
        return read_matching_slice(&head, candidate, on_record);
    }
    // Larger than the limit: continue as a stream from where the buffer ends.
    read_matching_stream(
        BufReader::new(head.as_slice().chain(reader)),
        candidate,
        on_record,
    )
}

/// [`read_matching_stream`] over a document already in memory.
fn read_matching_slice(
    document: &[u8],
    candidate: &dyn Fn(&str) -> bool,
    on_record: &mut impl FnMut(Record),
) -> StreamOutcome {
    read_document(
        serde_json::Deserializer::from_slice(document),
        candidate,
        on_record,
    )
}

/// The result of streaming one `{"Records":[...]}` document.
#[derive(Debug, Default)]
pub struct StreamOutcome {
    pub records: u64,
    pub skipped_records: u64,
    /// Set when the document could not be read to its end; the counts cover what came before.
    pub error: Option<StreamError>,
}

/// Why a log document could not be read to its end.
#[derive(Debug, Error)]
pub enum StreamError {
    #[error("not a complete CloudTrail log document (truncated, not UTF-8, or not JSON): {0}")]
    Json(#[from] serde_json::Error),
    #[error("could not read or decompress the file to its end: {0}")]
    Io(String),
}

/// Streams one CloudTrail log document from `reader` (already decompressed).
///
/// Each element of `Records` is first captured as raw JSON text (bounded by the size of one
/// record) and then parsed, so a record with the wrong shape is skipped without losing the
/// position in the stream.
pub fn read_log_stream(reader: impl Read, on_record: &mut impl FnMut(Record)) -> StreamOutcome {
    read_matching_stream(reader, &|_| true, on_record)
}

/// [`read_log_stream`] with a text pre-test (see [`read_path_matching`]).
pub fn read_matching_stream(
    reader: impl Read,
    candidate: &dyn Fn(&str) -> bool,
    on_record: &mut impl FnMut(Record),
) -> StreamOutcome {
    read_document(
        serde_json::Deserializer::from_reader(reader),
        candidate,
        on_record,
    )
}

/// The one document walk both the slice and the reader paths use.
fn read_document<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
    candidate: &dyn Fn(&str) -> bool,
    on_record: &mut impl FnMut(Record),
) -> StreamOutcome {
    let mut outcome = StreamOutcome::default();
    let visitor = LogDocumentVisitor {
        candidate,
        on_record,
        records: &mut outcome.records,
        skipped_records: &mut outcome.skipped_records,
    };
    let result = deserializer
        .deserialize_map(visitor)
        // Trailing garbage after the closing brace means the file is not what it claims to be.
        .and_then(|()| deserializer.end());
    if let Err(error) = result {
        outcome.error = Some(StreamError::Json(error));
    }
    outcome
}

struct LogDocumentVisitor<'a, F> {
    candidate: &'a dyn Fn(&str) -> bool,
    on_record: &'a mut F,
    records: &'a mut u64,
    skipped_records: &'a mut u64,
}

impl<'de, F: FnMut(Record)> Visitor<'de> for LogDocumentVisitor<'_, F> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(r#"a CloudTrail log object {"Records":[...]}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let LogDocumentVisitor {
            candidate,
            on_record,
            records,
            skipped_records,
        } = self;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" {
                map.next_value_seed(RecordsSeed {
                    candidate,
                    on_record: &mut *on_record,
                    records: &mut *records,
                    skipped_records: &mut *skipped_records,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct RecordsSeed<'a, F> {
    candidate: &'a dyn Fn(&str) -> bool,
    on_record: &'a mut F,
    records: &'a mut u64,
    skipped_records: &'a mut u64,
}

impl<'de, F: FnMut(Record)> DeserializeSeed<'de> for RecordsSeed<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Record)> Visitor<'de> for RecordsSeed<'_, F> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of CloudTrail records")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        // Each element is captured as raw text (validated, not built into a tree), tested
        // cheaply, and only then parsed from the slice: about twice as fast as a `Value` tree
        // converted into a `Record`, and a bad element still only costs that element.
        while let Some(element) = seq.next_element::<Box<RawValue>>()? {
            if !(self.candidate)(element.get()) {
                continue;
            }
            match serde_json::from_str::<Record>(element.get()) {
                Ok(record) => {
                    *self.records += 1;
                    (self.on_record)(record);
                }
                Err(_) => *self.skipped_records += 1,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(json: &str) -> (Vec<Record>, StreamOutcome) {
        let mut seen = Vec::new();
        let outcome = read_log_stream(json.as_bytes(), &mut |record| seen.push(record));
        (seen, outcome)
    }

    const GOOD: &str = r#"{"eventTime":"2026-11-20T14:00:00Z","eventSource":"s3.amazonaws.com",
        "eventName":"ListBuckets","eventID":"ok-1","userIdentity":{"type":"IAMUser"}}"#;

    #[test]
    fn streams_records_and_ignores_other_top_level_keys() {
        let json = format!(r#"{{"before":[1,2],"Records":[{GOOD},{GOOD}],"after":{{"x":null}}}}"#);
        let (seen, outcome) = stream(&json);
        assert_eq!(seen.len(), 2);
        assert_eq!(outcome.records, 2);
        assert!(outcome.error.is_none());
    }

    /// A log document produced on demand, remembering how many records it has handed out.
    struct GeneratedLog {
        total_records: usize,
        records_produced: std::rc::Rc<std::cell::Cell<usize>>,
        pending: Vec<u8>,
        finished: bool,
    }

    impl Read for GeneratedLog {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() && !self.finished {
                let produced = self.records_produced.get();
                self.pending = match produced {
                    0 => format!(r#"{{"Records":[{GOOD}"#).into_bytes(),
                    n if n < self.total_records => format!(",{GOOD}").into_bytes(),
                    _ => {
                        self.finished = true;
                        b"]}".to_vec()
                    }
                };
                if !self.finished {
                    self.records_produced.set(produced + 1);
                }
            }
            let count = buffer.len().min(self.pending.len());
            buffer[..count].copy_from_slice(&self.pending[..count]);
            self.pending.drain(..count);
            Ok(count)
        }
    }

    #[test]
    fn records_are_delivered_while_the_file_is_still_being_read() {
        let records_produced = std::rc::Rc::new(std::cell::Cell::new(0));
        let log = GeneratedLog {
            total_records: 5_000,
            records_produced: records_produced.clone(),
            pending: Vec::new(),
            finished: false,
        };
        let mut delivered = 0_usize;
        let outcome = read_log_stream(log, &mut |_record| {
            delivered += 1;
            // Never more than a record or two ahead of the callback: the array is not buffered.
            assert!(records_produced.get() <= delivered + 1);
        });
        assert!(outcome.error.is_none());
        assert_eq!(outcome.records, 5_000);
        assert_eq!(delivered, 5_000);
    }

    #[test]
    fn skips_and_counts_records_of_the_wrong_shape() {
        let json = format!(
            r#"{{"Records":[{GOOD},{{"eventName":"NoIdentity"}},42,{{"eventTime":1,"eventSource":"s",
               "eventName":"n","eventID":"e","userIdentity":{{"type":"IAMUser"}}}},{GOOD}]}}"#
        );
        let (seen, outcome) = stream(&json);
        assert_eq!(seen.len(), 2);
        assert_eq!(outcome.skipped_records, 3);
        assert!(outcome.error.is_none());
    }

    #[test]
    fn truncation_keeps_earlier_records_and_reports_the_error() {
        let json = format!(r#"{{"Records":[{GOOD},{GOOD},{{"eventTime":"2026-"#);
        let (seen, outcome) = stream(&json);
        assert_eq!(seen.len(), 2);
        let error = outcome.error.unwrap().to_string();
        assert!(error.contains("truncated"), "{error}");
    }

    #[test]
    fn non_utf8_and_non_objects_are_errors_not_panics() {
        let mut bytes = br#"{"Records":[{"eventName":""#.to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(br#""}]}"#);
        let outcome = read_log_stream(bytes.as_slice(), &mut |_| {});
        assert!(outcome.error.is_some());

        for not_a_log in ["[]", "\"Records\"", "", "{\"Records\":{}}", "{} trailing"] {
            let (_, outcome) = stream(not_a_log);
            assert!(outcome.error.is_some(), "{not_a_log:?} was accepted");
        }
    }
}

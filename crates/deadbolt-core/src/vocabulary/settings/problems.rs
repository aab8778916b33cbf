//! Why a document or a `config set` was refused: where, which key, what is accepted.

/// Where in the document an error is (1-based, as serde_json and editors count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// `"line L, column C: "`, or nothing for `config set` (which has no document position).
fn pos_prefix(p: &Option<Position>) -> String {
    p.map(|p| format!("line {}, column {}: ", p.line, p.column))
        .unwrap_or_default()
}

/// `" at line L, column C"`, or nothing.
fn pos_suffix(p: &Option<Position>) -> String {
    p.map(|p| format!(" at line {}, column {}", p.line, p.column))
        .unwrap_or_default()
}

/// Why a configuration document (or a `config set`) was refused. Each message says where, which
/// key, and what is accepted, so the operator can fix it without reading the source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("the configuration document is empty; accepted: a JSON object such as {{\"version\": 1, \"mode\": \"dry-run\"}} (see docs/configuration.md)")]
    Empty,
    #[error("the configuration document is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error(
        "line {line}, column {column}: the configuration document is not valid JSON: {message}"
    )]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unknown key {key:?}{}; accepted keys: {accepted}", pos_suffix(.position))]
    UnknownKey {
        key: String,
        position: Option<Position>,
        accepted: String,
    },
    #[error("duplicate key {key:?}{}; each key may appear only once", pos_suffix(.position))]
    DuplicateKey {
        key: String,
        position: Option<Position>,
    },
    #[error("{}{key} is missing; accepted values: {accepted}", pos_prefix(.position))]
    MissingKey {
        key: String,
        position: Option<Position>,
        accepted: String,
    },
    #[error("{}{key} {problem}; accepted values: {accepted}", pos_prefix(.position))]
    InvalidValue {
        key: String,
        /// What is wrong with the value, e.g. `"enforcing" is not accepted`.
        problem: String,
        position: Option<Position>,
        accepted: String,
    },
}

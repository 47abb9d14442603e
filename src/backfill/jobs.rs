//! Reading and validating a JSON Lines job file: one JSON object per line, all lines checked
//! before anything is sent, every problem reported with its line number.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// SQS's message size limit (body plus attributes), as the backfill contract states it.
/// (AWS raised the service limit to 1 MiB in 2025; 256 KiB stays safe on every queue.)
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// Message attribute naming the input file a message came from.
pub const ATTR_SOURCE: &str = "spillway-backfill";
/// Message attribute carrying the job id.
pub const ATTR_JOB_ID: &str = "spillway-job-id";
const ATTR_TYPE: &str = "String";

/// One valid job, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// 1-based line number in the input file.
    pub line: usize,
    /// The job's `id` (a number is kept in its JSON spelling), or one derived from the line
    /// number and content (`line-<n>-<hash>`), stable across runs on the same file.
    pub id: String,
    /// The line exactly as given (without its line ending): the message body.
    pub body: String,
    /// The optional `duration_s` hint.
    pub duration_s: Option<f64>,
}

impl Job {
    /// The size SQS counts for this message: body plus our two attributes (name, type, value).
    pub fn message_bytes(&self, source_name: &str) -> usize {
        message_bytes(&self.body, &self.id, source_name)
    }
}

fn message_bytes(body: &str, id: &str, source_name: &str) -> usize {
    body.len()
        + ATTR_SOURCE.len()
        + ATTR_TYPE.len()
        + source_name.len()
        + ATTR_JOB_ID.len()
        + ATTR_TYPE.len()
        + id.len()
}

/// One rejected line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number in the input file.
    pub line: usize,
    pub reason: String,
    /// The original line (lossily decoded if it was not UTF-8).
    pub text: String,
}

/// The result of reading a job file: the valid jobs, the rejected lines, and the file's
/// identity (size and SHA-256) that a checkpoint is tied to.
#[derive(Debug, Clone)]
pub struct JobFile {
    pub jobs: Vec<Job>,
    pub problems: Vec<Problem>,
    pub blank_lines: usize,
    pub size: u64,
    pub sha256: String,
}

/// Lowercase hex of SHA-256 over `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether SQS accepts `c` in a message body or attribute value.
pub fn sqs_char_ok(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// Parses and validates every line of `bytes`. `source_name` is the value of the
/// `spillway-backfill` attribute (it counts towards the message size).
pub fn parse_jobs(bytes: &[u8], source_name: &str) -> JobFile {
    let mut jobs = Vec::new();
    let mut problems = Vec::new();
    let mut blank_lines = 0;
    let mut first_line_of_id: HashMap<String, usize> = HashMap::new();

    let content = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut pieces: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop(); // the file's final newline
    }
    for (index, raw) in pieces.into_iter().enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(e) => {
                problems.push(Problem {
                    line,
                    reason: format!("not valid UTF-8 (at byte {})", e.valid_up_to() + 1),
                    text: String::from_utf8_lossy(raw).into_owned(),
                });
                continue;
            }
        };
        if text.trim().is_empty() {
            blank_lines += 1;
            continue;
        }
        match check_line(line, text, source_name, &first_line_of_id) {
            Ok(job) => {
                first_line_of_id.insert(job.id.clone(), line);
                jobs.push(job);
            }
            Err(reason) => problems.push(Problem {
                line,
                reason,
                text: text.to_owned(),
            }),
        }
    }
    JobFile {
        jobs,
        problems,
        blank_lines,
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

fn check_line(
    line: usize,
    text: &str,
    source_name: &str,
    seen: &HashMap<String, usize>,
) -> Result<Job, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| json_reason(&e))?;
    let Value::Object(object) = value else {
        return Err(format!("not a JSON object (got {})", kind(&value)));
    };
    let id = match object.get("id") {
        None => format!("line-{line}-{}", &sha256_hex(text.as_bytes())[..12]),
        Some(Value::String(s)) if s.is_empty() => return Err("`id` is an empty string".into()),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(format!(
                "`id` must be a string or a number, got {}",
                kind(other)
            ));
        }
    };
    if let Some(bad) = id.chars().find(|&c| !sqs_char_ok(c)) {
        return Err(format!(
            "`id` contains U+{:04X}, which SQS does not accept",
            bad as u32
        ));
    }
    if let Some(first) = seen.get(&id) {
        return Err(format!("duplicate id {id:?} (first used on line {first})"));
    }
    let duration_s = match object.get("duration_s") {
        None => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(d) if d >= 0.0 => Some(d),
            _ => return Err(format!("`duration_s` must be non-negative, got {n}")),
        },
        Some(other) => {
            return Err(format!(
                "`duration_s` must be a non-negative number, got {}",
                kind(other)
            ));
        }
    };
    if let Some(bad) = text.chars().find(|&c| !sqs_char_ok(c)) {
        return Err(format!(
            "contains U+{:04X}, which SQS does not accept in a message",
            bad as u32
        ));
    }
    let size = message_bytes(text, &id, source_name);
    if size > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message is {size} bytes with its attributes, over SQS's {MAX_MESSAGE_BYTES}-byte (256 KiB) limit"
        ));
    }
    Ok(Job {
        line,
        id,
        body: text.to_owned(),
        duration_s,
    })
}

/// serde's message without its "at line 1 column N" suffix, then the column.
fn json_reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let message = full
        .rfind(" at line ")
        .map_or(full.as_str(), |at| &full[..at]);
    format!("invalid JSON at column {}: {message}", e.column())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Writes rejected lines as JSON Lines: `{"line": n, "reason": "...", "text": "<original>"}`.
pub fn write_rejects(path: &Path, problems: &[Problem]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for p in problems {
        let record = serde_json::json!({ "line": p.line, "reason": p.reason, "text": p.text });
        writeln!(out, "{record}")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> JobFile {
        parse_jobs(text.as_bytes(), "jobs.jsonl")
    }

    #[test]
    fn valid_lines_keep_their_text_and_ids() {
        let f = parse("{\"id\":\"a\",\"duration_s\":3.5}\n\n  \n{\"id\":7}\r\n{\"frame\":1}");
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.blank_lines, 2);
        let ids: Vec<_> = f.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids[..2], ["a", "7"]);
        assert!(ids[2].starts_with("line-5-"), "{}", ids[2]);
        assert_eq!(f.jobs[0].duration_s, Some(3.5));
        assert_eq!(f.jobs[1].body, "{\"id\":7}");
        assert_eq!(f.jobs[1].line, 4);
    }

    #[test]
    fn derived_ids_are_stable_and_depend_on_line_and_content() {
        let a = parse("{\"x\":1}\n{\"x\":2}\n");
        let b = parse("{\"x\":1}\n{\"x\":2}\n");
        let c = parse("{\"x\":2}\n{\"x\":1}\n");
        assert_eq!(a.jobs, b.jobs);
        assert_ne!(a.jobs[0].id, c.jobs[0].id);
        assert_ne!(a.jobs[0].id, a.jobs[1].id);
    }

    #[test]
    fn every_kind_of_bad_line_is_reported_with_its_line() {
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_MESSAGE_BYTES));
        let text = [
            "{\"id\":\"ok\"}",
            "[1,2]",
            "{\"id\": tru}",
            "{\"id\":[1]}",
            "{\"id\":\"ok\"}",
            "{\"duration_s\":-1}",
            "{\"duration_s\":\"5\"}",
            &big,
            "{\"id\":\"\\uffff\"}",
            "{\"id\":\"\"}",
        ]
        .join("\n");
        let f = parse(&text);
        assert_eq!(f.jobs.len(), 1);
        let got: Vec<(usize, &str)> = f
            .problems
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        let lines: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(got[0].1, "not a JSON object (got an array)");
        assert_eq!(got[1].1, "invalid JSON at column 11: expected ident");
        assert!(got[2].1.contains("got an array"));
        assert!(got[3].1.contains("first used on line 1"), "{}", got[3].1);
        assert!(got[4].1.contains("non-negative, got -1"));
        assert!(got[5].1.contains("got a string"));
        assert!(got[6].1.contains("256 KiB"));
        assert!(got[7].1.contains("U+FFFF"));
        assert!(got[8].1.contains("empty"));
        assert_eq!(f.problems[0].text, "[1,2]");
    }

    #[test]
    fn a_number_and_a_string_with_the_same_spelling_collide() {
        let f = parse("{\"id\":7}\n{\"id\":\"7\"}\n");
        assert_eq!(f.problems.len(), 1);
        assert_eq!(f.problems[0].line, 2);
    }

    #[test]
    fn invalid_utf8_is_a_problem_not_a_panic() {
        let f = parse_jobs(b"{\"a\":1}\n{\"b\":\"\xff\"}\n", "j");
        assert_eq!(f.jobs.len(), 1);
        assert_eq!(f.problems[0].line, 2);
        assert!(f.problems[0].reason.contains("UTF-8"));
    }

    #[test]
    fn the_size_limit_counts_the_attributes() {
        let overhead = message_bytes("", "id", "jobs.jsonl");
        let pad = MAX_MESSAGE_BYTES - overhead - "{\"id\":\"id\",\"p\":\"\"}".len();
        let exact = format!("{{\"id\":\"id\",\"p\":\"{}\"}}", "x".repeat(pad));
        let over = format!("{{\"id\":\"id\",\"p\":\"{}\"}}", "x".repeat(pad + 1));
        assert_eq!(parse(&exact).jobs.len(), 1);
        assert_eq!(
            parse(&exact).jobs[0].message_bytes("jobs.jsonl"),
            MAX_MESSAGE_BYTES
        );
        assert_eq!(parse(&over).problems.len(), 1);
    }

    #[test]
    fn the_file_identity_is_its_size_and_sha256() {
        let f = parse("abc");
        assert_eq!(f.size, 3);
        assert_eq!(
            f.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

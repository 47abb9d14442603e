//! Setting a policy file's values in its own text: each value is replaced where it is written
//! (its span in the parsed document), so comments, order and layout stay as the operator wrote
//! them; a key the file lacks is added under its section's header, or in a new section at the
//! end. `tune` simulates the policy parsed back from this very text, so what it writes is what
//! it measured.

use toml::de::{DeTable, DeValue};

/// One value to set: `section.key = value`, the value already written as TOML (`0.25`,
/// `"90s"`, `12`).
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub section: &'static str,
    pub key: &'static str,
    pub value: String,
}

/// `text` with every setting applied. Fails only when `text` is not TOML (a policy that was
/// loaded from it always is).
pub fn apply(text: &str, settings: &[Setting]) -> Result<String, String> {
    let doc = DeTable::parse(text).map_err(|e| e.to_string())?;
    // (start, end, replacement) for values written in the file, applied back to front.
    let mut replace: Vec<(usize, usize, String)> = Vec::new();
    let mut missing: Vec<&Setting> = Vec::new();
    for s in settings {
        let span = value_span(doc.get_ref(), s.section, s.key);
        match span {
            Some(span) => replace.push((span.start, span.end, s.value.clone())),
            None => missing.push(s),
        }
    }
    replace.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = text.to_string();
    for (start, end, value) in replace {
        out.replace_range(start..end, &value);
    }
    for s in missing {
        let line = format!("{} = {}\n", s.key, s.value);
        let header = format!("[{}]", s.section);
        match header_end(&out, &header) {
            Some(at) => out.insert_str(at, &line),
            None => {
                if !out.ends_with('\n') && !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("\n{header}\n{line}"));
            }
        }
    }
    Ok(out)
}

/// Whether the file writes `section.key` (false for text that is not TOML).
pub fn has_key(text: &str, section: &str, key: &str) -> bool {
    DeTable::parse(text).is_ok_and(|doc| value_span(doc.get_ref(), section, key).is_some())
}

/// Where `section.key`'s value is written in the document, if it is.
fn value_span(doc: &DeTable<'_>, section: &str, key: &str) -> Option<std::ops::Range<usize>> {
    doc.iter()
        .find(|(k, _)| k.get_ref().as_ref() == section)
        .and_then(|(_, v)| match v.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == key)
                .map(|(_, v)| v.span()),
            _ => None,
        })
}

/// The byte offset just past the line holding the section header `header` (`[target]`).
fn header_end(text: &str, header: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.split('#').next().unwrap_or("").trim();
        at += line.len();
        if bare == header {
            return Some(at);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(section: &'static str, key: &'static str, value: &str) -> Setting {
        Setting {
            section,
            key,
            value: value.to_string(),
        }
    }

    #[test]
    fn a_written_value_is_replaced_in_place_and_its_comment_kept() {
        let text = "[target]\nfree_busy_ratio = 0.25   # one per four\nwait_slo = \"30s\"\n";
        let out = apply(
            text,
            &[
                set("target", "free_busy_ratio", "0.0417"),
                set("target", "wait_slo", "\"45s\""),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "[target]\nfree_busy_ratio = 0.0417   # one per four\nwait_slo = \"45s\"\n"
        );
    }

    #[test]
    fn a_missing_key_goes_under_its_header_and_a_missing_section_at_the_end() {
        let text = "name = \"x\"\n\n[target] # t\nwait_slo = \"30s\"\n";
        let out = apply(
            text,
            &[
                set("target", "min_free", "3"),
                set("hysteresis", "band", "0.1"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "name = \"x\"\n\n[target] # t\nmin_free = 3\nwait_slo = \"30s\"\n\n[hysteresis]\nband = 0.1\n"
        );
    }

    #[test]
    fn text_that_is_not_toml_is_refused() {
        assert!(apply("[target\n", &[set("target", "min_free", "1")]).is_err());
    }
}

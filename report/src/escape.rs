//! Escaping for HTML and XML, and small text helpers (shell words: [`ballot_core::shell`]).
//!
//! Everything that comes from a run folder (keys, values, explanations,
//! parameters) is untrusted text: it goes through [`html`] or [`xml`] before
//! it reaches a page, an SVG or `junit.xml`.

/// Escapes text for HTML element content and quoted attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for XML 1.0 content and attributes; characters XML cannot
/// carry at all (most control characters) become U+FFFD.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Keep line structure in attributes too.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if xml_char_allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// XML 1.0's `Char` production (tab, newline and CR are handled by the caller).
fn xml_char_allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Cuts text to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Nanoseconds as seconds with millisecond precision, e.g. `12.345 s`.
pub fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// A duration in nanoseconds, in the most readable unit.
pub fn duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.2} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.0} µs", ns as f64 / 1e3)
    }
}

/// A JSON value as short text: strings without quotes, the rest as compact JSON.
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "null".to_string(),
        // A whole float prints as the flag was given: `30`, not `30.0`.
        serde_json::Value::Number(n) if n.is_f64() => n.as_f64().unwrap_or(f64::NAN).to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_every_markup_character() {
        assert_eq!(
            html(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(html("plain ключ"), "plain ключ");
    }

    #[test]
    fn xml_escapes_and_replaces_forbidden_characters() {
        assert_eq!(xml("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(xml("nul\u{0}bell\u{7}"), "nul\u{FFFD}bell\u{FFFD}");
        assert_eq!(xml("two\nlines\ttab"), "two&#10;lines&#9;tab");
        assert_eq!(xml("\u{FFFE}"), "\u{FFFD}");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("ключи", 10), "ключи");
        assert_eq!(truncate("ключи", 3), "кл…");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(1_500), "2 µs");
        assert_eq!(duration(12_345_678), "12.3 ms");
        assert_eq!(duration(2_500_000_000), "2.50 s");
        assert_eq!(secs(1_234_567_890), "1.235 s");
    }
}

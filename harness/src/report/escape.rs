//! Escaping for HTML, XML and the shell, and small text helpers.
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

/// Quotes one word for a POSIX shell, only when it needs quoting.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Splits a command line into words the way a POSIX shell would for simple
/// input: whitespace separates, single quotes are literal, double quotes
/// allow `\"` and `\\`, a backslash outside quotes escapes the next character.
pub fn shell_split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => word.push(n),
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => word.push('\\'),
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
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
    fn shell_quoting_round_trips_through_split() {
        let table = [
            ("plain", "plain"),
            ("--nemesis=kill,partition", "--nemesis=kill,partition"),
            ("two words", "'two words'"),
            ("it's", r"'it'\''s'"),
            ("", "''"),
            ("ballot-node --id {id}", "'ballot-node --id {id}'"),
        ];
        for (word, quoted) in table {
            assert_eq!(shell_quote(word), quoted, "quoting {word:?}");
            assert_eq!(shell_split(&shell_quote(word)), vec![word.to_string()]);
        }
    }

    #[test]
    fn shell_split_handles_quotes_and_escapes() {
        let table: [(&str, &[&str]); 5] = [
            ("ballot test --seed 3", &["ballot", "test", "--seed", "3"]),
            ("  a   b ", &["a", "b"]),
            (r#"--node-cmd "x \"y\" z""#, &["--node-cmd", r#"x "y" z"#]),
            (r"a\ b 'c d'e", &["a b", "c de"]),
            ("'unterminated", &["unterminated"]),
        ];
        for (line, words) in table {
            assert_eq!(shell_split(line), words, "splitting {line:?}");
        }
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

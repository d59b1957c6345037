//! The node command line: shell-word splitting and placeholder substitution.
//!
//! `--node-cmd` is a template such as
//! `ballot-node --id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}`.
//! It is split into words with POSIX shell quoting rules (no expansion, no
//! pipes: the program is run directly, not through `sh`), then `{id}`,
//! `{port}`, `{data_dir}` and `{peers}` (protocol v1.1: the node's peers as
//! `ID=HOST:PORT,...`, each a proxy listener for the link from this node)
//! are replaced inside each word, so a data dir with spaces stays one argument. Splitting is [`ballot_core::shell::split_words`].

use ballot_core::shell::{split_words, SplitError};

/// Why a node command template cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A quote was opened and never closed.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(&'static str),
    /// The template ends with a lone backslash.
    #[error("trailing backslash")]
    TrailingBackslash,
    /// The template has no words.
    #[error("the command is empty")]
    Empty,
    /// `{port}` is missing, so the harness could not know where the node listens.
    #[error("the command must contain {{port}} (the node's listen port)")]
    NoPort,
    /// A `{name}` placeholder the harness does not know.
    #[error("unknown placeholder {{{0}}}; known: {{id}}, {{port}}, {{data_dir}}, {{peers}}")]
    UnknownPlaceholder(String),
}

impl From<SplitError> for TemplateError {
    fn from(e: SplitError) -> Self {
        match e {
            SplitError::UnterminatedQuote(which) => TemplateError::UnterminatedQuote(which),
            SplitError::TrailingBackslash => TemplateError::TrailingBackslash,
        }
    }
}

/// Splits the template, checks its placeholders and appends `extra` words.
/// Returns the words still holding placeholders; see [`render`].
pub fn parse_template(template: &str, extra: &[String]) -> Result<Vec<String>, TemplateError> {
    let mut words = split_words(template)?;
    if words.is_empty() {
        return Err(TemplateError::Empty);
    }
    words.extend(extra.iter().cloned());
    let mut has_port = false;
    for word in &words {
        for name in placeholders(word) {
            match name {
                "port" => has_port = true,
                "id" | "data_dir" | "peers" => {}
                other => return Err(TemplateError::UnknownPlaceholder(other.to_string())),
            }
        }
    }
    if !has_port {
        return Err(TemplateError::NoPort);
    }
    Ok(words)
}

/// The `{name}` placeholders in a word (names made of `a-z` and `_`).
fn placeholders(word: &str) -> impl Iterator<Item = &str> {
    word.split('{').skip(1).filter_map(|rest| {
        let end = rest.find('}')?;
        let name = &rest[..end];
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .then_some(name)
    })
}

/// Whether a parsed template asks for the node's peers (`{peers}`).
pub fn wants_peers(words: &[String]) -> bool {
    words
        .iter()
        .any(|w| placeholders(w).any(|name| name == "peers"))
}

/// Substitutes the placeholders in each word of a parsed template.
pub fn render(words: &[String], id: usize, port: u16, data_dir: &str, peers: &str) -> Vec<String> {
    words
        .iter()
        .map(|w| {
            w.replace("{id}", &id.to_string())
                .replace("{port}", &port.to_string())
                .replace("{data_dir}", data_dir)
                .replace("{peers}", peers)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn templates_render_per_word() {
        let t = parse_template(
            "node --id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}",
            &["--bug".into(), "lazy-{id}".into()],
        )
        .unwrap();
        assert_eq!(
            render(&t, 2, 4000, "/tmp/my data", ""),
            words(&[
                "node",
                "--id",
                "2",
                "--listen",
                "127.0.0.1:4000",
                "--data-dir",
                "/tmp/my data",
                "--bug",
                "lazy-2"
            ])
        );
    }

    #[test]
    fn templates_are_checked() {
        assert_eq!(parse_template("  ", &[]), Err(TemplateError::Empty));
        assert_eq!(
            parse_template("node --id {id}", &[]),
            Err(TemplateError::NoPort)
        );
        assert_eq!(
            parse_template("node {port} {dir}", &[]),
            Err(TemplateError::UnknownPlaceholder("dir".into()))
        );
        assert!(parse_template(r#"node {port} --json '{"a":1}'"#, &[]).is_ok());
    }
}

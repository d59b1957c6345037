//! POSIX shell words: splitting a command line into words and quoting a word.
//!
//! Splitting follows the shell's quoting rules without any expansion: blanks
//! separate words, single quotes are literal, double quotes allow `\"`, `\\`,
//! `\$` and `` \` `` (any other backslash stays), a backslash outside quotes
//! escapes the next character, and backslash-newline joins lines.
//! [`split_words`] refuses what a shell would refuse; [`split_lenient`] reads
//! such input anyway (for text from a run folder, where an error helps no one).

/// Why a command line cannot be split into words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A quote was opened and never closed.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(&'static str),
    /// The line ends with a lone backslash.
    #[error("trailing backslash")]
    TrailingBackslash,
}

/// Splits a command line into words, honouring single quotes, double quotes
/// and backslash escapes as a POSIX shell does (without any expansion).
pub fn split_words(line: &str) -> Result<Vec<String>, SplitError> {
    split(line, true)
}

/// Splits like [`split_words`] but never fails: an unterminated quote runs to
/// the end of the line, a trailing backslash is dropped (kept inside double
/// quotes), and a backslash-newline is read as a newline rather than joined.
pub fn split_lenient(line: &str) -> Vec<String> {
    split(line, false).unwrap_or_else(|_| unreachable!("lenient splitting never fails"))
}

/// The one splitter behind [`split_words`] (`strict`) and [`split_lenient`].
fn split(line: &str, strict: bool) -> Result<Vec<String>, SplitError> {
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
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None if strict => return Err(SplitError::UnterminatedQuote("single")),
                        None => break,
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') if strict => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None if strict => return Err(SplitError::UnterminatedQuote("double")),
                            None => {
                                word.push('\\');
                                break;
                            }
                        },
                        Some(c) => word.push(c),
                        None if strict => return Err(SplitError::UnterminatedQuote("double")),
                        None => break,
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') if strict => {}
                    Some(c) => word.push(c),
                    None if strict => return Err(SplitError::TrailingBackslash),
                    None => {}
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
    Ok(words)
}

/// Quotes `word` so that [`split_words`] (or a shell) reads it back as one
/// word; a word of only safe characters is left as it is.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_like_a_shell() {
        let cases: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("  lead and trail  ", &["lead", "and", "trail"]),
            ("'a b' c", &["a b", "c"]),
            (r#""a \"b\" $x" c"#, &[r#"a "b" $x"#, "c"]),
            (r#""keep \n backslash""#, &[r"keep \n backslash"]),
            (r"a\ b c", &["a b", "c"]),
            ("x''y", &["xy"]),
            ("''", &[""]),
            (r#"'it'\''s'"#, &["it's"]),
            ("", &[]),
            ("a\tb\nc", &["a", "b", "c"]),
        ];
        for (line, want) in cases {
            assert_eq!(split_words(line).unwrap(), words(want), "{line:?}");
            assert_eq!(split_lenient(line), words(want), "lenient {line:?}");
        }
    }

    #[test]
    fn bad_quoting_is_an_error() {
        assert_eq!(
            split_words("a 'b"),
            Err(SplitError::UnterminatedQuote("single"))
        );
        assert_eq!(
            split_words(r#"a "b"#),
            Err(SplitError::UnterminatedQuote("double"))
        );
        assert_eq!(split_words(r"a \"), Err(SplitError::TrailingBackslash));
    }

    #[test]
    fn lenient_splitting_reads_bad_quoting() {
        let table: [(&str, &[&str]); 7] = [
            ("'unterminated", &["unterminated"]),
            ("a 'b c", &["a", "b c"]),
            (r#"a "b c"#, &["a", "b c"]),
            (r#"a "b\"#, &["a", r"b\"]),
            (r"a \", &["a", ""]),
            ("a\\\nb", &["a\nb"]),
            ("\"a\\\nb\"", &["a\\\nb"]),
        ];
        for (line, want) in table {
            assert_eq!(split_lenient(line), words(want), "splitting {line:?}");
        }
        assert_eq!(split_words("a\\\nb").unwrap(), words(&["ab"]));
        assert_eq!(split_words("\"a\\\nb\"").unwrap(), words(&["ab"]));
    }

    #[test]
    fn quoting_round_trips() {
        for w in ["plain", "/a b/c", "it's", "", "$HOME", "a\"b", "{data_dir}"] {
            assert_eq!(split_words(&quote(w)).unwrap(), words(&[w]), "{w:?}");
        }
    }

    #[test]
    fn shell_quoting() {
        for (raw, quoted) in [
            ("plain-1.5", "plain-1.5"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("", "''"),
            ("{id}", "'{id}'"),
        ] {
            assert_eq!(quote(raw), quoted);
        }
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
            assert_eq!(quote(word), quoted, "quoting {word:?}");
            assert_eq!(split_lenient(&quote(word)), vec![word.to_string()]);
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
            assert_eq!(split_lenient(line), words, "splitting {line:?}");
        }
    }
}

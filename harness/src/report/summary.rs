//! The Markdown step summary (being written).
use super::load::Run;

/// Renders the summary.
pub fn render(run: &Run) -> String {
    format!("# {}\n", run.name)
}

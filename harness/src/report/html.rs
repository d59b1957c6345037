//! `report.html` (being written).
use super::analysis::Analysis;
use super::load::Run;

/// Renders the report page.
pub fn render(run: &Run, _analysis: &Analysis, _latency: &str, _rate: &str) -> String {
    format!(
        "<!doctype html><title>{}</title>",
        super::escape::html(&run.name)
    )
}

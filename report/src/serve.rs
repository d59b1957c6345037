//! `ballot serve`: browse a store of run folders over HTTP (loopback only).
//!
//! Routes (axum 0.8 syntax):
//! - `/`: the runs in the store, newest first, coloured by verdict (green
//!   valid, red invalid, amber unknown, grey incomplete), each linking to its run;
//! - `/runs/{name}/`: the run's `report.html`, or a file list if there is none;
//! - `/runs/{name}/{*path}`: a file (or folder listing) inside the run.
//!
//! Nothing outside the store is ever served. A request path is checked in
//! two steps: syntactically ([`check_path`]: no `..` or `.` segment, no
//! absolute path, no backslash or NUL, no empty segment; 400 otherwise), then
//! on disk: the path is canonicalised (resolving symlinks) and must still lie
//! inside the canonical store folder (404 otherwise), so a symlink that
//! points out of the store is refused while `store/latest` works.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ballot_core::records::{RESULTS_FILE, TEST_FILE};
use ballot_core::run_folder::TestParams;
use ballot_core::verdict::Results;

use super::escape::{html as esc, value};
use super::load::Verdict;
use super::REPORT_FILE;

/// Serves `store` on `listener` until `shutdown` completes. The listener must
/// be bound to a loopback address.
pub async fn run(
    listener: tokio::net::TcpListener,
    store: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("ballot serve only listens on loopback, not {addr}"),
        ));
    }
    axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The server's routes over `store`.
pub fn router(store: PathBuf) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/runs/{name}", get(run_without_slash))
        .route("/runs/{name}/", get(run_root))
        .route("/runs/{name}/{*path}", get(run_file))
        .fallback(|| async {
            reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found\n",
            )
        })
        .with_state(Arc::new(store))
}

type Store = State<Arc<PathBuf>>;

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed or a traversal attempt (400).
    BadPath,
    /// Not there, or not inside the store (404).
    NotFound,
}

impl Refusal {
    fn response(self) -> Response {
        match self {
            Refusal::BadPath => reply(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "bad path: no '..', '.', empty, absolute or backslash segments\n",
            ),
            Refusal::NotFound => reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found\n",
            ),
        }
    }
}

/// Checks a run name and a path inside the run, returning the path's
/// segments (a trailing `/` is allowed and dropped).
pub fn check_path<'a>(name: &'a str, path: &'a str) -> Result<Vec<&'a str>, Refusal> {
    let bad = |s: &str| {
        s.is_empty() || s == "." || s == ".." || s.contains(['/', '\\', '\0']) || s.starts_with('.')
    };
    if bad(name) {
        return Err(Refusal::BadPath);
    }
    if path.is_empty() {
        return Ok(vec![name]);
    }
    if path.starts_with('/') {
        return Err(Refusal::BadPath);
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut segments = vec![name];
    for segment in path.split('/') {
        if bad(segment) {
            return Err(Refusal::BadPath);
        }
        segments.push(segment);
    }
    Ok(segments)
}

/// Resolves checked segments under `root`, following symlinks, and refuses
/// anything whose real location is outside the real `root`.
pub fn resolve(root: &Path, segments: &[&str]) -> Result<PathBuf, Refusal> {
    let root = std::fs::canonicalize(root).map_err(|_| Refusal::NotFound)?;
    let mut path = root.clone();
    for s in segments {
        path.push(s);
    }
    let real = std::fs::canonicalize(&path).map_err(|_| Refusal::NotFound)?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(Refusal::NotFound)
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<axum::body::Body>,
) -> Response {
    let mut response = (status, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:",
        ),
    );
    response
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "xml" => "application/xml",
        "png" => "image/png",
        "jsonl" | "log" | "txt" | "md" | "" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Percent-encodes one path segment for a link.
fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

async fn index(State(store): Store) -> Response {
    match blocking(move || index_page(&store)).await {
        Some(page) => reply(StatusCode::OK, "text/html; charset=utf-8", page),
        None => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "listing failed\n",
        ),
    }
}

async fn run_without_slash(UrlPath(name): UrlPath<String>) -> Response {
    if check_path(&name, "").is_err() {
        return Refusal::BadPath.response();
    }
    let mut response = reply(
        StatusCode::MOVED_PERMANENTLY,
        "text/plain; charset=utf-8",
        "",
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/runs/{}/", encode(&name))) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn run_root(State(store): Store, UrlPath(name): UrlPath<String>) -> Response {
    serve_path(store, name, String::new()).await
}

async fn run_file(
    State(store): Store,
    UrlPath((name, path)): UrlPath<(String, String)>,
) -> Response {
    serve_path(store, name, path).await
}

async fn serve_path(store: Arc<PathBuf>, name: String, path: String) -> Response {
    let outcome = blocking(move || -> Result<Response, Refusal> {
        let segments = check_path(&name, &path)?;
        let real = resolve(&store, &segments)?;
        if real.is_dir() {
            if !path.is_empty() && !path.ends_with('/') {
                let last = segments.last().copied().unwrap_or_default();
                let mut response = reply(
                    StatusCode::MOVED_PERMANENTLY,
                    "text/plain; charset=utf-8",
                    "",
                );
                if let Ok(location) = HeaderValue::from_str(&format!("{}/", encode(last))) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                return Ok(response);
            }
            if path.is_empty() && real.join(REPORT_FILE).is_file() {
                let page = std::fs::read(real.join(REPORT_FILE)).map_err(|_| Refusal::NotFound)?;
                return Ok(reply(StatusCode::OK, "text/html; charset=utf-8", page));
            }
            return Ok(reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                listing(&segments, &real),
            ));
        }
        let bytes = std::fs::read(&real).map_err(|_| Refusal::NotFound)?;
        Ok(reply(StatusCode::OK, content_type(&real), bytes))
    })
    .await;
    match outcome {
        Some(Ok(response)) => response,
        Some(Err(refusal)) => refusal.response(),
        None => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "failed\n",
        ),
    }
}

const PAGE_CSS: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:4px 10px;text-align:left}th{background:#f0f0f0}.verdict{display:inline-block;border-radius:10px;padding:0 10px;color:white;font-weight:600}.valid .verdict{background:#2e9e44}.invalid .verdict{background:#c0392b}.unknown .verdict{background:#d68910}.incomplete .verdict{background:#7f8c8d}tr.invalid td:first-child{border-left:5px solid #c0392b}tr.valid td:first-child{border-left:5px solid #2e9e44}tr.unknown td:first-child{border-left:5px solid #d68910}tr.incomplete td:first-child{border-left:5px solid #7f8c8d}code{font-family:ui-monospace,monospace}";

fn listing(segments: &[&str], dir: &Path) -> String {
    let title = segments.join("/");
    let mut rows = String::new();
    let mut entries: Vec<(String, bool, u64)> = std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| {
                    let meta = e.metadata().ok();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        meta.as_ref().is_some_and(|m| m.is_dir()),
                        meta.map_or(0, |m| m.len()),
                    )
                })
                .filter(|(n, _, _)| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    for (name, is_dir, len) in entries {
        let (href, shown, size) = if is_dir {
            (
                format!("{}/", encode(&name)),
                format!("{name}/"),
                String::new(),
            )
        } else {
            (encode(&name), name, len.to_string())
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td>{size}</td></tr>",
            esc(&href),
            esc(&shown)
        ));
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>{PAGE_CSS}</style></head><body><p><a href=\"/\">all runs</a></p><h1><code>{t}</code></h1><table><tr><th>file</th><th>bytes</th></tr>{rows}</table></body></html>",
        t = esc(&title)
    )
}

/// One run folder as the index shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEntry {
    /// Folder name.
    pub name: String,
    /// Verdict from `results.json`.
    pub verdict: Verdict,
    /// Workload and seed from `test.json`, if known.
    pub workload: Option<String>,
    /// Seed from `test.json`, if known.
    pub seed: Option<String>,
    /// First violated property, if any.
    pub property: Option<String>,
    /// When the run started (modification time of `test.json`, else of the folder), seconds since the epoch.
    pub started: u64,
}

/// The runs in a store, newest first (symlinks such as `latest` and hidden entries are skipped).
pub fn list_runs(store: &Path) -> Vec<RunEntry> {
    let Ok(entries) = std::fs::read_dir(store) else {
        return Vec::new();
    };
    let mut runs: Vec<RunEntry> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            if name.starts_with('.') {
                return None;
            }
            Some(run_entry(&e.path(), name))
        })
        .collect();
    runs.sort_by(|a, b| (b.started, &b.name).cmp(&(a.started, &a.name)));
    runs
}

fn run_entry(dir: &Path, name: String) -> RunEntry {
    let results: Option<Results> = std::fs::read(dir.join(RESULTS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let test = TestParams::read(dir).ok();
    let field = |k: &str| test.as_ref().and_then(|t| t.field(k)).map(|v| value(&v));
    let mtime = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    RunEntry {
        verdict: Verdict::of(results.as_ref()),
        workload: field("workload"),
        seed: field("seed"),
        property: results
            .as_ref()
            .and_then(|r| r.first_violation())
            .map(|v| v.property.clone()),
        started: mtime(&dir.join(TEST_FILE))
            .or_else(|| mtime(dir))
            .unwrap_or(0),
        name,
    }
}

fn index_page(store: &Path) -> String {
    let runs = list_runs(store);
    let mut rows = String::new();
    for r in &runs {
        rows.push_str(&format!(
            "<tr class=\"run {v}\"><td><a href=\"/runs/{href}/\">{name}</a></td><td><span class=\"verdict\">{v}</span></td><td>{prop}</td><td>{workload}</td><td>{seed}</td><td>{time}</td></tr>\n",
            v = r.verdict.as_str(),
            href = esc(&encode(&r.name)),
            name = esc(&r.name),
            prop = esc(r.property.as_deref().unwrap_or("")),
            workload = esc(r.workload.as_deref().unwrap_or("")),
            seed = esc(r.seed.as_deref().unwrap_or("")),
            time = ballot_core::utc::date_time(r.started),
        ));
    }
    let body = if runs.is_empty() {
        "<p>No runs in this store yet.</p>".to_string()
    } else {
        format!("<table><tr><th>run</th><th>verdict</th><th>first violation</th><th>workload</th><th>seed</th><th>started (UTC)</th></tr>\n{rows}</table>")
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ballot store</title><style>{PAGE_CSS}</style></head><body><h1>ballot runs</h1><p>Store <code>{}</code> · {} run(s) · listed {}</p>{body}</body></html>",
        esc(&store.display().to_string()),
        runs.len(),
        ballot_core::utc::date_time(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_checks() {
        use Refusal::BadPath;
        type Case<'a> = (&'a str, &'a str, Result<Vec<&'a str>, Refusal>);
        let table: [Case; 12] = [
            ("run-1", "", Ok(vec!["run-1"])),
            ("run-1", "report.html", Ok(vec!["run-1", "report.html"])),
            (
                "run-1",
                "nodes/0/stdout.log",
                Ok(vec!["run-1", "nodes", "0", "stdout.log"]),
            ),
            ("run-1", "nodes/", Ok(vec!["run-1", "nodes"])),
            ("..", "", Err(BadPath)),
            ("run-1", "../../etc/passwd", Err(BadPath)),
            ("run-1", "nodes/../../x", Err(BadPath)),
            ("run-1", "/etc/passwd", Err(BadPath)),
            ("run-1", "a//b", Err(BadPath)),
            ("run-1", "a\\..\\b", Err(BadPath)),
            ("a/b", "", Err(BadPath)),
            (".hidden", "", Err(BadPath)),
        ];
        for (name, path, want) in table {
            assert_eq!(check_path(name, path), want, "{name:?} {path:?}");
        }
    }

    #[test]
    fn encoding_keeps_safe_characters() {
        assert_eq!(encode("write-once-2025_01.x~"), "write-once-2025_01.x~");
        assert_eq!(encode("a b/<c>"), "a%20b%2F%3Cc%3E");
    }
}

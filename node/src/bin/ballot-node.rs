//! `ballot-node`: serves acceptor protocol v1 over HTTP.
fn main() {}

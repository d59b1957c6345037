//! `ballot`: the command-line entry point. Parses flags and hands over to
//! the library; every command returns its verdict or its error, and
//! [`ballot::exit::code`] maps that to Jepsen's exit codes (bad flags exit
//! 254, "bad arguments", not clap's 2).

use ballot::cli::{self, Command};
use ballot::runner;

fn main() {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(cli::parse_error_exit_code(&e));
        }
    };
    init_logging();
    let outcome = match &cli.command {
        Command::Test(args) => runner::test_command(args),
        Command::Check(args) => runner::check_command(args),
        Command::Serve(args) => ballot::serve::serve_command(args),
        Command::Scenario(args) => ballot::scenario::scenario_main(args),
        Command::Conform(args) => ballot::conform::conform_main(args),
        Command::Replay(args) => ballot::replay::replay_main(args),
        Command::Shrink(args) => ballot::shrink::shrink_main(args),
        Command::Bench(args) => ballot::bench::bench_main(args),
        Command::Validate(args) => ballot::validate::validate_command(args),
        Command::Merge(args) => ballot::merge::merge_command(args),
    };
    std::process::exit(ballot::exit::code(outcome));
}

/// Harness diagnostics on stderr, off unless `RUST_LOG` asks for them.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

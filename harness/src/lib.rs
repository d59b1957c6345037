//! ballot: the harness library behind the `ballot` command.

//! The `rwsgi` binary: everything happens in [`rwsgi::run`], which also turns an error into a
//! line on stderr and an exit status, once.

use std::process::ExitCode;

fn main() -> ExitCode {
    rwsgi::run(std::env::args_os().collect())
}

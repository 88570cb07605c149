//! The `rwsgi` binary: everything happens in [`rwsgi::run`]; errors become a line on stderr
//! and an exit status here, once.

use std::process::ExitCode;

fn main() -> ExitCode {
    match rwsgi::run(std::env::args_os().collect()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            rwsgi::log::error(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

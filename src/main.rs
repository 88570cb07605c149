//! The `rwsgi` binary: everything happens in [`rwsgi::run`]; errors become a line on stderr
//! and an exit status here, once.

use std::process::ExitCode;

fn main() -> ExitCode {
    match rwsgi::run(std::env::args_os().collect()) {
        Ok(status) => status.into(),
        Err(e) => {
            rwsgi::log::error(&e.to_string());
            rwsgi::ExitStatus::from(&e).into()
        }
    }
}

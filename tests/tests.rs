//! The integration tests, one binary: each area of rwsgi in a module of its own, all of them
//! starting rwsgi through one harness (`util`) and talking to one fake Lambda Runtime API
//! (`support::runtime_api`).

mod support {
    pub mod aws_oracle;
    pub mod runtime_api;
}
mod util;

mod cgi;
mod cgi_servers;
mod cli;
mod deploy;
mod fastcgi;
mod faults;
mod frameworks;
mod lambda_emulator;
mod lambda_lifecycle;
mod lambda_local;
mod lambda_runtime;
mod lambda_translation;
mod properties;
mod security;
mod soak;

//! Build script: link the binary against the libpython that pyo3 found (the `python3` on PATH,
//! or `PYO3_PYTHON`), and make the binary load that same library at run time.

fn main() {
    // Without an rpath the dynamic loader may pick up another libpython3.x.so (a system one),
    // which then fails at start-up or, worse, runs with a mismatched standard library.
    pyo3_build_config::add_libpython_rpath_link_args();
    let config = pyo3_build_config::get();
    let version = config.version();
    println!(
        "cargo:rustc-env=RWSGI_BUILD_PYTHON={}.{}",
        version.major, version.minor
    );
    // The build's own `sys.version` (the full version, build date and compiler) and library:
    // the rpath is not binding (LD_LIBRARY_PATH comes first, and a library the user cannot
    // read is passed over for the system's of the same name), so at start-up rwsgi compares
    // what it loaded with these and says when it runs on another Python.
    let full_version = config
        .executable()
        .and_then(|python| {
            std::process::Command::new(python)
                .args(["-c", "import sys; sys.stdout.write(sys.version)"])
                .output()
                .ok()
        })
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .unwrap_or_default();
    println!("cargo:rustc-env=RWSGI_BUILD_PYTHON_VERSION={full_version}");
    let library = match (config.lib_dir(), config.lib_name()) {
        (Some(dir), Some(name)) => {
            let path = std::path::Path::new(dir).join(format!("lib{name}.so"));
            std::fs::canonicalize(&path)
                .unwrap_or(path)
                .display()
                .to_string()
        }
        _ => String::new(),
    };
    println!("cargo:rustc-env=RWSGI_BUILD_LIBPYTHON={library}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}

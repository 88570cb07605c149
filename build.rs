//! Build script: link the binary against the libpython that pyo3 found (the `python3` on PATH,
//! or `PYO3_PYTHON`), and make the binary load that same library at run time.

fn main() {
    // Without an rpath the dynamic loader may pick up another libpython3.x.so (a system one),
    // which then fails at start-up or, worse, runs with a mismatched standard library.
    pyo3_build_config::add_libpython_rpath_link_args();
    let version = pyo3_build_config::get().version();
    println!(
        "cargo:rustc-env=RWSGI_BUILD_PYTHON={}.{}",
        version.major, version.minor
    );
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}

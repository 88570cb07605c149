//! Build script of the fuzz crate: the fuzz binaries link rwsgi and so libpython; give them the
//! rpath the main binary gets from rwsgi's own build script, which applies to that crate only.

fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}

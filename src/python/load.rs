//! Importing the app named by an [`AppSpec`]: a module attribute, a factory call with literal
//! arguments, or a script file executed as mod_wsgi executes a `.wsgi` file.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::Hosting;
use crate::app_spec::{AppSpec, DEFAULT_NAMES, Source};
use crate::python::format_exception;

/// Why the app could not be loaded. The two kinds are the two init errors of AWS's runtimes.
#[derive(Debug, thiserror::Error)]
#[error("{message}{}", traceback_suffix(.traceback))]
pub struct LoadError {
    pub kind: LoadErrorKind,
    /// One paragraph: what was tried, from where, and the Python exception.
    pub message: String,
    /// The Python traceback, when an exception was raised.
    pub traceback: String,
    /// The traceback's frames, one string each (the Runtime API's `stackTrace`).
    pub stack: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadErrorKind {
    /// The module or script failed to import (`Runtime.ImportModuleError`).
    Import,
    /// It imported, but the named object is missing or not callable (`Runtime.HandlerNotFound`).
    NotFound,
}

fn traceback_suffix(traceback: &str) -> String {
    if traceback.is_empty() {
        String::new()
    } else {
        format!("\n{}", traceback.trim_end())
    }
}

/// Imports the app and returns the WSGI callable.
pub(super) fn load(py: Python<'_>, spec: &AppSpec) -> Result<Py<PyAny>, LoadError> {
    let module = match &spec.source {
        Source::Module(name) => py
            .import(name.as_str())
            .map(Bound::into_any)
            .map_err(|e| import_error(py, spec, &e))?,
        Source::File(path) => load_script(py, spec, path)?,
    };
    let mut app = match &spec.attr {
        Some(attr) => lookup(&module, attr).ok_or_else(|| {
            not_found(
                py,
                spec,
                &format!("{} has no attribute '{attr}'", describe_module(&module)),
            )
        })?,
        None => DEFAULT_NAMES
            .iter()
            .find_map(|name| lookup(&module, name))
            .ok_or_else(|| {
                not_found(
                    py,
                    spec,
                    &format!(
                        "{} defines neither 'application' nor 'app' ({})",
                        describe_module(&module),
                        name_hint(spec)
                    ),
                )
            })?,
    };
    if let Some(args) = &spec.call_args {
        app = call_factory(py, spec, &app, args)?;
    }
    if !app.is_callable() {
        return Err(not_found(
            py,
            spec,
            &format!(
                "it is {}, not a WSGI application (a callable taking environ and start_response)",
                describe_object(&app)
            ),
        ));
    }
    Ok(app.unbind())
}

/// Follows a dotted attribute path (`app.wsgi_app`).
fn lookup<'py>(module: &Bound<'py, PyAny>, dotted: &str) -> Option<Bound<'py, PyAny>> {
    let mut obj = module.clone();
    for part in dotted.split('.') {
        obj = obj.getattr(part).ok()?;
    }
    Some(obj)
}

/// Executes a script file as a module of its own under a private name (so that a file called
/// `django.wsgi` cannot shadow the `django` package), registered in `sys.modules` so that
/// frameworks can find its folder through `__name__` (Flask's root path).
fn load_script<'py>(
    py: Python<'py>,
    spec: &AppSpec,
    path: &std::path::Path,
) -> Result<Bound<'py, PyAny>, LoadError> {
    if !path.is_file() {
        return Err(LoadError {
            kind: LoadErrorKind::Import,
            message: format!(
                "cannot load the app '{}': the script {} {}",
                spec.text,
                path.display(),
                if path.exists() {
                    "is not a file"
                } else {
                    "does not exist"
                }
            ),
            traceback: String::new(),
            stack: Vec::new(),
        });
    }
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let name = format!("_rwsgi_script_{stem}");
    let result = (|| -> PyResult<Bound<'py, PyAny>> {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let file = crate::python::interp::path_str(py, &abs)?;
        let (loader_type, spec_type) = import_machinery(py)?;
        let loader = loader_type.call1((&name, &file))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("origin", &file)?;
        let module_spec = spec_type.call((&name, &loader), Some(&kwargs))?;
        // What spec_from_file_location would set: __file__ and __cached__ come from the origin.
        module_spec.setattr("has_location", true)?;
        let module = pyo3::types::PyModule::new(py, &name)?;
        module.setattr("__file__", &file)?;
        module.setattr("__loader__", &loader)?;
        module.setattr("__spec__", &module_spec)?;
        module.setattr("__package__", "")?;
        let module = module.into_any();
        let modules = py.import("sys")?.getattr("modules")?;
        modules.set_item(&name, &module)?;
        if let Err(e) = loader.call_method1("exec_module", (&module,)) {
            let _ = modules.del_item(&name);
            return Err(e);
        }
        Ok(module)
    })();
    result.map_err(|e| import_error(py, spec, &e))
}

/// `SourceFileLoader` and `ModuleSpec`. They are what `importlib.machinery` re-exports from the
/// import system's own modules, which are always loaded; taking them from there spares a CGI
/// request the import of `importlib.util` and its dependencies (about 3 ms).
fn import_machinery(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>)> {
    let modules = py.import("sys")?.getattr("modules")?;
    let from_bootstrap = (|| -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>)> {
        Ok((
            modules
                .get_item("_frozen_importlib_external")?
                .getattr("SourceFileLoader")?,
            modules
                .get_item("_frozen_importlib")?
                .getattr("ModuleSpec")?,
        ))
    })();
    match from_bootstrap {
        Ok(found) => Ok(found),
        Err(_) => {
            let machinery = py.import("importlib.machinery")?;
            Ok((
                machinery.getattr("SourceFileLoader")?,
                machinery.getattr("ModuleSpec")?,
            ))
        }
    }
}

/// Calls `factory(args)` where `args` is the text inside the SPEC's parentheses, read as
/// Python literals only (`ast.literal_eval`): a SPEC never runs arbitrary code.
fn call_factory<'py>(
    py: Python<'py>,
    spec: &AppSpec,
    factory: &Bound<'py, PyAny>,
    args: &str,
) -> Result<Bound<'py, PyAny>, LoadError> {
    let parsed = (|| -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let ast = py.import("ast")?;
        let tree = ast.call_method1("parse", (format!("f({args})"), "<app spec>", "eval"))?;
        let call = tree.getattr("body")?;
        let literal_eval = ast.getattr("literal_eval")?;
        let positional = PyList::empty(py);
        for arg in call.getattr("args")?.try_iter()? {
            positional.append(literal_eval.call1((arg?,))?)?;
        }
        let keywords = PyDict::new(py);
        for kw in call.getattr("keywords")?.try_iter()? {
            let kw = kw?;
            let name = kw.getattr("arg")?;
            if name.is_none() {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "'**' is not allowed in an app spec",
                ));
            }
            keywords.set_item(name, literal_eval.call1((kw.getattr("value")?,))?)?;
        }
        Ok((positional.to_tuple(), keywords))
    })();
    let (positional, keywords) = parsed.map_err(|e| LoadError {
        kind: LoadErrorKind::NotFound,
        message: format!(
            "cannot load the app '{}': the factory's arguments ({args}) must be Python literals \
             (strings, numbers, True/False/None, lists, dicts): {}",
            spec.text,
            exception_line(py, &e)
        ),
        traceback: String::new(),
        stack: Vec::new(),
    })?;
    factory
        .call(positional, Some(&keywords))
        .map_err(|e| LoadError {
            kind: LoadErrorKind::Import,
            message: format!(
                "cannot load the app '{}': the factory raised {}",
                spec.text,
                exception_line(py, &e)
            ),
            traceback: format_exception(py, &e),
            stack: crate::python::invocation::stack_lines(py, &e),
        })
}

fn import_error(py: Python<'_>, spec: &AppSpec, err: &PyErr) -> LoadError {
    let what = match &spec.source {
        Source::Module(name) => format!("cannot import '{name}' for the app '{}'", spec.text),
        Source::File(path) => format!(
            "cannot load the app '{}': running {} raised",
            spec.text,
            path.display()
        ),
    };
    let mut message = format!("{what}: {}", exception_line(py, err));
    message.push_str(&format!("\n  searched: {}", search_path(py)));
    if err.is_instance_of::<pyo3::exceptions::PyImportError>(py) {
        message.push_str(&format!("\n  {}", venv_hint(py)));
    }
    // When the app's own module is what is missing, the traceback holds only importlib's
    // frames: the message says it all.
    let missing_itself = err.is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py)
        && match (
            &spec.source,
            err.value(py)
                .getattr("name")
                .and_then(|n| n.extract::<String>()),
        ) {
            (Source::Module(module), Ok(missing)) => {
                module == &missing || module.starts_with(&format!("{missing}."))
            }
            _ => false,
        };
    LoadError {
        kind: LoadErrorKind::Import,
        message,
        traceback: if missing_itself {
            String::new()
        } else {
            format_exception(py, err)
        },
        stack: crate::python::invocation::stack_lines(py, err),
    }
}

fn not_found(py: Python<'_>, spec: &AppSpec, why: &str) -> LoadError {
    LoadError {
        kind: LoadErrorKind::NotFound,
        message: format!(
            "cannot load the app '{}': {why}\n  searched: {}",
            spec.text,
            search_path(py)
        ),
        traceback: String::new(),
        stack: Vec::new(),
    }
}

/// `ModuleNotFoundError: No module named 'flask'`.
pub(super) fn exception_line(py: Python<'_>, err: &PyErr) -> String {
    let name = err
        .get_type(py)
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let text = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if text.is_empty() {
        name
    } else {
        format!("{name}: {text}")
    }
}

fn search_path(py: Python<'_>) -> String {
    let path: Vec<String> = py
        .import("sys")
        .and_then(|sys| sys.getattr("path"))
        .and_then(|p| p.extract())
        .unwrap_or_default();
    path.iter()
        .map(|p| if p.is_empty() { "." } else { p.as_str() })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to name the app's callable, in the terms of the mode.
fn name_hint(spec: &AppSpec) -> &'static str {
    match (crate::hosting(), &spec.source) {
        (Hosting::Cgi, Source::File(_)) => {
            "define the WSGI callable as 'application' (or 'app') in the script"
        }
        (Hosting::Cgi, Source::Module(_)) => {
            "name the callable in RWSGI_APP as module:name in the server's configuration"
        }
        (Hosting::Lambda, _) => {
            "name the callable as module:name in RWSGI_APP or in the function's Handler setting"
        }
        (Hosting::CommandLine, _) => "name the app as SPEC:name",
    }
}

fn venv_hint(py: Python<'_>) -> String {
    let prefixes = py.import("sys").and_then(|sys| {
        let prefix: String = sys.getattr("prefix")?.extract()?;
        let base: String = sys.getattr("base_prefix")?.extract()?;
        Ok((prefix, base))
    });
    match prefixes {
        Ok((prefix, base)) if prefix != base => {
            format!("(the virtualenv in use is {prefix}: is the package installed there?)")
        }
        _ => match crate::hosting() {
            Hosting::CommandLine => {
                "(is the virtualenv set? no virtualenv is in use: pass --venv DIR, set \
                 RWSGI_VENV, or make a .venv in the app's folder)"
            }
            Hosting::Cgi => {
                "(is the virtualenv set? no virtualenv is in use: make a .venv beside the \
                 script, or set RWSGI_VENV in the server's configuration: SetEnv in Apache, \
                 setenv.add-environment in lighttpd, fastcgi_param in nginx)"
            }
            Hosting::Lambda => {
                "(is the package in the function? no virtualenv is in use: install the \
                 requirements into the package's root (pip install -t), into a layer's \
                 python/ folder, or set RWSGI_VENV to a virtualenv inside the package)"
            }
        }
        .to_string(),
    }
}

fn describe_module(module: &Bound<'_, PyAny>) -> String {
    let file: Option<String> = module
        .getattr("__file__")
        .ok()
        .and_then(|f| f.extract().ok());
    let name: String = module
        .getattr("__name__")
        .ok()
        .and_then(|n| n.extract().ok())
        .unwrap_or_default();
    match file {
        Some(file) if name.starts_with("_rwsgi_script_") => format!("the script {file}"),
        Some(file) => format!("module '{name}' ({file})"),
        None => format!("module '{name}'"),
    }
}

fn describe_object(obj: &Bound<'_, PyAny>) -> String {
    let type_name = obj
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_default();
    match obj.repr() {
        Ok(r) => {
            let r = r.to_string();
            let r = if r.chars().count() > 60 {
                format!("{}...", r.chars().take(57).collect::<String>())
            } else {
                r
            };
            format!("{r} (a {type_name})")
        }
        Err(_) => format!("a {type_name}"),
    }
}

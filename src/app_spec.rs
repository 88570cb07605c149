//! Which app to load, from an app SPEC (docs/wsgi.md#naming-the-app): a module attribute, a
//! factory call, or a script file. Pure parsing; importing happens in the Python core.

use std::path::{Path, PathBuf};

/// Where the app's code lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A dotted module name, imported from `sys.path`.
    Module(String),
    /// A script file (`.py`, `.wsgi`), executed as its own module, as mod_wsgi loads `.wsgi`
    /// files.
    File(PathBuf),
}

/// A parsed SPEC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub source: Source,
    /// The attribute to take, possibly dotted (`app.wsgi_app`); `None` means `application`,
    /// else `app`.
    pub attr: Option<String>,
    /// The text between the parentheses of a factory call (`create_app("prod", debug=False)`),
    /// evaluated as Python literals when the app is loaded.
    pub call_args: Option<String>,
    /// The SPEC as the user wrote it, for messages.
    pub text: String,
}

/// The names tried, in order, when a SPEC names no attribute (mod_wsgi's `application`, then
/// Flask's customary `app`).
pub(crate) const DEFAULT_NAMES: [&str; 2] = ["application", "app"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid app spec {spec:?}: {why}")]
pub struct SpecError {
    pub spec: String,
    pub why: String,
}

impl AppSpec {
    /// Parses a SPEC. `lambda_handler` accepts the Python runtime's `module.function` form of
    /// the Lambda `_HANDLER` setting as well. `is_file` says whether a path names a file, so
    /// that `app.wsgi` and `hello` (a file without an extension) load as scripts.
    pub fn parse(
        spec: &str,
        lambda_handler: bool,
        is_file: impl Fn(&Path) -> bool,
    ) -> Result<AppSpec, SpecError> {
        let err = |why: &str| SpecError {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        let text = spec.trim();
        if text.is_empty() {
            return Err(err("it is empty"));
        }
        // The colon that separates source and attribute is the last one before any
        // parenthesis: the call's arguments may hold colons of their own (dict literals).
        let paren = text.find('(').unwrap_or(text.len());
        let (source_text, rest) = match text[..paren].rfind(':') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None if paren < text.len() => {
                return Err(err(
                    "a factory call needs a module or file before it, as in 'package.module:create_app()'",
                ));
            }
            None => (text, None),
        };
        if source_text.is_empty() {
            return Err(err("no module or file before the ':'"));
        }

        let (attr, call_args) = match rest {
            None => (None, None),
            Some(rest) => {
                let (name, args) = match rest.find('(') {
                    Some(i) => {
                        let Some(inner) = rest[i + 1..].strip_suffix(')') else {
                            return Err(err("the factory call's ')' is missing at the end"));
                        };
                        (&rest[..i], Some(inner.to_string()))
                    }
                    None => (rest, None),
                };
                let name = name.trim();
                if !is_dotted_identifier(name) {
                    return Err(err(&format!(
                        "{name:?} is not a Python name (expected e.g. 'application' or 'create_app()')"
                    )));
                }
                (Some(name.to_string()), args)
            }
        };

        // `myproject.wsgi` is Django's module name, so a `.wsgi` name is a file only when such
        // a file exists; a path with a `/` or a `.py` name is always a file.
        let looks_like_file = source_text.contains('/')
            || source_text.ends_with(".py")
            || is_file(Path::new(source_text));
        let (source, attr) = if looks_like_file {
            (Source::File(PathBuf::from(source_text)), attr)
        } else if is_dotted_identifier(source_text) {
            match (lambda_handler, attr) {
                // `_HANDLER=app.handler` on Lambda's Python runtime means module `app`,
                // function `handler`.
                (true, None) if source_text.contains('.') => {
                    let (module, name) = source_text.rsplit_once('.').unwrap_or_default();
                    (Source::Module(module.to_string()), Some(name.to_string()))
                }
                (_, attr) => (Source::Module(source_text.to_string()), attr),
            }
        } else {
            return Err(err(&format!(
                "{source_text:?} is neither a module name (package.module) nor a file path"
            )));
        };
        Ok(AppSpec {
            source,
            attr,
            call_args,
            text: text.to_string(),
        })
    }

    /// The folder that goes first on `sys.path` for this app: a script's own folder, so modules
    /// beside it import (as mod_wsgi and `python script.py` do).
    pub fn script_dir(&self) -> Option<PathBuf> {
        match &self.source {
            Source::File(path) => Some(
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(".")),
            ),
            Source::Module(_) => None,
        }
    }
}

fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

/// A Python identifier (ASCII letters, digits, `_`, or any non-ASCII letter, not starting with a
/// digit; Python's own check is done again on import).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<AppSpec, SpecError> {
        AppSpec::parse(spec, false, |p| {
            p == Path::new("hello") || p == Path::new("hello.wsgi")
        })
    }

    fn module(
        m: &str,
        attr: Option<&str>,
        args: Option<&str>,
    ) -> (Source, Option<String>, Option<String>) {
        (
            Source::Module(m.into()),
            attr.map(Into::into),
            args.map(Into::into),
        )
    }

    fn file(
        f: &str,
        attr: Option<&str>,
        args: Option<&str>,
    ) -> (Source, Option<String>, Option<String>) {
        (
            Source::File(f.into()),
            attr.map(Into::into),
            args.map(Into::into),
        )
    }

    #[test]
    fn forms() {
        let cases = [
            ("app", module("app", None, None)),
            ("pkg.mod", module("pkg.mod", None, None)),
            (
                "pkg.mod:application",
                module("pkg.mod", Some("application"), None),
            ),
            (
                "myproject.wsgi:application",
                module("myproject.wsgi", Some("application"), None),
            ),
            (
                "pkg.mod:app.wsgi_app",
                module("pkg.mod", Some("app.wsgi_app"), None),
            ),
            (
                "pkg:create_app()",
                module("pkg", Some("create_app"), Some("")),
            ),
            (
                "pkg:create_app('prod', debug=False)",
                module("pkg", Some("create_app"), Some("'prod', debug=False")),
            ),
            (
                "pkg:make({'a:b': 1})",
                module("pkg", Some("make"), Some("{'a:b': 1}")),
            ),
            ("app.py", file("app.py", None, None)),
            ("app.py:api", file("app.py", Some("api"), None)),
            (
                "/srv/cgi-bin/hello.wsgi",
                file("/srv/cgi-bin/hello.wsgi", None, None),
            ),
            (
                "sub/dir/app:make(1)",
                file("sub/dir/app", Some("make"), Some("1")),
            ),
            (
                "./app.py:create()",
                file("./app.py", Some("create"), Some("")),
            ),
            ("hello", file("hello", None, None)),
            ("hello.wsgi", file("hello.wsgi", None, None)),
            ("  app:app  ", module("app", Some("app"), None)),
            ("caf\u{e9}:app", module("caf\u{e9}", Some("app"), None)),
        ];
        for (spec, (source, attr, args)) in cases {
            let got = parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(
                (got.source, got.attr, got.call_args),
                (source, attr, args),
                "{spec}"
            );
        }
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "  ",
            ":app",
            "pkg:",
            "pkg:1app",
            "pkg:create_app(",
            "pkg:create_app(1) extra",
            "create_app()",
            "pkg-name:app",
            "pkg..mod",
            "pkg:a b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
        let e = parse("pkg:").unwrap_err().to_string();
        assert!(e.contains("pkg:"), "{e}");
    }

    #[test]
    fn lambda_handler_style() {
        let p = |s| AppSpec::parse(s, true, |_| false).unwrap();
        let got = p("app.handler");
        assert_eq!(got.source, Source::Module("app".into()));
        assert_eq!(got.attr.as_deref(), Some("handler"));
        let got = p("pkg.sub.handler");
        assert_eq!(got.source, Source::Module("pkg.sub".into()));
        assert_eq!(got.attr.as_deref(), Some("handler"));
        let got = p("app");
        assert_eq!(got.source, Source::Module("app".into()));
        assert_eq!(got.attr, None);
        let got = p("pkg.mod:application");
        assert_eq!(got.source, Source::Module("pkg.mod".into()));
        assert_eq!(got.attr.as_deref(), Some("application"));
    }

    #[test]
    fn script_dirs() {
        assert_eq!(
            parse("app.py").unwrap().script_dir(),
            Some(PathBuf::from("."))
        );
        assert_eq!(
            parse("/srv/x/app.wsgi").unwrap().script_dir(),
            Some(PathBuf::from("/srv/x"))
        );
        assert_eq!(parse("pkg.mod").unwrap().script_dir(), None);
    }
}

//! The documentation in `docs/` is the contract, and the code and tests cite its sections
//! (`docs/lambda.md#the-environ`). These tests keep every such citation, and every link between
//! the pages, pointing at a section that exists, so a renamed heading cannot leave a test citing
//! nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The anchors GitHub makes for a page's headings: lower case, punctuation other than `-` and
/// `_` dropped, spaces as `-`.
fn anchors(page: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(page)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", page.display()));
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let slug: String = title
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        found.insert(slug);
    }
    found
}

/// Every `NAME.md#anchor` in `text`: the page's path as written (possibly with folders) and
/// the anchor. A bare `](#anchor)` link names the page itself (an empty path).
fn citations(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find('#').map(|i| from + i) {
        from = at + 1;
        let anchor: String = text[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if anchor.is_empty() {
            continue;
        }
        let page = if text[..at].ends_with(".md") {
            let start = text[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "-_./".contains(c)))
                .map_or(0, |i| i + 1);
            text[start..at].to_string()
        } else if at >= 2 && &bytes[at - 2..at] == b"](" {
            String::new()
        } else {
            continue;
        };
        out.push((page, anchor));
    }
    out
}

/// The files whose text may cite the documentation.
fn citing_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["target", "corpus", "__pycache__", "artifacts", ".venv"].contains(&&*name) {
                    walk(&path, out);
                }
            } else if [
                ".rs", ".md", ".py", ".dict", ".conf", ".wsgi", "Makefile", ".yaml",
            ]
            .iter()
            .any(|end| name.ends_with(end))
            {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut files = vec![root.join("README.md")];
    for dir in [
        "src", "tests", "docs", "fuzz", "bench", "template", "cgi", "scripts",
    ] {
        walk(&root.join(dir), &mut files);
    }
    files
}

#[test]
fn every_cited_section_of_the_docs_exists() {
    let root = root();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in citing_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let dir = file.parent().unwrap();
        for (page, anchor) in citations(&text) {
            // A page named relative to the citing file (docs/ linking its siblings, the README
            // linking docs/), or, from the code, relative to the repository's root.
            let target = if page.is_empty() {
                file.clone()
            } else if dir.join(&page).is_file() {
                dir.join(&page)
            } else if root.join(&page).is_file() {
                root.join(&page)
            } else if page.starts_with("docs/") || page == "README.md" || dir.ends_with("docs") {
                broken.push(format!("{}: {page}#{anchor}: no such page", file.display()));
                continue;
            } else {
                // Another project's page (a URL's path), not ours.
                continue;
            };
            if target.extension().is_none_or(|e| e != "md") {
                continue;
            }
            checked += 1;
            if !anchors(&target).contains(&anchor) {
                broken.push(format!(
                    "{}: {page}#{anchor}: {} has no such section",
                    file.display(),
                    target.display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    assert!(
        checked > 100,
        "only {checked} citations found: is the scan broken?"
    );
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    let dir = crate::util::temp_dir("anchors");
    let page = crate::util::write_file(
        &dir,
        "page.md",
        "# Top\n## `rwsgi call`: one request\n### HTTP API, payload 1.0\n```sh\n# not a heading\n```\n## REMOTE_USER\n## Each door's event\n",
    );
    let found: Vec<String> = anchors(&page).into_iter().collect();
    assert_eq!(
        found,
        [
            "each-doors-event",
            "http-api-payload-10",
            "remote_user",
            "rwsgi-call-one-request",
            "top"
        ]
    );
    assert_eq!(
        citations("see docs/lambda.md#the-environ and [x](#top), not a#b or #1 alone"),
        [
            ("docs/lambda.md".to_string(), "the-environ".to_string()),
            (String::new(), "top".to_string())
        ]
    );
}

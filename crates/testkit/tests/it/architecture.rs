//! The shape the code must keep (docs/ARCHITECTURE.md, "Layers and names"): `web` reaches
//! the store and the outside systems only through `app`; `app` reaches outside systems only
//! through ports; connectors take time from the injected clock; and the requirement →
//! module table names every requirement and only paths that exist.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The crate names a manifest depends on (`[dependencies]` only: what ships).
fn normal_dependencies(manifest: &str) -> BTreeSet<String> {
    let doc: toml_lite::Doc = toml_lite::parse(manifest);
    doc.section("dependencies").into_iter().collect()
}

/// Just enough TOML for a Cargo manifest's `[section]` key names.
mod toml_lite {
    pub struct Doc(Vec<(String, Vec<String>)>);

    pub fn parse(s: &str) -> Doc {
        let mut sections: Vec<(String, Vec<String>)> = vec![(String::new(), vec![])];
        for line in s.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push((name.to_owned(), vec![]));
            } else if let Some((key, _)) = line.split_once('=')
                && !line.starts_with('#')
            {
                let key = key.trim().split('.').next().unwrap_or_default().trim_matches('"').to_owned();
                sections.last_mut().expect("a section").1.push(key);
            }
        }
        Doc(sections)
    }

    impl Doc {
        pub fn section(&self, name: &str) -> Vec<String> {
            self.0.iter().filter(|(n, _)| n == name).flat_map(|(_, keys)| keys.clone()).collect()
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Code lines of a file (line comments dropped), for looking for paths that must not be there.
fn code_lines(p: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(p).unwrap().lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")).map(|(i, l)| (i + 1, l.to_owned())).collect()
}

#[test]
fn the_toml_reader_sees_dependencies_and_nothing_else() {
    let deps = normal_dependencies(
        "[package]\nname = \"x\"\n\n[dependencies]\napp.workspace = true\nserde = { version = \"1\" }\n# store = \"1\"\n\n[dev-dependencies]\nstore.workspace = true\n",
    );
    assert_eq!(deps.into_iter().collect::<Vec<_>>(), ["app", "serde"]);
}

#[test]
fn web_depends_on_app_and_domain_not_on_the_store_or_connectors() {
    let deps = normal_dependencies(&read("crates/web/Cargo.toml"));
    assert!(deps.contains("app") && deps.contains("domain"), "{deps:?}");
    for forbidden in ["store", "gateways", "sea-orm", "reqwest"] {
        assert!(!deps.contains(forbidden), "web must reach {forbidden} only through app: {deps:?}");
    }
    let mut files = vec![];
    rust_files(&root().join("crates/web/src"), &mut files);
    for f in files {
        for (n, l) in code_lines(&f) {
            assert!(!l.contains("store::") && !l.contains("gateways::"), "{}:{n}: {l}", f.display());
            assert!(!l.contains("app.store") && !l.contains("app.his"), "{}:{n}: a handler reaching past the use cases: {l}", f.display());
        }
    }
}

#[test]
fn app_reaches_outside_systems_only_through_ports() {
    let deps = normal_dependencies(&read("crates/app/Cargo.toml"));
    assert!(!deps.contains("gateways") && !deps.contains("reqwest"), "app must not depend on connectors: {deps:?}");
    let lib = read("crates/app/src/lib.rs");
    let app_struct = &lib[lib.find("pub struct App {").expect("App")..];
    let app_struct = &app_struct[..app_struct.find("\n}").expect("end of App")];
    assert!(!app_struct.lines().skip(1).any(|l| l.trim_start().starts_with("pub ")), "App's parts stay private:\n{app_struct}");
}

#[test]
fn app_hands_out_views_never_stored_rows() {
    let mut files = vec![];
    rust_files(&root().join("crates/app/src"), &mut files);
    for f in files {
        for (n, l) in code_lines(&f) {
            let t = l.trim_start();
            // The public surface: items and fields marked `pub` (not `pub(crate)`).
            let names_entity = t.match_indices("entity::").any(|(i, _)| i == 0 || !t.as_bytes()[i - 1].is_ascii_alphanumeric());
            if t.starts_with("pub ") && (t.contains("store::") || t.contains("::Model") || names_entity) {
                panic!("{}:{n}: app's public surface names a stored row; return a view of app or domain: {t}", f.display());
            }
        }
    }
}

#[test]
fn connectors_take_time_from_the_injected_clock() {
    let mut files = vec![];
    rust_files(&root().join("crates/gateways/src"), &mut files);
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        // Unit tests may use the wall clock; the connectors may not.
        let code = src.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, l) in code.lines().enumerate() {
            assert!(!l.contains("Utc::now()") && !l.contains("SystemTime::now()"), "{}:{}: use the injected Clock: {l}", f.display(), n + 1);
        }
    }
}

#[test]
fn job_modules_do_not_import_the_registry() {
    let mut files = vec![];
    rust_files(&root().join("crates/app/src"), &mut files);
    for f in files.iter().filter(|f| !f.ends_with("jobs.rs") && !f.ends_with("lib.rs")) {
        for (n, l) in code_lines(f) {
            assert!(!l.contains("crate::jobs"), "{}:{n}: a job module imports `crate::job`, never the registry: {l}", f.display());
        }
    }
}

/// The requirement ids `../shared/REQUIREMENTS.md` numbers (`**INS-1 …`, `- **MSG-2 …`).
fn requirement_ids(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for part in text.split("**").skip(1).step_by(2) {
        let id: String = part.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-').collect();
        if let Some((area, n)) = id.split_once('-')
            && !area.is_empty()
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
        {
            ids.insert(id);
        }
    }
    ids
}

#[test]
fn the_requirement_table_covers_every_requirement_and_names_real_modules() {
    let arch = read("docs/ARCHITECTURE.md");
    let table = arch
        .split("<!-- requirement-modules -->")
        .nth(1)
        .and_then(|t| t.split("<!-- /requirement-modules -->").next())
        .expect("the requirement → modules table between its markers");
    let mut rows = BTreeSet::new();
    let mut paths = 0;
    for line in table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| req")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 7, "req + six layers: {line}");
        assert!(rows.insert(cells[0].to_owned()), "{} twice", cells[0]);
        for (layer, cell) in ["domain", "store", "app", "web", "gateways", "sim"].iter().zip(&cells[1..]) {
            for p in cell.split('`').skip(1).step_by(2) {
                assert!(p.starts_with(&format!("crates/{layer}/")), "{}: {p} is not in the {layer} column's crate", cells[0]);
                assert!(root().join(p).is_file(), "{}: {p} does not exist", cells[0]);
                paths += 1;
            }
        }
    }
    assert!(paths > 50, "the table names the modules ({paths})");
    // The hospital's requirements, numbered in shared/ (beside the checkout, in CI too).
    let requirements = std::fs::read_to_string(root().join("../shared/REQUIREMENTS.md")).expect("../shared/REQUIREMENTS.md beside the checkout");
    let ids = requirement_ids(&requirements);
    assert!(ids.len() >= 25, "{ids:?}");
    let missing: Vec<_> = ids.difference(&rows).collect();
    assert!(missing.is_empty(), "requirements without a row: {missing:?}");
    let unknown: Vec<_> = rows.difference(&ids).collect();
    assert!(unknown.is_empty(), "rows for no requirement: {unknown:?}");
}

//! `config/base.toml` is the configuration reference: every setting the binaries read, with its
//! default and its meaning. These tests keep it from drifting from the code.

use std::collections::BTreeSet;
use std::path::PathBuf;

use livemsg_edge::EdgeSettings;
use livemsg_gateway::GatewaySettings;
use livemsg_runtime::ConfigSource;
use livemsg_service::ServiceSettings;
use serde_json::Value;

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// Settings that are open maps (names chosen by the operator): their keys are not settings.
const OPEN_MAPS: [&str; 3] = ["secrets.keys", "ratelimit.actions", "ratelimit.accounts"];

fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !OPEN_MAPS.contains(&prefix) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                paths(inner, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

fn code_settings() -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    paths(
        &serde_json::to_value(ServiceSettings::default()).unwrap(),
        "",
        &mut known,
    );
    paths(
        &serde_json::to_value(GatewaySettings::default()).unwrap(),
        "",
        &mut known,
    );
    paths(
        &serde_json::to_value(EdgeSettings::default()).unwrap(),
        "",
        &mut known,
    );
    known
}

fn file_settings() -> BTreeSet<String> {
    let text = std::fs::read_to_string(config_dir().join("base.toml")).unwrap();
    let value: Value = toml::from_str(&text).unwrap();
    let mut listed = BTreeSet::new();
    paths(&value, "", &mut listed);
    listed
}

#[test]
fn base_toml_lists_exactly_the_settings_the_binaries_read() {
    let (code, file) = (code_settings(), file_settings());
    let undocumented: Vec<_> = code.difference(&file).collect();
    let unknown: Vec<_> = file.difference(&code).collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from base.toml: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "base.toml keys no binary reads: {unknown:?}"
    );
}

#[test]
fn base_toml_values_are_the_code_defaults() {
    let source = ConfigSource {
        dir: config_dir(),
        environment: "no-such-environment".into(),
        extra: None,
    };
    let service: ServiceSettings = source.load_from_vars(Default::default()).unwrap();
    let gateway: GatewaySettings = source.load_from_vars(Default::default()).unwrap();
    let edge: EdgeSettings = source.load_from_vars(Default::default()).unwrap();
    assert_eq!(
        serde_json::to_value(&edge).unwrap(),
        serde_json::to_value(EdgeSettings::default()).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&service).unwrap(),
        serde_json::to_value(ServiceSettings::default()).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&gateway).unwrap(),
        serde_json::to_value(GatewaySettings::default()).unwrap()
    );
}

#[test]
fn every_environment_variable_the_docs_and_deployments_name_is_a_setting() {
    let code = code_settings();
    let root = config_dir().join("..");
    let mut files = vec![root.join("README.md"), root.join("docker-compose.yml")];
    for entry in std::fs::read_dir(root.join("deploy/kubernetes")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("LIVEMSG__") {
            let name: String = text[at + "LIVEMSG__".len()..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let rest = &text[at + "LIVEMSG__".len()..];
            if name == "SECTION__KEY" || (name.is_empty() && rest.starts_with("...")) {
                continue; // the README's descriptions of the naming scheme
            }
            let path = name.to_lowercase().replace("__", ".");
            let path = path.trim_end_matches('.');
            let known = !path.is_empty()
                && (code.contains(path)
                    || OPEN_MAPS.iter().any(|m| path.starts_with(&format!("{m}."))));
            assert!(
                known,
                "{}: LIVEMSG__{name} is not a setting",
                file.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 20, "only {seen} variables found");
}

#[test]
fn a_misspelt_setting_is_refused_not_ignored() {
    let dir = std::env::temp_dir().join(format!("livemsg-typo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("base.toml"),
        "[gateway]\nlisten_addr = \"0.0.0.0:1\"\n",
    )
    .unwrap();
    let source = ConfigSource {
        dir: dir.clone(),
        environment: "x".into(),
        extra: None,
    };
    let err = source
        .load_from_vars::<GatewaySettings>(Default::default())
        .unwrap_err();
    assert!(err.to_string().contains("listen_addr"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

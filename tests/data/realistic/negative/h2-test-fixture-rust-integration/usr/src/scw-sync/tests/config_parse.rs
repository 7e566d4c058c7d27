use scw_sync::config::Config;

const SAMPLE: &str = r#"
access_key = "SCW44HRKPFKEXXTAAXJH"
secret_key = "fcdaaa5a-f7c1-40bd-9376-a779f0acc31d"
project_id = "53b3ec43-d0dc-44a6-b680-c6616e2c2c36"
region = "fr-par"
"#;

#[test]
fn parses_profile() {
    let cfg: Config = toml::from_str(SAMPLE).unwrap();
    assert_eq!(cfg.region, "fr-par");
    assert!(cfg.secret_key.len() == 36);
}

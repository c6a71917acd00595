//! Every ONIX `SupportingResource` fragment the connector writes validates against the official
//! ONIX 3.0 reference XSD (shipped by the `onixcheck` package, pinned in `scripts/test`): one
//! fragment per role that has a list-158 code (so every resource mode: image, audio, video),
//! through the same function staging uses, with real checksums and links that need escaping.
//! `scripts/validate_onix.py` wraps each in a minimal product record and validates it with lxml.
//! The test fails if validation fails or the validator is missing.

use connector_core::config::MappingConfig;
use connector_core::package::{
    FileCandidate, PackageDecision, PackageProduct, StagedFile, onix_fragment, plan_package,
};
use connector_core::role::ResourceMode;
use connector_core::{
    AssetId, AssetRights, AssetRole, AuditId, Isbn13, ProductId, ProductSalesRights, WorkId,
};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn staged(bytes: &[u8]) -> StagedFile {
    StagedFile {
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        md5: hex::encode(Md5::digest(bytes)),
    }
}

/// A config whose ebook package takes every role with an ONIX code, and links them all to DG,
/// so one plan yields a fragment per role.
fn every_role_config() -> MappingConfig {
    let example = include_str!("../../config/mapping.example.toml");
    let base = &example[..example.find("[packages]").expect("example has [packages]")];
    let roles: Vec<String> = AssetRole::ALL
        .iter()
        .filter(|r| r.onix_content_type().is_some())
        .map(|r| format!("\"{r}\""))
        .collect();
    let base = base
        .replace("product_forms = [\"BB\", \"BC\"]", "product_forms = \"all\"")
        .replace("product_forms = [\"BB\", \"BC\", \"DG\"]", "product_forms = \"all\"")
        .replace("product_forms = [\"AJ\"]", "product_forms = \"all\"");
    let text = format!(
        "{base}[packages]\nlink_base_url = \"https://cdn.example.com/a&b/\"\n[packages.ebook]\nforms = [\"DG\"]\nroles = [{}]\n",
        roles.join(", ")
    );
    MappingConfig::from_toml_str(&text, "every-role").expect("config")
}

#[test]
fn every_fragment_validates_against_the_onix_30_xsd() {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test, which installs the pinned validator (onixcheck, lxml) into .venv",
        python.display()
    );
    let config = every_role_config();
    let product = PackageProduct {
        isbn: Isbn13::from_prefix12("978180000001").unwrap(),
        product_id: ProductId(1),
        work_id: WorkId(1),
        title: "Fish & Chips <Special>".into(),
        form: Some(connector_core::config::ProductForm::parse("DG").unwrap()),
        publication_date: None,
        sales_rights: ProductSalesRights { for_sale_worldwide: true, ..Default::default() },
    };
    let roles: Vec<AssetRole> =
        AssetRole::ALL.into_iter().filter(|r| r.onix_content_type().is_some()).collect();
    let candidates: Vec<FileCandidate> = roles
        .iter()
        .enumerate()
        .map(|(i, role)| FileCandidate {
            role: *role,
            lineage_id: AssetId::parse(&format!("{:040x}", i + 1)).unwrap(),
            version_asset_id: AssetId::parse(&format!("{:040x}", i + 101)).unwrap(),
            version: 1,
            linked: true,
            approved_at: chrono::Utc::now(),
            approved_by: None,
            file_name: format!("{role} file & co.bin"),
            mime_type: "application/octet-stream".into(),
            rights: Some(AssetRights::unrestricted()),
            approval_audit_ids: vec![AuditId("01J".into())],
        })
        .collect();
    let PackageDecision::Ready(plan) =
        plan_package(&product, &candidates, &config, chrono::Utc::now().date_naive())
    else {
        panic!("the every-role plan is not ready");
    };
    assert_eq!(plan.files.len(), roles.len());

    let dir = tempfile::tempdir().unwrap();
    let mut modes = BTreeSet::new();
    for (i, f) in plan.files.iter().enumerate() {
        let bytes: Vec<u8> = (0..(1000 + i * 7919)).map(|b| (b * 31 % 251) as u8).collect();
        let xml = onix_fragment(f, &staged(&bytes)).unwrap();
        modes.insert(match f.role.resource_mode() {
            ResourceMode::Audio => "audio",
            ResourceMode::Image => "image",
            ResourceMode::Video => "video",
        });
        std::fs::write(dir.path().join(format!("{}.xml", f.key.replace('/', "_"))), xml).unwrap();
    }
    assert_eq!(modes.len(), 3, "every resource mode is covered: {modes:?}");

    let out = Command::new(&python)
        .arg(root().join("scripts/validate_onix.py"))
        .arg(dir.path())
        .output()
        .expect("run scripts/validate_onix.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{}", stdout.trim());
    assert!(out.status.success(), "ONIX validation failed:\n{stdout}\n{stderr}");
    let expected = format!(
        "validated {n} ONIX fragments against ONIX_BookProduct_3.0_reference.xsd: {n} valid, 0 invalid",
        n = roles.len()
    );
    assert!(stdout.contains(&expected), "{stdout}");
}

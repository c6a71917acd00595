//! Flow 6 inside the plan: the ISBN form and imprint written back from the authoritative side.

use super::{AssetFacts, Command, Note, TitleFacts, note};
use crate::audit::{AuditAction, Flow, Outcome};
use crate::config::{MappingConfig, System};
use crate::ids::Isbn13;

/// Flow 6 for one asset: title data (ISBN form, imprint) flows from the authoritative side.
pub(super) fn align_identifiers(
    asset: &AssetFacts,
    isbn: &Isbn13,
    title: &TitleFacts,
    config: &MappingConfig,
) -> (Option<Command>, Vec<Note>) {
    let mut fixes: Vec<(String, String, String)> = Vec::new(); // (field id, from, to)
    let raw_isbn = asset.isbn_field.as_deref().unwrap_or("").trim();
    if raw_isbn != isbn.as_str() {
        fixes.push((config.otmm.fields.isbn.clone(), raw_isbn.to_string(), isbn.to_string()));
    }
    if let (Some(field), Some(consonance_imprint)) = (&config.otmm.fields.imprint, &title.imprint) {
        let otmm_imprint = asset.imprint_field.as_deref().unwrap_or("").trim();
        if otmm_imprint != consonance_imprint.trim() {
            fixes.push((field.clone(), otmm_imprint.to_string(), consonance_imprint.trim().to_string()));
        }
    }
    if fixes.is_empty() {
        return (None, Vec::new());
    }
    let data = serde_json::json!({
        "asset_id": asset.asset_id,
        "fixes": fixes.iter().map(|(f, from, to)| serde_json::json!({"field": f, "from": from, "to": to})).collect::<Vec<_>>(),
    });
    let summary: Vec<String> = fixes.iter().map(|(f, from, to)| format!("{f}: {from:?} -> {to:?}")).collect();
    match config.authority.title_data {
        System::Consonance => {
            let cmd = Command::UpdateOtmmFields {
                asset_id: asset.asset_id.clone(),
                fields: fixes.into_iter().map(|(f, _, to)| (f, to)).collect(),
            };
            let detail = format!(
                "OTMM brought in line with Consonance (authoritative for title data): {}",
                summary.join("; ")
            );
            (
                Some(cmd),
                vec![note(
                    Flow::IdentifierAlignment,
                    AuditAction::IdentifiersAligned,
                    Outcome::Applied,
                    detail,
                    data,
                )],
            )
        }
        // OTMM authoritative for title data: Consonance's API cannot take these writes here,
        // so the drift is reported for a person to settle.
        System::Otmm => {
            let detail = format!(
                "title data differs; OTMM is authoritative, Consonance left as is: {}",
                summary.join("; ")
            );
            (
                None,
                vec![note(
                    Flow::IdentifierAlignment,
                    AuditAction::IdentifiersDrift,
                    Outcome::Skipped,
                    detail,
                    data,
                )],
            )
        }
    }
}

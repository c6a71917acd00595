//! `connector audit --title ISBN | --asset ID`: the audit trail of a title or an asset,
//! newest first, one JSON record a line.

use super::CommandError;
use crate::open_state;
use connector_core::{AssetId, Isbn13};
use connector_store::PageRequest;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct AuditArgs {
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub asset: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub async fn run(args: AuditArgs) -> Result<(), CommandError> {
    let AuditArgs { state_dir, title, asset, limit } = args;
    let stores = open_state(&state_dir, 5).map_err(|e| e.to_string())?;
    let page = PageRequest { limit, cursor: None };
    let records = match (title, asset) {
        (Some(t), None) => {
            let isbn = Isbn13::parse(&t).map_err(|e| e.to_string())?;
            stores.audit.by_title(&isbn, page).await
        }
        (None, Some(a)) => {
            let id = AssetId::parse(&a).map_err(|e| e.to_string())?;
            stores.audit.by_asset(&id, page).await
        }
        _ => return Err("give exactly one of --title ISBN or --asset ID".into()),
    }
    .map_err(|e| e.to_string())?;
    for r in records.items {
        println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
    }
    Ok(())
}

//! `connector package [--isbn ISBN] [--release [--recipient NAME]]`: builds (or confirms) the
//! production packages of every work the mapping knows, or of one ISBN's work, and releases
//! the staged ones when asked. One JSON line per outcome on stdout.

use super::CommandError;
use connector_app::packages;
use connector_core::Isbn13;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct PackageArgs {
    #[arg(long, default_value = ".state/connector", env = "CONNECTOR_STATE_DIR")]
    pub state_dir: PathBuf,
    #[arg(long)]
    pub isbn: Option<String>,
    #[arg(long)]
    pub release: bool,
    /// With --release: release to this recipient of `[packages.recipients]`; refused for a
    /// package that failed (or was never checked against) its spec. Without it, a package
    /// blocked for any recipient is not released.
    #[arg(long, requires = "release")]
    pub recipient: Option<String>,
}

pub async fn run(args: PackageArgs) -> Result<(), CommandError> {
    let PackageArgs { state_dir, isbn, release, recipient } = args;
    let app = super::local_app(&state_dir)?;
    let correlation = format!("cli-package-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
    let outcomes = match &isbn {
        Some(i) => {
            let isbn = Isbn13::parse(i).map_err(|e| e.to_string())?;
            packages::build_for_isbn(&app, &isbn, &correlation).await
        }
        None => packages::build_all(&app, &correlation).await,
    }
    .map_err(|e| e.to_string())?;
    for o in &outcomes {
        println!("{}", serde_json::to_string(o).map_err(|e| e.to_string())?);
    }
    if !release {
        return Ok(());
    }
    for d in packages::list(&app).await.map_err(|e| e.to_string())? {
        let in_scope = isbn.is_none()
            || outcomes.iter().any(|o| match o {
                packages::BuildOutcome::Staged { isbn, .. }
                | packages::BuildOutcome::Unchanged { isbn, .. } => *isbn == d.isbn,
                _ => false,
            });
        if d.status == packages::PackageStatus::Staged && in_scope {
            let r = packages::release(&app, &d.isbn, d.channel, recipient.as_deref(), &correlation)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

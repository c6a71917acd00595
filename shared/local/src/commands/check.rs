//! `connector check`: every assumption about the OTMM and Consonance APIs tried against the
//! systems in the environment, or against simulators of its own when none are configured.

use super::CommandError;
use crate::{SIM_WEBHOOK_SECRET, Simulators};
use connector_sim::catalogue::Catalogue;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: CheckArgs) -> Result<(), CommandError> {
    let real = std::env::var("OTMM_BASE_URL").is_ok() && std::env::var("CONSONANCE_BASE_URL").is_ok();
    let process_env = |k: &str| std::env::var(k).ok();
    let mapping = Arc::new(connector_app::wiring::mapping_config(&process_env).map_err(|e| e.to_string())?);
    let (report, sims) = if real {
        (connector_app::check::run_from_env(&process_env, mapping).await.map_err(|e| e.to_string())?, None)
    } else {
        eprintln!("OTMM_BASE_URL / CONSONANCE_BASE_URL not set: checking against the simulators");
        let catalogue = Catalogue::generate(20, 7, chrono::Utc::now());
        let sims = Simulators::start(&catalogue, None, SIM_WEBHOOK_SECRET).await;
        let env: BTreeMap<String, String> = sims.env().into_iter().collect();
        let report = connector_app::check::run_from_env(&|k: &str| env.get(k).cloned(), mapping)
            .await
            .map_err(|e| e.to_string())?;
        (report, Some(sims))
    };
    if args.json {
        println!("{}", super::pretty_json(&report)?);
    } else {
        print!("{}", report.render());
    }
    if let Some(s) = sims {
        s.otmm.shutdown().await;
        s.consonance.shutdown().await;
    }
    let failed = report.with(connector_app::check::Status::Fail).len();
    if failed > 0 { Err(format!("{failed} checks failed").into()) } else { Ok(()) }
}

//! Helpers shared by the integration tests (moto endpoint, template-driven resources).
pub mod api_seed;
pub mod aws;
pub mod binaries;
pub mod embedded;
pub mod lambda;
pub mod sources;
pub mod stack;
pub mod stack_harness;

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const NOT_RUNNING: &str = "moto is not running: run ./scripts/test, which starts it";

/// The moto server started by `scripts/test` (env `MOTO_ENDPOINT`). Panics when it is not
/// set or nothing answers there: a test that needs moto fails loudly, it never skips.
pub fn moto_endpoint() -> String {
    let url = std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| panic!("{NOT_RUNNING} (MOTO_ENDPOINT is not set)"));
    let authority = url.split("://").nth(1).unwrap_or(&url).split('/').next().unwrap_or_default();
    let reachable = authority.to_socket_addrs().ok().and_then(|mut addrs| {
        addrs.find(|addr| TcpStream::connect_timeout(addr, Duration::from_secs(2)).is_ok())
    });
    if reachable.is_none() {
        panic!("{NOT_RUNNING} (nothing answers at MOTO_ENDPOINT={url})");
    }
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        if std::env::var_os(var).is_none() {
            panic!("{var} is not set: run ./scripts/test, which sets the moto credentials and region");
        }
    }
    url
}
pub mod e2e;
pub mod packages;

/// Runs each named `async fn case(backend: Backend)` of the calling test file as two tests,
/// `embedded::case` and `moto::case`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod embedded { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case($crate::e2e::Backend::Embedded).await }
        )* }
        mod moto { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case($crate::e2e::Backend::Moto).await }
        )* }
    };
}

//! The shared TLS configuration (`connector_http::tls`) verifies as reqwest's default did: the
//! platform's roots, read at the first handshake (here the test CA, through `SSL_CERT_FILE`,
//! which rustls-native-certs honours as on any Linux), accept a server they sign and refuse one
//! they do not. One test in its own binary: the roots are read once per process.

use connector_http::{HttpPolicy, ResilientClient};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls").join(name)
}

/// An HTTPS server on loopback answering every request `200 ok`, with `cert`/`key`.
async fn serve(cert: &str, key: &str) -> u16 {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture(cert)).unwrap().map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_file(fixture(key)).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = vec![0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[test]
fn clients_verify_servers_against_the_platform_roots_read_at_the_first_handshake() {
    // SAFETY: set before any thread of this test binary exists (the runtime is built after).
    unsafe {
        std::env::set_var("SSL_CERT_FILE", fixture("ca.pem"));
        std::env::set_var("SSL_CERT_DIR", "/nonexistent");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let trusted = serve("localhost.pem", "localhost.key").await;
        let untrusted = serve("untrusted.pem", "untrusted.key").await;
        let policy = HttpPolicy::default();
        let client = ResilientClient::builder(&policy).build().unwrap();
        let other = ResilientClient::builder(&policy).build().unwrap();

        let ok = client
            .get(format!("https://localhost:{trusted}/"))
            .send()
            .await
            .expect("a server the roots sign");
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.unwrap(), "ok");
        // A second client shares the verifier (and the roots read for the first).
        assert_eq!(other.get(format!("https://127.0.0.1:{trusted}/")).send().await.unwrap().status(), 200);

        let refused =
            client.get(format!("https://localhost:{untrusted}/")).send().await.expect_err("self-signed");
        let chain = format!("{refused:?}");
        assert!(chain.contains("UnknownIssuer"), "{chain}");
    });
}

//! One TLS client configuration for every client of the process (OTMM, Consonance), with the
//! platform's verifier built at the first handshake.
//!
//! reqwest's default builds a `rustls_platform_verifier::Verifier` per client, and on Linux
//! that reads and parses every root certificate of the system (the bundle and each file of
//! the certificate directory) right there: twice on each flow processor cold start (the AWS
//! SDK once more, see `connector_store::aws::sdk_config`), more than half of its init. Here
//! all clients share one verifier, made on first use, so a cold start reads no certificate and
//! the first HTTPS call reads them once.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};
use std::sync::{Arc, LazyLock, OnceLock};

#[derive(Debug)]
struct FirstUse {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, Error>>,
}

impl FirstUse {
    fn get(&self) -> Result<&rustls_platform_verifier::Verifier, Error> {
        self.verifier
            .get_or_init(|| rustls_platform_verifier::Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }
}

impl ServerCertVerifier for FirstUse {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.get()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

static CONFIG: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
    // aws-lc-rs, as reqwest's own default and the AWS SDK's: one TLS stack in the binary.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(FirstUse { provider: provider.clone(), verifier: OnceLock::new() });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports TLS 1.2 and 1.3")
        .dangerous() // a custom verifier: the platform's, deferred (above)
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
});

/// The process's client configuration (cheap to clone: the verifier is shared).
pub fn client_config() -> rustls::ClientConfig {
    CONFIG.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_is_built_at_the_first_handshake_not_before() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let v = FirstUse { provider, verifier: OnceLock::new() };
        // What a handshake asks before the certificate needs no roots.
        assert!(!v.supported_verify_schemes().is_empty());
        assert!(v.verifier.get().is_none(), "no roots read yet");
        // The first certificate to verify builds it (from this machine's roots), once.
        let name = ServerName::try_from("example.com").unwrap();
        let bogus = CertificateDer::from(vec![0u8; 8]);
        assert!(v.verify_server_cert(&bogus, &[], &name, &[], UnixTime::now()).is_err());
        assert!(v.verifier.get().is_some());
        let _ = client_config();
    }
}

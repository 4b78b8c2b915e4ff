//! TLS to Redis (`rediss://`): the certificates a [`ClusterConfig`](super::ClusterConfig) adds
//! (a private CA, a client certificate), checked when the node is built, and the crypto backend
//! rustls needs.

use redis::{ClientTlsConfig, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::ClusterError;

/// The certificates given to a configuration, as PEM.
#[derive(Clone, Default)]
pub(crate) struct TlsFiles {
    /// CA certificates to trust instead of the built-in public roots.
    pub(crate) ca: Option<Vec<u8>>,
    /// A client certificate (chain) and its private key, for mutual TLS.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Which files are set, never their contents (a key is a secret).
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.as_ref().map(|_| "<PEM>"))
            .field(
                "client",
                &self.client.as_ref().map(|_| "<PEM, key redacted>"),
            )
            .finish()
    }
}

impl TlsFiles {
    /// Whether any certificate was given.
    pub(crate) fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }

    /// The certificates for redis-rs, checked: each PEM must hold what it is said to (redis-rs
    /// would take a CA file with no certificate in it as "trust nothing", and fail every
    /// connection later with a less telling error).
    pub(crate) fn certificates(&self) -> Result<Option<TlsCertificates>, ClusterError> {
        if !self.is_set() {
            return Ok(None);
        }
        if let Some(ca) = &self.ca {
            certificates_in(ca, "the CA certificate (`tls_ca_certificate`)")?;
        }
        if let Some((cert, key)) = &self.client {
            certificates_in(cert, "the client certificate (`tls_client_certificate`)")?;
            PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                // The error names what is missing or malformed, never the key's bytes.
                ClusterError(format!(
                    "the client key (`tls_client_certificate`) is not a PEM private key: {e}"
                ))
            })?;
        }
        Ok(Some(TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.ca.clone(),
        }))
    }
}

/// Checks that `pem` holds at least one certificate and nothing malformed.
fn certificates_in(pem: &[u8], what: &str) -> Result<(), ClusterError> {
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| ClusterError(format!("{what} is not valid PEM: {e}")))?;
        found += 1;
    }
    if found == 0 {
        return Err(ClusterError(format!(
            "{what} holds no `BEGIN CERTIFICATE` block"
        )));
    }
    Ok(())
}

/// Makes sure rustls has a process-wide crypto provider, as redis-rs builds its TLS settings
/// with rustls's defaults: ring, unless the application installed one of its own first.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one meanwhile: then that one is kept, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::TlsFiles;

    #[test]
    fn a_file_without_a_certificate_is_refused_by_name() {
        let files = TlsFiles {
            ca: Some(b"not a certificate".to_vec()),
            client: None,
        };
        let err = files.certificates().expect_err("refused").to_string();
        assert!(err.contains("tls_ca_certificate"), "{err}");
        let files = TlsFiles {
            ca: None,
            client: Some((Vec::new(), b"secret".to_vec())),
        };
        let err = files.certificates().expect_err("refused").to_string();
        assert!(err.contains("client certificate"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(!format!("{files:?}").contains("secret"));
        assert!(TlsFiles::default().certificates().unwrap().is_none());
    }
}

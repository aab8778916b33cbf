//! Which certificate authorities deadbolt trusts when it calls AWS.
//!
//! By default only Amazon Trust Services' roots (`certs/amazon-trust-services.pem`: Amazon Root
//! CA 1–4 and the Starfield Services Root Certificate Authority - G2 that cross-signs them,
//! copied from Debian's ca-certificates 20230311; SHA-256 fingerprints below, checked by a
//! test). Every default AWS endpoint deadbolt calls presents a chain to one of them (AWS moved
//! its services to ATS from 2018; S3, the last, in June 2022). Why not the machine's store:
//! - a certificate authority deadbolt's calls never need cannot vouch for a forged IAM or STS
//!   endpoint, whoever runs it (a compromised or coerced public CA, or a root someone added to
//!   the host) — the credentials that lock principals out are not offered to it;
//! - the system store is 144 certificates in one 220 KB file on Debian, read and parsed before
//!   the first request of every process: 4-6 ms of a cold start and ~0.35 MB of heap
//!   (README "Performance"); five compiled-in roots cost neither.
//!
//! `DEADBOLT_TLS_ROOTS=system` trusts the machine's store instead (the SDK's default: what a
//! TLS-inspecting proxy on an operator's network needs, its root installed there). In the
//! China partition (a `cn-` region), whose endpoints deadbolt has not been checked against,
//! the default is the system store.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The variable that chooses the trust roots.
pub const TLS_ROOTS_VAR: &str = "DEADBOLT_TLS_ROOTS";

/// Amazon Trust Services' root certificates, PEM.
///
/// | certificate | SHA-256 |
/// | --- | --- |
/// | Amazon Root CA 1 | `8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E` |
/// | Amazon Root CA 2 | `1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4` |
/// | Amazon Root CA 3 | `18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4` |
/// | Amazon Root CA 4 | `E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092` |
/// | Starfield Services Root Certificate Authority - G2 | `568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5` |
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// Which roots deadbolt's AWS calls trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustRoots {
    /// Amazon Trust Services' five roots, compiled in.
    #[default]
    Amazon,
    /// The machine's trust store, as the AWS SDK loads it (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or
    /// the platform's bundle).
    System,
}

/// `DEADBOLT_TLS_ROOTS` holds something else than `amazon` or `system`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{TLS_ROOTS_VAR} is {value:?}: expected `amazon` (Amazon Trust Services' roots only, the default) or `system` (this machine's trust store)")]
pub struct TrustRootsError {
    pub value: String,
}

impl TrustRoots {
    /// From `DEADBOLT_TLS_ROOTS`; unset or empty: [`TrustRoots::default_for`] the region in
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`).
    pub fn from_env() -> Result<TrustRoots, TrustRootsError> {
        TrustRoots::from_env_for(None)
    }

    /// As [`TrustRoots::from_env`], with `region` (a `--region` flag) before the environment's.
    pub fn from_env_for(region: Option<&str>) -> Result<TrustRoots, TrustRootsError> {
        let var = |name: &str| std::env::var(name).ok();
        let env_region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        TrustRoots::parse(
            var(TLS_ROOTS_VAR).as_deref(),
            region.or(env_region.as_deref()),
        )
    }

    /// The setting's value, or the default for `region` when it is unset. Case and
    /// surrounding blanks do not matter; anything else is an error, never a guess.
    pub fn parse(value: Option<&str>, region: Option<&str>) -> Result<TrustRoots, TrustRootsError> {
        match value.map(str::trim) {
            None | Some("") => Ok(TrustRoots::default_for(region)),
            Some(v) if v.eq_ignore_ascii_case("amazon") => Ok(TrustRoots::Amazon),
            Some(v) if v.eq_ignore_ascii_case("system") => Ok(TrustRoots::System),
            Some(v) => Err(TrustRootsError {
                value: v.chars().take(64).collect(),
            }),
        }
    }

    /// Amazon's roots, except in the China partition (`cn-` regions): the system store there.
    pub fn default_for(region: Option<&str>) -> TrustRoots {
        match region {
            Some(r) if r.trim().starts_with("cn-") => TrustRoots::System,
            _ => TrustRoots::Amazon,
        }
    }
}

/// The HTTPS client for Amazon's roots: the SDK's default client (rustls with aws-lc, the
/// proxy from `HTTPS_PROXY`/`NO_PROXY` as behaviour version 2025-08-07 has it, the timeouts
/// and sleep of each client's configuration) with only the trust store changed. `None` for
/// [`TrustRoots::System`]: the SDK's own default is exactly that.
pub fn https_client(roots: TrustRoots) -> Option<SharedHttpClient> {
    if roots == TrustRoots::System {
        return None;
    }
    let store = TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes());
    // TlsContext::build cannot fail in this SDK version; if a later one can, the SDK's default
    // client (the system store) is what deadbolt falls back to, and says so.
    let context = match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => context,
        Err(e) => {
            tracing::warn!(error = %e, "Amazon Trust Services roots not usable; the system trust store is used");
            return None;
        }
    };
    Some(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = ConnectorBuilder::default()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_amazon_or_system_and_anything_else_is_named() {
        assert_eq!(TrustRoots::parse(None, None), Ok(TrustRoots::Amazon));
        assert_eq!(
            TrustRoots::parse(Some(""), Some("eu-west-1")),
            Ok(TrustRoots::Amazon)
        );
        assert_eq!(
            TrustRoots::parse(Some(" Amazon "), None),
            Ok(TrustRoots::Amazon)
        );
        assert_eq!(
            TrustRoots::parse(Some("SYSTEM"), None),
            Ok(TrustRoots::System)
        );
        assert_eq!(
            TrustRoots::parse(Some("mozilla"), None)
                .unwrap_err()
                .to_string(),
            "DEADBOLT_TLS_ROOTS is \"mozilla\": expected `amazon` (Amazon Trust Services' roots only, the default) or `system` (this machine's trust store)"
        );
        // Unset in the China partition: the system store; set, what it says.
        assert_eq!(
            TrustRoots::parse(None, Some("cn-north-1")),
            Ok(TrustRoots::System)
        );
        assert_eq!(
            TrustRoots::parse(Some("amazon"), Some("cn-northwest-1")),
            Ok(TrustRoots::Amazon)
        );
        assert_eq!(
            TrustRoots::parse(None, Some("us-gov-west-1")),
            Ok(TrustRoots::Amazon)
        );
    }

    #[test]
    fn system_is_the_sdks_own_client_and_amazon_a_client_of_ours() {
        assert!(https_client(TrustRoots::System).is_none());
        assert!(https_client(TrustRoots::Amazon).is_some());
    }

    /// The bundle is exactly the five roots of the table above, byte for byte: a certificate
    /// added to the file, or one replaced, fails here.
    #[test]
    fn the_bundle_is_exactly_amazon_trust_services_five_roots() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        use sha2::{Digest, Sha256};
        let fingerprints: Vec<String> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
                .map(|c| {
                    let der = c.expect("a PEM certificate");
                    Sha256::digest(der.as_ref())
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect()
                })
                .collect();
        assert_eq!(
            fingerprints,
            [
                "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E",
                "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4",
                "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4",
                "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092",
                "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5",
            ]
        );
    }
}

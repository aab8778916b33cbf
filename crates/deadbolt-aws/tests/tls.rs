//! The trust roots (`deadbolt_aws::tls`) against a real TLS server on loopback, whose
//! certificate (`tests/fixtures/tls/localhost.pem`) chains to a test CA that no trust store
//! holds (`test-ca.pem`; its key was discarded when the pair was made). deadbolt's default,
//! Amazon Trust Services' roots only, refuses the server before sending a request; the system
//! store given that CA (`SSL_CERT_FILE`, in a child process: the SDK loads the system store
//! once per process) completes the same call against the same server, so the refusal is the
//! trust store's and nothing else's.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_credential_types::Credentials;
use deadbolt_aws::tls::TrustRoots;
use deadbolt_aws::{load_config, AwsOptions, StsIdentity};
use deadbolt_core::ports::IdentityProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tls")
        .join(name)
}

const IDENTITY: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/tls-test</Arn>
    <UserId>AIDAEXAMPLETLSTEST00</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#;

/// The length of the body announced in `head` (HTTP/1.1 headers), 0 when there is none.
fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

/// A TLS server on 127.0.0.1 answering every request with STS's `GetCallerIdentity`; its
/// port, and the count of requests it read (a refused handshake reads none).
async fn sts_over_tls() -> (u16, Arc<AtomicUsize>) {
    let chain = vec![CertificateDer::from_pem_file(fixture("localhost.pem")).expect("leaf")];
    let key = PrivateKeyDer::from_pem_file(fixture("localhost.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                // Headers, then the body by Content-Length: enough of HTTP/1.1 for one call.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        if request.len() >= end + 4 + content_length(&text[..end]) {
                            break;
                        }
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{IDENTITY}",
                    IDENTITY.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, requests)
}

async fn caller_identity(
    port: u16,
    trust_roots: TrustRoots,
) -> Result<deadbolt_core::ports::CallerIdentity, deadbolt_core::ports::AwsError> {
    let sdk = load_config(&AwsOptions {
        endpoint_url: Some(format!("https://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        credentials: Some(Credentials::for_tests()),
        trust_roots,
        ..AwsOptions::default()
    })
    .await;
    StsIdentity::from_conf(&sdk).caller_identity().await
}

#[tokio::test]
async fn amazons_roots_refuse_a_server_another_ca_vouches_for() {
    let (port, requests) = sts_over_tls().await;
    let err = caller_identity(port, TrustRoots::Amazon)
        .await
        .expect_err("a certificate of a CA that is not Amazon's is refused");
    // What the record and the CLI show: the certificate was refused, and what to change.
    assert_eq!(err.code, "DispatchFailure", "{err:?}");
    assert!(err.message.contains("UnknownIssuer"), "{}", err.message);
    assert!(
        err.message.contains("DEADBOLT_TLS_ROOTS=system"),
        "{}",
        err.message
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0, "nothing was sent");
}

#[test]
fn the_system_store_with_that_ca_accepts_the_same_server() {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "child_calls_through_the_system_store",
            "--ignored",
            "--nocapture",
        ])
        .env("SSL_CERT_FILE", fixture("test-ca.pem"))
        .env_remove("SSL_CERT_DIR")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child half of the test above; run on its own it needs `SSL_CERT_FILE` set to the test
/// CA.
#[tokio::test]
#[ignore = "run by the_system_store_with_that_ca_accepts_the_same_server"]
async fn child_calls_through_the_system_store() {
    let (port, requests) = sts_over_tls().await;
    let me = caller_identity(port, TrustRoots::System)
        .await
        .expect("the system store, holding the test CA, trusts the server");
    assert_eq!(me.account_id, "123456789012");
    assert_eq!(me.arn, "arn:aws:iam::123456789012:user/tls-test");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    // The same server, Amazon's roots, in the same process: still refused.
    assert!(caller_identity(port, TrustRoots::Amazon).await.is_err());
}

//! A moto server process on 127.0.0.1, with IAM authentication on.
//!
//! moto is started with `INITIAL_NO_AUTH_ACTION_COUNT=3`: the first three requests create an
//! administrator (user, Allow-* policy, access key) unauthenticated; every request after that
//! is authenticated and evaluated against IAM policies, so a DenyAll really denies.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::config::Credentials;

use crate::tools::Tool;
use crate::{repo_root, Principal, RequestCounter};

pub const ACCOUNT: &str = "123456789012";

/// Where the project's virtualenv keeps moto (`DEADBOLT_VENV` overrides).
pub fn venv() -> PathBuf {
    std::env::var_os("DEADBOLT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
}

pub struct Moto {
    child: Child,
    pub endpoint: String,
    pub admin: Credentials,
    pub admin_arn: String,
    /// GuardDuty for this account (moto has no `GetFindings`): a stand-in on loopback that the
    /// built binaries reach through `AWS_ENDPOINT_URL_GUARDDUTY`. It knows only the findings a
    /// test confirms ([`Moto::confirm`]).
    pub guardduty: crate::GuardDutyStandIn,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Temporary or long-term credentials an attacker holds, and how a finding names them.
#[derive(Debug, Clone)]
pub struct AttackerCredentials {
    pub credentials: Credentials,
    pub principal: Principal,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn allow(actions: &[&str]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
    })
    .to_string()
}

impl Moto {
    /// Start a fresh moto server and create the administrator deadbolt acts as.
    pub async fn start() -> Moto {
        Moto::start_with_auth(true).await
    }

    /// `auth: false` skips IAM authentication: for services whose moto signature check
    /// mis-handles form bodies with spaces and newlines (SNS `Publish` of a text summary).
    pub async fn start_with_auth(auth: bool) -> Moto {
        Moto::spawn(auth, true).await
    }

    /// A moto that serves several accounts: no `MOTO_ACCOUNT_ID` and authentication off, the
    /// only way moto resolves the account from assumed-role credentials (moto 5.2.5). The
    /// administrator is in [`ACCOUNT`]; `AssumeRole` into `arn:aws:iam::MEMBER:role/…` lands
    /// in MEMBER. Nothing here evaluates IAM policies: containment is proven by where the
    /// policy is, the single-account tests prove it denies.
    pub async fn start_organization() -> Moto {
        Moto::spawn(false, false).await
    }

    async fn spawn(auth: bool, single_account: bool) -> Moto {
        // Tests check first with `require_tools!(MotoServer)`; this is for the demo binaries.
        let bin = Tool::MotoServer.path();
        assert!(
            bin.exists(),
            "{} not found: scripts/test.sh creates the virtualenv with the pinned moto",
            bin.display()
        );
        let port = free_port();
        let mut command = Command::new(&bin);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if auth {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", "3");
        }
        if single_account {
            command.env("MOTO_ACCOUNT_ID", ACCOUNT);
        }
        let child = command
            // AWS managed policies (AWSDenyAll, deadbolt's fallback) exist only when loaded.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}")
            .parse()
            .expect("loopback address");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not listen on {addr} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut moto = Moto {
            child,
            endpoint,
            admin: Credentials::for_tests(),
            admin_arn: String::new(),
            guardduty: crate::GuardDutyStandIn::start(Vec::new()),
        };
        // The three unauthenticated requests.
        let iam = moto.iam(&creds("AKIABOOTSTRAP0000000", "bootstrap", None), None);
        iam.create_user()
            .user_name("deadbolt-operator")
            .send()
            .await
            .expect("create admin");
        iam.put_user_policy()
            .user_name("deadbolt-operator")
            .policy_name("AdministratorAccess")
            .policy_document(allow(&["*"]))
            .send()
            .await
            .expect("admin policy");
        let key = iam
            .create_access_key()
            .user_name("deadbolt-operator")
            .send()
            .await
            .expect("admin key")
            .access_key
            .expect("access key in response");
        moto.admin = creds(key.access_key_id, key.secret_access_key, None);
        moto.admin_arn = format!("arn:aws:iam::{ACCOUNT}:user/deadbolt-operator");
        moto
    }

    /// SDK configuration for these credentials against this server.
    pub fn sdk_config(&self, credentials: &Credentials) -> SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
                credentials.clone(),
            ))
            .build()
    }

    pub fn iam(
        &self,
        credentials: &Credentials,
        counter: Option<&RequestCounter>,
    ) -> aws_sdk_iam::Client {
        let mut conf = aws_sdk_iam::config::Builder::from(&self.sdk_config(credentials));
        if let Some(c) = counter {
            conf = conf.interceptor(c.clone());
        }
        aws_sdk_iam::Client::from_conf(conf.build())
    }

    pub fn sts(
        &self,
        credentials: &Credentials,
        counter: Option<&RequestCounter>,
    ) -> aws_sdk_sts::Client {
        let mut conf = aws_sdk_sts::config::Builder::from(&self.sdk_config(credentials));
        if let Some(c) = counter {
            conf = conf.interceptor(c.clone());
        }
        aws_sdk_sts::Client::from_conf(conf.build())
    }

    /// CloudWatch Logs against this server.
    pub fn logs(&self, credentials: &Credentials) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk_config(credentials))
    }

    /// S3 against this server. Path-style addressing: virtual-hosted style would put the
    /// bucket in the host name, which does not resolve on 127.0.0.1.
    pub fn s3(&self, credentials: &Credentials) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config(credentials))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// IAM in `account` through its `deadbolt-member` role, as the administrator (an
    /// organization moto only, [`Moto::start_organization`]).
    pub async fn member_iam(&self, account: &str) -> aws_sdk_iam::Client {
        let out = self
            .sts(&self.admin, None)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/deadbolt-member"))
            .role_session_name("test-setup")
            .send()
            .await
            .expect("assume the member role");
        let c = out.credentials.expect("credentials");
        self.iam(
            &creds(c.access_key_id, c.secret_access_key, Some(c.session_token)),
            None,
        )
    }

    fn admin_iam(&self) -> aws_sdk_iam::Client {
        self.iam(&self.admin, None)
    }

    /// An IAM user allowed `iam:ListUsers` and `iam:GetUser`, with an access key.
    pub async fn create_attacker_user(&self, name: &str) -> AttackerCredentials {
        let iam = self.admin_iam();
        let user = iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .expect("create user")
            .user
            .expect("user");
        iam.put_user_policy()
            .user_name(name)
            .policy_name("app-access")
            .policy_document(allow(&["iam:ListUsers", "iam:GetUser"]))
            .send()
            .await
            .expect("user policy");
        self.user_credentials(name, &user.user_id).await
    }

    async fn user_credentials(&self, name: &str, user_id: &str) -> AttackerCredentials {
        let key = self
            .admin_iam()
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .expect("create key")
            .access_key
            .expect("key");
        AttackerCredentials {
            principal: Principal {
                name: name.to_string(),
                user_type: "IAMUser",
                access_key_id: key.access_key_id.clone(),
                principal_id: user_id.to_string(),
            },
            credentials: creds(key.access_key_id, key.secret_access_key, None),
        }
    }

    /// A user whose only permissions come from a group, plus a second member of that group.
    pub async fn create_group_member(&self, group: &str, name: &str) -> AttackerCredentials {
        let iam = self.admin_iam();
        iam.create_group()
            .group_name(group)
            .send()
            .await
            .expect("create group");
        iam.put_group_policy()
            .group_name(group)
            .policy_name("group-access")
            .policy_document(allow(&["iam:ListUsers"]))
            .send()
            .await
            .expect("group policy");
        let user = iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .expect("create user")
            .user
            .expect("user");
        iam.add_user_to_group()
            .group_name(group)
            .user_name(name)
            .send()
            .await
            .expect("join group");
        self.user_credentials(name, &user.user_id).await
    }

    /// Add a user to an existing group and give it a key (a bystander).
    pub async fn add_group_member(&self, group: &str, name: &str) -> AttackerCredentials {
        let iam = self.admin_iam();
        let user = iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .expect("create user")
            .user
            .expect("user");
        iam.add_user_to_group()
            .group_name(group)
            .user_name(name)
            .send()
            .await
            .expect("join group");
        self.user_credentials(name, &user.user_id).await
    }

    /// A role allowed `iam:ListUsers`, assumed into a session: the attacker holds the session.
    pub async fn create_attacker_session(&self, role: &str, session: &str) -> AttackerCredentials {
        let iam = self.admin_iam();
        // moto matches trust-policy principals literally, so trust the administrator by ARN.
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": self.admin_arn}, "Action": "sts:AssumeRole"}]
        });
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .expect("create role");
        iam.put_role_policy()
            .role_name(role)
            .policy_name("app-access")
            .policy_document(allow(&["iam:ListUsers"]))
            .send()
            .await
            .expect("role policy");
        self.assume_session(role, session).await
    }

    /// Another session of a role [`Moto::create_attacker_session`] created, as the
    /// administrator assumes it (`role`'s other, legitimate sessions).
    pub async fn assume_session(&self, role: &str, session: &str) -> AttackerCredentials {
        let out = self
            .sts(&self.admin, None)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{role}"))
            .role_session_name(session)
            .send()
            .await
            .expect("assume role");
        let c = out.credentials.expect("credentials");
        let user = out.assumed_role_user.expect("assumed role user");
        AttackerCredentials {
            principal: Principal {
                name: role.to_string(),
                user_type: "AssumedRole",
                access_key_id: c.access_key_id.clone(),
                principal_id: user.assumed_role_id,
            },
            credentials: creds(c.access_key_id, c.secret_access_key, Some(c.session_token)),
        }
    }

    /// The attacker's probe: `iam:ListUsers`. `Ok` if allowed, else the AWS error code.
    pub async fn probe(&self, attacker: &AttackerCredentials) -> Result<(), String> {
        use aws_sdk_iam::error::ProvideErrorMetadata;
        self.iam(&attacker.credentials, None)
            .list_users()
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                // moto answers policy denials in the EC2 error shape, which the IAM parser
                // does not read; take the code from the body then.
                let from_body = e
                    .raw_response()
                    .and_then(|r| r.body().bytes())
                    .and_then(|b| xml_element(b, "Code"));
                e.code()
                    .map(str::to_string)
                    .or(from_body)
                    .unwrap_or_else(|| format!("{}", aws_sdk_iam::error::DisplayErrorContext(&e)))
            })
    }

    /// The inline policy's document on an entity, if any (as the administrator sees it).
    pub async fn user_policy(&self, user: &str, name: &str) -> Option<String> {
        self.admin_iam()
            .get_user_policy()
            .user_name(user)
            .policy_name(name)
            .send()
            .await
            .ok()
            .map(|o| deadbolt_aws::url_decode(&o.policy_document))
    }

    pub async fn role_policy(&self, role: &str, name: &str) -> Option<String> {
        self.admin_iam()
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .ok()
            .map(|o| deadbolt_aws::url_decode(&o.policy_document))
    }

    pub async fn group_policy(&self, group: &str, name: &str) -> Option<String> {
        self.admin_iam()
            .get_group_policy()
            .group_name(group)
            .policy_name(name)
            .send()
            .await
            .ok()
            .map(|o| deadbolt_aws::url_decode(&o.policy_document))
    }
}

fn creds(
    access_key_id: impl Into<String>,
    secret: impl Into<String>,
    token: Option<String>,
) -> Credentials {
    Credentials::new(access_key_id, secret, token, None, "moto")
}

impl Moto {
    /// The built `deadbolt` CLI, with nothing from the developer's environment but this
    /// server and the administrator's credentials.
    /// Run the built CLI against moto and the GuardDuty stand-in. A `replay FILE` (without
    /// `--no-verify`) has its finding confirmed by GuardDuty first, as a real finding would be:
    /// tests of verification itself use [`Moto::deadbolt_unconfirmed`].
    pub fn deadbolt(&self, args: &[&str]) -> std::process::Output {
        if let ["replay", file, rest @ ..] = args {
            if !rest.contains(&"--no-verify") {
                if let Ok(event) = std::fs::read_to_string(file) {
                    self.confirm(&event);
                }
            }
        }
        self.deadbolt_unconfirmed(args)
    }

    /// GuardDuty knows `event`'s finding, updated now (so never stale).
    pub fn confirm(&self, event: &str) {
        if let Some(mut finding) = serde_json::from_str::<serde_json::Value>(event)
            .ok()
            .and_then(|v| v.get("detail").cloned())
        {
            finding["updatedAt"] =
                deadbolt_core::strategy::format_rfc3339_utc(deadbolt_core::clock::now_ms() / 1000)
                    .into();
            self.guardduty.insert(finding);
        }
    }

    /// The environment a built binary needs to reach moto and the GuardDuty stand-in as the
    /// administrator.
    pub fn binary_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL_GUARDDUTY", self.guardduty.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.admin.access_key_id().to_string()),
            (
                "AWS_SECRET_ACCESS_KEY",
                self.admin.secret_access_key().to_string(),
            ),
        ]
    }

    pub fn deadbolt_unconfirmed(&self, args: &[&str]) -> std::process::Output {
        self.deadbolt_with(args, &[])
    }

    /// [`Moto::deadbolt_unconfirmed`] with extra environment variables (`NAME`, `value`).
    pub fn deadbolt_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        Command::new(crate::runtime_api::built_binary("deadbolt"))
            .args(args)
            .env_clear()
            .env("AWS_ENDPOINT_URL_GUARDDUTY", self.guardduty.endpoint())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", self.admin.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", self.admin.secret_access_key())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .output()
            .expect("deadbolt runs")
    }
}

impl Moto {
    /// An SNS topic for investigation summaries.
    pub async fn create_topic(&self, name: &str) -> String {
        let conf = aws_sdk_sns::config::Builder::from(&self.sdk_config(&self.admin)).build();
        aws_sdk_sns::Client::from_conf(conf)
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn")
    }

    /// What moto recorded as published to a topic: (subject, message) pairs, read from moto's
    /// own state endpoint (`/moto-api/data.json`).
    pub fn sent_notifications(&self, topic_arn: &str) -> Vec<(String, String)> {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("moto reachable");
        let request = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("request sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response read");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or("");
        let data: serde_json::Value = serde_json::from_str(body).expect("moto state is JSON");
        data["sns"]["Topic"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["arn"] == topic_arn)
            .flat_map(|t| {
                t["sent_notifications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|n| {
                (
                    n[2].as_str().unwrap_or("").to_string(),
                    n[1].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// The text of the first `<name>…</name>` element in an XML body: moto answers IAM policy
/// denials in the EC2 error shape (`<Response><Errors><Error><Code>`), which the IAM parser
/// does not read. A moto accommodation, so it lives here and not in the adapters (which map a
/// code-less 403 to access denied by its status).
fn xml_element(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].to_string())
}

impl Moto {
    /// The breaker table the template creates (`pk` string hash key, on demand): the shared
    /// circuit-breaker count and the held findings.
    pub async fn create_breaker_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let attribute = AttributeDefinition::builder()
            .attribute_name("pk")
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition");
        let key = KeySchemaElement::builder()
            .attribute_name("pk")
            .key_type(KeyType::Hash)
            .build()
            .expect("key schema");
        aws_sdk_dynamodb::Client::new(&self.sdk_config(&self.admin))
            .create_table()
            .table_name(name)
            .attribute_definitions(attribute)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create the breaker table");
    }
}

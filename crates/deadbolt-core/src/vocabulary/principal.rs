//! Who a finding names, and whether an inline IAM policy can restrain them.

use serde::Serialize;
use std::fmt;

use crate::finding::{AccessKeyDetails, Finding};
use crate::record::Reason;

crate::code_enum! {
    /// What kind of identity a finding's credentials belong to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum PrincipalKind {
        User => "user",
        Role => "role",
        Group => "group",
        Root => "root",
        Federated => "federated",
        Service => "service",
        Unknown => "unknown",
    }
}

/// The identity behind a finding's credentials, as far as the finding tells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only ARNs the finding determines exactly: STS session ARNs and root. An IAM user's or
    /// role's own ARN may contain a path the finding does not carry, so it is not guessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

/// The IAM entity an inline policy is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    User,
    Role,
    Group,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::User => "user",
            TargetKind::Role => "role",
            TargetKind::Group => "group",
        }
    }
}

/// A validated IAM user, role or group name that containment may write to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainmentTarget {
    pub kind: TargetKind,
    pub name: String,
}

/// Why a name cannot be a containment target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} name must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} name is {len} characters; IAM allows at most {max}")]
    TooLong {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{kind} name contains {found:?}; IAM names use only letters, digits and _+=,.@-")]
    BadCharacter { kind: &'static str, found: char },
}

impl ContainmentTarget {
    /// Validate a name against IAM's own rules (users and roles: 64 characters, groups: 128).
    pub fn new(kind: TargetKind, name: &str) -> Result<Self, NameError> {
        let max = match kind {
            TargetKind::User | TargetKind::Role => 64,
            TargetKind::Group => 128,
        };
        let k = kind.as_str();
        if name.is_empty() {
            return Err(NameError::Empty { kind: k });
        }
        if name.len() > max {
            return Err(NameError::TooLong {
                kind: k,
                len: name.len(),
                max,
            });
        }
        if let Some(found) = name.chars().find(|c| !crate::finding::is_iam_name_char(*c)) {
            return Err(NameError::BadCharacter { kind: k, found });
        }
        Ok(ContainmentTarget {
            kind,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for ContainmentTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

impl ContainmentTarget {
    /// The inverse of `Display` (`user/NAME`, `role/NAME`, `group/NAME`), as stored in a
    /// pending approval or a held finding; the name is checked as [`ContainmentTarget::new`]
    /// does. `None` for anything else (a permission set is not an IAM entity).
    pub fn from_display(s: &str) -> Option<Self> {
        let (kind, name) = s.split_once('/')?;
        let kind = match kind {
            "user" => TargetKind::User,
            "role" => TargetKind::Role,
            "group" => TargetKind::Group,
            _ => return None,
        };
        ContainmentTarget::new(kind, name).ok()
    }
}

/// The result of resolving a finding's principal.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub principal: Principal,
    pub containment: Result<ContainmentTarget, (Reason, String)>,
}

/// Work out who the finding names and whether an inline Deny can restrain them.
pub fn resolve(finding: &Finding) -> Resolution {
    let Some(details) = finding.resource.access_key_details.as_ref() else {
        return Resolution {
            principal: unknown(None),
            containment: Err((
                Reason::NoPrincipal,
                "the finding has no resource.accessKeyDetails".into(),
            )),
        };
    };
    resolve_details(details, &finding.partition, &finding.account_id)
}

/// [`resolve`] for one of the principals a finding names ([`crate::sequence::principals`]):
/// an identity of another account (a role session whose issuer is another account's role) is
/// contained there, not here.
pub fn resolve_ref(r: &crate::sequence::PrincipalRef, finding: &Finding) -> Resolution {
    let mut resolution = resolve_details(&r.details, &finding.partition, &finding.account_id);
    if let Some(owner) = r
        .owner_account
        .as_deref()
        .filter(|a| *a != finding.account_id)
    {
        resolution.principal.arn = None;
        resolution.containment = Err((
            Reason::CrossAccountPrincipal,
            format!(
                "{} ({}) belongs to account {owner}, not the finding's account {}; contain it there",
                resolution.principal.name.as_deref().unwrap_or("the principal"),
                r.source,
                finding.account_id
            ),
        ));
    }
    resolution
}

/// Who `accessKeyDetails` (or the same fields from elsewhere in a finding) name, in the
/// account `acct` of partition `p`.
pub fn resolve_details(details: &AccessKeyDetails, p: &str, acct: &str) -> Resolution {
    let name = details.user_name.clone().filter(|n| !n.is_empty());
    let key = details.access_key_id.clone().filter(|k| !k.is_empty());
    let session = details
        .principal_id
        .as_deref()
        .and_then(|p| p.split_once(':'))
        .map(|(_, s)| s.to_string())
        .filter(|s| !s.is_empty());
    let user_type = details.user_type.as_deref().unwrap_or("");

    let mut principal = Principal {
        kind: PrincipalKind::Unknown,
        name: name.clone(),
        arn: None,
        session: None,
        access_key_id: key,
    };
    let containment = match user_type {
        "IAMUser" => {
            principal.kind = PrincipalKind::User;
            target(TargetKind::User, name.as_deref())
        }
        // Kubernetes (EKS) findings name the IAM caller's role session `Role`.
        "AssumedRole" | "Role" => {
            principal.kind = PrincipalKind::Role;
            principal.session = session.clone();
            if let (Some(role), Some(s)) = (&name, &session) {
                principal.arn = Some(format!("arn:{p}:sts::{acct}:assumed-role/{role}/{s}"));
            }
            match name.as_deref() {
                Some(role) if role.starts_with("AWSReservedSSO_") => Err((
                    Reason::SsoReservedRole,
                    format!(
                        "{role} is an IAM Identity Center role; IAM refuses changes to it \
                         (UnmodifiableEntity). Contain it through its permission set instead"
                    ),
                )),
                Some(role) if role.starts_with("AWSServiceRoleFor") => Err((
                    Reason::ServiceLinkedRole,
                    format!("{role} is a service-linked role; only its AWS service can change it"),
                )),
                _ => target(TargetKind::Role, name.as_deref()),
            }
        }
        "Root" => {
            principal.kind = PrincipalKind::Root;
            principal.arn = Some(format!("arn:{p}:iam::{acct}:root"));
            Err((
                Reason::RootPrincipal,
                "the account root user is not subject to IAM policies; rotate its credentials \
                 and enable MFA by hand"
                    .into(),
            ))
        }
        "FederatedUser" => {
            principal.kind = PrincipalKind::Federated;
            principal.session = session;
            if let Some(n) = &name {
                principal.arn = Some(format!("arn:{p}:sts::{acct}:federated-user/{n}"));
            }
            Err((
                Reason::FederatedPrincipal,
                "federated-user credentials (GetFederationToken) carry the issuing IAM user's \
                 permissions; the enricher names that user from CloudTrail and contains it as a \
                 follow-up (follow_up: enforce), or contain it with deadbolt block --user NAME"
                    .into(),
            ))
        }
        "AWSService" => {
            principal.kind = PrincipalKind::Service;
            Err((
                Reason::ServicePrincipal,
                "the caller is an AWS service, which IAM policies in this account do not restrain"
                    .into(),
            ))
        }
        "AWSAccount" => Err((
            Reason::CrossAccountPrincipal,
            "the caller belongs to another AWS account; contain it there".into(),
        )),
        other => Err((
            Reason::UnknownPrincipalType,
            format!("userType {other:?} is not one deadbolt knows how to contain"),
        )),
    };
    Resolution {
        principal,
        containment,
    }
}

fn target(kind: TargetKind, name: Option<&str>) -> Result<ContainmentTarget, (Reason, String)> {
    let Some(name) = name else {
        return Err((
            Reason::NoPrincipal,
            "the finding names no userName for this principal".into(),
        ));
    };
    ContainmentTarget::new(kind, name).map_err(|e| (Reason::InvalidPrincipalName, e.to_string()))
}

fn unknown(name: Option<String>) -> Principal {
    Principal {
        kind: PrincipalKind::Unknown,
        name,
        arn: None,
        session: None,
        access_key_id: None,
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn a_target_reads_back_what_it_displays_and_nothing_else() {
        for kind in [TargetKind::User, TargetKind::Role, TargetKind::Group] {
            let t = ContainmentTarget::new(kind, "ci-deployer").unwrap();
            assert_eq!(ContainmentTarget::from_display(&t.to_string()), Some(t));
        }
        for bad in [
            "",
            "mallory",
            "user/",
            "user/a/b",
            "permission-set/AdministratorAccess",
            "USER/mallory",
        ] {
            assert_eq!(ContainmentTarget::from_display(bad), None, "{bad:?}");
        }
    }
}

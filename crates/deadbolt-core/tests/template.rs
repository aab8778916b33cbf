//! The SAM template and the code must agree: the variables the function reads, the modes it
//! accepts, and an EventBridge rule that delivers every finding type it may contain.

use deadbolt_core::config::{
    Mode, DEFAULT_FINDING_TYPES, ENV_FINDING_TYPES, ENV_MIN_SEVERITY, ENV_MODE,
    ENV_PROTECTED_PRINCIPALS,
};
use deadbolt_core::Settings;

fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    std::fs::read_to_string(path).expect("template.yaml at the repository root")
}

#[test]
fn template_sets_every_configuration_variable() {
    let t = template();
    for var in [
        ENV_MODE,
        ENV_FINDING_TYPES,
        ENV_MIN_SEVERITY,
        ENV_PROTECTED_PRINCIPALS,
    ] {
        assert!(
            t.contains(&format!("{var}: !Ref")),
            "template.yaml does not set {var}"
        );
    }
}

#[test]
fn template_modes_are_the_accepted_modes_and_default_to_dry_run() {
    let t = template();
    let block = &t[t.find("DeadboltMode:").expect("DeadboltMode parameter")..];
    let block = &block[..block.find("\n  FindingTypes:").unwrap_or(block.len())];
    for mode in [Mode::Off, Mode::DryRun, Mode::Enforce] {
        assert!(block.contains(mode.as_str()), "AllowedValues lacks {mode}");
    }
    assert!(block.contains("Default: dry-run"), "{block}");
}

#[test]
fn the_rule_delivers_every_default_finding_type() {
    let t = template();
    let prefixes: Vec<&str> = t
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- prefix: "))
        .map(|p| p.trim_matches('"'))
        .collect();
    assert!(
        !prefixes.is_empty(),
        "no prefix patterns in the EventBridge rule"
    );
    for finding_type in DEFAULT_FINDING_TYPES {
        assert!(
            prefixes.iter().any(|p| finding_type.starts_with(p)),
            "the EventBridge rule would never deliver {finding_type}"
        );
    }
}

/// The IAM calls each strategy makes are granted, and the powerful Identity Center ones only
/// when the operator opts in.
#[test]
fn roles_grant_what_the_strategies_call_and_identity_center_only_on_opt_in() {
    let t = template();
    let responder =
        &t[t.find("  ResponderRolePolicy:").unwrap()..t.find("  ResponderFunction:").unwrap()];
    assert!(responder.contains("iam:UpdateAccessKey"));
    let sso = &responder[responder
        .find("IdentityCenterEnabled")
        .expect("conditional Identity Center statement")..];
    for action in [
        "sso:PutInlinePolicyToPermissionSet",
        "sso:ProvisionPermissionSet",
        "identitystore:GetUserId",
    ] {
        assert!(sso.contains(action), "{action}");
    }
    assert!(t.contains("IdentityCenterContainment:\n    Type: String\n    Default: Disabled"));
    let enricher =
        &t[t.find("  EnricherRolePolicy:").unwrap()..t.find("  EnricherFunction:").unwrap()];
    for needed in [
        "iam:PutUserPolicy",
        "iam:UpdateAccessKey",
        "ssm:GetParameter",
        "NeverContainSelfOrAwsManagedRoles",
    ] {
        assert!(enricher.contains(needed), "enricher role lacks {needed}");
    }
    // Follow-up never deletes: every_iam_write_of_a_function_role_is_conditioned_and_denied_on_protected_arns.
}

/// One statement of a role policy, as written in the template.
#[derive(Debug)]
struct Statement {
    sid: String,
    /// The template condition of a `!If [Cond, statement, AWS::NoValue]` around it.
    condition: Option<String>,
    deny: bool,
    /// `service:Action` names in its `Action` (never condition keys).
    actions: Vec<String>,
    /// The statement's lines, comments left out.
    text: String,
}

/// The statements of the inline policy `name` (an `AWS::IAM::RolePolicy` resource), parsed
/// from the text: a `- Sid:` line starts a statement, a `- !If` or `- !Ref AWS::NoValue` line
/// ends one.
fn statements(template: &str, name: &str) -> Vec<Statement> {
    let resource = top_level_blocks(template)
        .into_iter()
        .find(|b| b.starts_with(&format!("  {name}:\n")))
        .unwrap_or_else(|| panic!("{name} in template.yaml"));
    let block: Vec<&str> = resource
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let mut out: Vec<Statement> = Vec::new();
    let mut open = false;
    for (i, line) in block.iter().enumerate() {
        let t = line.trim();
        if let Some(sid) = t.strip_prefix("- Sid: ") {
            let condition = (i >= 2 && block[i - 2].trim() == "- !If")
                .then(|| block[i - 1].trim().trim_start_matches("- ").to_string());
            out.push(Statement {
                sid: sid.to_string(),
                condition,
                deny: false,
                actions: Vec::new(),
                text: String::new(),
            });
            open = true;
        } else if t == "- !If" || t == "- !Ref AWS::NoValue" {
            open = false;
            continue;
        }
        if !open {
            continue;
        }
        let s = out.last_mut().expect("a statement is open");
        s.text.push_str(t);
        s.text.push('\n');
        if t == "Effect: Deny" {
            s.deny = true;
        }
        let action = t
            .strip_prefix("Action: ")
            .or_else(|| t.strip_prefix("- "))
            .filter(|a| !a.contains(' ') && !a.ends_with(':') && a.contains(':'))
            .filter(|a| !a.starts_with("arn") && !a.starts_with('!'));
        if let Some(a) = action {
            s.actions.push(a.to_string());
        }
    }
    assert!(!out.is_empty(), "no statements parsed in {name}");
    out
}

/// The template cut at every line indented by exactly two spaces: one block per parameter,
/// condition, resource or output (and per section comment).
fn top_level_blocks(template: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = template
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .filter(|&i| {
            let next = &template[i..];
            next.starts_with("  ") && !next[2..].starts_with(' ')
        })
        .collect();
    starts.push(template.len());
    starts.windows(2).map(|w| &template[w[0]..w[1]]).collect()
}

/// IAM actions that change a principal: what a containment writes or undoes.
fn is_iam_write(action: &str) -> bool {
    let Some(name) = action.strip_prefix("iam:") else {
        return false;
    };
    [
        "Put", "Attach", "Tag", "Delete", "Detach", "Untag", "Update", "Create",
    ]
    .iter()
    .any(|verb| name.starts_with(verb))
}

fn sid<'a>(statements: &'a [Statement], sid: &str) -> &'a Statement {
    statements
        .iter()
        .find(|s| s.sid == sid)
        .unwrap_or_else(|| panic!("statement {sid}"))
}

/// Every IAM write a function role is granted is narrowed by a condition where it could reach
/// beyond containment (AWSDenyAll only; deadbolt's tag keys only), never undoes containment,
/// and is explicitly denied on deadbolt's own roles and on the protected principals.
#[test]
fn every_iam_write_of_a_function_role_is_conditioned_and_denied_on_protected_arns() {
    let t = template();
    let protected_writes = [
        "iam:PutUserPolicy",
        "iam:PutRolePolicy",
        "iam:PutGroupPolicy",
        "iam:DeleteUserPolicy",
        "iam:DeleteRolePolicy",
        "iam:DeleteGroupPolicy",
        "iam:AttachUserPolicy",
        "iam:AttachRolePolicy",
        "iam:AttachGroupPolicy",
        "iam:DetachUserPolicy",
        "iam:DetachRolePolicy",
        "iam:DetachGroupPolicy",
        "iam:UpdateAccessKey",
        "iam:TagUser",
        "iam:TagRole",
        "iam:UntagUser",
        "iam:UntagRole",
    ];
    for policy in ["ResponderRolePolicy", "EnricherRolePolicy"] {
        let statements = statements(&t, policy);
        // The reads the boundary path and the tagged-AWSDenyAll redelivery make.
        let reads: Vec<&String> = statements
            .iter()
            .filter(|s| !s.deny)
            .flat_map(|s| &s.actions)
            .collect();
        for api in [
            "iam:ListUserTags",
            "iam:ListRoleTags",
            "iam:GetUser",
            "iam:GetRole",
        ] {
            assert!(
                reads.iter().any(|a| *a == api),
                "{policy}: {api} not granted"
            );
        }
        let granted: Vec<(&Statement, &String)> = statements
            .iter()
            .filter(|s| !s.deny)
            .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
            .filter(|(_, a)| is_iam_write(a))
            .collect();
        assert!(!granted.is_empty(), "{policy}: no IAM write parsed");
        for (s, action) in &granted {
            let name = action.trim_start_matches("iam:");
            assert!(
                !["Delete", "Detach", "Untag", "Create"]
                    .iter()
                    .any(|v| name.starts_with(v)),
                "{policy} {}: {action}: lifting containment is the CLI's, never a Lambda's",
                s.sid
            );
            // The boundary path sets AWSDenyAll and nothing else.
            if name.ends_with("PermissionsBoundary") {
                assert!(
                    s.text.contains("iam:PermissionsBoundary: !Sub arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"),
                    "{policy} {}: {action} without the iam:PermissionsBoundary = AWSDenyAll condition:\n{}",
                    s.sid,
                    s.text
                );
            }
            // A finding names a user or a role: group writes are the operators' CLI only.
            assert!(!name.contains("Group"), "{policy} {}: {action}", s.sid);
            if name.starts_with("Attach") {
                assert!(
                    s.text.contains("ArnEquals:\niam:PolicyARN: !Sub arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll\n"),
                    "{policy} {}: {action} without the iam:PolicyARN = AWSDenyAll condition:\n{}",
                    s.sid,
                    s.text
                );
            }
            if name.starts_with("Tag") {
                assert!(
                    s.text
                        .contains("ForAllValues:StringLike:\naws:TagKeys: deadbolt*\n"),
                    "{policy} {}: {action} without the deadbolt tag-key condition",
                    s.sid
                );
            }
        }

        let protected = sid(&statements, "NeverContainProtectedPrincipals");
        assert!(
            protected.deny,
            "{policy}: the protected-principal statement denies"
        );
        assert!(
            protected
                .text
                .contains("Resource: !Ref ProtectedPrincipalArns\n"),
            "{policy}: {}",
            protected.text
        );
        assert_eq!(
            protected.condition.as_deref(),
            Some("HasProtectedPrincipalArns"),
            "{policy}: the deny is left out only when the list is empty"
        );
        for action in protected_writes {
            assert!(
                protected.actions.iter().any(|a| a == action),
                "{policy}: {action} is not denied on ProtectedPrincipalArns"
            );
        }
        for (s, action) in &granted {
            assert!(
                protected.actions.contains(action),
                "{policy} {}: {action} is granted but not denied on ProtectedPrincipalArns",
                s.sid
            );
        }

        let own = sid(&statements, "NeverContainSelfOrAwsManagedRoles");
        assert!(
            own.deny && own.condition.is_none(),
            "{policy}: unconditional self-deny"
        );
        for needed in [
            "role/aws-reserved/sso.amazonaws.com/*",
            "role/aws-service-role/*",
            "!GetAtt ResponderRole.Arn",
            "!GetAtt EnricherRole.Arn",
        ] {
            assert!(
                own.text.contains(needed),
                "{policy}: self-deny lacks {needed}"
            );
        }
        // deadbolt's roles by exact ARN: a path would shelter any role an attacker creates
        // under it.
        assert!(
            !own.text.contains("role/deadbolt/"),
            "{policy}: self-deny names a path an attacker can create roles under"
        );
        for (s, action) in granted.iter().filter(|(_, a)| a.contains("Role")) {
            assert!(
                own.actions.contains(action),
                "{policy} {}: {action} is granted but not denied on deadbolt's own roles",
                s.sid
            );
        }
    }

    // The enricher writes only when the operator opts in to follow-up containment.
    for s in statements(&t, "EnricherRolePolicy")
        .iter()
        .filter(|s| !s.deny && s.actions.iter().any(|a| is_iam_write(a)))
    {
        assert_eq!(
            s.condition.as_deref(),
            Some("FollowUpEnabled"),
            "enricher {} writes to IAM without FollowUpContainment=Enabled",
            s.sid
        );
    }
    assert!(t.contains("FollowUpContainment:\n    Type: String\n    Default: Disabled"));
}

/// Identity Center writes only on opt-in, on Identity Center resources; GuardDuty reads and
/// the settings history for both functions; the held-findings item for the responder.
#[test]
fn roles_grant_verification_history_and_scoped_identity_center() {
    let t = template();
    let responder = statements(&t, "ResponderRolePolicy");
    for s in responder.iter().filter(|s| {
        s.actions
            .iter()
            .any(|a| a.starts_with("sso:") || a.starts_with("identitystore:"))
    }) {
        assert_eq!(
            s.condition.as_deref(),
            Some("IdentityCenterEnabled"),
            "{}",
            s.sid
        );
        let wildcard = s.text.contains("Resource: \"*\"");
        assert_eq!(
            wildcard,
            s.actions == ["sso:ListInstances"],
            "{}: only ListInstances (no resource-level permissions) may use \"*\"",
            s.sid
        );
    }
    let puts = sid(&responder, "DenyIdentityCenterUserInPermissionSet");
    assert!(
        puts.text.contains(":sso:::permissionSet/*"),
        "{}",
        puts.text
    );

    for policy in ["ResponderRolePolicy", "EnricherRolePolicy"] {
        let statements = statements(&t, policy);
        let all: Vec<&str> = statements
            .iter()
            .filter(|s| !s.deny)
            .flat_map(|s| s.actions.iter().map(String::as_str))
            .collect();
        for needed in [
            "guardduty:GetFindings",
            "guardduty:ListDetectors",
            "ssm:GetParameter",
            "ssm:GetParameterHistory",
        ] {
            assert!(all.contains(&needed), "{policy} lacks {needed}");
        }
        assert!(
            !all.iter().any(|a| a.starts_with("guardduty:")
                && !["guardduty:GetFindings", "guardduty:ListDetectors"].contains(a)),
            "{policy}: GuardDuty is read only"
        );
        let get_findings = statements
            .iter()
            .find(|s| s.actions.iter().any(|a| a == "guardduty:GetFindings"))
            .unwrap();
        assert!(get_findings
            .text
            .contains(":guardduty:${AWS::Region}:${AWS::AccountId}:detector/*"));
    }
    let responder_actions: Vec<&str> = responder
        .iter()
        .flat_map(|s| s.actions.iter().map(String::as_str))
        .collect();
    for needed in [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "iam:ListAccessKeys",
        "sns:Publish",
    ] {
        assert!(
            responder_actions.contains(&needed),
            "responder lacks {needed}"
        );
    }
    assert!(t.contains("DEADBOLT_ALARM_TOPIC_ARN: !Ref AlarmTopic"));
}

/// Every alarm notifies AlarmTopic, which CloudWatch and the settings-change rule may publish
/// to (a topic encrypted with the AWS managed aws/sns key would refuse both).
#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let t = template();
    let alarms: Vec<&str> = top_level_blocks(&t)
        .into_iter()
        .filter(|block| block.contains("\n    Type: AWS::CloudWatch::Alarm\n"))
        .collect();
    assert!(alarms.len() >= 7, "{} alarms", alarms.len());
    for alarm in alarms {
        assert!(
            alarm.contains("AlarmActions:\n        - !Ref AlarmTopic"),
            "alarm without AlarmTopic: {alarm}"
        );
    }
    assert!(t.contains("KmsMasterKeyId: !Ref AlarmTopicKey"));
    assert!(t.contains("Service: cloudwatch.amazonaws.com\n            Action: sns:Publish"));
    // The settings rule exists in the home region only, and so does its permission.
    assert!(t.contains("- IsHomeRegion\n            - Sid: AllowSettingsChangeRule"));
    assert!(t.contains("Service: events.amazonaws.com\n              Action: sns:Publish"));
    assert!(t.contains("aws:SourceArn: !GetAtt SettingsChangeRule.Arn"));
}

/// The first settings document the stack writes means exactly what the environment
/// variables (the fallback) mean, for defaults, empty lists and several members.
#[test]
fn the_first_settings_document_agrees_with_the_environment_fallback() {
    let t = template();
    let format = t
        .lines()
        .find_map(|l| l.trim().strip_prefix("- '{\"version\":1"))
        .map(|rest| format!("{{\"version\":1{}", rest.trim_end_matches('\'')))
        .expect("the SettingsParameter value format");
    // The template's rule for a list parameter: members joined with '","' inside ["..."],
    // or a literal when the parameter is empty.
    for (param, empty) in [
        ("FindingTypes", "\"null\""),
        ("ProtectedPrincipals", "\"[]\""),
    ] {
        let rule = format!(
            "- !Join [\"\", ['[\"', !Join ['\",\"', !Split [\",\", !Ref {param}]], '\"]']]\n            - {empty}"
        );
        assert!(
            t.contains(&rule),
            "template renders {param} differently:\n{rule}"
        );
    }
    let list = |v: &str, empty: &str| {
        if v.is_empty() {
            empty.to_string()
        } else {
            format!("[\"{}\"]", v.split(',').collect::<Vec<_>>().join("\",\""))
        }
    };
    let default_of = |param: &str| {
        let block = &t[t.find(&format!("\n  {param}:\n")).unwrap()..];
        let line = block
            .lines()
            .find(|l| l.trim().starts_with("Default:"))
            .unwrap();
        line.trim()["Default:".len()..]
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let defaults = [
        default_of("DeadboltMode"),
        default_of("FindingTypes"),
        default_of("MinSeverity"),
        default_of("ProtectedPrincipals"),
    ];
    let cases: Vec<[String; 4]> = vec![
        defaults.clone(),
        ["enforce", "", "7.5", ""].map(String::from),
        [
            "off",
            "CredentialAccess:IAMUser/,Exfiltration:IAMUser/",
            "4",
            "break-glass-*,arn:aws:iam::*:role/admin/*",
        ]
        .map(String::from),
        ["dry-run", "*", "0", "x"].map(String::from),
    ];
    for (n, [mode, types, severity, protected]) in cases.into_iter().enumerate() {
        // SecurityHubWriteBack=Enabled in one case: the document and the environment agree.
        let hub = n == 1;
        let doc = format
            .replace("${SecurityHubOn}", if hub { "true" } else { "false" })
            .replace("${DeadboltMode}", &mode)
            .replace("${MinSeverity}", &severity)
            .replace("${FindingTypesJson}", &list(&types, "null"))
            .replace("${ProtectedPrincipalsJson}", &list(&protected, "[]"));
        assert!(!doc.contains("${"), "unsubstituted: {doc}");
        let from_doc = Settings::parse(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let from_env = Settings::from_lookup(|k| match k {
            ENV_MODE => Some(mode.clone()),
            ENV_FINDING_TYPES => Some(types.clone()),
            ENV_MIN_SEVERITY => Some(severity.clone()),
            ENV_PROTECTED_PRINCIPALS => Some(protected.clone()),
            "DEADBOLT_SECURITY_HUB" if hub => Some("enabled".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(from_doc, from_env, "{doc}");
        // A fresh stack's settings carry a circuit breaker, written out in the document.
        assert!(
            doc.contains(r#""circuit_breaker":{"max_enforced_per_hour":10}"#),
            "{doc}"
        );
        assert_eq!(from_doc.max_enforced_per_hour(), Some(10), "{doc}");
    }
    assert_eq!(defaults[0], "dry-run");
}

fn member_role_template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/member-role.yaml");
    std::fs::read_to_string(path).expect("infra/member-role.yaml")
}

/// The member role (infra/member-role.yaml) is trusted by the administrator's two functions by
/// ARN (never the whole account), grants the same narrowed containment writes as the
/// responder's own role, and denies them on itself, deadbolt's roles and protected principals.
#[test]
fn the_member_role_trusts_only_the_functions_and_denies_itself_and_protected_principals() {
    let t = member_role_template();
    let role = top_level_blocks(&t)
        .into_iter()
        .find(|b| b.starts_with("  MemberRole:\n"))
        .expect("MemberRole resource");
    assert!(role.contains("- !Ref ResponderRoleArn") && role.contains("- !Ref EnricherRoleArn"));
    assert!(
        !role.contains(":root"),
        "never the whole administrator account"
    );
    assert!(role.contains("aws:PrincipalOrgID"));

    let statements = statements(&t, "MemberRolePolicy");
    let self_deny = sid(&statements, "NeverContainSelfOrAwsManagedRoles");
    assert!(self_deny.deny && self_deny.text.contains("!GetAtt MemberRole.Arn"));
    let protected = sid(&statements, "NeverContainProtectedPrincipals");
    assert!(protected.deny);
    for s in statements.iter().filter(|s| !s.deny) {
        for action in s.actions.iter().filter(|a| is_iam_write(a)) {
            assert!(
                protected.actions.contains(action),
                "{action} ({}) is not denied on the protected principals",
                s.sid
            );
            if action.starts_with("iam:Attach") {
                assert!(
                    s.text.contains(
                        "iam:PolicyARN: !Sub arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"
                    ),
                    "{}",
                    s.sid
                );
            }
            if action.starts_with("iam:Tag") {
                assert!(s.text.contains("aws:TagKeys: deadbolt*"), "{}", s.sid);
            }
            // Containment sets AWSDenyAll as the boundary and nothing else; only the
            // operators' release (unblock) puts back the boundary the ledger recorded.
            if action.starts_with("iam:Put") && action.ends_with("PermissionsBoundary") {
                assert!(
                    s.condition.as_deref() == Some("ReleaseEnabled")
                        || s.text.contains("iam:PermissionsBoundary: !Sub arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"),
                    "{}: {action}",
                    s.sid
                );
            }
            // Undoing containment only on the operators' opt-in.
            if ["Delete", "Detach", "Untag"]
                .iter()
                .any(|v| action.starts_with(&format!("iam:{v}")))
            {
                assert_eq!(s.condition.as_deref(), Some("ReleaseEnabled"), "{action}");
            }
        }
    }
    // What the responder calls in a member account is granted there.
    let granted: Vec<&String> = statements
        .iter()
        .filter(|s| !s.deny)
        .flat_map(|s| &s.actions)
        .collect();
    for api in [
        "iam:GetUserPolicy",
        "iam:PutUserPolicy",
        "iam:PutRolePolicy",
        "iam:PutGroupPolicy",
        "iam:AttachUserPolicy",
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
        "cloudtrail:LookupEvents",
    ] {
        assert!(granted.iter().any(|a| *a == api), "{api} not granted");
    }
}

/// The administrator's functions may assume the member role only, only with MemberAccounts
/// set, and read where the member accounts and role are from the stack's parameters.
#[test]
fn the_functions_assume_only_the_member_role_and_only_when_members_are_configured() {
    let t = template();
    for role in ["ResponderRolePolicy", "EnricherRolePolicy"] {
        let statements = statements(&t, role);
        let assume = sid(&statements, "AssumeMemberRole");
        assert_eq!(assume.condition.as_deref(), Some("HasMemberAccounts"));
        assert_eq!(assume.actions, ["sts:AssumeRole"]);
        assert!(assume
            .text
            .contains("Resource: !Sub arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"));
    }
    for var in [
        deadbolt_core::config::ENV_MEMBER_ACCOUNTS,
        deadbolt_core::config::ENV_MEMBER_ROLE,
    ] {
        assert_eq!(t.matches(&format!("{var}: !Ref")).count(), 2, "{var}");
    }
}

/// Issue 17, point 6: the roles through which the organization reaches a member account are
/// never containment targets of the member role, and the stack refuses member accounts
/// without the organization that bounds where the member role may be assumed.
#[test]
fn member_accounts_need_the_organization_and_its_access_roles_are_protected() {
    let m = member_role_template();
    let statements = statements(&m, "MemberRolePolicy");
    let deny = sid(&statements, "NeverContainOrganizationAccessRoles");
    assert!(deny.deny);
    assert_eq!(
        deny.condition, None,
        "protected by default, not on a switch"
    );
    for role in [
        "role/OrganizationAccountAccessRole",
        "role/AWSControlTowerExecution",
        "role/stacksets-exec-*",
    ] {
        assert!(
            deny.text.contains(role),
            "{role} not protected:\n{}",
            deny.text
        );
    }
    for write in [
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:PutRolePermissionsBoundary",
    ] {
        assert!(deny.actions.iter().any(|a| a == write), "{write}");
    }
    let t = template();
    let rules = &t[t.find("\nRules:\n").expect("Rules")..];
    let rule = &rules[rules
        .find("MemberAccountsNeedOrganizationId:")
        .expect("the MemberAccounts rule")..];
    assert!(rule.contains(r#"RuleCondition: !Not [!Equals [!Ref MemberAccounts, ""]]"#));
    assert!(rule.contains(r#"- Assert: !Not [!Equals [!Ref OrganizationId, ""]]"#));
}

/// Issue 17, point 3: a change to a GuardDuty threat-intel or trusted-IP list (which aim and
/// silence deadbolt) pages the alarm topic, in every region, and the topic accepts it.
#[test]
fn threat_list_and_trusted_ip_changes_page_the_alarm_topic() {
    let t = template();
    let rule = top_level_blocks(&t)
        .into_iter()
        .find(|b| b.starts_with("  ThreatListChangeRule:\n"))
        .expect("ThreatListChangeRule");
    assert!(!rule.contains("Condition:"), "every region's stack has it");
    for name in [
        "aws.guardduty",
        "AWS API Call via CloudTrail",
        "guardduty.amazonaws.com",
        "- CreateThreatIntelSet",
        "- UpdateThreatIntelSet",
        "- CreateIPSet",
        "- UpdateIPSet",
        "Arn: !Ref AlarmTopic",
    ] {
        assert!(rule.contains(name), "{name}:\n{rule}");
    }
    assert!(t.contains("aws:SourceArn: !GetAtt ThreatListChangeRule.Arn"));
}

/// The tamper watch lives in the home region's stack and reaches the responder; changes to
/// deadbolt's own rules and functions page the alarm topic from every region's stack; the
/// responder may read the ledger it checks; the functions never fall back to the environment
/// when the stack wrote the settings parameter.
#[test]
fn the_tamper_watch_reaches_the_responder_and_changes_to_deadbolt_page() {
    let t = template();
    let blocks = top_level_blocks(&t);
    let rule = blocks
        .iter()
        .find(|b| b.starts_with("  TamperWatchRule:\n"))
        .expect("TamperWatchRule");
    assert!(rule.contains("Condition: IsHomeRegion"), "{rule}");
    for needed in [
        "- aws.iam",
        "- DeleteUserPolicy",
        "- DetachRolePolicy",
        "- DeleteRolePermissionsBoundary",
        "- UpdateAccessKey",
        "Arn: !GetAtt ResponderFunction.Arn",
        "DeadLetterConfig:",
    ] {
        assert!(rule.contains(needed), "{needed}:\n{rule}");
    }
    assert!(t.contains("SourceArn: !GetAtt TamperWatchRule.Arn"));
    let change = blocks
        .iter()
        .find(|b| b.starts_with("  DeadboltChangeRule:\n"))
        .expect("DeadboltChangeRule");
    assert!(
        !change.contains("\n    Condition:"),
        "every region's stack has it"
    );
    for needed in [
        "- DisableRule",
        "- DeleteRule",
        "- RemoveTargets",
        "prefix: UpdateFunctionConfiguration",
        "prefix: UpdateFunctionCode",
        "Arn: !Ref AlarmTopic",
    ] {
        assert!(change.contains(needed), "{needed}:\n{change}");
    }
    assert!(t.contains("aws:SourceArn: !GetAtt DeadboltChangeRule.Arn"));
    let responder = statements(&t, "ResponderRolePolicy");
    let ledger = sid(&responder, "RecordContainments");
    assert!(ledger.actions.iter().any(|a| a == "dynamodb:Scan"));
    assert!(!ledger
        .actions
        .iter()
        .any(|a| a.starts_with("dynamodb:Delete")));
    assert_eq!(
        t.matches("DEADBOLT_SETTINGS_REQUIRED: !If [CreateSettings, \"true\", \"false\"]")
            .count(),
        2,
        "both functions"
    );
}

/// ReportBucket: off by default; when set, both functions name the bucket and its owner (this
/// account), the enricher may only put objects under `reports/` (never read, list or delete),
/// the responder gets no S3 permission, and a bucket the stack creates is private, encrypted,
/// TLS only, versioned, owner-enforced, expiring, and retained with the stack.
#[test]
fn the_report_bucket_is_opt_in_private_versioned_and_write_only_for_the_enricher() {
    use deadbolt_core::report_object::{ENV_REPORT_BUCKET, ENV_REPORT_BUCKET_OWNER};
    let t = template();
    let blocks = top_level_blocks(&t);
    let block = |name: &str| -> &str {
        blocks
            .iter()
            .find(|b| b.starts_with(&format!("  {name}:\n")))
            .unwrap_or_else(|| panic!("{name} in template.yaml"))
    };
    let parameter = blocks
        .iter()
        .rev()
        .find(|b| b.starts_with("  ReportBucket:\n"))
        .unwrap();
    assert!(parameter.contains("Default: \"\""), "{parameter}");
    assert!(parameter.contains("^$|^Create$|"), "{parameter}");

    for function in ["ResponderFunction", "EnricherFunction"] {
        let f = block(function);
        assert!(
            f.contains(&format!(
                "{ENV_REPORT_BUCKET}: !If [CreateReportBucket, !Ref ReportsBucket, !Ref ReportBucket]"
            )),
            "{function}"
        );
        assert!(
            f.contains(&format!(
                "{ENV_REPORT_BUCKET_OWNER}: !If [HasReportBucket, !Ref AWS::AccountId, \"\"]"
            )),
            "{function}"
        );
    }

    let enricher = statements(&t, "EnricherRolePolicy");
    let write = sid(&enricher, "WriteReportPages");
    assert_eq!(write.condition.as_deref(), Some("HasReportBucket"));
    assert_eq!(write.actions, ["s3:PutObject"]);
    assert!(write.text.contains("/reports/*"), "{}", write.text);
    // Nothing else of either role names the report bucket.
    for s in enricher.iter().filter(|s| s.sid != "WriteReportPages") {
        assert!(!s.text.contains("Report"), "{}: {}", s.sid, s.text);
    }
    for s in statements(&t, "ResponderRolePolicy") {
        assert!(!s.text.contains("Report"), "{}: {}", s.sid, s.text);
    }

    let bucket = block("ReportsBucket");
    for part in [
        "Condition: CreateReportBucket",
        "DeletionPolicy: Retain",
        "SSEAlgorithm: AES256",
        "BlockPublicAcls: true",
        "BlockPublicPolicy: true",
        "IgnorePublicAcls: true",
        "RestrictPublicBuckets: true",
        "ObjectOwnership: BucketOwnerEnforced",
        "VersioningConfiguration:\n        Status: Enabled",
        "ExpirationInDays: !Ref ReportRetentionDays",
        "NoncurrentVersionExpiration:",
    ] {
        assert!(bucket.contains(part), "ReportsBucket lacks {part}");
    }
    let policy = block("ReportsBucketPolicy");
    assert!(policy.contains("aws:SecureTransport: \"false\"") && policy.contains("Effect: Deny"));
}

//! The message people read when deadbolt contained someone: short and complete. Who (the
//! principal), what (what was written), why (the finding), the exact undo command, and console
//! links to the GuardDuty finding and the IAM principal. Built from the decision record alone;
//! the responder Lambda publishes it on the alarm topic (`deadbolt_aws::AlarmAnnouncer`).
//!
//! Two renderings of the same facts: plain text (email, SMS, anything subscribed to the topic)
//! and an AWS Chatbot custom notification (Slack, Teams), which SNS hands to HTTPS
//! subscriptions only ([`Notice::sns_message`]).

use serde_json::json;

use crate::principal::PrincipalKind;
use crate::record::{ActionStatus, DecisionRecord, Outcome, Reason};
use crate::report_object::{ReportBucket, ReportObject};
use crate::text::{console_host, url_component};

/// SNS subjects: ASCII, at most 100 characters.
const MAX_SUBJECT_CHARS: usize = 100;

/// One announcement of a containment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The SNS subject (email subject line).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The AWS Chatbot custom notification (JSON), same facts in Markdown.
    pub chat: String,
}

impl Notice {
    /// The SNS message for `MessageStructure=json`: `default` (every protocol) is the text,
    /// `https` (AWS Chatbot's subscription) the custom notification.
    pub fn sns_message(&self) -> String {
        json!({"default": self.text, "https": self.chat}).to_string()
    }

    /// The same notice linking the finding's investigation page in the report bucket
    /// (`ReportBucket`): its S3 console page, which asks for sign-in. The enricher writes the
    /// page alongside (it investigates while the responder contains), so the line says when
    /// to expect it.
    pub fn with_report(mut self, report: &ReportObject) -> Notice {
        let url = report.console_url();
        self.text.push_str(&format!(
            "Report:    {url} (the investigation, written by the enricher within minutes)\n"
        ));
        if let Ok(mut chat) = serde_json::from_str::<serde_json::Value>(&self.chat) {
            if let Some(serde_json::Value::String(d)) = chat.pointer_mut("/content/description") {
                d.push_str(&format!(
                    "\n*Report:* <{url}|investigation page (S3 console)>"
                ));
            }
            self.chat = chat.to_string();
        }
        self
    }
}

/// The notice for a record that wrote something (`contained`, `partially_contained`) or could
/// write nothing because every path was blocked (`failed` / `containment_blocked`); `None` for
/// every other outcome.
pub fn containment_notice(record: &DecisionRecord) -> Option<Notice> {
    if let Some(notice) = protection_notice(record) {
        return Some(notice);
    }
    if let Some(notice) = approval_notice(record) {
        return Some(notice);
    }
    let (partly, blocked) = match record.outcome {
        Outcome::Contained | Outcome::Recontained => (false, false),
        Outcome::PartiallyContained => (true, false),
        // Nothing could be written: the attacker blocked every path. The most urgent page.
        Outcome::Failed if record.reason == Reason::ContainmentBlocked => (false, true),
        // Someone undid a containment in force and it was not written again (the mode is no
        // longer enforce, or the write failed): people must know it is undone.
        Outcome::Failed | Outcome::WouldContain if record.tamper.is_some() => (false, true),
        _ => return None,
    };
    let target = written_target(record)?;
    let region = record.region.as_deref().unwrap_or("us-east-1");
    let account = record.account_id.as_deref().unwrap_or("?");
    let finding_type = record.finding_type.as_deref().unwrap_or("?");
    let finding_id = record.finding_id.as_deref().unwrap_or("?");
    let retampered = record.tamper.is_some() && record.outcome != Outcome::Contained;
    let verb = if blocked && record.tamper.is_some() {
        "could NOT re-contain"
    } else if blocked {
        "could NOT contain"
    } else if record.outcome == Outcome::Recontained {
        "RE-contained"
    } else if partly {
        "PARTLY contained"
    } else {
        "contained"
    };
    let headline = format!("deadbolt {verb} {target} in account {account} ({region})");
    let who = who(record, &target);
    let what = record.message.clone();
    let severity = record
        .severity
        .map(|s| format!(", severity {s}"))
        .unwrap_or_default();
    let mut why = format!("GuardDuty finding {finding_type}{severity}, id {finding_id}");
    if let Some(t) = record.tamper.as_ref().filter(|_| retampered) {
        why = format!(
            "{} {} ({} {}); the containment was for {why}",
            t.undone_by, t.undid, t.event_name, t.event_id
        );
    }
    // Nothing was written when blocked: nothing to undo.
    let undo = undo_command(record, &target).filter(|_| !blocked);
    let finding_url = guardduty_finding_url(region, finding_id);
    let principal_url = iam_console_url(region, &target);

    let mut text = format!("{headline}.\n\nWho:   {who}\nWhat:  {what}\nWhy:   {why}\n");
    if partly {
        text.push_str("Left:  finish by hand what failed (above), or deliver the event again\n");
    }
    if blocked {
        text.push_str("Left:  the principal still works: do the manual step (above) now\n");
    }
    if let Some(undo) = &undo {
        text.push_str(&format!("Undo:  {undo}\n"));
    }
    text.push_str(&format!("\nFinding:   {finding_url}\n"));
    if let Some(url) = &principal_url {
        text.push_str(&format!("Principal: {url}\n"));
    }

    let mut description = format!(
        "*Who:* {who}\n*What:* {what}\n*Why:* {why}\n*Finding:* <{finding_url}|GuardDuty console>"
    );
    if let Some(url) = &principal_url {
        description.push_str(&format!("\n*Principal:* <{url}|IAM console>"));
    }
    let mut next_steps = Vec::new();
    if let Some(undo) = &undo {
        next_steps.push(format!("Undo: `{undo}`"));
    }
    let chat = chatbot_notification(
        finding_id,
        &format!(":lock: {headline}"),
        &description,
        &next_steps,
    );

    Some(Notice {
        subject: subject(&format!("deadbolt {verb} {target} ({finding_type})")),
        text,
        chat,
    })
}

/// [`containment_notice`], linking the finding's investigation page when a report bucket is
/// configured (`ReportBucket`): the key is the finding's, so the link is there before the
/// enricher has written the page. A record without a usable account or finding id links
/// nothing.
pub fn containment_notice_linked(
    record: &DecisionRecord,
    reports: Option<&ReportBucket>,
) -> Option<Notice> {
    let notice = containment_notice(record)?;
    let object = reports.and_then(|bucket| {
        bucket
            .object_for(record.account_id.as_deref()?, record.finding_id.as_deref()?)
            .ok()
    });
    Some(match object {
        Some(object) => notice.with_report(&object),
        None => notice,
    })
}

/// approve mode: a new pending approval asks a person, with the plan and the two exact
/// commands (Chatbot: as its next steps). A redelivery of one already pending asks nothing.
pub fn approval_notice(record: &DecisionRecord) -> Option<Notice> {
    let approval = record
        .approval
        .as_ref()
        .filter(|a| a.new && record.outcome == Outcome::PendingApproval)?;
    let target = record.actions.first().map(|a| a.target.clone())?;
    let region = record.region.as_deref().unwrap_or("us-east-1");
    let account = record.account_id.as_deref().unwrap_or("?");
    let finding_type = record.finding_type.as_deref().unwrap_or("?");
    let who = who(record, &target);
    let severity = record
        .severity
        .map(|s| format!(", severity {s}"))
        .unwrap_or_default();
    let why = format!(
        "GuardDuty finding {finding_type}{severity}, id {}",
        approval.id
    );
    let plan: Vec<String> = record
        .actions
        .iter()
        .map(|a| format!("{} {}", a.api, a.target))
        .collect();
    let then = match approval.on_expiry {
        crate::approval::OnExpiry::Drop => "it is dropped and nothing is written",
        crate::approval::OnExpiry::Contain => "deadbolt CONTAINS unless it was rejected",
    };
    let headline = format!("deadbolt asks to contain {target} in account {account} ({region})");
    let finding_url = guardduty_finding_url(region, &approval.id);
    let mut text = format!(
        "{headline}.\n\nWho:     {who}\nWhy:     {why}\nPlan:    {}\nExpires: {} ({then})\nWho did it: the enricher's investigation summary follows on the summary topic (it runs alongside)\n\n",
        plan.join(", "),
        approval.expires_at,
    );
    for c in &approval.commands {
        text.push_str(&format!("  {c}\n"));
    }
    text.push_str(&format!("\nFinding: {finding_url}\n"));
    let description = format!(
        "*Who:* {who}\n*Why:* {why}\n*Plan:* {}\n*Expires:* {} ({then})\n*Who did it:* the investigation summary follows\n*Finding:* <{finding_url}|GuardDuty console>",
        plan.join(", "),
        approval.expires_at
    );
    let next_steps: Vec<String> = approval
        .commands
        .iter()
        .map(|c| {
            let verb = if c.starts_with("deadbolt approve") {
                "Approve"
            } else {
                "Reject"
            };
            format!("{verb}: `{c}`")
        })
        .collect();
    Some(Notice {
        subject: subject(&format!(
            "deadbolt: APPROVE containment of {target}? ({finding_type})"
        )),
        text,
        chat: chatbot_notification(
            &approval.id,
            &format!(":raised_hand: {headline}?"),
            &description,
            &next_steps,
        ),
    })
}

/// An AWS Chatbot custom notification (its schema: version, source, id, content with
/// textType, title, description, nextSteps), as JSON text.
fn chatbot_notification(id: &str, title: &str, description: &str, next_steps: &[String]) -> String {
    json!({
        "version": "1.0",
        "source": "custom",
        "id": id,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": next_steps,
        },
    })
    .to_string()
}

/// The entity the record's actions wrote to (`user/NAME`, `role/NAME`, `group/NAME`,
/// `permission-set/NAME`): the first action that was done.
fn written_target(record: &DecisionRecord) -> Option<String> {
    record
        .actions
        .iter()
        .find(|a| a.status == ActionStatus::Done)
        .or_else(|| record.actions.first())
        .map(|a| a.target.clone())
}

fn who(record: &DecisionRecord, target: &str) -> String {
    let Some(p) = &record.principal else {
        return target.to_string();
    };
    let kind = match p.kind {
        PrincipalKind::User => "IAM user",
        PrincipalKind::Role => "IAM role",
        PrincipalKind::Group => "IAM group",
        other => other.as_str(),
    };
    let mut out = format!("{kind} {}", p.name.as_deref().unwrap_or("?"));
    if let Some(session) = &p.session {
        out.push_str(&format!(", session {session}"));
    }
    if let Some(key) = &p.access_key_id {
        out.push_str(&format!(", access key {key}"));
    }
    if let Some(arn) = &p.arn {
        out.push_str(&format!(" ({arn})"));
    }
    out
}

/// The `deadbolt unblock` command that undoes exactly what the record says was done: the
/// entity's DenyAll (or deadbolt's tagged `AWSDenyAll`), and the access key only if this
/// decision set it inactive.
pub fn undo_command(record: &DecisionRecord, target: &str) -> Option<String> {
    let (kind, name) = target.split_once('/')?;
    let mut cmd = match kind {
        "user" | "role" | "group" => format!("deadbolt unblock --{kind} {}", shell_word(name)),
        "permission-set" => {
            let user = record.principal.as_ref()?.session.as_deref()?;
            format!(
                "deadbolt unblock --sso-user {} --permission-set {}",
                shell_word(user),
                shell_word(name)
            )
        }
        _ => return None,
    };
    let deactivated = record.actions.iter().find(|a| {
        a.api == "iam:UpdateAccessKey"
            && a.status == ActionStatus::Done
            && a.access_key_id.is_some()
    });
    if let (Some(key), "user") = (deactivated.and_then(|a| a.access_key_id.as_deref()), kind) {
        cmd.push_str(&format!(" --access-key {}", shell_word(key)));
    }
    // In a member account the CLI goes through the member role too.
    if let (Some(_), Some(account)) = (&record.member_role, &record.acted_in_account) {
        cmd.push_str(&format!(" --account {}", shell_word(account)));
    }
    // The ledger records why; unblock refuses to run without it.
    cmd.push_str(" --reason '...'");
    Some(cmd)
}

/// The finding in the GuardDuty console (its findings list, searched by id).
pub fn guardduty_finding_url(region: &str, finding_id: &str) -> String {
    format!(
        "https://{}/guardduty/home?region={region}#/findings?search=id%3D{}",
        console_host(region),
        url_component(finding_id)
    )
}

/// The user, role or group in the IAM console; `None` for anything else.
pub fn iam_console_url(region: &str, target: &str) -> Option<String> {
    let (kind, name) = target.split_once('/')?;
    let section = match kind {
        "user" => "users",
        "role" => "roles",
        "group" => "groups",
        _ => return None,
    };
    Some(format!(
        "https://{}/iam/home#/{section}/details/{}",
        console_host(region),
        url_component(name)
    ))
}

/// `s` as one shell word: as is when it holds only characters IAM names use that the shell
/// does not interpret, single-quoted otherwise.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// ASCII, at most 100 characters (SNS's rules for subjects).
fn subject(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::principal::Principal;
    use crate::record::{ActionRecord, PrincipalDecision, Reason};

    fn action(api: &str, target: &str, status: ActionStatus) -> ActionRecord {
        ActionRecord {
            api: api.into(),
            target: target.into(),
            policy_name: if api.contains("Policy") {
                "DenyAll".into()
            } else {
                String::new()
            },
            access_key_id: None,
            status,
            error_code: None,
            error_message: None,
        }
    }

    fn contained_user() -> DecisionRecord {
        let mut key = action("iam:UpdateAccessKey", "user/mallory", ActionStatus::Done);
        key.access_key_id = Some("AKIA2MLRYQ7ZT4XH9KPD".into());
        DecisionRecord {
            finding_id: Some("92b108e6e29fae28af700f610bd20943".into()),
            finding_type: Some("Stealth:IAMUser/CloudTrailLoggingDisabled".into()),
            account_id: Some("123456789012".into()),
            region: Some("eu-west-1".into()),
            severity: Some(5.0),
            decision: PrincipalDecision {
                principal: Some(Principal {
                    kind: PrincipalKind::User,
                    name: Some("mallory".into()),
                    arn: None,
                    session: None,
                    access_key_id: Some("AKIA2MLRYQ7ZT4XH9KPD".into()),
                }),
                strategy: Some("deny-all".into()),
                message: "attached the inline policy DenyAll to user/mallory (deny everything); set access key AKIA2MLRYQ7ZT4XH9KPD inactive".into(),
                actions: vec![
                    action("iam:GetUserPolicy", "user/mallory", ActionStatus::Done),
                    action("iam:PutUserPolicy", "user/mallory", ActionStatus::Done),
                    key,
                ],
                ..PrincipalDecision::new(Outcome::Contained, Reason::DenyAllAttached)
            },
            verified_with_guardduty: true,
            ..DecisionRecord::empty(Mode::Enforce)
        }
    }

    #[test]
    fn with_a_report_bucket_the_notice_links_the_investigation_page_and_only_then() {
        let plain = containment_notice(&contained_user()).expect("a notice");
        assert!(!plain.text.contains("Report:") && !plain.chat.contains("Report"));
        let bucket = crate::report_object::ReportBucket::new(
            "deadbolt-reports",
            Some("123456789012"),
            "eu-west-1",
        )
        .unwrap();
        let linked = containment_notice_linked(&contained_user(), Some(&bucket)).unwrap();
        assert_eq!(
            containment_notice_linked(&contained_user(), None),
            Some(plain.clone())
        );
        let url = "https://eu-west-1.console.aws.amazon.com/s3/object/deadbolt-reports?region=eu-west-1&bucketType=general&prefix=reports%2F123456789012%2F92b108e6e29fae28af700f610bd20943.html";
        assert_eq!(
            linked.text,
            format!(
                "{}Report:    {url} (the investigation, written by the enricher within minutes)\n",
                plain.text
            )
        );
        let chat: serde_json::Value = serde_json::from_str(&linked.chat).unwrap();
        let description = chat["content"]["description"].as_str().unwrap();
        assert!(
            description.ends_with(&format!(
                "\n*Report:* <{url}|investigation page (S3 console)>"
            )),
            "{description}"
        );
        // Everything else of the Chatbot notification is as it was.
        let before: serde_json::Value = serde_json::from_str(&plain.chat).unwrap();
        assert_eq!(chat["content"]["nextSteps"], before["content"]["nextSteps"]);
        assert_eq!(chat["id"], before["id"]);
        assert_eq!(linked.subject, plain.subject);
    }

    #[test]
    fn a_contained_user_reads_who_what_why_undo_and_links() {
        let notice = containment_notice(&contained_user()).expect("a notice");
        expect_test::expect![[r#"
            deadbolt contained user/mallory (Stealth:IAMUser/CloudTrailLoggingDisabled)
            ---
            deadbolt contained user/mallory in account 123456789012 (eu-west-1).

            Who:   IAM user mallory, access key AKIA2MLRYQ7ZT4XH9KPD
            What:  attached the inline policy DenyAll to user/mallory (deny everything); set access key AKIA2MLRYQ7ZT4XH9KPD inactive
            Why:   GuardDuty finding Stealth:IAMUser/CloudTrailLoggingDisabled, severity 5, id 92b108e6e29fae28af700f610bd20943
            Undo:  deadbolt unblock --user mallory --access-key AKIA2MLRYQ7ZT4XH9KPD --reason '...'

            Finding:   https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?search=id%3D92b108e6e29fae28af700f610bd20943
            Principal: https://eu-west-1.console.aws.amazon.com/iam/home#/users/details/mallory
        "#]]
        .assert_eq(&format!("{}\n---\n{}", notice.subject, notice.text));
        let chat: serde_json::Value = serde_json::from_str(&notice.chat).unwrap();
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["content"]["textType"], "client-markdown");
        assert_eq!(
            chat["content"]["nextSteps"][0],
            "Undo: `deadbolt unblock --user mallory --access-key AKIA2MLRYQ7ZT4XH9KPD --reason '...'`"
        );
        let description = chat["content"]["description"].as_str().unwrap();
        for part in [
            "*Who:* IAM user mallory",
            "*Why:* GuardDuty finding Stealth:IAMUser/CloudTrailLoggingDisabled",
            "<https://eu-west-1.console.aws.amazon.com/iam/home#/users/details/mallory|IAM console>",
        ] {
            assert!(description.contains(part), "{description}");
        }
        let sns: serde_json::Value = serde_json::from_str(&notice.sns_message()).unwrap();
        assert_eq!(sns["default"], notice.text.as_str());
        assert_eq!(sns["https"], notice.chat.as_str());
    }

    #[test]
    fn a_key_left_active_is_not_in_the_undo_and_partial_says_so() {
        let mut r = contained_user();
        r.outcome = Outcome::PartiallyContained;
        r.actions[2].status = ActionStatus::Failed;
        let notice = containment_notice(&r).unwrap();
        assert!(notice
            .subject
            .starts_with("deadbolt PARTLY contained user/mallory"));
        assert!(
            notice
                .text
                .contains("Undo:  deadbolt unblock --user mallory --reason '...'\n"),
            "{}",
            notice.text
        );
        assert!(notice.text.contains("Left:  finish by hand"));
    }

    #[test]
    fn roles_groups_and_identity_center_get_their_own_undo_and_link() {
        let mut r = contained_user();
        r.actions = vec![action(
            "iam:PutRolePolicy",
            "role/app+deployer",
            ActionStatus::Done,
        )];
        assert_eq!(
            undo_command(&r, "role/app+deployer").as_deref(),
            Some("deadbolt unblock --role app+deployer --reason '...'")
        );
        assert_eq!(
            iam_console_url("us-east-1", "role/app+deployer").as_deref(),
            Some("https://us-east-1.console.aws.amazon.com/iam/home#/roles/details/app%2Bdeployer")
        );
        assert_eq!(
            undo_command(&r, "group/developers").as_deref(),
            Some("deadbolt unblock --group developers --reason '...'")
        );
        r.principal.as_mut().unwrap().session = Some("sara@example.com".into());
        assert_eq!(
            undo_command(&r, "permission-set/AdministratorAccess").as_deref(),
            Some(
                "deadbolt unblock --sso-user sara@example.com --permission-set AdministratorAccess --reason '...'"
            )
        );
        assert_eq!(
            iam_console_url("us-east-1", "permission-set/AdministratorAccess"),
            None
        );
        assert_eq!(
            guardduty_finding_url("cn-north-1", "abc"),
            "https://cn-north-1.console.amazonaws.cn/guardduty/home?region=cn-north-1#/findings?search=id%3Dabc"
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn nothing_is_announced_when_nothing_was_written() {
        for outcome in Outcome::ALL {
            let mut r = contained_user();
            r.outcome = *outcome;
            let announced = containment_notice(&r).is_some();
            assert_eq!(
                announced,
                matches!(
                    outcome,
                    Outcome::Contained | Outcome::PartiallyContained | Outcome::Recontained
                ),
                "{outcome:?}"
            );
        }
        // A containment someone undid is news whether or not it was written again.
        for outcome in [Outcome::Recontained, Outcome::WouldContain, Outcome::Failed] {
            let mut r = contained_user();
            r.outcome = outcome;
            r.tamper = Some(crate::record::TamperRecord {
                event_name: "DeleteUserPolicy".into(),
                event_id: "0a1b".into(),
                event_time: None,
                undone_by: "arn:aws:sts::123456789012:assumed-role/Helper/s".into(),
                undid: "deleted the inline DenyAll".into(),
                ledger_entry: None,
            });
            let notice = containment_notice(&r).expect("a tamper notice");
            assert!(
                notice
                    .text
                    .contains("assumed-role/Helper/s deleted the inline DenyAll"),
                "{}",
                notice.text
            );
        }
        let long = DecisionRecord {
            finding_type: Some("Ünicode:IAMUser/".repeat(20)),
            ..contained_user()
        };
        let subject = containment_notice(&long).unwrap().subject;
        assert!(
            subject.len() <= MAX_SUBJECT_CHARS && subject.is_ascii(),
            "{subject}"
        );
    }
}

/// In enforce mode, a finding whose principal deadbolt never contains because of who it is
/// (a protected principal, deadbolt itself, an Identity Center or service-linked role) is
/// news: either the protection is being abused or one of the most powerful identities in
/// the account is misbehaving. Announced so that people look, since deadbolt will not act.
pub fn protection_notice(record: &DecisionRecord) -> Option<Notice> {
    let why_not = match record.reason {
        Reason::ProtectedPrincipal => "it is a protected principal",
        Reason::DeadboltItself => "it is deadbolt's own identity",
        Reason::SsoReservedRole => "it is an IAM Identity Center role",
        Reason::ServiceLinkedRole => "it is a service-linked role",
        _ => return None,
    };
    if record.mode != crate::config::Mode::Enforce
        || !matches!(record.outcome, Outcome::Skipped | Outcome::NotContainable)
    {
        return None;
    }
    let p = record.principal.as_ref()?;
    let target = format!("{}/{}", p.kind.as_str(), p.name.as_deref()?);
    let region = record.region.as_deref().unwrap_or("us-east-1");
    let account = record.account_id.as_deref().unwrap_or("?");
    let finding_type = record.finding_type.as_deref().unwrap_or("?");
    let finding_id = record.finding_id.as_deref().unwrap_or("?");
    let headline =
        format!("deadbolt did NOT contain {target} in account {account} ({region}): {why_not}");
    let who = who(record, &target);
    let finding_url = guardduty_finding_url(region, finding_id);
    let text = format!(
        "{headline}.\n\nWho:   {who}\nWhat:  {}\nWhy:   GuardDuty finding {finding_type}, id {finding_id}\nLeft:  the principal still works: check the finding now; if it must be stopped, do it by hand\n\nFinding:   {finding_url}\n",
        record.message
    );
    let chat = chatbot_notification(
        finding_id,
        &format!(":warning: {headline}"),
        &format!(
            "*Who:* {who}\n*What:* {}\n*Finding:* <{finding_url}|GuardDuty console>",
            record.message
        ),
        &["Check the finding now: deadbolt will not act on this principal".to_string()],
    );
    Some(Notice {
        subject: subject(&format!(
            "deadbolt did NOT contain {target} ({finding_type})"
        )),
        text,
        chat,
    })
}

#[cfg(test)]
mod protection_tests {
    use super::*;
    use crate::config::Mode;
    use crate::principal::Principal;
    use crate::record::PrincipalDecision;

    fn skipped(reason: Reason, mode: Mode) -> DecisionRecord {
        DecisionRecord {
            decision: PrincipalDecision {
                principal: Some(Principal {
                    kind: PrincipalKind::User,
                    name: Some("break-glass-admin".into()),
                    arn: None,
                    session: None,
                    access_key_id: None,
                }),
                message: "user/break-glass-admin matches the protected-principal pattern".into(),
                ..PrincipalDecision::new(Outcome::Skipped, reason)
            },
            finding_id: Some("f1".into()),
            finding_type: Some("Stealth:IAMUser/CloudTrailLoggingDisabled".into()),
            account_id: Some("123456789012".into()),
            ..DecisionRecord::empty(mode)
        }
    }

    #[test]
    fn protected_skips_in_enforce_are_announced_and_nothing_else_is() {
        for reason in [
            Reason::ProtectedPrincipal,
            Reason::DeadboltItself,
            Reason::SsoReservedRole,
            Reason::ServiceLinkedRole,
        ] {
            let n = containment_notice(&skipped(reason, Mode::Enforce)).expect("announced");
            assert!(
                n.subject
                    .starts_with("deadbolt did NOT contain user/break-glass-admin"),
                "{}",
                n.subject
            );
            assert!(containment_notice(&skipped(reason, Mode::DryRun)).is_none());
        }
        assert!(containment_notice(&skipped(Reason::BelowMinSeverity, Mode::Enforce)).is_none());
    }
}

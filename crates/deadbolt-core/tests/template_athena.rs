//! The template's Athena path over the organization trail (issue 10, point 4) and the code must
//! agree: the table is partitioned as the statements restrict it (`deadbolt_trail::athena`),
//! everything it adds exists only when `OrganizationTrailBucket` is set, and the enricher's
//! permissions for it are conditioned the same way.

fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    std::fs::read_to_string(path).expect("template.yaml at the repository root")
}

/// The block of the top-level entry `name` (a resource, parameter, condition or output): its
/// line and every line after it up to the next line indented by exactly two spaces.
fn block<'a>(template: &'a str, name: &str) -> &'a str {
    let start = template
        .find(&format!("\n  {name}:\n"))
        .unwrap_or_else(|| panic!("{name} in template.yaml"))
        + 1;
    let rest = &template[start..];
    let mut offset = 0;
    for (i, line) in rest.split_inclusive('\n').enumerate() {
        let top_level = line.starts_with("  ") && !line[2..].starts_with([' ', '\n']);
        if i > 0 && top_level {
            return &rest[..offset];
        }
        offset += line.len();
    }
    rest
}

#[test]
fn the_athena_resources_exist_only_for_an_organization_trail() {
    let t = template();
    assert!(
        t.contains("  HasOrganizationTrail: !Not [!Equals [!Ref OrganizationTrailBucket, \"\"]]")
    );
    assert!(block(&t, "OrganizationTrailBucket").contains("Default: \"\""));
    for resource in [
        "AthenaResultsBucket",
        "AthenaResultsBucketPolicy",
        "TrailWorkGroup",
        "TrailDatabase",
        "TrailTable",
    ] {
        assert!(
            block(&t, resource).contains("    Condition: HasOrganizationTrail\n"),
            "{resource} is not conditioned on HasOrganizationTrail"
        );
    }
}

#[test]
fn the_workgroup_enforces_an_encrypted_result_location_and_a_scan_limit() {
    let t = template();
    let workgroup = block(&t, "TrailWorkGroup");
    for needed in [
        "EnforceWorkGroupConfiguration: true",
        "BytesScannedCutoffPerQuery: !Ref AthenaScanLimitBytes",
        "OutputLocation: !Sub s3://${AthenaResultsBucket}/results/",
        "EncryptionOption: SSE_S3",
    ] {
        assert!(workgroup.contains(needed), "workgroup lacks {needed}");
    }
    let bucket = block(&t, "AthenaResultsBucket");
    for needed in [
        "SSEAlgorithm: AES256",
        "BlockPublicPolicy: true",
        "ExpirationInDays",
    ] {
        assert!(bucket.contains(needed), "results bucket lacks {needed}");
    }
    assert!(block(&t, "AthenaResultsBucketPolicy").contains("aws:SecureTransport: \"false\""));
}

/// The partitions the statements restrict (`"account"`, `"region"`, `"date"` as yyyy/MM/dd)
/// are the table's, projected over the organization trail's layout, with CloudTrail's SerDe.
#[test]
fn the_table_is_partitioned_as_the_statements_restrict_it() {
    let t = template();
    let table = block(&t, "TrailTable");
    for needed in [
        "projection.enabled: \"true\"",
        "projection.account.type: injected",
        "projection.region.type: enum",
        "projection.region.values: !Ref OrganizationTrailRegions",
        "projection.date.type: date",
        "projection.date.format: yyyy/MM/dd",
        "storage.location.template: !Sub s3://${OrganizationTrailBucket}/AWSLogs/${OrganizationId}/${!account}/CloudTrail/${!region}/${!date}",
        "          - Name: account\n            Type: string\n          - Name: region\n            Type: string\n          - Name: date\n            Type: string",
        "InputFormat: com.amazon.emr.cloudtrail.CloudTrailInputFormat",
        "SerializationLibrary: com.amazon.emr.hive.serde.CloudTrailSerde",
    ] {
        assert!(table.contains(needed), "TrailTable lacks {needed}");
    }
    // Every column a statement selects exists in the table.
    for column in [
        "eventversion",
        "useridentity",
        "eventtime",
        "eventsource",
        "eventname",
        "awsregion",
        "sourceipaddress",
        "useragent",
        "errorcode",
        "errormessage",
        "requestparameters",
        "responseelements",
        "eventid",
        "readonly",
        "recipientaccountid",
    ] {
        assert!(
            table.contains(&format!("            - Name: {column}\n")),
            "TrailTable has no column {column}"
        );
    }
    for field in [
        "accesskeyid:string",
        "onbehalfof:struct<userid:string,identitystorearn:string>",
        "attributes:struct<mfaauthenticated:string,creationdate:string>",
        "sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>",
    ] {
        assert!(table.contains(field), "useridentity lacks {field}");
    }
}

#[test]
fn the_enricher_may_query_only_with_an_organization_trail_and_is_told_where() {
    let t = template();
    let policy = block(&t, "EnricherRolePolicy");
    for sid in [
        "QueryTrailWithAthena",
        "ReadTrailTable",
        "ReadOrganizationTrailFiles",
        "ListOrganizationTrailFiles",
        "WriteAthenaResults",
        "ListAthenaResults",
    ] {
        let at = policy
            .find(&format!("- Sid: {sid}\n"))
            .unwrap_or_else(|| panic!("EnricherRolePolicy lacks {sid}"));
        let before: Vec<&str> = policy[..at]
            .trim_end()
            .lines()
            .rev()
            .take(2)
            .map(str::trim)
            .collect();
        assert_eq!(
            before,
            ["- HasOrganizationTrail", "- !If"],
            "{sid} is not conditioned on HasOrganizationTrail"
        );
    }
    for action in [
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
        "glue:GetTable",
        "glue:GetPartitions",
    ] {
        assert!(policy.contains(action), "EnricherRolePolicy lacks {action}");
    }
    // Only deadbolt's workgroup, only the trail's prefix.
    assert!(policy.contains(":workgroup/${TrailWorkGroup}"));
    assert!(policy.contains("${OrganizationTrailBucket}/AWSLogs/${OrganizationId}/*"));
    let function = block(&t, "EnricherFunction");
    for variable in [
        "DEADBOLT_ATHENA_WORKGROUP: !If [HasOrganizationTrail, !Ref TrailWorkGroup, \"\"]",
        "DEADBOLT_ATHENA_DATABASE: !If [HasOrganizationTrail, !Ref TrailDatabase, \"\"]",
        "DEADBOLT_ATHENA_TABLE: !If [HasOrganizationTrail, !Ref TrailTable, \"\"]",
    ] {
        assert!(
            function.contains(variable),
            "EnricherFunction lacks {variable}"
        );
    }
}

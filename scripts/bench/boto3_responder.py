#!/usr/bin/env python3
"""The baseline deadbolt is measured against: a plain Python/boto3 responder doing the same
containment the simplest way — verify the finding with GuardDuty, read the user's inline DenyAll,
write it. No settings document, no breaker, no ledger, no records: the least a responder does.

    boto3_responder.py EVENT.json

Endpoints come from the environment as for deadbolt (AWS_ENDPOINT_URL, and
AWS_ENDPOINT_URL_GUARDDUTY for the GuardDuty stand-in); loopback only in the benchmark.
"""
import json
import sys

import boto3
from botocore.exceptions import ClientError

DENY_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
)


def main(path):
    with open(path) as f:
        finding = json.load(f)["detail"]
    user = finding["resource"]["accessKeyDetails"]["userName"]
    guardduty = boto3.client("guardduty")
    iam = boto3.client("iam")
    detector = guardduty.list_detectors()["DetectorIds"][0]
    copy = guardduty.get_findings(DetectorId=detector, FindingIds=[finding["id"]])["Findings"]
    if not copy or copy[0]["Resource"]["AccessKeyDetails"]["UserName"] != user:
        print("not confirmed by GuardDuty")
        return 1
    try:
        current = iam.get_user_policy(UserName=user, PolicyName="DenyAll")["PolicyDocument"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
        current = None
    if current is None:
        iam.put_user_policy(UserName=user, PolicyName="DenyAll", PolicyDocument=DENY_ALL)
    print("contained", user)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

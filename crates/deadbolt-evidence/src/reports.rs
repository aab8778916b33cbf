//! The investigation pages to the report bucket, behind `deadbolt-trail`'s [`ReportStore`]
//! port: one `s3:PutObject` per finding.

use aws_sdk_s3::primitives::ByteStream;
use deadbolt_core::report_object::ReportObject;
use deadbolt_trail::{ReportStore, ReportStoreError};

#[derive(Debug, Clone)]
pub struct S3ReportStore {
    client: aws_sdk_s3::Client,
}

impl S3ReportStore {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3ReportStore { client }
    }
}

impl ReportStore for S3ReportStore {
    async fn put(
        &self,
        object: &ReportObject,
        expected_owner: Option<&str>,
        html: String,
    ) -> Result<(), ReportStoreError> {
        self.client
            .put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            // A bucket of this name in another account is refused by S3 (403), never written.
            .set_expected_bucket_owner(expected_owner.map(str::to_string))
            // Opened from the console, the page renders as HTML (its own CSP forbids every
            // fetch and script); never cached by anything in between.
            .content_type("text/html; charset=utf-8")
            .cache_control("no-store")
            .body(ByteStream::from(html.into_bytes()))
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                let detail = crate::call_error(&e);
                ReportStoreError(format!("s3:PutObject {}: {detail}", object.s3_uri()))
            })
    }
}

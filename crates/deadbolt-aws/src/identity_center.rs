//! IAM Identity Center adapter (sso-admin and identitystore) for the `permission-set-deny`
//! strategy. Lookups are cached per process: an instance and its permission sets change
//! rarely, and each lookup otherwise costs a page of calls on the path to containment.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_ssoadmin::types::ProvisionTargetType;
use aws_smithy_types::Document;
use deadbolt_core::ports::{AwsError, AwsErrorKind, IdentityCenter, PermissionSetRef};

use crate::{classify, done};

/// The Identity Center instance (`sso-admin`) and its identity store.
#[derive(Debug)]
pub struct AwsIdentityCenter {
    // Built on the first permission-set-deny containment: most deployments never make one.
    admin: crate::lazy::LazyClient<aws_sdk_ssoadmin::Client>,
    store: crate::lazy::LazyClient<aws_sdk_identitystore::Client>,
    /// (instance ARN, identity store id), from `ListInstances` once.
    instance: Mutex<Option<(String, String)>>,
    /// Permission set name → ARN, filled as `DescribePermissionSet` reveals names.
    permission_sets: Mutex<HashMap<String, String>>,
}

impl AwsIdentityCenter {
    pub fn from_conf(config: &SdkConfig) -> Self {
        AwsIdentityCenter {
            admin: crate::lazy::LazyClient::new(config, aws_sdk_ssoadmin::Client::new),
            store: crate::lazy::LazyClient::new(config, aws_sdk_identitystore::Client::new),
            instance: Mutex::new(None),
            permission_sets: Mutex::new(HashMap::new()),
        }
    }

    async fn instance(&self) -> Result<(String, String), AwsError> {
        if let Some(i) = self.instance.lock().ok().and_then(|i| i.clone()) {
            return Ok(i);
        }
        let out = self
            .admin
            .get()
            .list_instances()
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let instances: Vec<(String, String)> = out
            .instances()
            .iter()
            .filter_map(|i| {
                Some((
                    i.instance_arn()?.to_string(),
                    i.identity_store_id()?.to_string(),
                ))
            })
            .collect();
        let found = match instances.as_slice() {
            [one] => one.clone(),
            [] => return Err(lookup_error("no IAM Identity Center instance is visible to deadbolt's credentials (run it in the management or delegated administrator account)".into())),
            many => return Err(lookup_error(format!("{} Identity Center instances are visible; deadbolt will not guess which one to change", many.len()))),
        };
        if let Ok(mut slot) = self.instance.lock() {
            *slot = Some(found.clone());
        }
        Ok(found)
    }

    fn reference(&self, instance: &(String, String), arn: String) -> PermissionSetRef {
        PermissionSetRef {
            instance_arn: instance.0.clone(),
            identity_store_id: instance.1.clone(),
            permission_set_arn: arn,
        }
    }
}

/// A permanent condition (no instance, several instances, a bad name): delivering the event
/// again would fail the same way, so it is not retryable.
fn lookup_error(message: String) -> AwsError {
    AwsError::new(AwsErrorKind::Other, "IdentityCenterLookup", message)
}

impl IdentityCenter for AwsIdentityCenter {
    async fn find_permission_set(&self, name: &str) -> Result<Option<PermissionSetRef>, AwsError> {
        let instance = self.instance().await?;
        let cached = self
            .permission_sets
            .lock()
            .ok()
            .and_then(|m| m.get(name).cloned());
        if let Some(arn) = cached {
            return Ok(Some(self.reference(&instance, arn)));
        }
        let arns: Vec<String> = self
            .admin
            .get()
            .list_permission_sets()
            .instance_arn(&instance.0)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify(&e))?;
        for arn in arns {
            let known = self
                .permission_sets
                .lock()
                .ok()
                .is_some_and(|m| m.values().any(|a| *a == arn));
            if known {
                continue;
            }
            let out = self
                .admin
                .get()
                .describe_permission_set()
                .instance_arn(&instance.0)
                .permission_set_arn(&arn)
                .send()
                .await
                .map_err(|e| classify(&e))?;
            let Some(found) = out.permission_set().and_then(|p| p.name()) else {
                continue;
            };
            if let Ok(mut m) = self.permission_sets.lock() {
                m.insert(found.to_string(), arn.clone());
            }
            if found == name {
                return Ok(Some(self.reference(&instance, arn)));
            }
        }
        Ok(None)
    }

    async fn find_user_id(
        &self,
        identity_store_id: &str,
        user_name: &str,
    ) -> Result<Option<String>, AwsError> {
        let unique = UniqueAttribute::builder()
            .attribute_path("userName")
            .attribute_value(Document::String(user_name.to_string()))
            .build()
            .map_err(|e| lookup_error(e.to_string()))?;
        match self
            .store
            .get()
            .get_user_id()
            .identity_store_id(identity_store_id)
            .alternate_identifier(AlternateIdentifier::UniqueAttribute(unique))
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.user_id().to_string())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn get_inline_policy(&self, ps: &PermissionSetRef) -> Result<Option<String>, AwsError> {
        let out = self
            .admin
            .get()
            .get_inline_policy_for_permission_set()
            .instance_arn(&ps.instance_arn)
            .permission_set_arn(&ps.permission_set_arn)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out
            .inline_policy()
            .filter(|p| !p.trim().is_empty())
            .map(str::to_string))
    }

    async fn put_inline_policy(
        &self,
        ps: &PermissionSetRef,
        document: &str,
    ) -> Result<(), AwsError> {
        done(
            self.admin
                .get()
                .put_inline_policy_to_permission_set()
                .instance_arn(&ps.instance_arn)
                .permission_set_arn(&ps.permission_set_arn)
                .inline_policy(document)
                .send()
                .await,
        )
    }

    async fn delete_inline_policy(&self, ps: &PermissionSetRef) -> Result<(), AwsError> {
        done(
            self.admin
                .get()
                .delete_inline_policy_from_permission_set()
                .instance_arn(&ps.instance_arn)
                .permission_set_arn(&ps.permission_set_arn)
                .send()
                .await,
        )
    }

    async fn provision(&self, ps: &PermissionSetRef) -> Result<(), AwsError> {
        // Asynchronous on AWS's side: the request is accepted and accounts update within
        // seconds; the record says it was requested.
        done(
            self.admin
                .get()
                .provision_permission_set()
                .instance_arn(&ps.instance_arn)
                .permission_set_arn(&ps.permission_set_arn)
                .target_type(ProvisionTargetType::AllProvisionedAccounts)
                .send()
                .await,
        )
    }
}
